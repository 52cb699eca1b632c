"""``pipeline import FILE --action …`` and ``pipeline export enterprises|roster …``.

An import without ``--apply`` is a dry run: it prints what each row would do and writes nothing. With
``--apply`` the file is written all or nothing; any problem row → nothing written, the rows named, exit 1.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from pipeline.awards.service import SETTLE_MODES
from pipeline.cli.common import actor_from_args, cli_request_id, input_file
from pipeline.cli.progress import Progress, csv_rows
from pipeline.db import make_session_factory, unit_of_work
from pipeline.imports import ACTIONS, ImportFile, ImportOptions, RowReport, exports, parse_mapping, run_import
from pipeline.imports.report import CSV_HEADER, PROBLEM, csv_row
from pipeline.titles.roster import side_title_kinds

SHOWN_PROBLEMS = 50
"""Problem rows printed on the terminal; ``--report FILE`` has every row."""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def cmd_import(args: argparse.Namespace, engine: Engine) -> int:

    path = input_file(args.file)
    options = ImportOptions(action=args.action, batch=args.batch, document_no=args.document_no,
                            effective_date=args.effective_date, mapping=parse_mapping(args.map), kind=args.kind,
                            awards=args.awards)
    progress = Progress("导入 import", "rows", requested=args.progress, total=csv_rows(str(path)))
    shown: list[RowReport] = []
    report_file: IO[str] | None = None
    writer: Any = None
    if args.report:
        report_file = open(args.report, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 — closed below
        writer = csv.writer(report_file)
        writer.writerow(CSV_HEADER)

    def sink(report: RowReport) -> None:
        if report.status == PROBLEM and len(shown) < SHOWN_PROBLEMS:
            shown.append(report)
        if writer is not None:
            writer.writerow(csv_row(report))

    try:
        with path.open("rb") as stream, unit_of_work(make_session_factory(engine)) as session:
            source = ImportFile(stream, path.name)
            summary = run_import(session, source, options, actor_from_args(session, args), apply=args.apply, sink=sink,
                                 progress=progress.update, request_id=cli_request_id())
    finally:
        progress.close()
        if report_file is not None:
            report_file.close()
    for report in shown:
        print(f"row {report.row}: {report.uscc} {report.name}: {report.problem}")
    if summary.problems > len(shown):
        print(f"… and {summary.problems - len(shown)} more problem rows" +
              ("" if args.report else " (write them all with --report FILE)"))
    if summary.ignored_headers:
        print(f"ignored columns: {', '.join(summary.ignored_headers)} (map them with --map 'HEADER=field')")
    counts = (f"{summary.rows} rows: {summary.ok} to write, {summary.unchanged} unchanged, "
              f"{summary.problems} with problems; {summary.events} events")
    if summary.entitlements:
        counts += f"; {summary.entitlements} entitlements ({options.awards_mode})"
    if summary.already_imported_by is not None:
        print(f"{source.file_name} (sha256 {source.sha256[:12]}…) was already imported as run "
              f"{summary.already_imported_by}; nothing changed. {counts}")
        return 0
    if summary.problems:
        verb = "nothing written" if args.apply else "dry run"
        print(f"{verb}: {counts}. Fix the rows above and run again.")
        return 1
    if args.apply:
        print(f"imported {source.file_name} as run {summary.run_id}: {counts}")
    else:
        print(f"dry run, nothing written: {counts}. Run again with --apply to write.")
    return 0


def cmd_export(args: argparse.Namespace, engine: Engine) -> int:

    output = Path(args.output)
    fmt = args.format or (output.suffix.lstrip(".").lower() if output.suffix else "xlsx")
    with unit_of_work(make_session_factory(engine)) as session:
        actor = actor_from_args(session, args)
        if args.list == "enterprises":
            table = exports.enterprises_table(session, actor, state=args.state, region=args.region)
        else:
            table = exports.roster_table(session, actor, tier=args.tier, as_of=args.as_of, region=args.region)
        with output.open("wb") as out, Progress("导出 export", "rows", requested=args.progress) as progress:
            count = exports.write(replace(table, rows=progress.iterate(table.rows)), fmt, out)
    print(f"wrote {count} rows to {output} ({fmt})")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imp = commands.add_parser(
        "import", help="import a recognition list or history from .xlsx/.csv (dry run unless --apply)",
        description="Rows are validated one by one; without --apply nothing is written. With --apply the file is "
                    "written all or nothing. Re-importing the same file with the same options changes nothing.")
    imp.add_argument("file", help=".xlsx, or .csv in UTF-8 or GB18030")
    imp.add_argument("--action", required=True, choices=ACTIONS)
    imp.add_argument("--kind", help="并列称号类别 — the side-title kind of --action grant_side_title "
                                    "(champion_enterprise, high_tech_enterprise, tech_sme …)")
    imp.add_argument("--batch", help="批次 for rows without one")
    imp.add_argument("--document-no", help="文号 for rows without one")
    imp.add_argument("--effective-date", type=_date, metavar="YYYY-MM-DD",
                     help="认定日期 for rows without one (enroll: default today)")
    imp.add_argument("--map", action="append", default=[], metavar="'HEADER=field'",
                     help="read column HEADER as field (uscc, name, region, batch, document_no, effective_date, "
                          "valid_until, tier, product, or ignore); repeatable")
    imp.add_argument("--awards", choices=SETTLE_MODES, help="what the imported history is owed under the policy "
                     "packs: owed (to be approved and paid), settled (paid outside the system, "
                     "settled_outside_system), none; default settled for backfill, owed otherwise")
    imp.add_argument("--apply", action="store_true", help="write (all or nothing); default is a dry run")
    imp.add_argument("--report", metavar="FILE.csv", help="write the row-by-row report as CSV")
    imp.add_argument("--progress", action="store_true", help="show progress on stderr even when not a terminal")
    imp.set_defaults(handler=cmd_import)

    exp = commands.add_parser("export", help="export firms or the roster of valid titles as .xlsx or CSV")
    exp.add_argument("list", choices=("enterprises", "roster"))
    exp.add_argument("--format", choices=exports.FORMATS, help="default: from --output's suffix, else xlsx")
    exp.add_argument("--output", "-o", required=True, metavar="FILE")
    exp.add_argument("--region", metavar="CODE", help="narrow to a GB/T 2260 code within your jurisdiction")
    exp.add_argument("--state", help="enterprises: only this state")
    exp.add_argument("--tier", choices=("innovative", "provincial", "national", *side_title_kinds()),
                     help="roster: only this tier, or the holders of this side-title kind")
    exp.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="roster: titles valid on this date "
                                                                       "(default today)")
    exp.add_argument("--progress", action="store_true",
                     help="print a progress line every few seconds when stderr is not a terminal")
    exp.set_defaults(handler=cmd_export)

