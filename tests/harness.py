"""Run the simulator and the command line as real processes, interrupt them, and check what they leave behind.

The fault matrix and the security tests need things only a real process has: it can be killed with SIGKILL
half-way through a run, it receives Ctrl-C as a signal, its command line is visible to every user of the
machine in ``/proc/<pid>/cmdline``, and it writes real files that a later run must resume from. So these
helpers start ``python -m alma_tools ...`` exactly as a user would, with the API key in the environment only,
and then check the invariants the product promises after any fault:

* no item is ever scanned twice (the simulator counts scans per item id);
* a row marked done was really scanned, and every row not done says why;
* the results file still parses, with the same data rows as the original plus ``done`` and ``status``;
* no run prints a traceback;
* the API key is in no file the product wrote, no output and no process argument.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import keyring.backend
import openpyxl
import pandas as pd
import psutil

#: a key that is easy to find anywhere it leaks to, and obviously not a real one
CANARY_KEY = "canary-KEY-0c0ffee-do-not-log"
TRACEBACK = "Traceback (most recent call last)"
DATA = Path(__file__).parent / "data"
ITEM_ID = "Item Id"
_BANNER = re.compile(r"http://127\.0\.0\.1:(\d+)")


def alma_tools_argv(*args: str) -> list[str]:
    """The command line a user runs, through this interpreter so the tests use the installed package."""
    return [sys.executable, "-m", "alma_tools", *args]


def product_env(home: Path, api_key: str | None = CANARY_KEY, **extra: str) -> dict[str, str]:
    """Environment for a product process: the key only in ``ALMA_API_KEY``, HOME inside the test's folder.

    HOME and the XDG folders point into the test's folder so that any log, cache or config the product
    writes "somewhere in the user's profile" is also searched for the key.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALMA_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_STATE_HOME=str(home / ".local" / "state"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        PYTHONUNBUFFERED="1",
        **extra,
    )
    if api_key is not None:
        env["ALMA_API_KEY"] = api_key
    return env


# --------------------------------------------------------------------------------------------- input files


def make_items_csv(dest: Path, n: int, source: Path = DATA / "items_to_discharge.csv") -> Path:
    """Write the header and the first ``n`` data lines of an Analytics CSV export, byte for byte (BOM too)."""
    lines = source.read_bytes().splitlines(keepends=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(b"".join(lines[: n + 1]))
    return dest


def make_items_xlsx(dest: Path, n: int, source: Path = DATA / "items_to_discharge.csv") -> Path:
    """Write the first ``n`` items as an XLSX whose cells are all text, as Analytics exports ids."""
    frame = read_csv_text(source).head(n)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append([value if value != "" else None for value in row])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if cell.value is not None:
                cell.data_type = "s"
    dest.parent.mkdir(parents=True, exist_ok=True)
    book.save(dest)
    return dest


def read_csv_text(path: Path, encoding: str = "utf-8-sig") -> pd.DataFrame:
    """A CSV read the way the invariants compare it: every cell text, blanks as ``""``."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding=encoding).astype(object)


def copy_into(source: Path, folder: Path, name: str | None = None) -> Path:
    """A writable copy of ``source`` in ``folder`` (the tests never write to ``tests/data``)."""
    target = folder / (name or source.name)
    target.write_bytes(source.read_bytes())
    return target


def write_items_csv(folder: Path, frame: pd.DataFrame, name: str = "items.csv") -> Path:
    """``frame`` as a UTF-8 CSV with BOM, as Analytics exports it."""
    path = folder / name
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def wait_until(condition: Callable[[], object], *, timeout: float, what: str) -> None:
    """Poll ``condition`` every 10 ms until it is true; fail naming ``what`` after ``timeout`` seconds.

    The way a test waits for the simulator or a run to reach a state (its counts, an item's state), instead
    of sleeping for a time that is too short on a busy machine and wasted on an idle one.
    """
    limit = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > limit:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.01)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A real keyring backend kept in memory (this machine has no OS keyring to test against)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


# --------------------------------------------------------------------------------------------- simulator


@dataclass(frozen=True)
class SimulatorSpec:
    """Options of ``alma-tools simulator``; ``normal()`` gives the same simulator without any fault."""

    items: Path
    locations: Path
    api_key: str = CANARY_KEY
    rate_limit: int = 25
    daily_quota: int | None = None
    latency: str = "0.0-0.05"
    fault_rate: float = 0.0
    faults: str | None = None
    seed: int = 0
    state_file: Path | None = None
    hostile: str | None = None
    extra: tuple[str, ...] = ()

    def argv(self, port: int) -> list[str]:
        args = [
            "simulator",
            "--port",
            str(port),
            "--items",
            str(self.items),
            "--locations",
            str(self.locations),
            "--api-key",
            self.api_key,
            "--rate-limit",
            str(self.rate_limit),
            "--latency",
            self.latency,
            "--seed",
            str(self.seed),
        ]
        if self.daily_quota is not None:
            args += ["--daily-quota", str(self.daily_quota)]
        if self.fault_rate:
            args += ["--fault-rate", str(self.fault_rate)]
        if self.faults:
            args += ["--faults", self.faults]
        if self.state_file is not None:
            args += ["--state-file", str(self.state_file)]
        if self.hostile:
            args += ["--hostile", self.hostile]
        return alma_tools_argv(*args, *self.extra)

    def normal(self) -> SimulatorSpec:
        """The same items, key and state file, with every fault and limit back to Alma's usual behaviour."""
        return replace(
            self, rate_limit=25, daily_quota=None, fault_rate=0.0, faults=None, hostile=None, extra=()
        )


class SimulatorProcess:
    """``alma-tools simulator`` in its own process, so it can be SIGKILLed and restarted on the same port.

    Its output goes to a log file beside its state (never into the folder searched for the key: the
    simulator's banner lists its keys on purpose, and the simulator plays Alma, which knows the key).
    """

    def __init__(self, spec: SimulatorSpec, log_dir: Path) -> None:
        self.spec = spec
        self.log_dir = log_dir
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._all: list[subprocess.Popen[bytes]] = []  # every process started, so none outlives the test
        self.starts = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, spec: SimulatorSpec | None = None, timeout: float = 30.0) -> SimulatorProcess:
        """Start (again) and wait for the banner line; a restart keeps the port so the client's URL stays."""
        if spec is not None:
            self.spec = spec
        self.log_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        while True:
            self.starts += 1
            log = self.log_dir / f"simulator-{self.starts}.log"
            with log.open("wb") as out:
                self.proc = subprocess.Popen(
                    self.spec.argv(self.port),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=product_env(self.log_dir / "home", api_key=None),
                )
            self._all.append(self.proc)
            while time.monotonic() < deadline:
                match = _BANNER.search(log.read_text(errors="replace"))
                if match:
                    self.port = int(match.group(1))
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
            text = log.read_text(errors="replace")
            if self.proc.poll() is None:
                self.kill()
                raise AssertionError(f"simulator printed no banner within {timeout} s:\n{text}")
            if self.port and "in use" in text.lower() and time.monotonic() < deadline:
                time.sleep(0.2)  # the killed simulator's socket is still being released
                continue
            raise AssertionError(f"simulator exited with {self.proc.returncode}:\n{text}")

    def stats(self) -> dict | None:
        """``/_simulator/stats`` as a dict, or None while the simulator is down."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/_simulator/stats", timeout=5) as answer:
                return json.load(answer)
        except (urllib.error.URLError, ConnectionError, TimeoutError, json.JSONDecodeError):
            return None

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug would end it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (the simulator's clean stop), SIGKILL if it does not end; also any earlier instance."""
        for proc in self._all:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)

    def restart(self, spec: SimulatorSpec | None = None) -> None:
        self.kill()
        self.start(spec)

    def __enter__(self) -> SimulatorProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------- the CLI


@dataclass
class Interrupt:
    """Send ``sig`` to the CLI once ``when()`` is true (polled every 50 ms), at most once."""

    sig: signal.Signals
    when: Callable[[], bool]
    sent_at: float | None = None


@dataclass
class CliRun:
    """What one run of the command line left: exit code, output, and every command line seen while it ran."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    cmdlines: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    interrupted: bool = False

    def describe(self) -> str:
        return (
            f"exit {self.returncode} after {self.elapsed:.1f} s: {' '.join(self.argv[2:])}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}"
        )

    def check_clean(self, secret: str = CANARY_KEY) -> None:
        """No traceback in the output, and the key in neither the output nor any sampled command line."""
        assert TRACEBACK not in self.stderr and TRACEBACK not in self.stdout, self.describe()
        assert secret not in self.stdout and secret not in self.stderr, f"key printed\n{self.describe()}"
        leaked = [line for line in self.cmdlines if secret in line]
        assert not leaked, f"key in a process argument: {leaked}"
        assert self.cmdlines, "the command line was never sampled"


def _cmdlines(pid: int) -> list[str]:
    """The argument vectors of a process and its children, as ``/proc/<pid>/cmdline`` shows them."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []
    lines = []
    for each in procs:
        with contextlib.suppress(OSError):
            raw = Path(f"/proc/{each.pid}/cmdline").read_bytes()
            lines.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return lines


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a process and everything it started (a wrapper's child must not outlive a failed test)."""
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    proc.kill()
    proc.wait()


def run_cli(
    args: Sequence[str],
    *,
    env: dict[str, str],
    log_dir: Path,
    timeout: float = 180.0,
    interrupt: Interrupt | None = None,
    grace: float = 30.0,
    on_poll: Callable[[], None] | None = None,
    wrap: Sequence[str] = (),
) -> CliRun:
    """Run ``alma-tools ARGS`` to its end (or until ``interrupt`` fires and it exits), sampling its cmdline.

    Output goes to files (in ``log_dir``, which the key search covers) rather than pipes, so a chatty run can
    never block on a full pipe. ``grace`` bounds how long a run may take to stop after a signal: Ctrl-C must
    end a run promptly, with the work done so far saved. ``wrap`` is a command that runs the CLI for us
    (:func:`full_disk_wrapper`).
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    argv = [*wrap, *alma_tools_argv(*args)]
    n = len(list(log_dir.glob("run-*.out")))
    out_path, err_path = log_dir / f"run-{n + 1}.out", log_dir / f"run-{n + 1}.err"
    started = time.monotonic()
    cmdlines: set[str] = set()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, stdin=subprocess.DEVNULL)
        limit = started + timeout
        while proc.poll() is None:
            cmdlines.update(_cmdlines(proc.pid))
            if interrupt is not None and interrupt.sent_at is None and interrupt.when():
                proc.send_signal(interrupt.sig)
                interrupt.sent_at = time.monotonic()
                limit = min(limit, interrupt.sent_at + grace)
            if on_poll is not None:
                on_poll()
            if time.monotonic() > limit:
                _kill_tree(proc)
                late = "the grace time after a signal" if interrupt and interrupt.sent_at else f"{timeout} s"
                raise AssertionError(
                    f"alma-tools {' '.join(args[:1])} did not end within {late}"
                    f"\n--- stderr\n{err_path.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.05)
    return CliRun(
        argv=argv,
        returncode=proc.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
        cmdlines=sorted(cmdlines),
        elapsed=time.monotonic() - started,
        interrupted=interrupt is not None and interrupt.sent_at is not None,
    )


@contextlib.contextmanager
def full_disk(folder: Path, size: str = "32k") -> Iterator[list[str]]:
    """A wrapper command under which ``folder`` is a tiny disk that fills up part-way through a run.

    The command runs the CLI in its own user and mount namespace (``unshare -rm``, no privileges needed)
    with a ``size``-byte tmpfs mounted on ``folder``, so writes there fail with ENOSPC once it is full, as on
    a real full disk, while every other file is unaffected. When the CLI ends, what it managed to write is
    copied out, and on leaving the context it is put back in ``folder``: the disk was cleared, the data kept.
    """
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        import pytest

        pytest.skip(f"cannot make a small disk here: unshare -rm fails ({probe.stderr.strip()})")
    saved = folder.with_name(folder.name + ".saved")
    folder.mkdir(parents=True, exist_ok=True)
    saved.mkdir()
    script = (
        f'mount -t tmpfs -o size={size} tmpfs "$0" || exit 99; "$@"; rc=$?; '
        'cp -a "$0"/. "$0.saved"/; exit $rc'
    )
    try:
        yield ["unshare", "-rm", "sh", "-c", script, str(folder)]
    finally:
        shutil.copytree(saved, folder, dirs_exist_ok=True)
        shutil.rmtree(saved)


def discharge_args(
    items: Path, locations: Path, base_url: str, *, rate: float = 20, extra: Sequence[str] = ()
) -> list[str]:
    """``alma-tools discharge`` arguments in the contract's form (the key is not among them)."""
    return [
        "discharge",
        str(items),
        "--locations",
        str(locations),
        "--rate",
        f"{rate:g}",
        "--base-url",
        base_url,
        *extra,
    ]


def run_discharge(items: Path, base_url: str, work: Path, *, timeout: float = 180.0) -> CliRun:
    """``alma-tools discharge`` of ``items`` with the sample locations, as a user runs it: the key only in
    the environment, a home and the run's output under ``work`` (which the key search covers)."""
    return run_cli(
        discharge_args(items, DATA / "locations.csv", base_url),
        env=product_env(work / "home"),
        log_dir=work / "logs",
        timeout=timeout,
    )


# --------------------------------------------------------------------------------------------- invariants


def read_results(path: Path) -> pd.DataFrame:
    """The results file as text cells with its header, whatever the writer did: this *is* the parse check.

    XLSX: the header is the first row holding ``Item Id``; data rows are those below it with an item id
    (title rows above and an "Applied filters" footer below are the export's, not data).
    """
    if path.suffix.lower() == ".csv":
        return read_csv_text(path)
    book = openpyxl.load_workbook(path, read_only=True, data_only=False)
    try:
        sheet = book.worksheets[0]
        rows = [["" if v is None else v for v in row] for row in sheet.iter_rows(values_only=True)]
    finally:
        book.close()
    header_at = next(i for i, row in enumerate(rows) if ITEM_ID in [str(v).strip() for v in row])
    header = [str(v).strip() for v in rows[header_at]]
    width = len(header)
    id_col = header.index(ITEM_ID)
    data = [
        row[:width] + [""] * (width - len(row))
        for row in rows[header_at + 1 :]
        if len(row) > id_col and str(row[id_col]).strip()
    ]
    return pd.DataFrame(data, columns=header)


def _column(frame: pd.DataFrame, name: str) -> str | None:
    matches = [c for c in frame.columns if str(c).strip().lower() == name]
    return matches[0] if matches else None


def _is_done(value: object) -> bool:
    if value is True or (isinstance(value, str) and value.strip().upper() == "TRUE"):
        return True
    if value in (None, "", False) or (isinstance(value, str) and value.strip().upper() == "FALSE"):
        return False
    raise AssertionError(f"done column holds {value!r}: the contract is TRUE or empty")


@dataclass
class Results:
    """The results file checked against the original: data unchanged, ``done`` as bools, ``status`` text."""

    frame: pd.DataFrame
    done: pd.Series
    status: pd.Series
    written: bool  # False when the file still has no done/status columns (killed before the first write)

    @property
    def item_ids(self) -> pd.Series:
        return self.frame[ITEM_ID].astype(str)


def check_results(original: pd.DataFrame, path: Path, *, may_be_unwritten: bool = False) -> Results:
    """The results file parses and has exactly the original's data rows, plus ``done`` and ``status``."""
    frame = read_results(path)
    done_col, status_col = _column(frame, "done"), _column(frame, "status")
    written = done_col is not None and status_col is not None
    if not written:
        assert may_be_unwritten, f"{path.name} has no done/status columns: {list(frame.columns)}"
        empty = pd.Series([""] * len(frame), index=frame.index)
        done_col = status_col = None
    data = frame.drop(columns=[c for c in (done_col, status_col) if c is not None])
    assert list(data.columns) == list(original.columns), (
        f"columns changed: {list(data.columns)} vs {list(original.columns)}"
    )
    assert len(data) == len(original), f"{len(data)} data rows, the original has {len(original)}"
    as_text = data.map(lambda v: "" if v is None else str(v)).reset_index(drop=True)
    expected = original.map(lambda v: "" if v is None else str(v)).reset_index(drop=True)
    differing = (as_text != expected).any(axis=1)
    assert not differing.any(), (
        f"data rows changed:\n{as_text[differing].head()}\nwas\n{expected[differing].head()}"
    )
    done = frame[done_col].map(_is_done) if done_col else empty.astype(bool)
    status = frame[status_col].map(lambda v: "" if v is None else str(v)) if status_col else empty
    return Results(
        frame=frame.reset_index(drop=True),
        done=done.reset_index(drop=True),
        status=status.reset_index(drop=True),
        written=written,
    )


def check_scans(results: Results, stats: dict) -> None:
    """No item scanned twice, and every row marked done was really scanned (once)."""
    scans: dict[str, int] = stats["scans"]
    twice = {item: n for item, n in scans.items() if n > 1}
    assert not twice, f"items scanned more than once: {twice}"
    ids = results.item_ids
    claimed = ids[results.done & ~ids.map(lambda i: scans.get(i, 0) == 1)]
    assert claimed.empty, f"rows marked done but never scanned: {list(claimed)}"


def check_complete(results: Results, stats: dict) -> None:
    """The job is finished: every row done, every item scanned exactly once, no in-house use added."""
    check_scans(results, stats)
    not_done = results.frame[~results.done]
    reasons = list(results.status[~results.done])[:10]
    assert not_done.empty, f"rows not done after the reruns:\n{not_done.tail(10)}\nstatus: {reasons}"
    missing = set(results.item_ids) - set(stats["scans"])
    assert not missing, f"items never scanned: {sorted(missing)[:10]}"
    uses = stats.get("in_house_uses", 0)
    assert uses == 0, f"{uses} in-house uses recorded (a re-scan of a returned item): {stats}"


def check_reasons(results: Results) -> None:
    """A row that is not done says why (written results only)."""
    if results.written:
        silent = results.frame[~results.done & (results.status.str.strip() == "")]
        assert silent.empty, f"rows neither done nor explained:\n{silent.head()}"


def _zip_members(path: Path) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            yield name, archive.read(name)


def files_containing(root: Path, secret: str = CANARY_KEY, exclude: Sequence[Path] = ()) -> list[str]:
    """Every regular file under ``root`` whose bytes (or zipped members: XLSX, XLSM) contain ``secret``.

    The secret is looked for as UTF-8 and as UTF-16 (what a Windows-minded writer might use).
    """
    needles = (secret.encode(), secret.encode("utf-16-le"))
    excluded = [p.resolve() for p in exclude]
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if any(path.resolve().is_relative_to(e) for e in excluded):
            continue
        data = path.read_bytes()
        if any(n in data for n in needles):
            found.append(str(path.relative_to(root)))
        elif zipfile.is_zipfile(path):
            with contextlib.suppress(zipfile.BadZipFile):
                found += [
                    f"{path.relative_to(root)}!{name}"
                    for name, member in _zip_members(path)
                    if any(n in member for n in needles)
                ]
    return found


def assert_no_key_anywhere(folder: Path, *texts: str, secret: str = CANARY_KEY) -> None:
    """The key is in none of ``texts`` (a run's output) and in no file under ``folder``."""
    for text in texts:
        assert secret not in text
    assert files_containing(folder, secret) == []


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """Make ``path`` immutable with ``chattr +i`` (the one lock that also stops root), undone on exit."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        import pytest

        pytest.skip(
            f"chattr +i is not supported here ({done.stderr.strip()}): cannot make a file read-only for root"
        )
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)
