"""Excel on Windows, from Linux: COM errors in pywin32's shape raised inside xlwings' own retry wrappers.

The wrappers are xlwings' shipped source (``tests/xl_com.py`` loads them from the installed
``_xlwindows.py``), so these tests fail if xlwings changes how it retries, or if our bound, our busy test
or our writer's back-off stop working against it.
"""

from __future__ import annotations

import threading
import time

import pytest

from alma_tools import sheets
from alma_tools.excel import desktop
from xl_com import BusyComObject, excel_refused, load_retry_wrappers, rejected, vba_ignore
from xl_payload import actions, caller_books, payload


@pytest.fixture
def caller_book(tmp_path, monkeypatch):
    yield from caller_books(tmp_path, monkeypatch)


@pytest.fixture
def engine():
    return load_retry_wrappers()


def test_busy_errors_in_pywin32s_shapes(engine):
    assert sheets.is_busy_error(rejected())
    assert sheets.is_busy_error(vba_ignore())  # DISP_E_EXCEPTION carrying VBA_E_IGNORE in excepinfo[5]
    assert sheets.is_busy_error(engine.ExcelBusyError())  # xlwings gave up on a busy Excel
    assert not sheets.is_busy_error(excel_refused())  # Excel said no for a reason: not retried
    assert not sheets.is_busy_error(ValueError(-2147418111))


@pytest.mark.timing
def test_xlwings_default_retries_forever_without_a_pause(engine):
    """Why the bound exists: with N_COM_ATTEMPTS = 0 a refused call is repeated at once, endlessly."""
    com = BusyComObject(busy=2000, make=vba_ignore)
    started = time.monotonic()
    engine.COMRetryObjectWrapper(com).Value = 1
    assert com.calls == 2001 and com.written == {"Value": 1}
    assert time.monotonic() - started < 1.0  # 2,000 calls at Excel with no pause in between


def test_our_thread_gives_up_after_bounded_attempts_and_our_writer_waits(engine):
    com = BusyComObject(busy=45)
    wrapper = engine.COMRetryObjectWrapper(com)
    slept: list[float] = []
    writer = sheets.BatchWriter(lambda block: setattr(wrapper, "Value", block.values), sleep=slept.append)
    writer.add(2, True, "Returned")
    with desktop.bounded_com_retries(attempts=20, engine=engine):
        with pytest.raises(type(rejected())) as raised:
            wrapper.Value = "direct"  # xlwings' own loop stops after 20 attempts on this thread
        assert sheets.is_busy_error(raised.value) and com.calls == 20
        assert writer.flush(patience=10.0)
    assert com.calls == 46  # 20 refused, a pause, 5 refused and written on the next round of 20
    assert writer.busy_retries == 1 and slept == [0.05]
    assert com.written == {"Value": [[True, "Returned"]]}


def test_other_threads_keep_xlwings_behaviour(engine):
    com = BusyComObject(busy=100)
    wrapper = engine.COMRetryObjectWrapper(com)
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            wrapper.Value = 1
        except BaseException as error:
            errors.append(error)

    with desktop.bounded_com_retries(attempts=3, engine=engine):
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(10)
    assert not errors and com.written == {"Value": 1}
    assert not engine.N_COM_ATTEMPTS  # outside the block our thread is unbounded again


def test_a_real_refusal_is_not_retried(engine):
    com = BusyComObject(busy=1, make=excel_refused)
    writer = sheets.BatchWriter(lambda block: setattr(engine.COMRetryObjectWrapper(com), "Value", 1))
    writer.add(2, True, "x")
    with desktop.bounded_com_retries(attempts=20, engine=engine), pytest.raises(type(excel_refused())):
        writer.flush()
    assert com.calls == 1 and writer.pending == 1


class StatusBar:
    """An Excel Application whose status bar raises what COM raises (the book was closed, Excel busy)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    @property
    def status_bar(self) -> str:
        return ""

    @status_bar.setter
    def status_bar(self, value: object) -> None:
        raise self.error


@pytest.mark.parametrize(
    "error", [rejected(), vba_ignore(), excel_refused("Object required"), OSError("gone")]
)
def test_status_bar_failures_never_end_a_run(error):
    assert sheets.set_status_bar(StatusBar(error), "Alma Tools: 1 of 2") is False


def test_writes_wait_for_application_ready():
    ready = {"now": False}
    written: list[sheets.Block] = []
    clock = {"t": 0.0}

    def sleep(seconds: float) -> None:
        clock["t"] += seconds
        if clock["t"] >= 1.0:
            ready["now"] = True  # the person pressed Enter

    writer = sheets.BatchWriter(
        written.append, interval=0.0, clock=lambda: clock["t"], sleep=sleep, ready=lambda: ready["now"]
    )
    writer.add(2, True, "Returned")
    assert not writer.flush_due() and not written  # not ready: nothing is sent to Excel, the row waits
    assert writer.close(patience=5.0) and len(written) == 1
    assert writer.not_ready >= 10


def test_ready_is_asked_of_the_windows_engine_only(caller_book):
    book = caller_book(payload({"Items": [["a"]]}))
    assert desktop.excel_ready(book.app)  # the remote engine has no Application.Ready: always ready


class Window:
    """Records what is set on a COM Window, in order."""

    def __init__(self) -> None:
        object.__setattr__(self, "log", [])

    def __setattr__(self, name: str, value: object) -> None:
        self.log.append((name, value))


def test_freeze_on_windows_goes_through_the_window(engine):
    window = Window()
    desktop.freeze_window(engine.COMRetryObjectWrapper(window), 4)
    assert window.log == [("FreezePanes", False), ("SplitColumn", 0), ("SplitRow", 4), ("FreezePanes", True)]


def test_freeze_on_the_remote_engine_uses_its_freeze_panes(caller_book):
    book = caller_book(payload({"Report": [["a"], ["b"]]}))
    desktop.freeze_rows(book.sheets[0], 3)
    assert [a["args"] for a in actions(book, "freezePaneAtRange")] == [["1:3"]]


class BusyMethods:
    """A COM object whose method refuses ``busy`` calls (pywin32 hands methods out as bound methods)."""

    def __init__(self, busy: int) -> None:
        self.busy = busy
        self.calls = 0

    def Calculate(self) -> str:  # Excel's own name
        self.calls += 1
        if self.busy:
            self.busy -= 1
            raise rejected()
        return "done"


def test_method_calls_are_bounded_on_our_thread_too(engine):
    com = BusyMethods(busy=30)
    wrapper = engine.COMRetryObjectWrapper(com)
    with desktop.bounded_com_retries(attempts=20, engine=engine):
        with pytest.raises(type(rejected())):
            wrapper.Calculate()
        assert com.calls == 20
        assert wrapper.Calculate() == "done"  # the next round of attempts gets through
    assert com.calls == 31
