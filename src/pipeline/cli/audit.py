"""``pipeline audit verify | keygen | anchor | verify-anchor``: the chains checked, their heads anchored and
signed, and a published anchor checked offline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pipeline.cli.common import actor_from_args
from pipeline.cli.progress import Progress
from pipeline.db import make_session_factory, unit_of_work
from pipeline.errors import InvalidInput
from pipeline.history import anchor_signing, verify
from pipeline.identifiers import validate_uscc


def cmd_verify(args: argparse.Namespace, engine: Engine) -> int:
    if args.workers < 1:
        raise InvalidInput("--workers 至少为 1 — --workers must be at least 1", field="workers")
    with Progress("核验 verify", "firms", requested=args.progress) as progress:
        if args.uscc:
            with unit_of_work(make_session_factory(engine)) as session:
                report = verify.verify(session, uscc=validate_uscc(args.uscc), on_progress=progress.update)
        else:
            report = verify.verify_parallel(engine, workers=args.workers, on_progress=progress.update)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    if not report.ok:
        print(f"pipeline: error: {len(report.problems)} problem(s) in the audit trail", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_keygen(args: argparse.Namespace, engine: Engine) -> int:
    target = args.out or os.environ.get(anchor_signing.KEY_ENV, "")
    if not target:
        raise InvalidInput(f"请用 --out 或 {anchor_signing.KEY_ENV} 指定私钥文件 — give the private key's path "
                           f"with --out or {anchor_signing.KEY_ENV}", field="out")
    public_path, public_pem, key_id = anchor_signing.generate(Path(target))
    print(f"private key written to {target} (keep it secret; point {anchor_signing.KEY_ENV} at it)",
          file=sys.stderr)
    print(f"public key written to {public_path} (publish it beside the anchors)", file=sys.stderr)
    print(f"public key id {key_id}")
    print(public_pem, end="")
    return 0


def cmd_anchor(args: argparse.Namespace, engine: Engine) -> int:
    key = anchor_signing.load_signing_key()  # before anything is written: no key, no anchor
    with unit_of_work(make_session_factory(engine)) as session:
        anchor = verify.create_anchor(session, actor_from_args(session, args), args.note, key)
        out: dict[str, Any] = {**verify.signed_fields(anchor), "actor": anchor.actor, "note": anchor.note,
                               "signature": anchor.signature, "public_key_id": anchor.public_key_id,
                               "signature_algorithm": anchor_signing.ALGORITHM,
                               "canonicalization": anchor_signing.CANONICALIZATION}
    text = json.dumps(out, ensure_ascii=False, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


def cmd_verify_anchor(args: argparse.Namespace, engine: Engine) -> int:
    if args.file is not None or args.public_key is not None:
        if args.file is None or args.public_key is None or args.id is not None:
            raise InvalidInput("--file 与 --public-key 须同时给出（不带 ID） — --file and --public-key go together, "
                               "without an anchor ID", field="file")
        return _verify_anchor_file(Path(args.file), Path(args.public_key))
    if args.id is None:
        raise InvalidInput("请给出锚点编号，或 --file 与 --public-key — give an anchor ID, or --file and "
                           "--public-key", field="id")
    with unit_of_work(make_session_factory(engine)) as session:
        result = verify.verify_anchor(session, args.id)
        out = {"ok": result.ok, "anchor_id": result.anchor.id, "digest": result.anchor.digest,
               "recomputed_digest": result.recomputed_digest, "firms_checked": result.firms_checked,
               "events_checked": result.events_checked, "problems": [p.as_dict() for p in result.problems]}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    if not result.ok:
        print("pipeline: error: the chains no longer match the anchor", file=sys.stderr)
    return 0 if result.ok else 1


def _verify_anchor_file(path: Path, public_key: Path) -> int:
    """A published anchor against the published public key: no database is opened."""
    public = anchor_signing.load_public_key(public_key)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"锚点文件无法读取 — the anchor file {path} cannot be read ({type(exc).__name__})",
                           field="file") from None
    if not isinstance(document, dict):
        raise InvalidInput(f"锚点文件应为 JSON 对象 — the anchor file {path} is not a JSON object", field="file")
    problems = anchor_signing.check_document(document, public)
    out = {"ok": not problems, "anchor_id": document.get("id"), "digest": document.get("digest"),
           "public_key_id": anchor_signing.key_id(public), "problems": problems}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    if problems:
        print(f"pipeline: error: {problems[0]}", file=sys.stderr)
    return 0 if not problems else 1


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="verify the audit trail; anchor its chain heads").add_subparsers(
        dest="audit_command", required=True)
    check = audit.add_parser("verify", help="recompute every chain and compare firms with a replay; exit 1 if not ok")
    check.add_argument("--uscc", help="only this firm")
    check.add_argument("--progress", action="store_true",
                       help="print a progress line every few seconds when stderr is not a terminal")
    check.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                       help="processes sharing the firms, all reading one snapshot (default: the CPU count; "
                            "PostgreSQL — SQLite is checked in one)")
    check.set_defaults(handler=cmd_verify)
    keygen = audit.add_parser("keygen", help="write a new Ed25519 anchor signing key and print its public key")
    keygen.add_argument("--out", metavar="FILE", help=f"the private key file (default ${anchor_signing.KEY_ENV}); "
                                                      "the public key goes to FILE.pub")
    keygen.set_defaults(handler=cmd_keygen, needs_database=False)
    anchor = audit.add_parser("anchor", help="store, sign and print one digest over every firm's chain head")
    anchor.add_argument("--note", help="what the anchor is for (e.g. the audit it is handed to)")
    anchor.add_argument("--out", metavar="FILE", help="also write the signed anchor to FILE, for publishing")
    anchor.set_defaults(handler=cmd_anchor)
    again = audit.add_parser("verify-anchor", help="prove nothing recorded before an anchor changed (ID, against the "
                                                   "database) or check a published anchor's signature offline "
                                                   "(--file, --public-key); exit 1 if not")
    again.add_argument("id", type=int, nargs="?")
    again.add_argument("--file", metavar="FILE", help="a signed anchor written by `pipeline audit anchor --out`")
    again.add_argument("--public-key", metavar="KEY", help="the published public key (PEM) to check it with")
    again.set_defaults(handler=cmd_verify_anchor, needs_database=lambda args: args.file is None)
