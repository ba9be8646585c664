"""How long ``alma-tools build-workbook`` takes, phase by phase, and whether rebuilds are identical.

Why measure it: the build runs in every test session (the committed workbook is compared with a fresh
build) and each time someone edits ``workbook/``. ms-ovba is pure Python; its match search compared every
earlier position (about 6 s for the 46 KB of ``xlwings.bas``) until the build replaced it with an
equivalent three-byte-prefix search. The VBA phase still dominates; the phases show by how much.

Run: ``python3 benchmarks/build_bench.py [--quick]`` (prints the figures); ``run_all.py`` imports
:func:`measure`.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "addin"))  # a checkout works uninstalled

from alma_tools import workbook_build


def _phases() -> dict[str, float]:
    """Seconds spent in each phase of one build, using the same functions :func:`build_workbook` chains."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    spec = workbook_build.load_spec()
    ribbon = workbook_build.ribbon_xml()
    modules = workbook_build.vba_modules()
    timings["sources_and_udf_wrappers_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    code_names = [f"Sheet{number}" for number in range(1, len(spec["sheets"]) + 1)]
    vba = workbook_build.build_vba_project(modules, code_names)
    timings["vba_project_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    package = workbook_build.write_sheets(spec, vba)
    timings["sheets_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    workbook_build.add_ribbon(package, ribbon)
    timings["ribbon_and_zip_s"] = time.perf_counter() - mark
    return timings


def measure(quick: bool = False) -> dict[str, Any]:
    """Build the workbook ``runs`` times into a temporary folder; report the median time and the phases.

    ``identical_rebuilds`` is True when every build produced the same bytes (the reproducibility claim).
    """
    runs = 1 if quick else 3
    seconds: list[float] = []
    digests: set[str] = set()
    size = 0
    with tempfile.TemporaryDirectory(prefix="alma-build-bench-") as folder:
        for number in range(runs + 1):  # one more: two builds are needed to compare bytes
            result = workbook_build.build_workbook(Path(folder) / f"build{number}.xlsm")
            if number < runs:
                seconds.append(result.seconds)
            digests.add(hashlib.sha256(result.path.read_bytes()).hexdigest())
            size = result.size
    figures: dict[str, Any] = {
        "build_seconds_median": round(statistics.median(seconds), 2),
        "builds": runs,
        "workbook_bytes": size,
        "identical_rebuilds": len(digests) == 1,
    }
    figures.update({name: round(value, 2) for name, value in _phases().items()})
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one build instead of three")
    for name, value in measure(quick=parser.parse_args().quick).items():
        print(f"{name:30} {value}")


if __name__ == "__main__":
    main()
