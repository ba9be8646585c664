"""``alma-tools discharge`` as a user runs it: a real process, the key in the environment, a loopback Alma."""

from __future__ import annotations

import codecs
import json
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from alma_tools.discharge.outcomes import KIND_WORDS
from alma_tools.simulator import Simulator
from harness import (
    CANARY_KEY,
    DATA,
    TRACEBACK,
    alma_tools_argv,
    assert_no_key_anywhere,
    copy_into,
    discharge_args,
    product_env,
    read_csv_text,
    write_items_csv,
)
from samples import make_items

CANARY = CANARY_KEY


def cli_args(items: Path, sim: Simulator, *extra: str, locations: Path = DATA / "locations.csv") -> list[str]:
    """``alma-tools discharge`` of ``items`` against the simulator at ``--rate 25``."""
    return discharge_args(items, locations, sim.base_url, rate=25, extra=extra)


def run(
    args: list[str], home: Path, key: str | None = CANARY, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, the key (if any) only in the environment, waited for without polling
    (the simulator that counts requests per second runs in this process)."""
    env = product_env(home, key)
    done = subprocess.run(alma_tools_argv(*args), env=env, capture_output=True, text=True, timeout=timeout)
    assert TRACEBACK not in done.stderr + done.stdout
    return done


def test_discharge_writes_done_and_status_and_a_rerun_sends_nothing(simulator, tmp_path: Path) -> None:
    frame = make_items(100, seed=11)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    original = items.read_bytes()
    first = run(cli_args(items, sim), tmp_path / "home")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "returned, reshelve" in first.stdout and f"Results (done, status) are in {items}" in first.stdout
    raw = items.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # the input's encoding is kept
    result = read_csv_text(items)
    assert list(result.columns) == [*frame.columns, "done", "status"]
    assert result[list(frame.columns)].equals(frame)  # data untouched, ids still text
    assert (result["done"] == "TRUE").all()
    assert result["status"].str.startswith("Returned").all()
    assert (tmp_path / "items.original.csv").read_bytes() == original
    stats = sim.stats()
    assert stats["scans"] == {item_id: 1 for item_id in frame["Item Id"]} and stats["in_house_uses"] == 0

    second = run(cli_args(items, sim), tmp_path / "home")
    assert second.returncode == 0
    assert sim.stats()["requests"] == stats["requests"]  # done rows skipped: not one call
    assert read_csv_text(items)["status"].equals(result["status"])
    assert (tmp_path / "items.original.csv").read_bytes() == original  # the first run's copy is kept
    assert_no_key_anywhere(tmp_path, first.stdout, first.stderr, second.stdout, second.stderr)


def test_dry_run_prints_the_plan_and_makes_no_call(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(CANARY,))
    items = copy_into(DATA / "items_to_discharge.csv", tmp_path)
    before = items.read_bytes()
    done = run(cli_args(items, sim, "--dry-run"), tmp_path / "home")
    assert done.returncode == 0, done.stderr
    assert "300 rows: 300 to scan in." in done.stdout
    assert "library MAIN, desk RESERVES_DESK: 24 rows" in done.stdout
    assert "Dry run: nothing was sent to Alma." in done.stdout
    assert sim.stats()["requests"] == 0
    assert items.read_bytes() == before and not (tmp_path / "items_to_discharge.csv.alma-run").exists()


def test_damaged_export_refuses_each_damaged_row_and_discharges_the_rest(simulator, tmp_path: Path) -> None:
    sim = simulator(api_keys=(CANARY,))
    items = copy_into(DATA / "items_excel_damaged.csv", tmp_path)
    plan = run(cli_args(items, sim, "--dry-run"), tmp_path / "home")
    assert (
        plan.returncode == 1
        and "24 rows ids damaged or missing (not sent): rows 2, 3, 5, 6, 8, …" in plan.stdout
    )
    done = run(cli_args(items, sim), tmp_path / "home")
    assert done.returncode == 1, done.stdout  # rows failed: their status says why
    assert "12 returned, reshelve" in done.stdout, done.stdout
    raw = items.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # still the cp1252 Excel wrote
    result = read_csv_text(items, encoding="cp1252")
    original = read_csv_text(DATA / "items_excel_damaged.csv", encoding="cp1252")
    assert result[list(original.columns)].equals(original)
    data = result[result["Title"] != ""]
    ids = data[["MMS Id", "Holding Id", "Item Id"]]
    intact = ids.apply(lambda col: col.str.fullmatch(r"\d+") & col.str.endswith("3681")).all(axis=1)
    assert (data.loc[intact, "done"] == "TRUE").all()
    assert (data.loc[~intact, "done"] == "").all()
    for index, status in data.loc[~intact, "status"].items():
        row = index + 2
        assert f" in row {row} " in status and status.split(" in row ")[0] in (
            "MMS Id",
            "Holding Id",
            "Item Id",
        )
    assert (result.loc[result["Title"] == "", "status"] == "").all()  # blank rows stay blank
    assert set(sim.stats()["scans"]) == set(data.loc[intact, "Item Id"])  # no damaged id reached Alma
    assert "rows not done" in done.stdout and "row 2: MMS Id in row 2 was turned into a number" in done.stdout


def test_xlsx_export_keeps_title_rows_footer_and_other_sheets(simulator, tmp_path: Path) -> None:
    frame = make_items(30, seed=12)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = tmp_path / "items.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Items on loan"
    sheet.append(["Items on loan - Analytics report"])
    sheet.append([])
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(list(row))
    sheet.append(["Applied filters: Loan Status is equal to Active"])
    book.create_sheet("Notes").append(["keep me"])
    book.save(items)
    done = run(cli_args(items, sim), tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    book = openpyxl.load_workbook(items)
    sheet = book["Items on loan"]
    assert sheet["A1"].value == "Items on loan - Analytics report"
    header = [c.value for c in sheet[3]]
    assert header[-2:] == ["done", "status"]
    done_col, status_col = len(header) - 1, len(header)
    for row in range(4, 34):
        assert sheet.cell(row, done_col).value is True
        assert sheet.cell(row, status_col).value.startswith("Returned")
        assert sheet.cell(row, 5).data_type == "s"  # Item Id still text
    assert sheet.cell(34, 1).value.startswith("Applied filters")
    assert sheet.cell(34, status_col).value is None
    assert book["Notes"]["A1"].value == "keep me"
    assert (tmp_path / "items.original.xlsx").exists()


def test_locked_results_file_keeps_the_run_and_a_rerun_fills_it_without_calls(
    simulator, tmp_path: Path
) -> None:
    frame = make_items(20, seed=13)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    items.chmod(0o444)
    first = run(cli_args(items, sim), tmp_path / "home")
    assert first.returncode == 1
    assert "Could not write the results into items.csv" in first.stdout
    assert "run the same command again" in first.stdout
    assert sum(sim.stats()["scans"].values()) == 20
    items.chmod(0o644)
    requests = sim.stats()["requests"]
    second = run(cli_args(items, sim), tmp_path / "home")
    assert second.returncode == 0
    assert sim.stats()["requests"] == requests
    result = read_csv_text(items)
    assert (result["done"] == "TRUE").all() and result["status"].str.startswith("Returned").all()


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("missing locations file", "File not found: nowhere.csv"),
        ("rate above the limit", "Alma allows 25 per institution"),
        ("unknown region", "region"),
        ("no key", "key"),
    ],
)
def test_bad_arguments_and_input_exit_2_with_a_message(
    sim: Simulator, tmp_path: Path, case: str, words: str
) -> None:
    items = copy_into(DATA / "items_to_discharge.csv", tmp_path)
    key: str | None = CANARY
    command = cli_args(items, sim)
    if case == "missing locations file":
        command = cli_args(items, sim, locations=Path("nowhere.csv"))
    elif case == "rate above the limit":
        command = cli_args(items, sim, "--rate", "30")
    elif case == "unknown region":
        command = ["discharge", str(items), "--locations", str(DATA / "locations.csv"), "--region", "xx"]
    else:
        key = None
    done = run(command, tmp_path / "home", key=key)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words.lower() in done.stderr.lower()
    assert sim.stats()["requests"] == 0


@pytest.mark.slow
def test_sigkill_at_ten_random_moments_never_scans_an_item_twice(simulator, tmp_path: Path) -> None:
    """The issue's figure: 500 items, killed with SIGKILL 10 times, rerun until it finishes."""
    frame = make_items(500, seed=14)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = write_items_csv(tmp_path, frame)
    rng = random.Random(14)
    home = tmp_path / "home"
    kills = 0
    for _ in range(10):
        process = subprocess.Popen(
            alma_tools_argv(*cli_args(items, sim)),
            env=product_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.8, 2.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
    for _ in range(5):
        final = run(cli_args(items, sim), home)
        if final.returncode == 0:
            break
    assert final.returncode == 0, final.stdout
    assert kills == 10
    stats = sim.stats()
    assert stats["scans"] == {item_id: 1 for item_id in frame["Item Id"]}
    result = read_csv_text(items)  # the file parses: every write was atomic
    assert result[list(frame.columns)].equals(frame)
    assert (result["done"] == "TRUE").all()
    assert not list(tmp_path.glob(".items.csv.*.tmp"))
    assert not (tmp_path / "items.csv.alma-run" / "journal.jsonl").exists()  # finished: put away


def _kill_at_random(command: list[str], home: Path, rng: random.Random, kills: int, within: float) -> int:
    """Start the command ``kills`` times, each killed with SIGKILL at a random moment; how many were."""
    killed = 0
    for _ in range(kills):
        process = subprocess.Popen(
            alma_tools_argv(*command),
            env=product_env(home),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, within))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait()
    return killed


@pytest.mark.slow
def test_sigkill_in_week_one_and_week_two_never_scans_an_item_twice_in_either(
    simulator, tmp_path: Path
) -> None:
    """Killed at random moments (the end of a run, when its journal is put away, included) in two weeks
    running: each week's items are scanned once each, the second week's not skipped by the first's."""
    frame = make_items(250, seed=34)
    rng = random.Random(34)
    home = tmp_path / "home"
    items = write_items_csv(tmp_path, frame)
    for week in (1, 2):
        sim = simulator(items=frame, api_keys=(CANARY,))  # the items on loan (again)
        write_items_csv(tmp_path, frame)  # a fresh export under the same name
        killed = _kill_at_random(cli_args(items, sim), home, rng, kills=5, within=3.0)
        for _ in range(5):
            final = run(cli_args(items, sim), home)
            if final.returncode == 0:
                break
        assert final.returncode == 0, (week, final.stdout)
        assert killed >= 3, killed
        assert sim.stats()["scans"] == {item_id: 1 for item_id in frame["Item Id"]}, week
        assert (read_csv_text(items)["done"] == "TRUE").all()


@pytest.mark.timing
@pytest.mark.slow
def test_1000_items_at_25_per_second_with_real_latency(simulator, tmp_path: Path) -> None:
    """The issue's figure: 1,000 items, latency 0.3-0.8 s, --rate 25: all done, once each, at most 25/s."""
    frame = make_items(1000, seed=15)
    sim = simulator(items=frame, api_keys=(CANARY,), latency=(0.3, 0.8))
    items = write_items_csv(tmp_path, frame)
    done = run(cli_args(items, sim), tmp_path / "home", timeout=240)
    assert done.returncode == 0, done.stdout
    stats = sim.stats()
    assert stats["scans"] == {item_id: 1 for item_id in frame["Item Id"]}
    assert stats["in_house_uses"] == 0
    assert stats["max_requests_in_any_second"] <= 25
    # requests started per second, first to last: each answer's time less its elapsed time (measured from
    # its pacer slot); the journal's sent lines come before a row waits for its slot and would overstate it
    (finished,) = (tmp_path / "items.csv.alma-run" / "finished").iterdir()  # the run is over: put away
    answers = [json.loads(line) for line in (finished / "answers.jsonl").read_text().splitlines()]
    starts = sorted(answer["time"] - answer["elapsed"] for answer in answers)
    achieved = (len(starts) - 1) / (starts[-1] - starts[0])
    assert achieved >= 0.95 * 25, f"{achieved:.2f} requests/s"
    shutil.rmtree(tmp_path / "items.csv.alma-run")


def hidden_sheet_workbook(path: Path, frame: pd.DataFrame) -> Path:
    """A workbook as staff keep one: a hidden "Last term" sheet first, the active "Items" sheet with a row
    hidden by hand and a footer."""
    book = openpyxl.Workbook()
    last_term = book.active
    last_term.title = "Last term"
    last_term.append(list(frame.columns))
    for row in frame.iloc[:3].itertuples(index=False):
        last_term.append(list(row))
    last_term.sheet_state = "hidden"
    items = book.create_sheet("Items")
    items.append(list(frame.columns))
    for row in frame.iloc[3:].itertuples(index=False):
        items.append(list(row))
    items.append(["Applied filters: Loan Status is equal to Active"])
    items.row_dimensions[4].hidden = True  # the third data row (frame row 5)
    book.active = 1
    book.save(path)
    return path


def test_the_visible_active_sheet_is_discharged_and_hidden_rows_are_left_alone(
    simulator, tmp_path: Path
) -> None:
    frame = make_items(12, seed=31)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = hidden_sheet_workbook(tmp_path / "items.xlsx", frame)
    plan = run(cli_args(items, sim, "--dry-run"), tmp_path / "home")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "Plan for items.xlsx, sheet 'Items':" in plan.stdout
    assert "9 rows: 8 to scan in." in plan.stdout
    assert "1 row hidden by a filter or by hand was left alone (use --include-hidden" in plan.stdout
    assert "Row 11 ('Applied filters: Loan Status is equal to Active')" in plan.stdout  # the reader's note
    assert "The Alma API key is taken from the ALMA_API_KEY environment variable." in plan.stdout
    assert sim.stats()["requests"] == 0

    done = run(cli_args(items, sim), tmp_path / "home")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"1 {KIND_WORDS['hidden']}" in done.stdout  # the summary's words for the rows left alone
    hidden_item = frame["Item Id"][5]
    last_term = set(frame["Item Id"][:3])
    scans = sim.stats()["scans"]
    assert set(scans) == set(frame["Item Id"][3:]) - {hidden_item}  # never the hidden sheet, nor the row
    assert not last_term & set(scans)
    sheet = openpyxl.load_workbook(items)["Items"]
    header = [c.value for c in sheet[1]]
    status_col = header.index("status") + 1
    assert sheet.cell(4, status_col).value is None  # the hidden row: nothing written
    assert sheet.cell(3, status_col).value.startswith("Returned")

    included = run(cli_args(items, sim, "--include-hidden"), tmp_path / "home")
    assert included.returncode == 0, included.stdout
    assert sim.stats()["scans"].get(hidden_item) == 1
    chosen = run(cli_args(items, sim, "--sheet", "Last term"), tmp_path / "home")
    assert chosen.returncode == 0, chosen.stdout
    assert all(sim.stats()["scans"].get(i) == 1 for i in last_term)  # named: the hidden sheet is read


def test_an_unknown_sheet_is_refused_naming_the_sheets(simulator, tmp_path: Path) -> None:
    frame = make_items(6, seed=32)
    sim = simulator(items=frame, api_keys=(CANARY,))
    items = hidden_sheet_workbook(tmp_path / "items.xlsx", frame)
    before = items.read_bytes()
    done = run(cli_args(items, sim, "--sheet", "Nope"), tmp_path / "home")
    assert done.returncode == 2
    assert "Last term" in done.stderr and "Items" in done.stderr
    assert items.read_bytes() == before and sim.stats()["requests"] == 0


def test_a_status_column_with_the_users_own_notes_is_refused_before_any_call(
    simulator, tmp_path: Path
) -> None:
    frame = make_items(8, seed=33)
    sim = simulator(items=frame, api_keys=(CANARY,))
    theirs = frame.assign(Status="")
    theirs.loc[1, "Status"] = "Claims returned - see ticket 4711"  # row 3
    items = write_items_csv(tmp_path, theirs)
    before = items.read_bytes()
    for extra in ((), ("--dry-run",)):
        done = run(cli_args(items, sim, *extra), tmp_path / "home")
        assert done.returncode == 2, done.stdout + done.stderr
        assert (
            "Column 'Status' already holds your own notes (row 3: 'Claims returned - see ticket 4711'): "
            "rename or move it, then run again"
        ) in done.stderr
    assert items.read_bytes() == before and sim.stats()["requests"] == 0

    # a status column Alma Tools wrote is its own, even after a person added a note to it
    ours = write_items_csv(tmp_path, frame)
    assert run(cli_args(ours, sim), tmp_path / "home").returncode == 0
    result = read_csv_text(ours)
    result.loc[1, "status"] = "Patron called, book on the trolley"
    result.to_csv(ours, index=False, encoding="utf-8-sig")
    again = run(cli_args(ours, sim), tmp_path / "home")
    assert again.returncode == 0, again.stdout + again.stderr
    assert read_csv_text(ours)["status"][1] == "Patron called, book on the trolley"  # a done row is skipped
