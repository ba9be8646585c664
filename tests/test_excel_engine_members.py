"""The Excel face uses only xlwings members that Excel on Windows (xlwings' COM engine) implements.

Every other Excel test drives the remote engine, which implements more than ``xlwings._xlwindows`` (e.g.
``sheet.freeze_panes``, ``book.json``). This test reads the installed xlwings' source by AST, on Linux:

1. ``main.py``: for each public class (``Sheet``, ``Range``, ``App``…), which engine members (``self.impl.X``)
   each of its members reaches, following calls to the class's own members;
2. ``_xlwindows.py``: which members each Windows class defines without ``raise NotImplementedError``
   (including its bases in that file; ``base_classes`` stand-ins do not count);
3. our Excel code: every attribute name it reads or writes. A name that is a member of an xlwings class
   whose engine member Windows lacks fails the test, naming the class and the file:line.

``excel/desktop.py`` is the one module allowed to use engine-specific members, each behind its engine check.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
import xlwings

XLWINGS = Path(xlwings.__file__).parent
PACKAGE = Path(__file__).resolve().parents[1] / "addin" / "alma_tools"
#: our code that touches xlwings objects
EXCEL_CODE = [
    *sorted((PACKAGE / "excel").glob("*.py")),
    PACKAGE / "sheets.py",
    PACKAGE / "udfs.py",
    PACKAGE / "cli" / "selftest.py",  # drives Excel through xlwings' COM engine
]
#: the xlwings classes the Excel face reaches (from a book: its app, sheets, ranges, tables, charts, names,
#: fonts, conditional formats); others (pivot tables, auto filters…) are never touched, and their generic
#: member names (``values``) would only match pandas' and dict's
CLASSES = {
    "App", "Apps", "Book", "Books", "Sheet", "Sheets", "Range", "Chart", "Charts", "Table", "Tables",
    "ConditionalFormat", "ConditionalFormats", "Font", "Names", "Name", "FreezePanes", "Characters",
    "ChartAxis", "ChartSeries", "ChartSeriesCollection", "ChartLegend",
}  # fmt: skip
#: where the engines' differences live (remote-only members there are behind an engine check)
DESKTOP = PACKAGE / "excel" / "desktop.py"


def _tree(name: str) -> ast.Module:
    return ast.parse((XLWINGS / name).read_text(encoding="utf-8"))


def _raises_not_implemented(function: ast.FunctionDef) -> bool:
    body = [s for s in function.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    return len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in ast.unparse(body[0])


@cache
def windows_classes() -> dict[str, tuple[dict[str, bool], list[str]]]:
    """_xlwindows class -> ({member: implemented}, base class names)."""
    classes = {}
    for node in _tree("_xlwindows.py").body:
        if isinstance(node, ast.ClassDef):
            members: dict[str, bool] = {}
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    members[item.name] = members.get(item.name, True) and not _raises_not_implemented(item)
                elif isinstance(item, ast.Assign):
                    members.update({t.id: True for t in item.targets if isinstance(t, ast.Name)})
            for item in node.body:  # attributes set on the instance (``self.app = app`` in __init__)
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    for sub in ast.walk(item):
                        if (
                            isinstance(sub, ast.Attribute)
                            and _is_self(sub.value)
                            and isinstance(sub.ctx, ast.Store)
                        ):
                            members.setdefault(sub.attr, True)
            classes[node.name] = (members, [ast.unparse(base) for base in node.bases])
    return classes


def windows_implements(cls: str, member: str) -> bool:
    """True when ``_xlwindows.<cls>`` (or a base defined in that file) implements ``member``."""
    classes = windows_classes()
    if cls not in classes:
        return False
    members, bases = classes[cls]
    if member in members:
        return members[member]
    return any(windows_implements(base, member) for base in bases if not base.startswith("base_classes."))


@cache
def public_members() -> dict[str, dict[str, set[str]]]:
    """main.py class -> member -> the engine members (``self.impl.X``) it reaches, own calls followed."""
    result: dict[str, dict[str, set[str]]] = {}
    for node in _tree("main.py").body:
        if not isinstance(node, ast.ClassDef) or node.name not in CLASSES:
            continue
        direct: dict[str, set[str]] = {}
        calls: dict[str, set[str]] = {}
        for item in node.body:
            if not isinstance(item, ast.FunctionDef) or (
                item.name.startswith("_") and item.name != "__call__"
            ):
                continue
            for sub in ast.walk(item):
                if not isinstance(sub, ast.Attribute) or not isinstance(sub.value, (ast.Attribute, ast.Name)):
                    continue
                owner = sub.value
                if isinstance(owner, ast.Attribute) and owner.attr == "impl" and _is_self(owner.value):
                    direct.setdefault(item.name, set()).add(sub.attr)
                elif isinstance(owner, ast.Name) and owner.id == "self":
                    calls.setdefault(item.name, set()).add(sub.attr)
            direct.setdefault(item.name, set())
        result[node.name] = {name: _reach(name, direct, calls, set()) for name in direct}
    return result


def _is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def _reach(name: str, direct: dict[str, set[str]], calls: dict[str, set[str]], seen: set[str]) -> set[str]:
    if name in seen:
        return set()
    seen.add(name)
    found = set(direct.get(name, ()))
    for called in calls.get(name, ()):
        if called in direct and called != "impl":
            found |= _reach(called, direct, calls, seen)
    return found


def missing_on_windows(member: str) -> list[str]:
    """``Class.member (engine member)`` for every xlwings class whose ``member`` Windows cannot do."""
    missing = []
    for cls, members in public_members().items():
        if member in members:
            missing += [
                f"{cls}.{member} (_xlwindows.{cls}.{x})"
                for x in sorted(members[member])
                if not windows_implements(cls, x)
            ]
    return missing


def used_attributes(source: str) -> Iterable[tuple[int, str]]:
    """(line, name) of every attribute read or written in ``source``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            yield node.lineno, node.attr


def problems(path: Path, source: str | None = None) -> list[str]:
    text = path.read_text(encoding="utf-8") if source is None else source
    found = []
    for line, name in used_attributes(text):
        for what in missing_on_windows(name):
            found.append(f"{path.name}:{line}: {what} is not implemented by the Windows engine")
    return found


@pytest.mark.parametrize("path", [p for p in EXCEL_CODE if p != DESKTOP], ids=lambda p: p.name)
def test_excel_code_uses_only_members_the_windows_engine_implements(path: Path) -> None:
    assert not problems(path)


def test_engine_specific_members_only_in_desktop() -> None:
    """``.api`` (COM) and the remote-only members appear in desktop.py alone, each behind its engine test."""
    for path in EXCEL_CODE:
        if path == DESKTOP:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        uses = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr == "api"
            and not (isinstance(node.value, ast.Name) and node.value.id == "pd")  # pandas' pd.api
        ]
        assert not uses, f"{path.name}: .api on lines {uses}: COM calls belong in excel/desktop.py"
    text = DESKTOP.read_text(encoding="utf-8")
    assert problems(DESKTOP) and "is_remote(" in text  # freeze_panes is used there, on the remote engine only


def test_the_check_finds_what_windows_lacks() -> None:
    """The check can fail: the members the issue names are caught, ordinary ones pass."""
    bad = problems(DESKTOP, 'sheet.freeze_panes.freeze_at("1:2")\nbook.json()\n')
    assert any("Sheet.freeze_panes" in p for p in bad) and any("Book.json" in p for p in bad)
    assert not problems(DESKTOP, 'sheet.range("A1").value = 1\napp.status_bar = "x"\nbook.sheets.add("S")\n')
    assert windows_implements("Range", "raw_value") and not windows_implements("Sheet", "freeze_panes")
