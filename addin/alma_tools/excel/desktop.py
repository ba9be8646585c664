"""Where Excel on Windows (xlwings' COM engine) and xlwings' remote engine differ: the one place that knows.

Every test drives the remote engine, which implements more than the Windows engine our users run and raises
nothing like pywin32 does. The differences the Excel face depends on are kept here, each with its reason:

- **Frozen panes.** ``sheet.freeze_panes`` exists only in the remote engine (xlwings: "Office.js clients
  only"); ``_xlwindows.Sheet`` does not implement it. On Windows the sheet's window is frozen through COM.
- **Excel busy.** xlwings wraps every COM object in ``COMRetryObjectWrapper``, which retries a rejected call
  ``N_COM_ATTEMPTS`` times with no pause (0, its default, means forever). Our background thread gets a bounded
  number of attempts (:func:`bounded_com_retries`); past that the error reaches our writer, which waits and
  retries (``sheets.BatchWriter``), so a person typing in a cell is not hammered and nothing is lost.
  ``Application.Ready`` is asked before each flush (:func:`excel_ready`).
- **The workbook on another thread.** A COM object belongs to the thread (apartment) that made it. The
  button's thread marshals the caller's workbook into a stream and the background thread unmarshals it
  (:func:`book_for_thread`), as xlwings' own asynchronous UDF writer does; the background thread pumps
  messages while it waits (:func:`pump_messages`), as an STA thread must (Microsoft KB136885). Opening the
  book again by name (``xw.Book(fullname)``) would walk every Excel instance and fail when the file is open
  twice or another instance is busy.
- **The remote engine** has no COM, no status bar and no window: the same book object serves every thread.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

#: attempts xlwings' retry wrapper makes on our background thread before the error reaches our own retry
COM_ATTEMPTS = 20


def is_remote(book: Any) -> bool:
    """True for xlwings' remote engine (xlwings Server, the tests): plain data, no COM."""
    return bool(book.app.engine.name == "remote")


# ------------------------------------------------------------------------------------------- frozen panes
def freeze_rows(sheet: Any, rows: int) -> None:
    """Keep sheet rows ``1..rows`` in view while scrolling, on either engine.

    Windows: the sheet is activated (a new report sheet already is) and its book's window frozen below
    ``rows`` through COM, because ``_xlwindows.Sheet`` has no ``freeze_panes``.
    """
    if is_remote(sheet.book):
        sheet.freeze_panes.freeze_at(f"1:{rows}")
        return
    sheet.api.Activate()
    window = sheet.api.Parent.Windows(1)
    freeze_window(window, rows)


def freeze_window(window: Any, rows: int) -> None:
    """Freeze a COM ``Window`` below sheet row ``rows`` (no columns frozen); earlier panes are cleared."""
    window.FreezePanes = False
    window.SplitColumn = 0
    window.SplitRow = rows
    window.FreezePanes = True


# ------------------------------------------------------------------------------------------- charts
def color_series(chart: Any, colors: list[str]) -> None:
    """Fill each series of ``chart`` with its colour ("" keeps Excel's).

    The remote engine cannot index a new chart's series synchronously (its series exist only once the
    client has run the actions), so there the chart keeps Excel's theme colours.
    """
    if is_remote(chart.parent.book):
        return
    for number, color in enumerate(colors):
        if color:
            chart.series[number].fill_color = color


# ------------------------------------------------------------------------------------------- hidden rows
#: Excel's XlCellType for "visible cells only"
_XL_CELL_TYPE_VISIBLE = 12


def hidden_rows(sheet: Any, last_row: int) -> frozenset[int]:
    """Sheet rows ``1..last_row`` hidden by a filter or by hand (Windows: from the visible cells' areas).

    The remote engine's payload carries no row visibility, so nothing is hidden there.
    """
    if is_remote(sheet.book) or last_row < 1:
        return frozenset()
    column = sheet.api.Range(sheet.api.Cells(1, 1), sheet.api.Cells(last_row, 1))
    try:
        visible = column.SpecialCells(_XL_CELL_TYPE_VISIBLE)
    except Exception:  # Excel raises "No cells were found" when every row is hidden
        return frozenset(range(1, last_row + 1))
    shown: set[int] = set()
    for number in range(1, visible.Areas.Count + 1):
        area = visible.Areas(number)
        shown.update(range(area.Row, area.Row + area.Rows.Count))
    return frozenset(set(range(1, last_row + 1)) - shown)


# ------------------------------------------------------------------------------------------- busy Excel
class ThreadAttempts(int):
    """A stand-in for ``xlwings._xlwindows.N_COM_ATTEMPTS`` whose value depends on the calling thread.

    xlwings reads the module global in ``not N_COM_ATTEMPTS or n_attempt < N_COM_ATTEMPTS`` (and
    ``range(N_COM_ATTEMPTS + 1)``). This int is 0 (xlwings' "retry forever") for every thread except those
    inside :func:`bounded_com_retries`, where it is their own bound: the button's thread and xlwings' own
    code keep xlwings' behaviour, our background thread does not hammer a busy Excel.
    """

    _local = threading.local()

    def __new__(cls) -> ThreadAttempts:
        return super().__new__(cls, 0)

    @property
    def current(self) -> int:
        """The bound for the calling thread (0 = xlwings' default, retry forever)."""
        return int(getattr(self._local, "attempts", 0))

    def __bool__(self) -> bool:
        return self.current != 0

    def __gt__(self, other: object) -> bool:  # ``n_attempt < N_COM_ATTEMPTS`` is answered here
        return self.current > other if isinstance(other, int) else NotImplemented

    def __lt__(self, other: object) -> bool:
        return self.current < other if isinstance(other, int) else NotImplemented

    def __add__(self, other: object) -> int:
        return self.current + other if isinstance(other, int) else NotImplemented

    __radd__ = __add__

    def __index__(self) -> int:
        return self.current

    def __int__(self) -> int:
        return self.current

    def __repr__(self) -> str:
        return f"ThreadAttempts(current={self.current})"


def _xlwindows() -> Any:
    """xlwings' Windows engine module, or None where pywin32 is missing (Linux, macOS)."""
    if sys.platform != "win32":
        return None
    import xlwings._xlwindows as engine

    return engine


@contextlib.contextmanager
def bounded_com_retries(attempts: int = COM_ATTEMPTS, engine: Any = None) -> Iterator[None]:
    """Within this block, xlwings' retry wrapper gives up after ``attempts`` on the calling thread only.

    ``engine`` is the module holding ``N_COM_ATTEMPTS`` (xlwings' ``_xlwindows`` on Windows; a test passes
    the wrapper classes loaded from that file's source). Without one (no Windows engine) nothing changes.
    """
    engine = engine if engine is not None else _xlwindows()
    if engine is None:
        yield
        return
    if not isinstance(engine.N_COM_ATTEMPTS, ThreadAttempts):
        engine.N_COM_ATTEMPTS = ThreadAttempts()  # 0 for every other thread: xlwings' behaviour is kept
    local = ThreadAttempts._local
    previous = getattr(local, "attempts", 0)
    local.attempts = attempts
    try:
        yield
    finally:
        local.attempts = previous


def excel_ready(app: Any) -> bool:
    """``Application.Ready``: False while a cell is being edited or a dialog is open (Windows only).

    Asking can itself be refused by a busy Excel, which also means "not ready"; the remote engine is
    always ready.
    """
    if app.engine.name == "remote":
        return True
    try:
        return bool(app.api.Ready)
    except Exception:
        return False


# ------------------------------------------------------------------------------------------- threads
def book_for_thread(book: Any) -> Callable[[], contextlib.AbstractContextManager[Any]]:
    """Called on the button's thread: how the background thread gets its own handle on ``book``.

    Windows: the workbook's COM interface is marshalled into a stream now and unmarshalled once on the
    background thread, with COM initialised there. Remote engine: the same object serves.
    """
    if is_remote(book):
        return lambda: contextlib.nullcontext(book)
    import pythoncom  # type: ignore[import-untyped]  # pywin32 exists only on Windows

    stream = pythoncom.CoMarshalInterThreadInterfaceInStream(pythoncom.IID_IDispatch, book.api)
    try:
        clsid = book.api.CLSID  # lets the unmarshalled object keep Excel's type information
    except Exception:  # a late-bound object has none: plain dynamic dispatch then
        clsid = None
    return lambda: _unmarshalled_book(stream, clsid)


@contextlib.contextmanager
def _unmarshalled_book(stream: Any, clsid: Any) -> Iterator[Any]:
    """The marshalled workbook as an xlwings ``Book`` of this thread (COM initialised, then released)."""
    import pythoncom
    import xlwings as xw
    import xlwings._xlwindows as engine
    from win32com.client import Dispatch  # type: ignore[import-untyped]

    pythoncom.CoInitialize()
    try:
        dispatch = Dispatch(
            pythoncom.CoGetInterfaceAndReleaseStream(stream, pythoncom.IID_IDispatch), resultCLSID=clsid
        )
        yield xw.Book(impl=engine.Book(xl=engine.COMRetryObjectWrapper(dispatch)))
    finally:
        pythoncom.CoUninitialize()


def wait_until_ready(app: Any, patience: float = 60.0) -> bool:
    """Wait (pumping messages) until no cell is being edited, so a message box does not land mid-typing."""
    deadline = time.monotonic() + patience
    while not excel_ready(app):
        if time.monotonic() > deadline:
            return False
        pump_messages()
        time.sleep(0.2)
    return True


def native_message(text: str, title: str = "Alma Tools") -> None:
    """Tell the person something when the workbook is out of reach (closed mid-run): a Windows message box
    of its own, on top. Elsewhere (no desktop Excel) the error log is all there is."""
    if sys.platform == "win32":
        import ctypes

        mb_ok_topmost_warning = 0x00040000 | 0x00000030
        ctypes.windll.user32.MessageBoxW(None, text, title, mb_ok_topmost_warning)  # type: ignore[attr-defined]


def recorded_alerts(book: Any) -> list[str]:
    """The messages a remote-engine book was asked to show (its recorded ``alert`` actions); Excel on
    Windows keeps no record (the self-test reads the log sheet there)."""
    if not is_remote(book):
        return []
    return [str(a["args"][0]) for a in book.json()["actions"] if a["func"] == "alert"]


def pump_messages() -> None:
    """Deliver the window messages waiting for this thread (an STA thread must; nothing to do elsewhere)."""
    if sys.platform == "win32":
        import pythoncom  # type: ignore[import-untyped]

        pythoncom.PumpWaitingMessages()
