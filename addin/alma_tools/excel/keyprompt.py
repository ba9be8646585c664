"""Set API key: a masked prompt on a thread of its own, the OS credential store, and a check with Alma.

The prompt waits for a person who may first have to find the key: it must never hold the ``RunPython``
call (Excel frozen, and a time-out after about 90 s under "Use UDF Server"). So the button starts a job
and returns; the job shows the prompt (Windows: the system's own credential window,
``CredUIPromptForCredentials``; elsewhere a small tkinter window), keeps the key and checks it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from alma_tools.alma import AuthError, store_api_key
from alma_tools.errors import AlmaToolsError
from alma_tools.excel.background import Job, make_client
from alma_tools.excel.messages import TITLE, reported
from alma_tools.excel.settings import Settings, read_settings

PROMPT_TEXT = "Paste the Alma API key (Bibs read/write). It is kept in the system's credential store."
#: CREDUI_FLAGS_GENERIC_CREDENTIALS | ALWAYS_SHOW_UI | DO_NOT_PERSIST | KEEP_USERNAME
_CREDUI_FLAGS = 0x40000 | 0x80 | 0x2 | 0x100000
#: ERROR_CANCELLED: the person closed the credential window
_ERROR_CANCELLED = 1223


def _windows_prompt() -> str | None:
    """The Windows credential window (masked); None when cancelled."""
    import pywintypes  # type: ignore[import-untyped]
    import win32cred  # type: ignore[import-untyped]

    try:
        _user, password, _save = win32cred.CredUIPromptForCredentials(
            TITLE,
            0,
            "API key",
            None,
            False,
            _CREDUI_FLAGS,
            {"MessageText": PROMPT_TEXT, "CaptionText": TITLE},
        )
    except pywintypes.error as error:
        if error.winerror == _ERROR_CANCELLED:
            return None
        raise
    return str(password)


def _tk_prompt() -> str | None:
    """A small window that shows dots, never the key (tkinter ships with Python)."""
    import tkinter
    from tkinter import simpledialog

    root = tkinter.Tk()
    root.withdraw()
    root.attributes("-topmost", True)
    try:
        return simpledialog.askstring(TITLE, PROMPT_TEXT, show="*", parent=root)
    finally:
        root.destroy()


def masked_prompt() -> str | None:
    """Ask for the key, masked, on the calling thread (the job's)."""
    return _windows_prompt() if sys.platform == "win32" else _tk_prompt()


class KeyJob(Job):
    """The prompt, the credential store and the check with Alma, on the job's thread; ``result``: saved."""

    label = "Set API key"

    def __init__(self, book: Any, settings: Settings | AlmaToolsError, prompt: Callable[[], str | None]):
        super().__init__(book, exclusive=False)  # a key may be set while a discharge runs
        self.settings = settings
        self.prompt = prompt

    def run(self, book: Any) -> bool:
        key = self.prompt()
        if key is None or not key.strip():
            self.tell(book, "No key was entered; nothing changed.")
            return False
        where = store_api_key(key)
        self.tell(book, self._checked(key, where))
        return True

    def _checked(self, key: str, where: str) -> str:
        """What the check with Alma said, in one sentence (never the key)."""
        if isinstance(self.settings, AlmaToolsError):
            return f"The key is saved in {where}, but it could not be checked: {self.settings}"
        try:
            client = make_client(self.settings, None, api_key=key)
        except AlmaToolsError as error:
            return f"The key is saved in {where}, but it could not be checked: {error}"
        try:
            client.test_key()
        except AuthError as error:
            return f"The key is saved in {where}, but Alma did not accept it: {error}"
        except AlmaToolsError as error:
            return f"The key is saved in {where}, but it could not be checked with Alma now: {error}"
        finally:
            client.close()
        return f"The key is saved in {where} and Alma accepted it."


@reported
def set_api_key(book: Any = None, prompt: Callable[[], str | None] | None = None) -> Job:
    """Ask for the API key (masked, on the job's thread), keep it in the OS credential store, check it.

    The key is never written to a cell, the file or a log; the message says where it went, never the key.
    """
    try:
        settings: Settings | AlmaToolsError = read_settings(book)
    except AlmaToolsError as error:  # a bad setting still lets the key be saved; the message says so
        settings = error
    return KeyJob(book, settings, prompt or masked_prompt).start()
