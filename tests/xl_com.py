"""xlwings' Windows engine source, read on Linux: its COM retry wrappers and pywin32's error shape.

``xlwings._xlwindows`` imports pywin32 at import time, so it cannot be imported here. Its retry wrapper
classes (``COMRetryObjectWrapper``, ``COMRetryMethodWrapper``, ``ExcelBusyError``) and ``N_COM_ATTEMPTS``
are taken from the installed file by AST and executed as they are, against a ``com_error`` with pywin32's
real shape, so tests raise COM errors from inside xlwings' own retry code.
"""

from __future__ import annotations

import ast
import types
from pathlib import Path

import xlwings

XLWINGS_DIR = Path(xlwings.__file__).parent
WRAPPERS = ("COMRetryMethodWrapper", "ExcelBusyError", "COMRetryObjectWrapper")

RPC_E_CALL_REJECTED = -2147418111
DISP_E_EXCEPTION = -2147352567
VBA_E_IGNORE = -2146777998


class com_error(Exception):
    """pywintypes.com_error: ``args == (hresult, strerror, excepinfo, argerror)``, each also an attribute."""

    def __init__(self, hresult: int, strerror: str, excepinfo: tuple | None, argerror: int | None) -> None:
        super().__init__(hresult, strerror, excepinfo, argerror)
        self.hresult, self.strerror, self.excepinfo, self.argerror = hresult, strerror, excepinfo, argerror


def rejected() -> com_error:
    """What pywin32 raises while Excel refuses calls (RPC_E_CALL_REJECTED)."""
    return com_error(RPC_E_CALL_REJECTED, "Call was rejected by callee.", None, None)


def vba_ignore() -> com_error:
    """What pywin32 raises when Excel ignores a call while a cell is edited (VBA_E_IGNORE as scode)."""
    return com_error(DISP_E_EXCEPTION, "Exception occurred.", (0, None, None, None, 0, VBA_E_IGNORE), None)


def excel_refused(text: str = "That name is already taken.") -> com_error:
    """A real refusal by Excel (DISP_E_EXCEPTION with Excel's own scode): not "busy"."""
    return com_error(
        DISP_E_EXCEPTION, "Exception occurred.", (0, "Microsoft Excel", text, None, 0, -2146827284), None
    )


def load_retry_wrappers() -> types.ModuleType:
    """xlwings' retry wrappers and ``N_COM_ATTEMPTS``, from the installed ``_xlwindows.py``."""
    tree = ast.parse((XLWINGS_DIR / "_xlwindows.py").read_text(encoding="utf-8"))
    wanted = [
        node
        for node in tree.body
        if (isinstance(node, ast.ClassDef) and node.name in WRAPPERS)
        or (
            isinstance(node, ast.Assign)
            and any(getattr(t, "id", "") == "N_COM_ATTEMPTS" for t in node.targets)
        )
    ]
    assert len(wanted) == len(WRAPPERS) + 1, "xlwings' retry wrappers moved: update tests/xl_com.py"
    module = types.ModuleType("xlwings_retry_wrappers")
    pywintypes = types.SimpleNamespace(com_error=com_error)
    pythoncom = types.SimpleNamespace(ole_error=com_error)
    dispatch_types = {
        name: type(name, (), {}) for name in ("CDispatch", "CoClassBaseClass", "DispatchBaseClass")
    }
    module.__dict__.update(types=types, pywintypes=pywintypes, pythoncom=pythoncom, **dispatch_types)
    code = compile(ast.Module(body=wanted, type_ignores=[]), str(XLWINGS_DIR / "_xlwindows.py"), "exec")
    exec(code, module.__dict__)
    return module


class BusyComObject:
    """A COM object (as pywin32 presents one) that refuses ``busy`` calls before accepting them."""

    def __init__(self, busy: int, error: type[Exception] | None = None, make=rejected) -> None:
        object.__setattr__(self, "busy", busy)
        object.__setattr__(self, "calls", 0)
        object.__setattr__(self, "make", make)
        object.__setattr__(self, "written", {})

    def __setattr__(self, name: str, value: object) -> None:
        object.__setattr__(self, "calls", self.calls + 1)
        if self.busy:
            object.__setattr__(self, "busy", self.busy - 1)
            raise self.make()
        self.written[name] = value
