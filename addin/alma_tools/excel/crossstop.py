"""Stop for a discharge running in another Python process (after *Save As* during a run).

xlwings' DLL keys its UDF server on the command it starts Python with, which holds the workbook's full name:
after *Save As* mid-run the next button starts a second Python, whose registry of jobs is empty, so Stop
could not reach the run. Each discharge therefore announces itself in a per-user folder
(:func:`announce_dir`: a small file with its run folder and a heartbeat, renewed every few seconds while it
writes); Stop, finding no job of its own,
asks every live run announced there to stop by leaving a request file in that run's folder, which the run
looks for at each heartbeat. A file-based handshake works across processes on every system without
looking at process ids (on Windows ``os.kill`` would end the process).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from pathlib import Path

#: the environment variable naming another folder for the announcements (tests: one per test)
ANNOUNCE_ENV = "ALMA_TOOLS_RUNS_DIR"


def announce_dir() -> Path:
    """Where runs announce themselves: one folder per user (the temporary folder is per user on Windows)."""
    return Path(os.environ.get(ANNOUNCE_ENV) or Path(tempfile.gettempdir()) / "alma-tools-runs")


#: the request a Stop from another process leaves in a run's folder
STOP_REQUEST = "stop.request"
#: a run whose heartbeat is older than this is gone (Excel or Python ended without cleaning up)
STALE_AFTER = 15.0
#: how often a run renews its heartbeat and looks for a stop request
HEARTBEAT_EVERY = 2.0


class Announcement:
    """One run's presence in :func:`announce_dir`; ``beat()`` renews it and says whether Stop was asked."""

    def __init__(self, run_folder: Path, workbook: str, folder: Path | None = None) -> None:
        self.run_folder = Path(run_folder)
        self.workbook = workbook
        self.folder = folder or announce_dir()
        self.path = self.folder / f"{uuid.uuid4().hex}.json"
        self._last = 0.0

    def __enter__(self) -> Announcement:
        with contextlib.suppress(OSError):
            (self.run_folder / STOP_REQUEST).unlink(missing_ok=True)  # an old request is not for this run
        self.beat(force=True)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink(missing_ok=True)

    def beat(self, force: bool = False) -> bool:
        """Renew the heartbeat (at most every few seconds); True when another process asked for Stop."""
        now = time.time()
        if not force and now - self._last < HEARTBEAT_EVERY:
            return False
        self._last = now
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            record = {"run_folder": str(self.run_folder), "workbook": self.workbook, "beat": now}
            self.path.write_text(json.dumps(record), encoding="utf-8")
        request = self.run_folder / STOP_REQUEST
        if request.exists():
            with contextlib.suppress(OSError):
                request.unlink()
            return True
        return False


def request_stop_elsewhere(folder: Path | None = None) -> list[str]:
    """Ask every live run announced by another process to stop; the names of their workbooks."""
    folder = folder or announce_dir()
    asked = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if time.time() - float(record.get("beat", 0)) > STALE_AFTER:
            with contextlib.suppress(OSError):
                path.unlink()  # left behind by a Python that ended
            continue
        with contextlib.suppress(OSError):
            Path(record["run_folder"]).mkdir(parents=True, exist_ok=True)
            (Path(record["run_folder"]) / STOP_REQUEST).write_text(str(os.getpid()), encoding="utf-8")
            asked.append(str(record.get("workbook", "")))
    return asked
