"""``pipeline audit verify | anchor | verify-anchor``: the chains checked, and their heads anchored."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sqlalchemy import Engine

from pipeline.cli.common import actor_from_args
from pipeline.db import make_session_factory, unit_of_work
from pipeline.history import verify
from pipeline.identifiers import validate_uscc


def cmd_verify(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        report = verify.verify(session, uscc=validate_uscc(args.uscc) if args.uscc else None)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    if not report.ok:
        print(f"pipeline: error: {len(report.problems)} problem(s) in the audit trail", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_anchor(args: argparse.Namespace, engine: Engine) -> int:

    with unit_of_work(make_session_factory(engine)) as session:
        anchor = verify.create_anchor(session, actor_from_args(session, args), args.note)
        out: dict[str, Any] = {"id": anchor.id, "digest": anchor.digest, "firms": anchor.firms,
                               "events": anchor.events, "created_at": anchor.created_at.isoformat(),
                               "actor": anchor.actor}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


def cmd_verify_anchor(args: argparse.Namespace, engine: Engine) -> int:
    with unit_of_work(make_session_factory(engine)) as session:
        result = verify.verify_anchor(session, args.id)
        out = {"ok": result.ok, "anchor_id": result.anchor.id, "digest": result.anchor.digest,
               "recomputed_digest": result.recomputed_digest, "firms_checked": result.firms_checked,
               "events_checked": result.events_checked, "problems": [p.as_dict() for p in result.problems]}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    if not result.ok:
        print("pipeline: error: the chains no longer match the anchor", file=sys.stderr)
    return 0 if result.ok else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="verify the audit trail; anchor its chain heads").add_subparsers(
        dest="audit_command", required=True)
    check = audit.add_parser("verify", help="recompute every chain and compare firms with a replay; exit 1 if not ok")
    check.add_argument("--uscc", help="only this firm")
    check.set_defaults(handler=cmd_verify)
    anchor = audit.add_parser("anchor", help="store and print one digest over every firm's chain head")
    anchor.add_argument("--note", help="what the anchor is for (e.g. the audit it is handed to)")
    anchor.set_defaults(handler=cmd_anchor)
    again = audit.add_parser("verify-anchor", help="prove nothing recorded before an anchor changed; exit 1 if not")
    again.add_argument("id", type=int)
    again.set_defaults(handler=cmd_verify_anchor)
