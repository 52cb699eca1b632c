"""What every CLI module shares: who the command acts as, and the input file it reads."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from pipeline.access import Actor, cli_actor
from pipeline.errors import InvalidInput, NotFound
from pipeline.models import Principal
from pipeline.principals.service import actor_of


def cli_request_id() -> str:
    """The request id a CLI command records on every event it writes (API doors record the HTTP request's)."""
    return f"cli-{uuid.uuid4()}"


def actor_from_args(session: Session, args: argparse.Namespace) -> Actor:
    """``cli:<OS user>`` unless ``--actor PRINCIPAL_ID`` names a principal to act as."""
    if not args.actor:
        return cli_actor()
    principal = session.get(Principal, args.actor)
    if principal is None or principal.revoked_at is not None:
        raise NotFound(f"--actor {args.actor}: no such active principal")
    return actor_of(principal)



def input_file(name: str) -> Path:
    """The file a command reads; a missing path or a folder is refused in one line."""
    path = Path(name)
    if path.is_dir():
        raise InvalidInput(f"不是文件 — {path} is a folder; give the list's file (.xlsx or .csv)", field="file")
    if not path.is_file():
        raise InvalidInput(f"文件不存在 — no such file: {path}", field="file")
    return path
