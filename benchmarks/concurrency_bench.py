"""Concurrent-checkout statistics: time and peak memory at 10k, 100k and 1M loans, against two yardsticks.

Why these yardsticks: reading the CSV alone (``pd.read_csv``) is the floor no implementation can beat, so
"ours / read-only" says how much the statistics cost on top of reading; the plain brute-force reference (the
one the tests hold the fast code to, fed by the ``csv`` module and ``strptime``) is what a straightforward
implementation costs, so "ours / brute" says what the whole-column sweep buys.

Each measurement (and the data generation) runs in its own subprocess, so peak memory (``ru_maxrss``) is
that step's alone (it includes the interpreter and pandas, about 80 MB); times start after the imports.
The loans are generated with a fixed seed: volumes of 1-8 copies, reserve-like (hours) and stack-like
(weeks) loans, each copy's loans one after another with some same-second hand-offs, start times on the
minute for a third of the loans (so different copies change at the same second), and some loans still out.

Then the command end to end (``alma-tools concurrency``, start to exit, in its own process, the fastest
of three runs; peak memory of that process), each with the yardstick its target is set against:

* 200,000 loans in an Analytics-style XLSX with ``--csv``: at most 4 s, and at most 10 times what pandas
  needs to read the same loans from CSV (``pd.read_csv(dtype=str)``, timed after ``import pandas``, as
  the other yardsticks are; pandas' whole process, interpreter and import included, is printed beside it);
* 1,000,000 loans from CSV with ``--csv``: at most 6 s;
* the workbook (``--output``) of the same 1,000,000 loans: at most 1.6 times the CSV-only command, and
  under 1 GB.

    python benchmarks/concurrency_bench.py            # 10k, 100k, 1M, then the commands (200k XLSX, 1M)
    python benchmarks/concurrency_bench.py --quick    # 10k; commands on 20k XLSX, 100k CSV (a minute)
    python benchmarks/concurrency_bench.py 10000      # chosen sizes for the first table only
    python benchmarks/concurrency_bench.py --xlsx-steps 200000  # what each step of the XLSX command costs

``measure(sizes)`` and ``measure_commands(xlsx_loans, csv_loans)`` return the rows for a combined table.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
#: the brute force is pure Python and quadratic per volume; above this many loans it is not run
BRUTE_LIMIT = 100_000
AS_OF = dt.datetime(2026, 7, 1)
SIZES = (10_000, 100_000, 1_000_000)
_YEAR_START = np.datetime64("2025-08-25T08:00:00", "s")
_PERIOD = float((np.datetime64(AS_OF, "s") - _YEAR_START).astype(np.int64))


def generate(n: int, path: Path, seed: int = 20251122) -> Path:
    """Write ``n`` realistic loans as an Analytics-style CSV (text dates m/d/yyyy, times HH:MM:SS)."""
    rng = np.random.default_rng(seed)
    n_volumes = max(n // 20, 1)
    copies = rng.choice(np.arange(1, 9), size=n_volumes, p=[0.3, 0.3, 0.15, 0.1, 0.06, 0.04, 0.03, 0.02])
    reserve = rng.random(n_volumes) < 0.4
    popularity = rng.pareto(1.5, n_volumes) + 1
    volume = rng.choice(n_volumes, size=n, p=popularity / popularity.sum())
    copy = (rng.random(n) * copies[volume]).astype(np.int64)
    # a copy lent k times has loans and gaps that fit k times into the period: busy copies turn over fast
    per_copy = np.bincount(volume * 8 + copy, minlength=n_volumes * 8)[volume * 8 + copy]
    cycle = np.minimum(np.where(reserve[volume], 8 * 3600.0, 45 * 86400.0), 0.8 * _PERIOD / per_copy)
    duration = np.maximum(rng.exponential(cycle * 0.4), 60).astype(np.int64)
    gap = rng.exponential(cycle * 0.6).astype(np.int64)
    gap[rng.random(n) < 0.05] = 0  # same-second hand-off of one copy
    order = np.lexsort((rng.random(n), copy, volume))
    volume, copy, duration, gap = volume[order], copy[order], duration[order], gap[order]
    first = np.r_[True, (volume[1:] != volume[:-1]) | (copy[1:] != copy[:-1])]
    step = duration + gap
    used = np.cumsum(step) - step  # time taken by all earlier loans in this order
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    offset = rng.integers(0, 14 * 86400, n)
    start = offset[group_start] + used - used[group_start]
    on_minute = rng.random(n) < 0.33
    start = np.where(on_minute & ~first, start - start % 60, start)
    start = np.maximum(start, np.r_[0, (start + duration)[:-1]] * ~first)  # rounding never makes an overlap
    end = start + duration
    loan = pd.Series(_YEAR_START + start)
    back = pd.Series(_YEAR_START + end)
    open_loan = (back > pd.Timestamp(AS_OF)) & (rng.random(n) < 0.5)
    frame = pd.DataFrame(
        {
            "Title": "Title " + pd.Series(volume).astype(str),
            "MMS Id": "99" + pd.Series(volume + 10_000_000_000).astype(str) + "3681",
            "Permanent Call Number": "QA"
            + pd.Series(volume % 9973).astype(str)
            + " .B"
            + pd.Series(volume).astype(str),
            "Barcode": "3" + pd.Series(volume * 10 + copy + 10**11).astype(str),
            "Loan Date": loan.dt.strftime("%m/%d/%Y"),
            "Loan Time": loan.dt.strftime("%H:%M:%S"),
            "Return Date": back.dt.strftime("%m/%d/%Y").where(~open_loan, ""),
            "Return Time": back.dt.strftime("%H:%M:%S").where(~open_loan, ""),
        }
    )
    frame.to_csv(path, index=False)
    return path


def generate_xlsx(csv_path: Path, path: Path) -> Path:
    """The same loans as an Analytics-style XLSX: report name in row 1, a blank row, the header in row 3,
    dates as Excel date cells, times as text ``HH:MM:SS``, a footer row ("Applied filters: ..."), text in
    the shared strings table as Analytics (and Excel) write it (``tests/data/loans_export.xlsx`` has the
    shape; XlsxWriter's constant-memory mode writes inline strings instead, a third more XML to parse)."""
    import xlsxwriter

    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Loans")
    dates = workbook.add_format({"num_format": "m/d/yyyy"})
    sheet.write_string(0, 0, "Loans of the academic year")
    for column, header in enumerate(frame.columns):
        sheet.write_string(2, column, header)
    date_columns = {frame.columns.get_loc(c) for c in ("Loan Date", "Return Date")}
    parsed = {
        c: pd.to_datetime(frame[frame.columns[c]], format="%m/%d/%Y", errors="coerce").dt.to_pydatetime()
        for c in date_columns
    }
    values = frame.to_numpy(object)
    for offset, row in enumerate(values):
        for column, value in enumerate(row):
            if column in date_columns:
                moment = parsed[column][offset]
                if moment is not None and moment == moment:
                    sheet.write_datetime(3 + offset, column, moment, dates)
            elif value != "":
                sheet.write_string(3 + offset, column, value)
    sheet.write_string(3 + len(values), 0, "Applied filters: Loan Date is after 08/25/2025")
    workbook.close()
    return path


def _read_only(path: Path) -> dict:
    started, cpu = time.perf_counter(), time.process_time()
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "rows": len(frame),
    }


def _ours(path: Path) -> dict:
    from alma_tools.concurrency import compute, read_loans

    started = time.perf_counter()  # after the imports: the same start line as the other two
    stats = compute(read_loans(path), as_of=AS_OF)
    return {
        "seconds": time.perf_counter() - started,
        "volumes": len(stats.volumes),
        "hours_all_out": round(float(stats.volumes["Hours All Out"].sum()), 3),
    }


def _brute(path: Path) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_concurrency_reference import brute_force

    started = time.perf_counter()
    epoch = dt.datetime(1970, 1, 1)
    loans = []
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            start = dt.datetime.strptime(f"{row['Loan Date']} {row['Loan Time']}", "%m/%d/%Y %H:%M:%S")
            end = None
            if row["Return Date"]:
                back = dt.datetime.strptime(f"{row['Return Date']} {row['Return Time']}", "%m/%d/%Y %H:%M:%S")
                end = int((back - epoch).total_seconds())
            volume = f"{row['MMS Id']}|{row['Permanent Call Number']}"
            loans.append((volume, row["Barcode"], int((start - epoch).total_seconds()), end))
    result = brute_force(loans, int((AS_OF - epoch).total_seconds()))
    return {
        "seconds": time.perf_counter() - started,
        "volumes": len(result),
        "hours_all_out": round(sum(f.all_out_hours for f in result.values()), 3),
    }


def xlsx_steps(n: int = 200_000) -> tuple[dict[str, tuple[float, float]], tuple[float, float], dict]:
    """The steps of ``n`` loans' XLSX command as (wall, CPU) seconds: the interpreter's start, the
    command's parser (the modules it loads, less the start), then ``xlsx_steps_child.py``'s, each the fastest
    of three fresh processes; pandas' CSV read of the same loans; and the command end to end."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        small_csv, small_xlsx = folder / f"loans_{n}.csv", folder / f"loans_{n}.xlsx"
        _run("generate", f"{n}={small_csv}")
        _run("generate_xlsx", f"{small_csv}={small_xlsx}")  # not here: see _run
        pandas_runs = [_run("read_only", small_csv) for _ in range(3)]
        pandas_csv = min((r["seconds"], r["cpu_seconds"]) for r in pandas_runs)
        runs = [_xlsx_steps_process(small_xlsx) for _ in range(3)]
        start = _fastest_process("pass")
        parser = _fastest_process("from alma_tools.cli import build_parser; build_parser('concurrency')")
        steps = {
            "interpreter start": start,
            "the command's parser": (parser[0] - start[0], parser[1] - start[1]),
            **{name: min(tuple(run[name]) for run in runs) for name in runs[0]},
        }
        command = _command(str(small_xlsx), "--csv", str(folder / "a.csv"))
    return steps, pandas_csv, command


#: pandas' CSV read as a process of its own, the interpreter and ``import pandas`` included (what the
#: command's end-to-end time includes too): the second yardstick of the XLSX command
_PANDAS_PROCESS = "import pandas as pd; pd.read_csv({path!r}, dtype=str, keep_default_na=False)"


def _fastest_process(code: str) -> tuple[float, float]:
    """(wall, CPU) seconds of ``python -c code`` in a fresh process, the fastest of three."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", code])
        _, status, usage = os.wait4(process.pid, 0)
        assert status == 0
        runs.append((time.perf_counter() - started, usage.ru_utime + usage.ru_stime))
    return min(runs)


def _xlsx_steps_process(path: Path) -> dict[str, tuple[float, float]]:
    """The XLSX command's steps (``xlsx_steps_child.py``) in a fresh interpreter that has imported nothing
    else: this file imports pandas, which would hide the imports the parse overlaps."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "xlsx_steps_child.py"), str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {name: (wall, cpu) for name, (wall, cpu) in json.loads(done.stdout.splitlines()[-1]).items()}


def _print_xlsx_steps(n: int) -> None:
    steps, (pandas_wall, pandas_cpu), command = xlsx_steps(n)
    print(f"{n:,} loans from XLSX, step by step (the fastest of three; pandas reads the same loans from CSV "
          f"in {pandas_wall:.2f} s wall, {pandas_cpu:.2f} s CPU)")  # fmt: skip
    print(f"  {'step':<44} {'wall':>7} {'x pandas':>9} {'CPU':>7} {'x pandas':>9}")
    rest_cpu = command["cpu_seconds"] - sum(cpu for _, cpu in steps.values())
    for name, (wall, cpu) in steps.items():
        print(f"  {name:<44} {wall:5.2f} s {wall / pandas_wall:8.1f}x {cpu:5.2f} s {cpu / pandas_cpu:8.1f}x")
    print(f"  {'the rest (CSV files, summary; threads): CPU':<44} {'':>7} {'':>9} {rest_cpu:5.2f} s "
          f"{rest_cpu / pandas_cpu:8.1f}x")  # fmt: skip
    wall, cpu = command["seconds"], command["cpu_seconds"]
    print(f"  {'end to end (the command)':<44} {wall:5.2f} s {wall / pandas_wall:8.1f}x {cpu:5.2f} s "
          f"{cpu / pandas_cpu:8.1f}x")  # fmt: skip


_STEPS = {"read_only": _read_only, "ours": _ours, "brute": _brute}


def _child(step: str, path: str) -> None:
    import resource

    if step == "generate":
        size, target = path.split("=", 1)
        generate(int(size), Path(target))
        return
    if step == "generate_xlsx":
        source, target = path.split("=", 1)
        generate_xlsx(Path(source), Path(target))
        return
    result = _STEPS[step](Path(path))
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _run(step: str, path: Path | str) -> dict:
    """``step`` in a fresh process. Generating runs there too: Linux carries a process's peak memory
    across fork and exec, so a child reports at least what this process held when it started it (making
    the 200,000-loan workbook here put 519 MB on every command measured after it)."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, str(path)], capture_output=True, text=True, check=True
    )
    lines = done.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def measure(sizes: tuple[int, ...] = SIZES) -> list[dict]:
    """One row per size: seconds and peak MB of read-only, ours and brute force, and the ratios."""
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            path = Path(scratch) / f"loans_{n}.csv"
            # generated in a child: a child starts with its parent's peak memory, so the parent stays small
            _run("generate", f"{n}={path}")
            read_only = _run("read_only", path)
            ours = _run("ours", path)
            row = {
                "benchmark": "concurrency",
                "loans": n,
                "read_only_s": read_only["seconds"],
                "read_only_mb": read_only["peak_mb"],
                "ours_s": ours["seconds"],
                "ours_mb": ours["peak_mb"],
                "ours_over_read_only": ours["seconds"] / read_only["seconds"],
                "brute_s": None,
                "brute_mb": None,
                "ours_over_brute": None,
                "same_answer": None,
            }
            if n <= BRUTE_LIMIT:
                brute = _run("brute", path)
                row.update(
                    brute_s=brute["seconds"],
                    brute_mb=brute["peak_mb"],
                    ours_over_brute=ours["seconds"] / brute["seconds"],
                    same_answer=(brute["volumes"], brute["hours_all_out"])
                    == (ours["volumes"], ours["hours_all_out"]),
                )
            rows.append(row)
    return rows


def _command(*args: str, repeat: int = 3) -> dict:
    """``alma-tools concurrency ARGS`` in its own process, the fastest of ``repeat`` runs (a shared machine's
    load only ever adds time): wall-clock seconds and that process's peak MB."""
    runs = [_command_once(*args) for _ in range(repeat)]
    return min(runs, key=lambda run: run["seconds"])


def _command_once(*args: str) -> dict:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "alma_tools", "concurrency", *args, "--as-of", f"{AS_OF:%Y-%m-%d %H:%M}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise RuntimeError(f"alma-tools concurrency {' '.join(args)} failed (status {status})")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }


def measure_commands(xlsx_loans: int = 200_000, csv_loans: int = 1_000_000) -> list[dict]:
    """The end-to-end figures and their ratios (see the module docstring), from one run."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        small_csv, small_xlsx = folder / f"loans_{xlsx_loans}.csv", folder / f"loans_{xlsx_loans}.xlsx"
        _run("generate", f"{xlsx_loans}={small_csv}")
        _run("generate_xlsx", f"{small_csv}={small_xlsx}")  # not here: see _run
        pandas_csv = min((_run("read_only", small_csv) for _ in range(3)), key=lambda run: run["seconds"])
        pandas_process = _fastest_process(_PANDAS_PROCESS.format(path=str(small_csv)))[0]
        xlsx = _command(str(small_xlsx), "--csv", str(folder / "a.csv"))
        big_csv = folder / f"loans_{csv_loans}.csv"
        _run("generate", f"{csv_loans}={big_csv}")
        csv_only = _command(str(big_csv), "--csv", str(folder / "b.csv"))
        workbook = _command(str(big_csv), "--output", str(folder / "b.xlsx"))
    return [
        {"what": f"{xlsx_loans:,} loans, XLSX --csv", "seconds": xlsx["seconds"], "peak_mb": xlsx["peak_mb"],
         "against": f"pandas reads them from CSV: {pandas_csv['seconds']:.2f} s (its whole process "
                    f"{pandas_process:.2f} s: {xlsx['seconds'] / pandas_process:.1f} times)",
         "ratio": xlsx["seconds"] / pandas_csv["seconds"], "targets": "<= 4 s; ratio <= 10"},
        {"what": f"{csv_loans:,} loans, CSV --csv", "seconds": csv_only["seconds"],
         "peak_mb": csv_only["peak_mb"], "against": "", "ratio": None, "targets": "<= 6 s"},
        {"what": f"{csv_loans:,} loans, CSV --output (workbook)", "seconds": workbook["seconds"],
         "peak_mb": workbook["peak_mb"], "against": f"the CSV-only command: {csv_only['seconds']:.2f} s",
         "ratio": workbook["seconds"] / csv_only["seconds"], "targets": "ratio <= 1.6; < 1,024 MB"},
    ]  # fmt: skip


def _print_commands(rows: list[dict]) -> None:
    print()
    print(
        f"{'end to end (alma-tools concurrency)':<40} | {'time':>8} | {'peak':>7} | {'ratio':>5} | "
        "against | targets"
    )
    for r in rows:
        ratio = f"{r['ratio']:5.2f}" if r["ratio"] is not None else f"{'-':>5}"
        print(
            f"{r['what']:<40} | {r['seconds']:6.2f} s | {r['peak_mb']:4.0f} MB | {ratio} | "
            f"{r['against'] or '-'} | {r['targets']}"
        )


def _print(rows: list[dict]) -> None:
    print(
        f"{'loans':>9} | {'read CSV only':>16} | {'ours: read+compute':>18} | {'brute force':>17} | "
        f"{'ours/read':>9} | {'ours/brute':>10} | same answer"
    )
    for r in rows:
        brute = f"{r['brute_s']:7.2f} s {r['brute_mb']:5.0f} MB" if r["brute_s"] is not None else "not run"
        ratio = f"{r['ours_over_brute']:10.3f}" if r["ours_over_brute"] is not None else f"{'-':>10}"
        same = "-" if r["same_answer"] is None else str(r["same_answer"])
        print(
            f"{r['loans']:>9,} | {r['read_only_s']:6.2f} s {r['read_only_mb']:5.0f} MB | "
            f"{r['ours_s']:7.2f} s {r['ours_mb']:5.0f} MB | {brute:>17} | {r['ours_over_read_only']:9.2f} | "
            f"{ratio} | {same}"
        )
    if any(r["brute_s"] is None for r in rows):
        print(f"(the brute force is not run above {BRUTE_LIMIT:,} loans: pure Python, quadratic per volume)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        if sys.argv[1:2] == ["--xlsx-steps"]:
            _print_xlsx_steps(int(sys.argv[2]) if len(sys.argv) > 2 else 200_000)
            sys.exit(0)
        quick = "--quick" in sys.argv[1:]
        sizes = tuple(int(a) for a in sys.argv[1:] if a != "--quick")
        _print(measure(sizes or ((10_000,) if quick else SIZES)))
        if not sizes:
            _print_commands(measure_commands(20_000, 100_000) if quick else measure_commands())
