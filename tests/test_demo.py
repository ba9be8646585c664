"""``alma-tools demo``: the sample discharged against the built-in simulator, with no key and no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from test_analytics_faces import ITEMS_REPORT, SUMMARY

DATA = Path(__file__).parent / "data"


@pytest.mark.slow
def test_demo_discharges_the_sample_afresh_and_computes_the_statistics_without_a_key(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    run_folder = out / "items_to_discharge.csv.alma-run"
    legacy_folder = out / "items_to_discharge.alma-run"  # an earlier version's name
    run_folder.mkdir(parents=True)
    legacy_folder.mkdir()
    # what an earlier demo left: a journal saying every item is done, which must not be trusted by a new demo
    sample = pd.read_csv(DATA / "items_to_discharge.csv", dtype=str, encoding="utf-8-sig")
    old = [
        {"event": "outcome", "key": i, "row": 2, "done": True, "status": "old", "kind": "returned"}
        for i in sample["Item Id"]
    ]
    for folder in (run_folder, legacy_folder):
        (folder / "journal.jsonl").write_text("".join(json.dumps(line) + "\n" for line in old))
    (out / "my notes.txt").write_text("not the demo's")
    (out / "concurrent_checkouts.csv").write_text("an earlier demo's statistics")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
    env.update(HOME=str(tmp_path / "home"), PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    done = subprocess.run(
        [sys.executable, "-m", "alma_tools", "demo", "--out", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    items = out / "items_to_discharge.csv"
    assert f"Results (done, status) are in {items}" in done.stdout
    assert "rows need a person" in done.stdout
    result = pd.read_csv(items, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert len(result) == 300 and (result["done"] == "TRUE").all()
    assert not result["status"].eq("old").any()  # discharged by this demo, not skipped from the old journal
    set_aside = result["status"].str.endswith("— set aside")
    assert set_aside.any() and result.loc[~set_aside, "status"].str.startswith("Returned; reshelve to ").all()
    assert (out / "my notes.txt").read_text() == "not the demo's"  # only the demo's own files are replaced
    # fetched through the simulator's Analytics: what the discharge started from is the packaged sample
    fetched = [line for line in done.stdout.splitlines() if SUMMARY.match(line)]
    assert fetched and SUMMARY.match(fetched[0]).group(1, 3) == ("300", ITEMS_REPORT)
    assert (out / "items_to_discharge.original.csv").read_bytes() == (
        DATA / "items_to_discharge.csv"
    ).read_bytes()
    assert not legacy_folder.exists() and not (run_folder / "journal.jsonl").exists()  # this run is over
    (finished,) = (run_folder / "finished").iterdir()
    journal = (finished / "journal.jsonl").read_text().splitlines()
    assert sum(json.loads(line)["event"] == "sent" for line in journal) == 300

    # the statistics of the packaged loans export, as alma-tools concurrency computes them, at a fixed as-of
    assert "As of 2026-06-30 23:59" in done.stdout
    assert f"Workbook: {out / 'concurrent_checkouts.xlsx'}" in done.stdout
    stats = pd.read_csv(
        out / "concurrent_checkouts.csv", dtype=str, encoding="utf-8-sig", keep_default_na=False
    )
    assert list(stats.columns[:10]) == [
        "MMS Id",
        "Permanent Call Number",
        "Title",
        "Copies",
        "Loans",
        "Peak Out",
        "Concurrent Episodes",
        "Hours 2+ Out",
        "All Copies Out Episodes",
        "Hours All Out",
    ]
    assert len(stats) > 300 and stats["MMS Id"].str.fullmatch(r"99\d+3681").all()
    hours_all_out = stats["Hours All Out"].astype(float)
    assert (hours_all_out > 0).any() and hours_all_out.is_monotonic_decreasing  # ranked for the buyer
    workbook = openpyxl.load_workbook(out / "concurrent_checkouts.xlsx", read_only=True)
    assert workbook.sheetnames[0] == "Buy more copies"  # Excel allows no "?" in a name
