"""``pipeline targets load-seeds`` — the seeds' targets as data; ``pipeline report progress --year --region
-o FILE.xlsx`` — the 通报 workbook a city sends to its districts each month (the API's
``/reports/progress?format=xlsx``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sqlalchemy import Engine

from pipeline.cli.common import actor_from_args
from pipeline.db import make_session_factory, unit_of_work
from pipeline.errors import InvalidInput
from pipeline.identifiers import region_name
from pipeline.targets import reports, seeds, workbook


def cmd_load_seeds(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        done = seeds.load_seeds(session, actor_from_args(session, args))
    for seed, target in done:
        documents = ", ".join(dict.fromkeys(str(item["document_no"]) for item in seed.items))
        verb = f"version {target.version}" if target is not None else "unchanged"
        print(f"{seed.region} {region_name(seed.region)} {seed.year}: {len(seed.items)} targets ({documents}; "
              f"seed {seed.seed}) — {verb}")
    return 0


def cmd_report_progress(args: argparse.Namespace, engine: Engine) -> int:
    output = Path(args.output)
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("xlsx", "csv"):
        raise InvalidInput(f"输出文件应为 .xlsx 或 .csv — {output} must end in .xlsx or .csv", field="output")
    with unit_of_work(make_session_factory(engine)) as session:
        report = reports.progress_report(session, actor_from_args(session, args), year=args.year,
                                         region=args.region)
    with output.open("wb") as out:
        (workbook.write_xlsx if fmt == "xlsx" else workbook.write_csv)(report, out)
    rows = sum(len(sheet["rows"]) for sheet in report["sheets"])
    print(f"wrote {len(report['sheets'])} tier sheet(s), {rows} region rows, "
          f"{len(report['quotas_and_applications'])} quota/application rows to {output}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    targets = commands.add_parser("targets", help="yearly targets (培育目标)").add_subparsers(
        dest="targets_command", required=True)
    load = targets.add_parser("load-seeds", help="put the seeds' targets (Zhengzhou, Sanmenxia, Zhanhe) as "
                                                 "versions of their region-years; unchanged ones are left alone")
    load.set_defaults(handler=cmd_load_seeds)

    report = commands.add_parser("report", help="reports officials send (通报)").add_subparsers(
        dest="report_command", required=True)
    progress = report.add_parser("progress", help="the 通报 workbook: progress per child region, ranked, with a "
                                                  "bar chart; quotas and applications")
    progress.add_argument("--year", type=int, required=True)
    progress.add_argument("--region", required=True, metavar="CODE", help="GB/T 2260 code (a city or province)")
    progress.add_argument("--output", "--out", "-o", required=True, metavar="FILE.xlsx", help=".xlsx or .csv")
    progress.set_defaults(handler=cmd_report_progress)
