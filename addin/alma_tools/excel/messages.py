"""Messages to the person at Excel: a message box in plain words, and the key-free error log.

A mistake a person can fix is shown as its message; anything else as "Alma Tools hit an unexpected
problem", with the details in ``errors.log`` in the run folder, never a traceback in a dialog.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import xlwings as xw

from alma_tools.alma import describe_key_source, redact
from alma_tools.cells import safe_text
from alma_tools.discharge.journal import run_folder_for
from alma_tools.errors import AlmaToolsError

log = logging.getLogger("alma_tools.excel")

TITLE = "Alma Tools"
ERROR_LOG = "errors.log"

_F = TypeVar("_F", bound=Callable[..., Any])


#: a workbook name ``alma-tools selftest --excel`` adds while it presses the buttons: no message boxes then
#: (each message goes to the log sheet instead), since a modal box would stop the test's own calls into Excel
SELFTEST_NAME = "AlmaSelfTest"
#: how such a message starts on the log sheet
SELFTEST_MARK = "[message] "


def alert(book: Any, text: str) -> None:
    """Show ``text`` to the person at Excel (a message box; a recorded action in the remote engine)."""
    if any(name.name.split("!")[-1] == SELFTEST_NAME for name in book.names):
        from alma_tools.excel.logsheet import append_log

        lines = text.splitlines() or [""]
        append_log(book, [SELFTEST_MARK + lines[0], *lines[1:]])  # where the self-test reads it
        return
    book.app.alert(safe_text(text), TITLE)


def error_log_path(book: Any) -> Path:
    """Where tracebacks go: the run folder beside the workbook (the current folder for an unsaved book)."""
    return run_folder_for(book.fullname) / ERROR_LOG


def report_unexpected(book: Any, error: BaseException) -> Path:
    """Write the traceback (key-free) to the error log and tell the person where it is, in one line."""
    path = error_log_path(book)
    log_error(path, error)
    first_line = redact(str(error)).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    alert(book, f"Alma Tools hit an unexpected problem: {first_line}. Details are in {path}")
    return path


def log_error(path: Path, error: BaseException) -> None:
    """Append the traceback of ``error`` to ``path``, with the API key removed.

    Looking the key up first registers it with :func:`redact`, so it is removed even when the failure came
    before any Alma client was made (a key pasted into a cell by mistake could otherwise reach the log).
    """
    describe_key_source()
    details = redact("".join(traceback.format_exception(error)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(f"--- {dt.datetime.now():%Y-%m-%d %H:%M:%S}\n{details}\n")
    except OSError:
        log.exception("could not write the error log %s", path)


def reported(macro: _F) -> _F:
    """Run a macro and turn every failure into a message box: plain words, never a traceback."""

    @functools.wraps(macro)
    def wrapper(book: Any = None, *args: Any, **kwargs: Any) -> Any:
        book = book or xw.Book.caller()
        try:
            return macro(book, *args, **kwargs)
        except AlmaToolsError as error:
            alert(book, str(error))
        except Exception as error:
            report_unexpected(book, error)
        return None

    return wrapper  # type: ignore[return-value]
