"""``alma-tools excel-setup``: make this computer's Excel run Alma Tools, in one command (Windows).

What it does, each step printed as it is done:

1. **The interpreter.** xlwings reads ``Interpreter_Win`` from the workbook's ``xlwings.conf`` sheet first,
   then from the user's ``%USERPROFILE%\\.xlwings\\xlwings.conf``. The workbook's sheet is replaced by every
   release and would override the user's choice, so the sheet does not set it: this command writes the
   Python that runs it (its ``pythonw.exe``, so no console window opens) into the user's file, keeping the
   file's other entries. ``py -m pip install`` may have put Alma Tools into another Python than the one
   Excel would start (the newest; python.org's install manager; an all-users Python): this is the one.
2. **The workbook.** Copied to the user's Documents (or ``--folder``), with its Mark of the Web removed
   (the ``:Zone.Identifier`` stream Windows adds to downloaded files, which makes Office block macros).
3. **Versions.** Python, xlwings (the workbook's VBA is made for exactly one xlwings version) and the
   xlwings DLLs next to that Python.

On other systems it says that Excel for Windows is needed and changes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alma_tools import files
from alma_tools.errors import ConfigError
from alma_tools.workbook_build import DEFAULT_OUTPUT

#: what ``Interpreter_Win`` is called in xlwings.conf (xlwings' VBA upper-cases the keys it reads)
INTERPRETER_KEY = "INTERPRETER_WIN"
ZONE_STREAM = ":Zone.Identifier"


@dataclass
class SetupReport:
    """What the set-up did and found, line by line (printed by the command)."""

    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"  done: {line}" for line in self.done]
        out += [f"  PROBLEM: {line}" for line in self.problems]
        out.append(
            "Excel set-up finished." if not self.problems else "Fix the problems above, then run again."
        )
        return out


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "excel-setup",
        help="Set up Excel on this computer for the Alma Tools workbook (Windows)",
        description="Writes this Python into your xlwings.conf, copies the workbook to your Documents with "
        "its Mark of the Web removed, and checks the Python, xlwings and DLL versions.",
    )
    parser.add_argument(
        "--folder",
        type=Path,
        default=None,
        metavar="DIR",
        help="where to put the workbook (default: Documents)",
    )
    parser.add_argument(
        "--workbook",
        type=Path,
        default=DEFAULT_OUTPUT,
        metavar="PATH",
        help="the workbook to install (default: the one from this release, workbook/alma_tools.xlsm)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    report = setup_excel(args.workbook, args.folder)
    print("\n".join(report.lines()))
    return 1 if report.problems else 0


def setup_excel(
    workbook: Path,
    folder: Path | None = None,
    *,
    platform: str = sys.platform,
    home: Path | None = None,
    python: Path | None = None,
    version_of: Callable[[], str] | None = None,
) -> SetupReport:
    """Do the three steps (see the module); the keyword arguments let a test stand in for a Windows PC."""
    if platform != "win32":
        raise ConfigError(
            "excel-setup is for Windows: the Alma Tools workbook runs in Excel for Windows with Python "
            "(xlwings' RunPython). On this computer use the command line: alma-tools discharge, "
            "alma-tools concurrency."
        )
    home = home or Path(os.environ.get("USERPROFILE") or Path.home())
    python = python or Path(sys.executable)
    report = SetupReport()
    set_interpreter(home / ".xlwings" / "xlwings.conf", windowless(python), report)
    install_workbook(workbook, folder or documents_folder(home), report)
    check_versions(python, report, version_of or _xlwings_version)
    return report


def windowless(python: Path) -> Path:
    """``pythonw.exe`` beside ``python.exe`` (no console window for Excel's Python), else ``python``."""
    candidate = python.with_name("pythonw.exe")
    return candidate if candidate.exists() else python


def documents_folder(home: Path) -> Path:
    """The user's Documents folder (OneDrive's when Windows moved it there)."""
    for candidate in (home / "OneDrive" / "Documents", home / "Documents"):
        if candidate.is_dir():
            return candidate
    return home / "Documents"


def set_interpreter(conf: Path, interpreter: Path, report: SetupReport) -> None:
    """Write ``"INTERPRETER_WIN","<interpreter>"`` into xlwings' user config, keeping its other lines."""
    lines = conf.read_text(encoding="utf-8").splitlines() if conf.exists() else []
    kept = [line for line in lines if not line.strip().strip('"').upper().startswith(INTERPRETER_KEY + '"')]
    kept.append(f'"{INTERPRETER_KEY}","{interpreter}"')
    conf.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{line}{os.linesep}" for line in kept)  # the line ends a text-mode write made
    files.atomic_write(conf, text.encode("utf-8"))  # xlwings' conf is the user's: all or nothing
    report.done.append(f"Excel will start {interpreter} (written to {conf})")


def install_workbook(workbook: Path, folder: Path, report: SetupReport) -> Path | None:
    """Copy the workbook into ``folder`` and remove its Mark of the Web; an existing copy is kept aside."""
    if not workbook.is_file():
        report.problems.append(
            f"The workbook {workbook} was not found: pass --workbook with the path of alma_tools.xlsm from "
            "the release"
        )
        return None
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / workbook.name
    if target.exists() and target.resolve() != workbook.resolve():
        kept = target.with_name(f"{target.stem} (before setup){target.suffix}")
        target.replace(kept)
        report.done.append(f"Your earlier copy was kept as {kept}")
    if target.resolve() != workbook.resolve():
        files.atomic_write(target, workbook.read_bytes())
    report.done.append(f"Workbook copied to {target}")
    zone = Path(f"{target}{ZONE_STREAM}")
    try:
        os.remove(zone)
        report.done.append("Mark of the Web removed (Office would have blocked its macros)")
    except FileNotFoundError:
        report.done.append("The workbook has no Mark of the Web")
    except OSError as error:
        report.problems.append(
            f"The Mark of the Web could not be removed ({error}): right-click the file › Properties › Unblock"
        )
    return target


def _xlwings_version() -> str:
    import xlwings

    return str(xlwings.__version__)


def pinned_xlwings() -> str:
    """The xlwings version the workbook's VBA was built for (the one its xlwings module names)."""
    import importlib.metadata

    for requirement in importlib.metadata.requires("alma-tools") or []:
        if requirement.replace(" ", "").startswith("xlwings=="):
            return requirement.split("==", 1)[1].split(";")[0].strip()
    return _xlwings_version()


def check_versions(python: Path, report: SetupReport, version_of: Callable[[], str]) -> None:
    """The pinned xlwings, and its DLLs beside this Python (where xlwings.bas looks for them)."""
    report.done.append(f"Python {sys.version.split()[0]} at {python}")
    version = version_of()
    wanted = pinned_xlwings()
    if version != wanted:
        report.problems.append(
            f"xlwings {version} is installed but the workbook needs {wanted}: run  "
            f'"{python}" -m pip install xlwings=={wanted}'
        )
    else:
        report.done.append(f"xlwings {version}, as the workbook needs")
    # where xlwings.bas loads it from: the interpreter's folder (an installation) or its parent (a venv)
    dlls = sorted(str(p) for folder in (python.parent, python.parent.parent)
                  for p in folder.glob(f"xlwings*-{version}.dll"))  # fmt: skip
    if dlls:
        report.done.append(f"xlwings DLLs found: {', '.join(dlls)}")
    else:
        report.problems.append(
            f"No xlwings {version} DLL beside {python} or in its parent folder: reinstall xlwings into this "
            f'Python ("{python}" -m pip install --force-reinstall xlwings=={version})'
        )
