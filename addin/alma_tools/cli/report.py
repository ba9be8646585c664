"""``alma-tools report``: fetch an Analytics report into a CSV or XLSX file, straight from Alma.

The report comes through the Analytics API (:mod:`alma_tools.alma.analytics`), so nothing passes through
Excel on the way: ids stay text, and the file is UTF-8 CSV with a byte-order mark (Excel opens it as
UTF-8) or an XLSX whose every cell is a text cell. :func:`fetch_report_to_file` is the step the discharge and
the statistics take before their usual run when given ``--report PATH``: the file it writes in the current
folder, named after the report and the time, is the run's record of what Alma sent.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alma_tools.cells import safe_text
from alma_tools.errors import InputError
from alma_tools.files import atomic_write, check_writable, replacing

if TYPE_CHECKING:  # the Alma client and XlsxWriter load when a report is fetched: the statistics from a
    # file, whose options are parsed here too, start faster without them
    from alma_tools.alma.analytics import Progress, ReportRows

FORMATS = (".csv", ".xlsx")
#: characters Windows does not allow in a file name, replaced in the report's name
_NOT_IN_FILE_NAMES = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
PATH_HELP = (
    "the report's path in the Analytics catalogue, e.g. '/shared/My University/Reports/Items to discharge' "
    "(in Analytics: the report's More › Properties)"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="Fetch an Analytics report into a CSV or XLSX file",
        description=(
            "Fetch an Alma Analytics report through the API into a file, every value as Alma sent it (ids "
            "stay text). The API key needs the Analytics area (read-only); it comes from ALMA_API_KEY, the "
            "keyring or the config file, never from the command line."
        ),
    )
    parser.add_argument("path", metavar="PATH", help=PATH_HELP)
    parser.add_argument(
        "--output", required=True, type=Path, metavar="FILE.csv|FILE.xlsx", help="the file to write"
    )
    parser.add_argument("--filter", metavar="XML", help="a sawx filter expression on a prompted column")
    add_connection_arguments(parser)
    parser.set_defaults(handler=run)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """``--region`` or ``--base-url``, as the discharge has them."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--region", help="Alma region: na, eu, ap, ca, cn")
    where.add_argument("--base-url", help="Alma API base URL (e.g. the simulator's)")


def add_report_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--report PATH`` and ``--report-filter XML`` for a job that can start from an Analytics report."""
    parser.add_argument(
        "--report",
        metavar="PATH",
        help=f"fetch the {what} from this Analytics report into a new file in the current folder first; "
        + PATH_HELP,
    )
    parser.add_argument("--report-filter", metavar="XML", help="a sawx filter expression for --report")


# ----------------------------------------------------------------------------------------- writing files


def report_file_name(report: ReportRows, suffix: str = ".csv") -> str:
    """``<report name> YYYY-MM-DD HHMM.csv`` (characters a file name cannot hold become ``-``)."""
    name = _NOT_IN_FILE_NAMES.sub("-", report.name).strip(" .-") or "Analytics report"
    return f"{name} {report.fetched_at:%Y-%m-%d %H%M}{suffix}"


def csv_bytes(report: ReportRows) -> bytes:
    """The report as UTF-8 CSV with a byte-order mark; formula-like text gets Excel's text prefix."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow([safe_text(heading) for heading in report.headings])
    for row in report.rows:
        writer.writerow([safe_text(value) for value in row])
    return ("\ufeff" + text.getvalue()).encode("utf-8")


def write_xlsx(report: ReportRows, path: Path) -> None:
    """The report as one sheet whose every cell is a text cell (ids never become numbers)."""
    import xlsxwriter

    with replacing(path) as temporary:
        book = xlsxwriter.Workbook(str(temporary), {"constant_memory": True, "strings_to_numbers": False})
        sheet = book.add_worksheet(_sheet_name(report.name))
        bold = book.add_format({"bold": True})
        for column, heading in enumerate(report.headings):
            sheet.write_string(0, column, heading, bold)
            sheet.set_column(column, column, min(max(len(heading) + 2, 12), 60))
        for number, row in enumerate(report.rows, start=1):
            for column, value in enumerate(row):
                if value != "":
                    sheet.write_string(number, column, value)
        sheet.freeze_panes(1, 0)
        book.close()


def _sheet_name(name: str) -> str:
    """A legal sheet name: at most 31 characters, none of ``[]:*?/\\``."""
    return re.sub(r"[\[\]:*?/\\]", "-", name)[:31] or "Report"


def write_report(report: ReportRows, path: Path) -> Path:
    """Write the fetched report to ``path`` (.csv or .xlsx), replacing it only with a complete file."""
    if path.suffix.lower() == ".xlsx":
        write_xlsx(report, path)
        return path
    return atomic_write(path, csv_bytes(report))


def check_output(path: Path) -> None:
    """Refuse an output the report cannot be written to, before anything is fetched."""
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"--output {path}: the file name must end in .csv or .xlsx.")
    check_writable(path)


# ----------------------------------------------------------------------------------------- the faces


def fetch_report_to_file(
    client: Any,
    path: str,
    folder: str | Path,
    *,
    filter: str | None = None,
    on_progress: Callable[[Progress], Any] | None = None,
) -> Path:
    """Fetch the report into ``<report name> YYYY-MM-DD HHMM.csv`` in ``folder``; returns the file."""
    from alma_tools.alma.analytics import fetch_rows

    return save_in_folder(fetch_rows(client, path, filter=filter, on_progress=on_progress), folder)


def save_in_folder(report: ReportRows, folder: str | Path) -> Path:
    """Write ``<report name> YYYY-MM-DD HHMM.csv`` in ``folder``; a file of that name already there (two
    fetches in one minute) is kept, and the new one gets `` (2)``."""
    target = Path(folder) / report_file_name(report)
    copy = 2
    while target.exists():
        target = Path(folder) / report_file_name(report, f" ({copy}).csv")
        copy += 1
    check_writable(target)
    return write_report(report, target)


def print_progress(progress: Progress) -> None:
    """Progress on stderr: waits always, page counts only on a terminal (one line, rewritten)."""
    if progress.waiting or "still running" in progress.message:
        print(f"alma-tools: {progress.message}", file=sys.stderr, flush=True)
    elif sys.stderr.isatty():
        print(f"\r{progress.message}   ", end="", file=sys.stderr, flush=True)


def make_client(args: argparse.Namespace) -> Any:
    from alma_tools.alma import AlmaClient

    return AlmaClient(base_url=args.base_url, region=args.region)


def fetch_for_job(args: argparse.Namespace) -> Path:
    """``--report PATH`` of the discharge or the statistics: fetch into the current folder, say so."""
    from alma_tools.alma.analytics import check_path, fetch_rows

    check_path(args.report)
    with make_client(args) as client:
        report = fetch_rows(client, args.report, filter=args.report_filter, on_progress=print_progress)
    _end_progress_line()
    print(report.summary())
    file = save_in_folder(report, Path.cwd())
    print(f"Saved as {file}; it is the record of this run.")
    return file


def resolve_input(args: argparse.Namespace, attribute: str, what: str) -> None:
    """The job's input file or ``--report PATH``, exactly one; with ``--report`` the report is fetched into
    a new file in the current folder, which becomes the input (``args.<attribute>``)."""
    given = getattr(args, attribute)
    if args.report and given:
        raise InputError(f"Give the {what} file or --report PATH, not both.")
    if not args.report and not given:
        raise InputError(
            f"Give the {what} export (a CSV or XLSX file), or --report PATH to fetch it from Analytics."
        )
    if args.report:
        setattr(args, attribute, fetch_for_job(args))


def _end_progress_line() -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from alma_tools.alma.analytics import check_path, fetch_rows

    check_output(args.output)
    check_path(args.path)
    with make_client(args) as client:
        report = fetch_rows(client, args.path, filter=args.filter, on_progress=print_progress)
    _end_progress_line()
    print(report.summary())
    print(f"Saved as {write_report(report, args.output)}")
    return 0
