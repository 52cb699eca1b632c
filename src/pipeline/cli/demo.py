"""``pipeline demo [--firms N]`` — load the demonstration data set (:mod:`pipeline.demo`) into an empty
database, run the nightly expiry sweep over it, and print a sign-in token per role."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import Engine

from pipeline import demo
from pipeline.access import SYSTEM
from pipeline.cli.common import cli_request_id
from pipeline.cli.progress import Progress
from pipeline.dates import business_today
from pipeline.db import make_session_factory, unit_of_work
from pipeline.dynamic.sweep import sweep
from pipeline.errors import InvalidInput

MAX_FIRMS = 20_000


def cmd_demo(args: argparse.Namespace, engine: Engine) -> int:
    if not 1 <= args.firms <= MAX_FIRMS:
        raise InvalidInput(f"--firms 应在1到{MAX_FIRMS}之间 — --firms must be between 1 and {MAX_FIRMS:,}",
                           field="firms")
    factory = make_session_factory(engine)
    today = business_today()
    with Progress("演示数据 demo", "firms", requested=args.progress, total=args.firms) as progress, \
            unit_of_work(factory) as session:
        report = demo.load(session, firms=args.firms, today=today, seed=args.seed, on_progress=progress.update)
    swept = sweep(lambda: unit_of_work(factory), today, apply=True, requested_by=SYSTEM, request_id=cli_request_id())
    print(f"演示数据已载入 — demonstration data loaded: {report.firms} firms (names begin with {demo.NAME_MARK}), "
          f"{report.events + swept.events} tier events ({swept.events} by the expiry sweep as of {today}), "
          f"{report.side_titles} side titles, {report.filings} annual filings; awards derived as recognised",
          file=sys.stderr)
    print("sign-in tokens, one per role (shown only once; paste one into /console or send it as "
          "`Authorization: Bearer …`):")
    for scope, name, token in report.tokens:
        print(f"{scope:<24} {name}\n    {token}")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("demo", help="load a marked demonstration data set into an empty database")
    parser.add_argument("--firms", type=int, default=150, help="how many firms (default 150)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed: the same seed, the same data set")
    parser.add_argument("--progress", action="store_true", help="periodic progress lines when not on a terminal")
    parser.set_defaults(handler=cmd_demo)
