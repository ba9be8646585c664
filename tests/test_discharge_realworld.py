"""The discharge tried as staff really use it: files and situations the other tests' authors did not write.

Each test runs ``alma-tools discharge`` as a real process (the key in the environment only) against the
simulator over real sockets, with the sample export of ``tests/data``, and checks what a user would see:
the exit code, the summary's words, the file's bytes afterwards and the simulator's counts.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest

from alma_tools.discharge.results import ResultsFile
from alma_tools.errors import InputError
from alma_tools.simulator import Simulator
from alma_tools.tables import ITEM_COLUMNS, find_table, read_grid
from harness import alma_tools_argv, discharge_args, product_env, wait_until

DATA = Path(__file__).parent / "data"
KEY = "canary-KEY-realworld-0ddba11-do-not-log"
TRACEBACK = "Traceback (most recent call last)"


def sample_rows(n: int) -> tuple[list[str], list[list[str]]]:
    """The sample export's header and its first ``n`` data rows."""
    rows = list(csv.reader(io.StringIO((DATA / "items_to_discharge.csv").read_text("utf-8-sig"))))
    return rows[0], [list(r) for r in rows[1 : n + 1]]


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def discharge_argv(
    items: Path, sim: Simulator, *extra: str, locations: Path = DATA / "locations.csv"
) -> list[str]:
    """``alma-tools discharge ITEMS`` at ``--rate 25`` against ``sim``, through this interpreter."""
    return alma_tools_argv(*discharge_args(items, locations, sim.base_url, rate=25, extra=extra))


def discharge(
    items: Path, sim: Simulator, home: Path, *extra: str, locations: Path = DATA / "locations.csv"
) -> subprocess.CompletedProcess:
    """``alma-tools discharge ITEMS`` as a user runs it; never a traceback."""
    args = discharge_argv(items, sim, *extra, locations=locations)
    done = subprocess.run(args, env=product_env(home, KEY), capture_output=True, text=True, timeout=300)
    assert TRACEBACK not in done.stdout + done.stderr
    return done


def start_discharge(items: Path, sim: Simulator, home: Path) -> subprocess.Popen[str]:
    """The discharge started in the background; returns once the simulator has seen 20 scans."""
    running = subprocess.Popen(
        discharge_argv(items, sim),
        env=product_env(home, KEY),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: len(sim.stats()["scans"]) >= 20, timeout=60, what="20 scans")
    return running


def test_a_done_column_of_the_users_own_is_refused_not_taken_for_an_earlier_run(
    simulator, tmp_path: Path
) -> None:
    # A "Done" column the user keeps (yes/x in every row, no status beside it) once made every row
    # "Done in an earlier run": nothing sent, exit 0, and the user's marks overwritten with TRUE.
    sim = simulator(api_keys=(KEY,))
    header, rows = sample_rows(6)
    items = tmp_path / "Items on loan.csv"
    items.write_bytes(
        csv_bytes([*header, "Done"], [[*r, "yes" if i % 2 else "x"] for i, r in enumerate(rows)])
    )
    before = items.read_bytes()
    for extra in (("--dry-run",), ()):
        done = discharge(items, sim, tmp_path / "home", *extra)
        assert done.returncode == 2, done.stdout + done.stderr
        assert (
            "Column 'Done' already holds your own notes (row 2: 'x'): rename or move it, then run again"
        ) in done.stderr
    assert items.read_bytes() == before and sim.stats()["requests"] == 0

    # the same marks with an empty status column of ours beside them: still the user's own
    items.write_bytes(csv_bytes([*header, "done", "status"], [[*r, "TRUE", ""] for r in rows]))
    done = discharge(items, sim, tmp_path / "home")
    assert (
        done.returncode == 2 and "Column 'done' already holds your own notes (row 2: 'TRUE')" in done.stderr
    )
    assert sim.stats()["requests"] == 0


def test_a_results_file_alma_tools_wrote_is_still_skipped_in_another_folder(
    simulator, tmp_path: Path
) -> None:
    # The refusal above must not catch our own results: a file carried to a folder without its run folder
    # (done TRUE beside a status Alma Tools wrote) is still done, and costs no call.
    sim = simulator(api_keys=(KEY,))
    header, rows = sample_rows(4)
    first = tmp_path / "week1" / "items.csv"
    first.parent.mkdir()
    first.write_bytes(csv_bytes(header, rows))
    assert discharge(first, sim, tmp_path / "home").returncode == 0
    calls = sim.stats()["requests"]
    moved = tmp_path / "elsewhere" / "items.csv"
    moved.parent.mkdir()
    moved.write_bytes(first.read_bytes())
    again = discharge(moved, sim, tmp_path / "home")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 done in an earlier run (skipped)" in again.stdout
    assert sim.stats()["requests"] == calls


def test_a_row_with_a_cell_too_many_is_named_for_what_it_is_and_its_shifted_codes_are_not_blamed(
    simulator, tmp_path: Path
) -> None:
    # Row 3 of the corpus file has an unquoted comma in its title: every cell after it moved one column to
    # the right, so its "Library Code" holds an item id. The summary once called the row "ids damaged or
    # missing" and added "Library 235119641341163681: 1 row (row 3) name a library locations.csv does not
    # have", and listed it as "row 3: Row 3 has …".
    sim = simulator(api_keys=(KEY,))
    items = tmp_path / "extra_cell.csv"
    items.write_bytes((DATA / "bad_input" / "extra_cell.csv").read_bytes())
    plan = discharge(items, sim, tmp_path / "home", "--dry-run")
    assert "1 row with a cell more than the header (not sent): row 3" in plan.stdout
    done = discharge(items, sim, tmp_path / "home")
    assert done.returncode == 1, done.stdout + done.stderr
    for said in (plan.stdout, done.stdout):
        assert "235119641341163681" not in said and "ids damaged" not in said
    assert "  1 with a cell more than the header (not sent)" in done.stdout
    assert "  row 3 has one cell more than the header (column H: 'k00040')" in done.stdout
    assert "Row 3 has one cell" not in done.stdout
    assert sim.stats()["by_endpoint"] == {"test": 1, "scan": 2}


def hidden_first_workbook(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    """Staff's workbook: a hidden "Last term" sheet first (other items), the active "Items", a "Notes"."""
    book = openpyxl.Workbook()
    last_term = book.active
    last_term.title = "Last term"
    for values in [header, *rows[6:9]]:
        last_term.append(values)
    last_term.sheet_state = "hidden"
    items = book.create_sheet("Items")
    for values in [header, *rows[:6]]:
        items.append(values)
    book.create_sheet("Notes").append(["Week 48: trolley 2 is broken"])
    book.active = 1
    book.save(path)
    return path


def test_a_workbooks_results_go_into_the_sheet_read_and_nowhere_else(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(KEY,))
    header, rows = sample_rows(9)
    items = hidden_first_workbook(tmp_path / "items.xlsx", rows, header)
    before = zipfile.ZipFile(items)
    parts = {name: before.read(name) for name in before.namelist()}
    done = discharge(items, sim, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(sim.stats()["scans"]) == {r[4] for r in rows[:6]}
    after = zipfile.ZipFile(items)
    assert after.namelist() == list(parts)
    changed = [name for name in parts if after.read(name) != parts[name]]
    assert changed == ["xl/worksheets/sheet2.xml"]  # "Items"; the hidden sheet's part is untouched
    book = openpyxl.load_workbook(items)
    assert [c.value for c in book["Items"][1]][-2:] == ["done", "status"]
    assert book["Items"].cell(3, len(header) + 2).value == "Returned; reshelve to Library 1030300 k00040"


def test_the_results_writer_refuses_a_sheet_other_than_the_one_read(tmp_path: Path) -> None:
    # The writer once fell back to the workbook's first worksheet when it was not told the sheet: with a
    # hidden "Last term" first, the Items sheet's statuses landed on last term's rows (other items).
    header, rows = sample_rows(9)
    items = hidden_first_workbook(tmp_path / "items.xlsx", rows, header)
    table = find_table(read_grid(items), ITEM_COLUMNS)
    assert table.sheet == "Items"
    table.sheet = None
    with pytest.raises(InputError, match=r"results would go into sheet 'Last term', not the sheet the items"):
        ResultsFile(items, table)


def test_an_active_sheet_without_the_table_names_itself_and_the_other_sheets(
    simulator, tmp_path: Path
) -> None:
    # Saved with a "Summary" sheet in front: the message said only "no header row found", not which sheet
    # was read nor that the items are on another one, which --sheet reads.
    sim = simulator(api_keys=(KEY,))
    header, rows = sample_rows(4)
    book = openpyxl.Workbook()
    book.active.title = "Summary"
    book.active.append(["Items to discharge, week 48"])
    items_sheet = book.create_sheet("Items")
    for values in [header, *rows]:
        items_sheet.append(values)
    book.create_sheet("Old").sheet_state = "hidden"
    items = tmp_path / "items.xlsx"
    book.save(items)
    before = items.read_bytes()
    done = discharge(items, sim, tmp_path / "home")
    assert done.returncode == 2
    assert "no header row found" in done.stderr
    assert (
        "(That is sheet 'Summary', the one shown when the workbook was saved; it also has 'Items': name the "
        "sheet that holds the items with --sheet.)"
    ) in done.stderr
    assert items.read_bytes() == before and sim.stats()["requests"] == 0
    chosen = discharge(items, sim, tmp_path / "home", "--sheet", "Items")
    assert chosen.returncode == 0, chosen.stdout + chosen.stderr
    assert set(sim.stats()["scans"]) == {r[4] for r in rows}


def test_the_dry_run_checks_the_alma_address_as_the_run_does(simulator, tmp_path: Path) -> None:
    # The dry run passed (exit 0, "nothing was sent") with an address the real run refuses at once.
    sim = simulator(api_keys=(KEY,))
    header, rows = sample_rows(3)
    items = tmp_path / "items.csv"
    items.write_bytes(csv_bytes(header, rows))
    base = [sys.executable, "-m", "alma_tools", "discharge", str(items), "--locations"]
    base += [str(DATA / "locations.csv"), "--dry-run"]
    env = product_env(tmp_path / "home", KEY)

    def dry(*extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([*base, *extra], env=env, capture_output=True, text=True, timeout=120)
        assert TRACEBACK not in done.stdout + done.stderr
        return done

    remote_http = dry("--base-url", "http://alma.example.org")
    assert remote_http.returncode == 2 and "plain http:// to alma.example.org" in remote_http.stderr
    unknown_region = dry("--region", "mars")
    assert unknown_region.returncode == 2 and "Unknown Alma region 'mars'" in unknown_region.stderr
    unset = dry()  # nothing chosen yet: said, as a missing key is, and the plan is still shown
    assert unset.returncode == 0 and "A real run would be refused: No Alma server is set." in unset.stdout
    assert "3 rows: 3 to scan in." in unset.stdout
    region = dry("--region", "eu")
    assert (
        "A real run would call Alma at api-eu.hosted.exlibrisgroup.com; the address comes from the region "
        "setting (eu)."
    ) in region.stdout
    simulated = discharge(items, sim, tmp_path / "home", "--dry-run")
    assert "A real run would call Alma at 127.0.0.1; the address comes from --base-url." in simulated.stdout
    assert simulated.stdout.rstrip().endswith("Dry run: nothing was sent to Alma.")
    assert sim.stats()["requests"] == 0 and items.read_bytes() == csv_bytes(header, rows)


def export_with_loan_date(path: Path, loan_date: str) -> list[list[str]]:
    """The whole sample export saved at ``path`` with every Loan Date written ``loan_date``."""
    header, rows = sample_rows(300)
    dated = [[*r[:8], loan_date, *r[9:]] for r in rows]
    path.write_bytes(csv_bytes(header, dated))
    return dated


@pytest.mark.parametrize("written", ["01 Dec 2026", "20261201"])
def test_a_fresh_export_the_same_day_after_a_stopped_run_is_scanned_whatever_its_date_format(
    simulator, tmp_path: Path, written: str
) -> None:
    # Week one is stopped with Ctrl-C (its journal stays open). The same day the items are lent again and a
    # fresh export is saved under the same name, its Loan Date written "01 Dec 2026": that date was not
    # read, so the open journal's entries were trusted and every item scanned before the stop was skipped
    # as "done in an earlier run" while on loan, exit 0.
    items = tmp_path / "Items on loan.csv"
    export_with_loan_date(items, "2026-10-01")
    first = simulator(api_keys=(KEY,), latency=(0.2, 0.5))
    stopped = start_discharge(items, first, tmp_path / "home")
    stopped.send_signal(signal.SIGINT)
    out, err = stopped.communicate(timeout=60)
    assert TRACEBACK not in out + err and stopped.returncode == 1, out + err
    week_one = set(first.stats()["scans"])
    assert 20 <= len(week_one) < 300 and "stopped before sending" in out
    assert "no answer from Alma" not in out  # every call in flight was answered before the stop
    # the stop is said once, with what to do, not "row 75: Stopped before this row" and "… and 222 more"
    left = 300 - len(week_one)
    were = "1 row was" if left == 1 else f"{left:,} rows were"
    assert f": {were} not sent. Run the discharge again to send them (rows already done are " in out
    assert "Stopped before this row" not in out and "rows not done" not in out

    again = simulator(api_keys=(KEY,))  # every item on loan again
    rows = export_with_loan_date(items, written)
    done = discharge(items, again, tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "done in an earlier run" not in done.stdout
    stats = again.stats()
    assert stats["scans"] == {r[4]: 1 for r in rows}  # each item scanned once, none skipped
    assert stats["open_loans"] == 0
    assert stats["by_endpoint"].get("loans", 0) == len(week_one)  # one look at each such item's loans


def test_a_libreoffice_file_is_named_for_what_it_is(simulator, tmp_path: Path) -> None:
    # An .ods is a zip too; it was called "not a readable Excel workbook (it may be damaged …)".
    sim = simulator(api_keys=(KEY,))
    items = tmp_path / "items.ods"
    items.write_bytes((DATA / "bad_input" / "opendocument.ods").read_bytes())
    done = discharge(items, sim, tmp_path / "home")
    assert done.returncode == 2
    assert (
        "items.ods is an OpenDocument file (LibreOffice or OpenOffice), which Alma Tools does not read: "
        "open it in LibreOffice Calc and use File › Save As › Excel 2007-365 (.xlsx) or Text CSV (UTF-8)"
    ) in done.stderr
    assert "damaged" not in done.stderr and sim.stats()["requests"] == 0
    renamed = tmp_path / "items.xlsx"  # the same file with an Excel name says the same
    renamed.write_bytes(items.read_bytes())
    assert "is an OpenDocument file" in discharge(renamed, sim, tmp_path / "home").stderr


def test_one_item_id_under_two_mms_or_holding_ids_is_refused_in_both_rows(simulator, tmp_path: Path) -> None:
    # Row 3 got row 4's Item Id pasted over its own. Row 3 was sent (Alma: no such item under that holding)
    # and row 4 was called "Same item as row 3 (scanned once)", a success, while its item stayed on loan.
    sim = simulator(api_keys=(KEY,))
    header, rows = sample_rows(6)
    rows[1][4] = rows[2][4]
    items = tmp_path / "items.csv"
    items.write_bytes(csv_bytes(header, rows))
    plan = discharge(items, sim, tmp_path / "home", "--dry-run")
    assert "2 rows ids damaged or missing (not sent): rows 3, 4" in plan.stdout
    done = discharge(items, sim, tmp_path / "home")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "same item" not in done.stdout
    for row, other in ((3, 4), (4, 3)):
        assert (
            f"  row {row}: Item Id {rows[2][4]} in row {row} is also in row {other} under another MMS Id or "
            "Holding Id: one of the two rows is wrong (copied from another row?); correct it from Alma, then "
            "run again"
        ) in done.stdout
    stats = sim.stats()
    assert set(stats["scans"]) == {r[4] for i, r in enumerate(rows) if i not in (1, 2)}
    assert stats["by_endpoint"] == {"test": 1, "scan": 4}
    # rows that are really one item (the same ids twice) are still scanned once
    header, rows = sample_rows(3)
    twice = tmp_path / "twice.csv"
    twice.write_bytes(csv_bytes(header, [*rows, rows[0]]))
    again = discharge(twice, simulator(api_keys=(KEY,)), tmp_path / "home")
    assert again.returncode == 0 and "  1 same item as an earlier row (scanned once)" in again.stdout


def test_a_key_revoked_mid_run_is_said_once(simulator, tmp_path: Path) -> None:
    # The key is withdrawn in Alma while a run goes on: each call in flight came back refused, and the
    # summary listed "Alma refused the API key (…): check the key and run again" for five of them, then
    # "… and 18 more", then the same sentence again as the reason the run stopped.
    sim = simulator(api_keys=(KEY,), latency=(0.2, 0.5))
    items = tmp_path / "items.csv"
    items.write_bytes((DATA / "items_to_discharge.csv").read_bytes())
    running = start_discharge(items, sim, tmp_path / "home")
    sim.config = dataclasses.replace(sim.config, api_keys=("another-key",))  # withdrawn in Alma
    out, err = running.communicate(timeout=120)
    assert TRACEBACK not in out + err and running.returncode == 1, out + err
    refused = "Alma refused the API key (Invalid API Key): check the key and run again"
    assert out.count(refused) == 1 and f"Stopped: {refused}" in out
    assert "rows not done" not in out and "stopped before sending" in out
    refused_calls = sim.stats()["http_status_counts"].get("400", 0)
    assert 0 < refused_calls <= 40  # the calls in flight, not a call per row
