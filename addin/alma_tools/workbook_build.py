"""Build ``workbook/alma_tools.xlsm`` from the text sources kept in ``workbook/``.

Why from text: a binary workbook cannot be reviewed, diffed or merged, and its VBA would drift from the
pinned xlwings. Here every part has a readable source, and a test rebuilds the file and compares it with
the committed one entry by entry:

- ``workbook/sheets.yaml``: the sheets (paste sheets, the Locations table, named settings, Help, the
  ``xlwings.conf`` sheet), written with XlsxWriter;
- ``workbook/vba/*.bas``: our VBA modules (the ribbon callbacks). ``xlwings.bas`` is copied from the
  installed, exactly pinned xlwings (it names its own DLL version), and ``xlwings_udfs`` is generated from
  :mod:`alma_tools.udfs` with xlwings' own generator, so the worksheet functions exist as soon as the file
  opens (no *Import Functions* click). The modules become ``vbaProject.bin`` through ms-ovba;
- ``workbook/customUI/customUI14.xml``: the ribbon, added to the package by rewriting the zip, because
  XlsxWriter cannot add a ribbon part.

Byte stability: fixed document dates, ms-ovba's random fields seeded, fixed zip timestamps and attributes,
entries in a fixed order. Two builds on one machine give identical bytes; across machines a different zlib
may change the deflated bytes, which is why the test compares unzipped entries.

ms-ovba 0.0.1's quirks (a compressor that garbles long modules, a slow match search, scratch files in the
working directory, random bytes) are worked around in :mod:`alma_tools.workbook_ovba`. ``ThisWorkbook``
holds the worksheet functions' descriptions (``Application.MacroOptions`` at open, generated from
:mod:`alma_tools.udfs`).

This is build tooling: nothing here runs in the shipped add-in, and ms-ovba is only in the ``build`` and
``test`` extras.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import re
import sys
import tempfile
import time
import types
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from alma_tools import files
from alma_tools.errors import ConfigError
from alma_tools.workbook_ovba import patched_ms_ovba, seeded_random, working_directory

#: kept under its old name for callers and tests of the build
_patched_ms_ovba = patched_ms_ovba

#: the repository's ``workbook`` folder (this module lives in ``addin/alma_tools/``)
WORKBOOK_DIR = Path(__file__).resolve().parents[2] / "workbook"
DEFAULT_OUTPUT = WORKBOOK_DIR / "alma_tools.xlsm"

#: the namespace of a ``customUI14.xml`` ribbon (Office 2010 and later)
CUSTOMUI_NAMESPACE = "http://schemas.microsoft.com/office/2009/07/customui"
#: the package relationship type that goes with that namespace (the 2006 type is for ``customUI.xml``)
CUSTOMUI_RELATIONSHIP = "http://schemas.microsoft.com/office/2007/relationships/ui/extensibility"
RIBBON_PART = "customUI/customUI14.xml"
RIBBON_RELATIONSHIP_ID = "rIdAlmaRibbon"

#: the Python module whose ``@xw.func`` functions get VBA wrappers, and the VBA module they go into
UDF_MODULE = "alma_tools.udfs"
UDF_VBA_MODULE = "xlwings_udfs"

#: fixed values that make two builds identical
DOCUMENT_DATE = datetime(2024, 1, 1, 0, 0, 0)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
VBA_PROJECT_ID = "{6A1C3E52-5C0B-4D4B-9E55-3F0A1D2B7A10}"
VBA_RANDOM_SEED = 0
#: what Excel 2010 and later write as the project's VersionCompatible32
VBA_VERSION_COMPATIBLE = "393222000"

#: the class GUIDs Excel gives a workbook's and a worksheet's document module
_WORKBOOK_CLASS = uuid.UUID("00020819-0000-0000-C000-000000000046")
_WORKSHEET_CLASS = uuid.UUID("00020820-0000-0000-C000-000000000046")

#: a ribbon callback as VBA must declare it, e.g. ``Public Sub AlmaStop(control As IRibbonControl)``
RIBBON_SUB = re.compile(
    r"^\s*(?:Public\s+|Private\s+)?Sub\s+(\w+)\s*\(\s*(?:ByRef\s+|ByVal\s+)?\w+\s+As\s+IRibbonControl\s*\)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class BuildResult:
    """What a build produced: shown by the command line and used by the benchmark."""

    path: Path
    seconds: float
    size: int
    modules: tuple[str, ...]
    sheets: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())


# ----------------------------------------------------------------------------------------------------------
# Reading the sources
# ----------------------------------------------------------------------------------------------------------


def load_spec(sources: Path = WORKBOOK_DIR) -> dict[str, Any]:
    """Read ``sheets.yaml`` and check the parts the build relies on, naming the sheet and key at fault."""
    path = Path(sources) / "sheets.yaml"
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} is missing: the workbook is built from it (run from a checkout of the "
            "repository, or pass --sources)"
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("sheets"), list) or not spec["sheets"]:
        raise ConfigError(f"{path}: expected a mapping with a non-empty list 'sheets'")
    names = []
    for number, sheet in enumerate(spec["sheets"], start=1):
        if not isinstance(sheet, dict) or "name" not in sheet or "kind" not in sheet:
            raise ConfigError(f"{path}: sheet {number} needs a 'name' and a 'kind'")
        if sheet["kind"] not in _SHEET_WRITERS:
            raise ConfigError(
                f"{path}: sheet {sheet['name']!r} has kind {sheet['kind']!r}; use one of "
                f"{', '.join(sorted(_SHEET_WRITERS))}"
            )
        names.append(sheet["name"])
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: two sheets have the same name")
    if spec.get("active", names[0]) not in names:
        raise ConfigError(f"{path}: 'active' names {spec['active']!r}, which is not one of the sheets")
    return spec


def ribbon_xml(sources: Path = WORKBOOK_DIR) -> bytes:
    """The ribbon part as committed (bytes, so the XML declaration's encoding stays authoritative)."""
    path = Path(sources) / RIBBON_PART
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path} is missing: the ribbon is built from it") from None


def ribbon_actions(xml: bytes) -> list[str]:
    """Every ``onAction`` callback named in the ribbon, in document order.

    The ribbon must use the 2009/07 namespace: Excel silently ignores a ``customUI14.xml`` in another one.
    """
    from defusedxml import ElementTree

    root = ElementTree.fromstring(xml)
    if root.tag != f"{{{CUSTOMUI_NAMESPACE}}}customUI":
        raise ConfigError(
            f"{RIBBON_PART}: the root element must be customUI in the namespace "
            f"{CUSTOMUI_NAMESPACE}, not {root.tag}"
        )
    return [element.attrib["onAction"] for element in root.iter() if "onAction" in element.attrib]


def ribbon_subs(code: str) -> set[str]:
    """Names of the Subs in VBA ``code`` that Excel can call from the ribbon."""
    return set(RIBBON_SUB.findall(code))


def vba_modules(sources: Path = WORKBOOK_DIR) -> dict[str, str]:
    """The standard modules of the VBA project, name -> code (``\\n`` line ends), in project order.

    Our ``.bas`` files first (sorted), then ``xlwings`` from the installed xlwings, then the generated
    ``xlwings_udfs`` (left out, with a note in the build result, only while :mod:`alma_tools.udfs` does not
    exist yet).
    """
    import xlwings

    folder = Path(sources) / "vba"
    files = sorted(folder.glob("*.bas"))
    if not files:
        raise ConfigError(f"{folder} has no .bas files: the ribbon callbacks live there")
    modules: dict[str, str] = {}
    for path in files:
        if path.stem in ("xlwings", UDF_VBA_MODULE):
            raise ConfigError(
                f"{path}: this module is added by the build (from xlwings, or generated from "
                f"{UDF_MODULE}); remove the file"
            )
        code = _lf(path.read_text(encoding="utf-8"))
        modules[_module_name(code, path)] = code
    xlwings_bas = Path(xlwings.__file__).with_name("xlwings.bas")
    modules["xlwings"] = _lf(xlwings_bas.read_text(encoding="utf-8"))
    udfs = udf_wrappers()
    if udfs is not None:
        modules[UDF_VBA_MODULE] = udfs
    return modules


def _lf(text: str) -> str:
    """Line ends as ``\\n`` and exactly one at the end, whatever the checkout's git settings did."""
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n") + "\n"


def _module_name(code: str, path: Path) -> str:
    """The module's VBA name from its ``Attribute VB_Name`` line, which must match the file name."""
    match = re.match(r'Attribute VB_Name = "(\w+)"', code)
    if not match or match.group(1) != path.stem:
        raise ConfigError(f'{path}: the first line must be Attribute VB_Name = "{path.stem}"')
    return match.group(1)


# ----------------------------------------------------------------------------------------------------------
# UDF wrappers, generated with xlwings' own code under pywin32 stand-ins
# ----------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _pywin32_stand_ins() -> Iterator[None]:
    """Let ``xlwings.udfs`` import where pywin32 does not exist (Linux CI).

    ``xlwings.udfs`` imports ``pythoncom``, ``pywintypes`` and ``win32com.client`` at the top but needs
    them only when Excel calls a function; generating the wrappers touches none of them. Where pywin32 is
    installed (Windows) the real modules are used. Everything added to ``sys.modules`` is removed again.
    """
    added: list[str] = []
    if importlib.util.find_spec("pythoncom") is None:
        pythoncom = types.ModuleType("pythoncom")
        pythoncom.CoInitialize = lambda: None  # type: ignore[attr-defined]
        pythoncom.IID_IDispatch = None  # type: ignore[attr-defined]
        pywintypes = types.ModuleType("pywintypes")
        pywintypes.com_error = type("com_error", (Exception,), {})  # type: ignore[attr-defined]
        win32com = types.ModuleType("win32com")
        client = types.ModuleType("win32com.client")
        client.Dispatch = None  # type: ignore[attr-defined]
        win32com.client = client  # type: ignore[attr-defined]
        stand_ins = {
            "pythoncom": pythoncom,
            "pywintypes": pywintypes,
            "win32com": win32com,
            "win32com.client": client,
        }
        for name, module in stand_ins.items():
            sys.modules[name] = module
            added.append(name)
    had_udfs = "xlwings.udfs" in sys.modules
    try:
        yield
    finally:
        if not had_udfs and added:
            sys.modules.pop("xlwings.udfs", None)
        for name in added:
            sys.modules.pop(name, None)


@contextlib.contextmanager
def _udf_module(module_name: str) -> Iterator[tuple[Any, Any] | None]:
    """``(xlwings.udfs, module)`` with the module's ``@xw.func`` metadata recorded, or None if missing.

    On Linux ``@xw.func`` is a no-op, so the module is executed afresh (a private copy, the imported one is
    left alone) with ``xw.func/arg/ret/sub`` bound to xlwings' real decorators, which record the
    ``__xlfunc__`` metadata xlwings' generator reads.
    """
    import xlwings

    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.loader is None:
        yield None
        return
    with _pywin32_stand_ins():
        xl_udfs = importlib.import_module("xlwings.udfs")
        decorators = {
            "func": xl_udfs.xlfunc,
            "arg": xl_udfs.xlarg,
            "ret": xl_udfs.xlret,
            "sub": xl_udfs.xlsub,
        }
        saved = {name: getattr(xlwings, name) for name in decorators}
        previous = sys.modules.get(module_name)
        module = importlib.util.module_from_spec(spec)
        try:
            for name, decorator in decorators.items():
                setattr(xlwings, name, decorator)
            sys.modules[module_name] = module  # for dataclasses and the like, during execution only
            spec.loader.exec_module(module)
        finally:
            for name, decorator in saved.items():
                setattr(xlwings, name, decorator)
            if previous is None:
                sys.modules.pop(module_name, None)
            else:
                sys.modules[module_name] = previous
        yield xl_udfs, module


def udf_wrappers(module_name: str = UDF_MODULE) -> str | None:
    """The ``xlwings_udfs`` VBA module for ``module_name``, exactly as Excel's *Import Functions* writes it.

    Returns None when the module does not exist.
    """
    with _udf_module(module_name) as loaded:
        if loaded is None:
            return None
        xl_udfs, module = loaded
        buffer = io.StringIO()
        # the three lines xlwings.udfs.import_udfs writes before the wrappers
        buffer.write(f'Attribute VB_Name = "{UDF_VBA_MODULE}"\n')
        buffer.write("'Autogenerated code by xlwings - changes will be lost with next import!\n")
        buffer.write('#Const App = "Microsoft Excel" \'Adjust when using outside of Excel\n')
        # the generator reads only the workbook's Name (an .xlam would use ActiveWorkbook)
        workbook = types.SimpleNamespace(Name=DEFAULT_OUTPUT.name)
        xl_udfs.generate_vba_wrapper(module_name, module, buffer, workbook)
    return _lf(buffer.getvalue())


def _vba_text(text: str) -> str:
    """A VBA string literal (quotes doubled), at most 255 characters as MacroOptions allows."""
    return '"' + " ".join(str(text).split())[:255].replace('"', '""') + '"'


def udf_descriptions(module_name: str = UDF_MODULE) -> str:
    """VBA for ``ThisWorkbook``: on open, each worksheet function gets its description, argument texts and
    category in Excel's Insert Function dialog (what xlwings' *Import Functions* does with
    ``Application.MacroOptions``). MacroOptions marks the workbook changed, so its saved state is put back:
    opening and closing never asks "Save changes?"."""
    calls: list[str] = []
    with _udf_module(module_name) as loaded:
        if loaded is not None:
            _xl_udfs, module = loaded
            for value in vars(module).values():
                info = getattr(value, "__xlfunc__", None)
                if not info:
                    continue
                arguments = [_vba_text(arg["doc"]) for arg in info["args"] if not arg["vba"] and arg["doc"]]
                # one argument per physical line (`` _`` continuations): with every text at its 255
                # characters the statement still keeps within VBA's 1023 characters a line
                calls.append(
                    f'    Application.MacroOptions Macro:="\'" & ThisWorkbook.Name & "\'!{info["name"]}", '
                    f"Description:={_vba_text(info['ret']['doc'])}, _\n"
                    f"        Category:={_vba_text(info['category'])}"
                    + (
                        ", _\n        ArgumentDescriptions:=Array("
                        + ", _\n            ".join(arguments)
                        + ")"
                        if arguments
                        else ""
                    )
                )
    if not calls:
        return ""
    return "\n".join(
        [
            "Option Explicit",
            "",
            "' Generated by alma-tools build-workbook from alma_tools.udfs: the Insert Function texts.",
            "Private Sub Workbook_Open()",
            "    Dim wasSaved As Boolean",
            "    wasSaved = ThisWorkbook.Saved",
            "    On Error Resume Next  ' a description is a nicety: never an error box when the file opens",
            *calls,
            "    On Error GoTo 0",
            "    ThisWorkbook.Saved = wasSaved",
            "End Sub",
            "",
        ]
    )


# ----------------------------------------------------------------------------------------------------------
# The VBA project
# ----------------------------------------------------------------------------------------------------------


def _document_module_source(name: str) -> str:
    """The class header ms-ovba's DocModule expects (its fifth line must be the module's VB_Name)."""
    return (
        "VERSION 1.0 CLASS\nBEGIN\n  MultiUse = -1  'True\nEND\n"
        f'Attribute VB_Name = "{name}"\n'
        "Attribute VB_GlobalNameSpace = False\nAttribute VB_Creatable = False\n"
        "Attribute VB_PredeclaredId = True\nAttribute VB_Exposed = True\n"
    )


def build_vba_project(
    modules: Mapping[str, str], sheet_code_names: list[str], workbook_code: str = ""
) -> bytes:
    """``vbaProject.bin`` holding ``ThisWorkbook``, one document module per sheet and ``modules``.

    Source only, no compiled p-code: Excel compiles the project when the file opens, as it does for
    xlwings' own quickstart workbook. References: stdole and the Office library, where ``IRibbonControl``
    is declared. ``workbook_code`` goes into ``ThisWorkbook`` (the functions' descriptions at open). Like
    every project Excel, Aspose or LibreOffice writes, it has the ``PROJECTwm`` stream (module names in
    Unicode) and ``VersionCompatible32`` in its PROJECT stream (both optional in MS-OVBA).
    """
    with patched_ms_ovba():
        from ms_ovba.Models.Entities.doc_module import DocModule
        from ms_ovba.Models.Entities.reference import Reference
        from ms_ovba.Models.Entities.reference_registered import ReferenceRegistered
        from ms_ovba.Models.Entities.std_module import StdModule
        from ms_ovba.Models.Fields.libid_reference import LibidReference
        from ms_ovba.vbaProject import VbaProject
        from ms_ovba.Views.project_ole_file import ProjectOleFile

        with tempfile.TemporaryDirectory(prefix="alma-vba-") as scratch:
            folder = Path(scratch)
            project = VbaProject()
            project.project_id = VBA_PROJECT_ID
            project.include_projectwm()
            project.add_attribute("VersionCompatible32", VBA_VERSION_COMPATIBLE)
            documents = [("ThisWorkbook", _WORKBOOK_CLASS)]
            documents += [(name, _WORKSHEET_CLASS) for name in sheet_code_names]
            for name, guid in documents:
                path = folder / f"{name}.cls"
                path.write_text(_document_module_source(name), encoding="ascii", newline="\n")
                document = DocModule(name)
                document.add_file(str(path))
                document.add_guid(guid)
                document.normalize_file()
                if name == "ThisWorkbook" and workbook_code:
                    # after every attribute (ms-ovba appends two of them at the end of what it normalises)
                    with open(f"{path}.new", "ab") as normalised:
                        normalised.write(_cp1252(workbook_code, name).replace(b"\n", b"\r\n"))
                project.add_module(document)
            for name, code in modules.items():
                path = folder / f"{name}.bas"
                # written as ms-ovba's normalize_file would, but in the project's code page, not the locale's
                Path(f"{path}.new").write_bytes(_cp1252(code, name).replace(b"\n", b"\r\n"))
                module = StdModule(name)
                module.add_file(str(path))
                project.add_module(module)
            stdole = LibidReference(
                uuid.UUID("00020430-0000-0000-C000-000000000046"),
                "2.0",
                "0",
                "C:\\Windows\\System32\\stdole2.tlb",
                "OLE Automation",
            )
            office = LibidReference(
                uuid.UUID("2DF8D04C-5BFA-101B-BDE5-00AA0044DE52"),
                "2.0",
                "0",
                r"C:\Program Files\Common Files\Microsoft Shared\OFFICE16\MSO.DLL",
                "Microsoft Office 16.0 Object Library",
            )
            project.add_reference(Reference(ReferenceRegistered(stdole), "stdole"))
            project.add_reference(Reference(ReferenceRegistered(office), "Office"))
            with working_directory(folder), seeded_random(VBA_RANDOM_SEED):
                ProjectOleFile.write_file(project)
            return (folder / "vbaProject.bin").read_bytes()


def _cp1252(code: str, module: str) -> bytes:
    """VBA source in the project's code page, or a message naming the module and line that cannot be."""
    try:
        return code.encode("cp1252")
    except UnicodeEncodeError as error:
        line = code.count("\n", 0, error.start) + 1
        raise ConfigError(
            f"VBA module {module}, line {line}: the character {code[error.start]!r} cannot be "
            "stored in a VBA project (code page 1252); replace it"
        ) from None


# ----------------------------------------------------------------------------------------------------------
# The sheets
# ----------------------------------------------------------------------------------------------------------


def _paste_sheet(workbook: Any, sheet: Any, spec: dict[str, Any], formats: dict[str, Any]) -> None:
    """An empty sheet for an export: a hint in A1 that the paste overwrites, a note, widths, frozen top."""
    sheet.write_string(0, 0, spec["hint"], formats["hint"])
    sheet.write_comment(0, 0, spec["note"], {"x_scale": 2.5, "y_scale": 2})
    for column, width in enumerate(spec.get("widths", [])):
        sheet.set_column(column, column, width)
    sheet.freeze_panes(1, 0)


def _table_sheet(workbook: Any, sheet: Any, spec: dict[str, Any], formats: dict[str, Any]) -> None:
    """An Excel table from A1: headers with notes, the example rows if any (one blank row if none)."""
    columns = spec["columns"]
    rows = spec.get("rows") or []
    last_row = max(len(rows), 1)
    sheet.add_table(
        0,
        0,
        last_row,
        len(columns) - 1,
        {
            "name": spec["table"],
            "style": spec.get("style", "Table Style Medium 2"),
            "columns": [{"header": column["header"]} for column in columns],
        },
    )
    for number, column in enumerate(columns):
        sheet.set_column(number, number, column.get("width", 16))
        if column.get("note"):
            sheet.write_comment(0, number, column["note"], {"x_scale": 2})
    for row_number, row in enumerate(rows, start=1):
        for number, value in enumerate(row):
            sheet.write_string(row_number, number, str(value))
    sheet.freeze_panes(1, 0)


def _settings_sheet(workbook: Any, sheet: Any, spec: dict[str, Any], formats: dict[str, Any]) -> None:
    """Label, value, explanation; each value cell a workbook name with a list or a number check."""
    sheet.write_row(0, 0, spec["headers"], formats["header"])
    for column, width in enumerate(spec.get("widths", [])):
        sheet.set_column(column, column, width)
    for row, setting in enumerate(spec["settings"], start=1):
        sheet.write_string(row, 0, setting["label"], formats["bold"])
        value = setting["value"]
        if isinstance(value, bool):
            sheet.write_boolean(row, 1, value, formats["value"])
        elif isinstance(value, (int, float)):
            sheet.write_number(row, 1, value, formats["value"])
        elif value in (None, ""):
            sheet.write_blank(row, 1, None, formats["value"])  # truly empty: "blank = use the region"
        else:
            sheet.write_string(row, 1, str(value), formats["value"])
        sheet.write_string(row, 2, setting["help"], formats["wrap"])
        if "choices" in setting:
            sheet.data_validation(
                row,
                1,
                row,
                1,
                {
                    "validate": "list",
                    "source": [str(choice) for choice in setting["choices"]],
                    "error_title": setting["label"],
                    "error_message": "Choose one of: "
                    + ", ".join(str(choice) for choice in setting["choices"]),
                },
            )
        elif "maximum" in setting:
            sheet.data_validation(
                row,
                1,
                row,
                1,
                {
                    "validate": "integer",
                    "criteria": "between",
                    "minimum": setting["minimum"],
                    "maximum": setting["maximum"],
                    "error_title": setting["label"],
                    "error_message": f"A whole number from {setting['minimum']} to {setting['maximum']}.",
                },
            )
        workbook.define_name(setting["name"], f"='{sheet.name}'!$B${row + 1}")
    sheet.write_string(len(spec["settings"]) + 2, 0, spec["note"], formats["bold"])
    sheet.freeze_panes(1, 0)


def _text_sheet(workbook: Any, sheet: Any, spec: dict[str, Any], formats: dict[str, Any]) -> None:
    """Plain lines in column A; ``# `` marks a heading."""
    sheet.set_column(0, 0, spec.get("width", 100), formats["wrap"])
    for row, line in enumerate(spec["lines"]):
        if line.startswith("# "):
            sheet.write_string(row, 0, line[2:], formats["heading"])
        else:
            sheet.write_string(row, 0, line, formats["wrap"])


def _conf_sheet(workbook: Any, sheet: Any, spec: dict[str, Any], formats: dict[str, Any]) -> None:
    """xlwings' settings: key in A, value in B from A1 down (no header: xlwings reads A1 to the first blank).

    Values are text ("True", not a boolean) because that is what xlwings' VBA compares against, whatever
    the language of Excel. A ``formula`` entry keeps its ``value`` as the cached result.
    """
    for column, width in enumerate(spec.get("widths", [])):
        sheet.set_column(column, column, width)
    for row, entry in enumerate(spec["entries"]):
        sheet.write_string(row, 0, entry["key"], formats["bold"])
        if "formula" in entry:
            sheet.write_formula(row, 1, entry["formula"], None, entry["value"])
        else:
            sheet.write_string(row, 1, entry["value"])
        sheet.write_string(row, 2, entry["why"], formats["note"])


_SHEET_WRITERS = {
    "paste": _paste_sheet,
    "table": _table_sheet,
    "settings": _settings_sheet,
    "text": _text_sheet,
    "conf": _conf_sheet,
}


def write_sheets(spec: dict[str, Any], vba_project: bytes) -> bytes:
    """The workbook without its ribbon, as xlsm bytes from XlsxWriter (sheet code names Sheet1..N)."""
    import xlsxwriter

    buffer = io.BytesIO()
    workbook = xlsxwriter.Workbook(buffer, {"in_memory": True})
    workbook.set_properties(
        {
            "title": "Alma Tools",
            "subject": "Bulk discharge and loan statistics for Alma",
            "author": "Alma Tools",
            "comments": "Built by alma-tools build-workbook",
            "created": DOCUMENT_DATE,
        }
    )
    formats = {
        "header": workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "bottom": 1}),
        "bold": workbook.add_format({"bold": True}),
        "value": workbook.add_format({"bg_color": "#FFF2CC", "border": 1}),
        "wrap": workbook.add_format({"text_wrap": True, "valign": "top"}),
        "heading": workbook.add_format({"bold": True, "font_size": 13, "font_color": "#1F4E79"}),
        "hint": workbook.add_format({"italic": True, "font_color": "#7F7F7F"}),
        "note": workbook.add_format({"italic": True, "font_color": "#595959"}),
    }
    for number, sheet_spec in enumerate(spec["sheets"], start=1):
        sheet = workbook.add_worksheet(sheet_spec["name"])
        sheet.set_vba_name(f"Sheet{number}")
        if sheet_spec.get("tab_color"):
            sheet.set_tab_color(sheet_spec["tab_color"])
        try:
            _SHEET_WRITERS[sheet_spec["kind"]](workbook, sheet, sheet_spec, formats)
        except KeyError as missing:
            raise ConfigError(f"sheets.yaml: sheet {sheet_spec['name']!r} needs the key {missing}") from None
        if sheet_spec["name"] == spec.get("active"):
            sheet.activate()
    workbook.set_vba_name("ThisWorkbook")
    workbook.add_vba_project(io.BytesIO(vba_project), is_stream=True)
    workbook.close()
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------
# The ribbon and the final zip
# ----------------------------------------------------------------------------------------------------------


def add_ribbon(package: bytes, ribbon: bytes) -> bytes:
    """Rewrite the package with the ribbon part and its relationship, with fixed zip metadata.

    Entries keep XlsxWriter's order (``[Content_Types].xml`` first) and the ribbon goes last. No
    content-type override is needed: the package's default for ``.xml`` covers the part.
    """
    output = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(package)) as source,
        zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        types_xml = source.read("[Content_Types].xml").decode("utf-8")
        if 'Extension="xml" ContentType="application/xml"' not in types_xml:
            raise ConfigError(
                "XlsxWriter's [Content_Types].xml lacks the default for .xml parts that the "
                "ribbon part relies on; pin an XlsxWriter version that writes it"
            )
        for name in source.namelist():
            data = source.read(name)
            if name == "_rels/.rels":
                relationship = (
                    f'<Relationship Id="{RIBBON_RELATIONSHIP_ID}" Type="{CUSTOMUI_RELATIONSHIP}" '
                    f'Target="{RIBBON_PART}"/>'
                )
                data = data.replace(b"</Relationships>", relationship.encode() + b"</Relationships>")
            _write_entry(target, name, data)
        _write_entry(target, RIBBON_PART, ribbon)
    return output.getvalue()


def _write_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    """One zip entry with fixed date, attributes and compression, so equal content gives equal bytes."""
    info = zipfile.ZipInfo(name, ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16
    info.create_system = 0
    archive.writestr(info, data)


# ----------------------------------------------------------------------------------------------------------
# The build
# ----------------------------------------------------------------------------------------------------------


def check_callbacks(actions: list[str], modules: Mapping[str, str]) -> None:
    """Refuse a ribbon whose button would call a Sub that does not exist (Excel only says so on click)."""
    declared = set().union(*(ribbon_subs(code) for code in modules.values()))
    for action in actions:
        if action.rsplit(".", 1)[-1] not in declared:
            raise ConfigError(
                f"{RIBBON_PART}: onAction {action!r} has no Sub {action}(control As "
                "IRibbonControl) in workbook/vba/*.bas; add it or fix the name"
            )


def build_workbook(output: Path | str | None = None, sources: Path | str = WORKBOOK_DIR) -> BuildResult:
    """Build the workbook from ``sources`` into ``output`` (default ``workbook/alma_tools.xlsm``).

    The file is written to a temporary name beside ``output`` and renamed, so an interrupted build never
    leaves a half-written workbook where Excel would open it.
    """
    started = time.perf_counter()
    sources = Path(sources)
    target = Path(output) if output is not None else sources / DEFAULT_OUTPUT.name
    if not target.parent.is_dir():
        raise ConfigError(f"cannot write {target}: the folder {target.parent} does not exist")
    spec = load_spec(sources)
    ribbon = ribbon_xml(sources)
    modules = vba_modules(sources)
    check_callbacks(ribbon_actions(ribbon), modules)
    notes: tuple[str, ...] = ()
    if UDF_VBA_MODULE not in modules:
        notes = (f"{UDF_MODULE} does not exist yet: built without the {UDF_VBA_MODULE} module",)
    code_names = [f"Sheet{number}" for number in range(1, len(spec["sheets"]) + 1)]
    vba = build_vba_project(modules, code_names, udf_descriptions())
    package = add_ribbon(write_sheets(spec, vba), ribbon)
    files.atomic_write(target, package)
    return BuildResult(
        path=target,
        seconds=time.perf_counter() - started,
        size=len(package),
        modules=tuple(modules),
        sheets=tuple(sheet["name"] for sheet in spec["sheets"]),
        notes=notes,
    )
