"""``pipeline sweep`` and ``pipeline batch``: dynamic management from cron, a CronJob or a timer."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from pipeline.cli.common import actor_from_args, cli_request_id, input_file
from pipeline.cli.progress import Progress
from pipeline.dates import business_today, parse_date
from pipeline.db import make_session_factory, unit_of_work
from pipeline.dynamic.batches import MODES, BatchItem, BatchRefused, ItemResult, run_batch
from pipeline.dynamic.obligations import refresh_annual_flags
from pipeline.dynamic.sweep import DEFAULT_BATCH_SIZE, SweepItem, sweep
from pipeline.errors import InvalidInput, PipelineError

CSV_COLUMNS = ("uscc", "trigger", "effective_date", "reason_code", "reason", "document_no", "batch", "valid_until")
EVIDENCE_COLUMNS = ("document_no", "batch", "valid_until")


def _print_item(item: SweepItem) -> None:
    ended = ",".join(item.ended_titles) or "-"
    print(f"{item.uscc}\t{item.tier}\tvalid_until {item.valid_until}\t{item.from_state}→{item.to_state}\t"
          f"effective {item.effective_date}\tended {ended}" + (f"\tseq {item.seq}" if item.seq else ""))


def cmd_sweep(args: argparse.Namespace, engine: Engine) -> int:

    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        requested_by = actor_from_args(session, args)
    as_of = args.as_of or business_today()
    started = time.monotonic()
    with Progress("到期清理 sweep", "firms", requested=args.progress) as progress:
        report = sweep(lambda: unit_of_work(factory), as_of, apply=args.apply, requested_by=requested_by,
                       request_id=cli_request_id(), batch_size=args.batch_size, on_item=_print_item,
                       on_progress=progress.update)
    elapsed = time.monotonic() - started
    verb = "expired" if args.apply else "would expire"
    tiers = ", ".join(f"{tier} {count}" for tier, count in sorted(report.by_tier.items())) or "none"
    print(f"sweep as of {as_of}: {report.candidates} candidate firm(s); {verb} {report.events} title(s) of "
          f"{report.firms_expired} firm(s) — by tier: {tiers}; {len(report.skipped)} skipped; {elapsed:.1f}s",
          file=sys.stderr)
    sides = ", ".join(f"{kind} {n}" for kind, n in sorted(report.side_titles_ended.items())) or "none"
    print(f"side titles {'ended' if args.apply else 'would end'}: {sides}", file=sys.stderr)
    for uscc, why in report.skipped:
        print(f"skipped {uscc}: {why}", file=sys.stderr)
    if args.apply and not args.no_flags:
        with unit_of_work(factory) as session:
            flagged, cleared = refresh_annual_flags(session, business_today(), requested_by.region_prefix)
        print(f"annual_data_overdue flags: {flagged} set, {cleared} cleared", file=sys.stderr)
    if not args.apply:
        print("dry run: nothing was written; add --apply to expire these titles", file=sys.stderr)
    return 0


def read_batch_csv(path: Path) -> list[BatchItem]:
    """Rows of ``CSV_COLUMNS``; UTF-8 (with or without BOM) or GB18030, as spreadsheets save them."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("gb18030")
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in ("uscc", "trigger", "effective_date") if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidInput(f"CSV缺少列 — {path} lacks column(s) {', '.join(missing)}; columns: "
                           f"{', '.join(CSV_COLUMNS)}")
    items = []
    for line, row in enumerate(reader, start=2):
        def cell(name: str, row: dict[str, Any] = row) -> str | None:
            value = (row.get(name) or "").strip()
            return value or None

        evidence = {name: cell(name) for name in EVIDENCE_COLUMNS if cell(name)}
        items.append(BatchItem(
            uscc=cell("uscc") or "", trigger=cell("trigger") or "",
            effective_date=parse_date(cell("effective_date") or "", field=f"line {line} effective_date"),
            reason_code=cell("reason_code"), reason=cell("reason"), evidence=evidence,
        ))
    return items


def _print_result(result: ItemResult) -> None:
    line = result.index + 2  # the header is line 1
    if result.outcome is not None:
        event = result.outcome.event
        print(f"line {line}\t{result.uscc}\tok\t{event.trigger} {event.from_state}→{event.to_state}\tseq {event.seq}")
    elif result.error is not None:
        print(f"line {line}\t{result.uscc}\tfailed\t{type(result.error).__name__}: {result.error.detail}")


def cmd_batch(args: argparse.Namespace, engine: Engine) -> int:

    items = read_batch_csv(input_file(args.file))
    factory = make_session_factory(engine)
    try:
        with unit_of_work(factory) as session, \
                Progress("批量 batch", "rows", requested=args.progress, total=len(items)) as progress:
            results = run_batch(session, items, mode=args.mode, actor=actor_from_args(session, args),
                                request_id=cli_request_id(), on_item=progress.update)
    except BatchRefused as refused:
        for failure in refused.failures:
            _print_result(failure)
        print(f"pipeline: error: {refused.detail}", file=sys.stderr)
        return 1
    for result in results:
        _print_result(result)
    failed = sum(not r.ok for r in results)
    print(f"{len(results) - failed} of {len(results)} item(s) written, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


def _date(value: str) -> dt.date:
    try:
        return parse_date(value, field="--as-of")
    except PipelineError as exc:
        raise argparse.ArgumentTypeError(exc.detail) from None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sweep_parser = commands.add_parser(
        "sweep", help="expire titles whose validity ended before --as-of (dry run unless --apply)")
    sweep_parser.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD", help="default: today (CST)")
    sweep_parser.add_argument("--apply", action="store_true", help="write the expire events (default: dry run)")
    sweep_parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                              help=f"firms per transaction (default {DEFAULT_BATCH_SIZE})")
    sweep_parser.add_argument("--progress", action="store_true",
                              help="print a progress line every few seconds when stderr is not a terminal")
    sweep_parser.add_argument("--no-flags", action="store_true",
                              help="skip refreshing the annual_data_overdue flags after an applied sweep")
    sweep_parser.set_defaults(handler=cmd_sweep)

    batch_parser = commands.add_parser("batch", help="fire transitions listed in a CSV file")
    batch_parser.add_argument("file", metavar="FILE.csv", help=f"columns: {','.join(CSV_COLUMNS)}")
    batch_parser.add_argument("--mode", choices=MODES, default="all_or_nothing",
                              help="all_or_nothing: one bad row writes nothing; each: good rows are written")
    batch_parser.add_argument("--progress", action="store_true",
                              help="print a progress line every few seconds when stderr is not a terminal")
    batch_parser.set_defaults(handler=cmd_batch)
