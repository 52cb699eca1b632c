"""``pipeline webhooks deliver [--once]`` — the webhook delivery worker, for those who run it apart from
``pipeline serve`` (which runs it too). On PostgreSQL only one process delivers at a time; the others wait."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from sqlalchemy import Engine

from pipeline.db import make_session_factory
from pipeline.webhooks import delivery


def cmd_webhooks_deliver(args: argparse.Namespace, engine: Engine) -> int:
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    made = delivery.run(make_session_factory(engine), stop, once=args.once)
    print(f"{made} webhook deliveries made")
    return 0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    webhooks = commands.add_parser("webhooks", help="signed webhooks for integrators").add_subparsers(
        dest="webhooks_command", required=True)
    deliver = webhooks.add_parser("deliver", help="send webhook deliveries until stopped (SIGTERM, Ctrl-C)")
    deliver.add_argument("--once", action="store_true", help="send what is due now, then exit")
    deliver.set_defaults(handler=cmd_webhooks_deliver)
