"""``pipeline awards sync [--apply] [--awards owed|settled|none]`` — derive the entitlements that recorded
history is owed under the packs now in force (history recorded before a pack existed, or before an official
entered an amount). Dry run by default; idempotent: a second ``--apply`` changes nothing."""

from __future__ import annotations

import argparse

from sqlalchemy import Engine

from pipeline.access import require_permission
from pipeline.awards import reads
from pipeline.awards.service import SETTLE_MODES, Settle
from pipeline.cli.common import actor_from_args
from pipeline.dates import business_today
from pipeline.db import make_session_factory, unit_of_work
from pipeline.rulebooks import rulebook_in_force


def cmd_awards_sync(args: argparse.Namespace, engine: Engine) -> int:
    settle: Settle = args.awards
    with unit_of_work(make_session_factory(engine)) as session:
        actor = actor_from_args(session, args)
        require_permission(rulebook_in_force(business_today()), actor, "sync_awards")
        report = reads.sync(session, actor=actor, apply=args.apply, settle=settle, uscc=args.uscc)
    for item in report.created:
        print(f"{item['uscc']} seq {item['achievement']['seq']}: {item['policy_id']}/{item['award_id']} "
              f"net {item['net_amount']} ({item['status']})")
    verb = "created" if args.apply else "would create (dry run, nothing written; --apply to write)"
    print(f"{report.firms_checked} firms checked; {verb} {len(report.created)} entitlements")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    awards = commands.add_parser("awards", help="the awards ledger (奖励台账)").add_subparsers(
        dest="awards_command", required=True)
    sync = awards.add_parser("sync", help="derive entitlements for recorded history (dry run unless --apply)")
    sync.add_argument("--apply", action="store_true", help="write; default is a dry run")
    sync.add_argument("--awards", choices=SETTLE_MODES, default="owed",
                      help="owed (default): to be approved and paid; settled: recorded as paid outside the "
                           "system (settled_outside_system); none: derive nothing")
    sync.add_argument("--uscc", help="one firm only")
    sync.set_defaults(handler=cmd_awards_sync)
