"""``pipeline indicators import FILE`` — annual indicator data from .xlsx/.csv (dry run unless ``--apply``).

Headers are the Chinese indicator names of ``rulebooks/data/indicator_headers.toml`` (or the indicator keys);
with ``--apply`` the file is written all or nothing: any problem row → nothing written, the rows named, exit 1.
"""

from __future__ import annotations

import argparse

from sqlalchemy import Engine

from pipeline.cli.common import actor_from_args, input_file
from pipeline.cli.imports import SHOWN_PROBLEMS
from pipeline.db import make_session_factory, unit_of_work
from pipeline.eligibility.indicators import import_indicators, parse_map
from pipeline.imports import ImportFile


def cmd_indicators_import(args: argparse.Namespace, engine: Engine) -> int:

    path = input_file(args.file)
    mapping = parse_map(args.map)
    with path.open("rb") as stream, unit_of_work(make_session_factory(engine)) as session:
        report = import_indicators(session, ImportFile(stream, path.name), actor=actor_from_args(session, args),
                                   year=args.year, mapping=mapping, apply=args.apply)
    problems = [item for item in report.items if item.status == "problem"]
    for item in problems[:SHOWN_PROBLEMS]:
        print(f"row {item.row}: {item.uscc} {item.year or ''}: {item.problem}")
    if len(problems) > SHOWN_PROBLEMS:
        print(f"… and {len(problems) - SHOWN_PROBLEMS} more problem rows")
    if report.ignored_headers:
        print(f"ignored columns: {', '.join(report.ignored_headers)} (map them with --map 'HEADER=key')")
    counts = (f"{report.rows} rows: {report.ok} to write, {report.unchanged} unchanged, {report.problems} with "
              f"problems; {report.events} events")
    if report.problems:
        print(f"{'nothing written' if args.apply else 'dry run'}: {counts}. Fix the rows above and run again.")
        return 1
    if args.apply:
        print(f"imported {report.file_name}: {counts}")
    else:
        print(f"dry run, nothing written: {counts}. Run again with --apply to write.")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    indicators = commands.add_parser("indicators", help="annual indicator data").add_subparsers(
        dest="indicators_command", required=True)
    imp = indicators.add_parser(
        "import", help="import annual indicators from .xlsx/.csv (dry run unless --apply)",
        description="One firm-year per row: 统一社会信用代码, 年度 (or --year) and indicator columns (营业收入, "
                    "主营业务收入, 研发费用, 资产负债率 …; a unit such as （万元） or （%） converts the cell). Blank "
                    "cells leave stored values unchanged. With --apply all rows are written, or none.")
    imp.add_argument("file", help=".xlsx, or .csv in UTF-8 or GB18030")
    imp.add_argument("--year", type=int, help="数据年度 for rows without a 年度 column")
    imp.add_argument("--map", action="append", default=[], metavar="'HEADER=key'",
                     help="read column HEADER as an indicator key (or uscc, year, name, ignore); repeatable")
    imp.add_argument("--apply", action="store_true", help="write (all or nothing); default is a dry run")
    imp.set_defaults(handler=cmd_indicators_import)
