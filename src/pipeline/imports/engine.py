"""Planning and applying an import: every row through the domain's own guards, machine and hash chain.

A dry run and an apply are the same run: the rows are applied inside a SAVEPOINT, and a dry run (or an apply
that met any problem row) rolls the savepoint back. So the verdict a dry run reports is, by construction,
what apply does — including rows that depend on earlier rows of the same file.

Speed: rows go in chunks. A chunk's firms, their titles and the last hash of each chain are loaded with two
queries (``FOR UPDATE`` on PostgreSQL, where the writer's thread loads them while the chunk before is computed).
Each row then runs the checks of :func:`pipeline.firms.service.transition` / :func:`pipeline.firms.service.enroll`
in memory — the same guards, :func:`pipeline.lifecycle.machine.fire` and
:func:`pipeline.firms.service.apply_titles` — on plain records (:mod:`pipeline.imports.bulk`) instead of ORM objects,
and seals its event exactly as :func:`pipeline.firms.repository.append_event` does; the chunk is then written in bulk
(``COPY`` on PostgreSQL, while the next chunk is computed; see :class:`pipeline.imports.bulk.ChunkWriter`).
Memory stays flat: at most three chunks are held (one read ahead and loading, one computing, one being written),
and report rows go to a sink instead of a list.

``backfill`` is the exception: its rows for one firm may be anywhere in the file and must be applied in date
order, so the (small) rows are held and sorted before they are applied. A lapsed backfilled title is expired
at once by the ``system`` actor, dated the day after it lapsed — exactly what the expiry sweep would have
recorded had the system existed then — so a firm's state is always its highest title valid today.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.access import SYSTEM, Actor
from pipeline.awards.reads import sync
from pipeline.awards.service import SETTLE_MODES, Settle, earns_anywhere
from pipeline.dates import business_today, utc_now
from pipeline.db import without_jit
from pipeline.errors import AlreadyExists, Conflict, InvalidInput, NotFound, PipelineError
from pipeline.firms.records import FirmRecord, TitleRecord
from pipeline.firms.service import DEFAULT_ENROLL_REASON, check_new_firm, enroll_evidence
from pipeline.identifiers import in_canonical_form, region_of_uscc, validate_uscc
from pipeline.imports.bulk import ChunkWriter, ChunkWrites, FetchedFirms, fetch_firms
from pipeline.imports.reading import ImportFile, SourceRow
from pipeline.imports.regions import resolve_region
from pipeline.imports.report import OK, PROBLEM, UNCHANGED, ImportSummary, RowReport
from pipeline.imports.side_titles import import_rows
from pipeline.lifecycle import machine
from pipeline.lifecycle.chain import GENESIS_HASH, canonical_json
from pipeline.lifecycle.decide import EXPIRY_REASON_CODE, decide, due_expiries
from pipeline.lifecycle.events import TRANSITION, next_event, recording_instant
from pipeline.lifecycle.machine import RECOGNITION_TIER, RECOGNIZE
from pipeline.models.imports import ImportRun
from pipeline.rulebooks import TITLE_TIERS, Rulebook, rulebook_in_force
from pipeline.screening.warning import (
    SideSpan,
    indicator_years,
    latest_before,
    side_kinds_on,
    side_title_spans,
    warning_for,
)
from pipeline.shared_settings import SharedSetting
from pipeline.text import clean_optional
from pipeline.titles.replay import GRANT as GRANT_SIDE_TITLE

ACTIONS: tuple[str, ...] = (
    "enroll", "recognize_innovative", "recognize_provincial", "recognize_national", "renew", "backfill",
    GRANT_SIDE_TITLE,
)
CHUNK_ROWS = 2000
FIRST_CHUNK_ROWS = 250
"""The first chunk's rows; each next one twice the last, up to :data:`CHUNK_ROWS`. Nothing is written before
the first chunk is computed: a small one sets the database to work at once (a 2,000-row first chunk kept it
waiting 0.2 s for 50,000 rows), and the chunks after it are computed while it writes."""
BACKFILL_CHUNK_FIRMS = 500

Sink = Callable[[RowReport], None]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportOptions:
    action: str
    batch: str | None = None
    document_no: str | None = None
    effective_date: dt.date | None = None
    mapping: tuple[tuple[str, str], ...] = ()
    kind: str | None = None
    """The side-title kind of a ``grant_side_title`` import."""
    awards: str | None = None
    """What the imported recognitions and side titles are owed under the policy packs: ``owed`` (to be approved
    and paid), ``settled`` (paid outside the system: history) or ``none``. Default: ``settled`` for a backfill,
    ``owed`` otherwise."""

    def __post_init__(self) -> None:
        for name in ("batch", "document_no"):  # the same refusal of control characters as every door
            object.__setattr__(self, name, clean_optional(getattr(self, name), name))
        if self.action not in ACTIONS:
            raise InvalidInput(f"未知导入操作 — unknown action {self.action!r}; actions: {', '.join(ACTIONS)}",
                               field="action")
        if self.awards is not None and self.awards not in SETTLE_MODES:
            raise InvalidInput(f"未知奖励处理方式 — unknown awards mode {self.awards!r}; modes: "
                               f"{', '.join(SETTLE_MODES)}", field="awards")
        if (self.action == GRANT_SIDE_TITLE) != bool(self.kind):
            raise InvalidInput(f"--kind 仅且必须用于 {GRANT_SIDE_TITLE} — {GRANT_SIDE_TITLE} needs --kind (a "
                               f"side-title kind), and only it takes one", field="kind")

    def as_dict(self) -> dict[str, Any]:
        return {
            "batch": (self.batch or "").strip() or None,
            "document_no": (self.document_no or "").strip() or None,
            "effective_date": self.effective_date.isoformat() if self.effective_date else None,
            "map": [f"{header}={target}" for header, target in self.mapping],
            **({"kind": self.kind} if self.kind else {}),  # absent otherwise: earlier runs keep their keys
            **({"awards": self.awards_mode} if self.awards_mode != self.default_awards else {}),  # likewise
        }

    @property
    def default_awards(self) -> Settle:
        return "settled" if self.action == "backfill" else "owed"

    @property
    def awards_mode(self) -> Settle:
        return cast(Settle, self.awards or self.default_awards)

    def key(self) -> str:
        return hashlib.sha256(canonical_json(self.as_dict()).encode("utf-8")).hexdigest()


class _Unchanged(Exception):
    """A verdict, not an error: the row is already recorded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _chunks(rows: Iterable[SourceRow], first: int, size: int) -> Iterator[list[SourceRow]]:
    """``rows`` in lists of ``first`` rows, each next one twice the last, up to ``size``."""
    iterator = iter(rows)
    step = min(first, size)
    while chunk := list(islice(iterator, step)):
        yield chunk
        step = min(step * 2, size)


def find_run(session: Session, source: ImportFile, options: ImportOptions) -> ImportRun | None:
    return session.scalars(select(ImportRun).where(
        ImportRun.file_sha256 == source.sha256, ImportRun.action == options.action,
        ImportRun.options_key == options.key())).one_or_none()


def run_import(
    session: Session,
    source: ImportFile,
    options: ImportOptions,
    actor: Actor,
    *,
    apply: bool,
    sink: Sink,
    progress: Progress | None = None,
    request_id: str | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImportSummary:
    """Plan (``apply=False``) or apply a file; each row's verdict goes to ``sink`` in file order.

    Applies all or nothing: with any problem row nothing stays written and ``summary.applied`` is False.
    The caller commits (one unit of work per CLI command or request); this function only flushes.
    ``request_id`` (the API request, or ``cli-<uuid>`` for a CLI command) goes on every event, as the
    service records it. ``should_stop()`` is asked before each chunk (an API request whose client hung up):
    when it says so the run stops, writes nothing and raises :class:`ImportAbandoned`.
    """
    importer = _Importer(session, source, options, actor, sink, progress, apply=apply, request_id=request_id)
    importer.should_stop = should_stop
    with _quiet_collector():
        return importer.run(apply)


YOUNG_COLLECTION_ALLOCATIONS = 10_000
"""The collector's first threshold while imports run (Python's default: 700)."""


def _collect_less() -> Callable[[], None]:
    """The collector as :func:`_quiet_collector` wants it; returns what puts it back."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], YOUNG_COLLECTION_ALLOCATIONS), *thresholds[1:])

    def restore() -> None:
        gc.set_threshold(*thresholds)
        gc.unfreeze()

    return restore


_QUIET_COLLECTOR = SharedSetting(_collect_less)


def _quiet_collector() -> AbstractContextManager[None]:
    """Inside: the cyclic garbage collector runs less often and over less, from the first running import's start
    to the last one's end. An import allocates millions of objects and holds a chunk's records (rows, firms,
    events, their evidence) while it works on them:

    * the objects that existed before are left out of its passes (``gc.freeze``, then ``gc.unfreeze``): full
      collections walked the whole heap the process had built (SQLAlchemy, the models, the CLI or the server),
      0.39 s of the importer's CPU for 50,000 rows in 8 passes, 0.04 s once that heap is left out;
    * a young collection waits for :data:`YOUNG_COLLECTION_ALLOCATIONS` new objects instead of 700: each one
      walked the records the chunk holds, over 900 times for 50,000 rows (0.12–0.2 s; 0.07–0.13 s in 48).

    Nothing is lost: the import's own garbage is collected as before, the older heap's by the first full
    collection after it."""
    return _QUIET_COLLECTOR.held()


class ImportAbandoned(Exception):
    """The caller went away mid-import; nothing of it was written."""


@dataclass
class _Checked:
    """A chunk's rows as far as they can be told before its firms are loaded."""

    rows: list[SourceRow]
    reports: dict[int, RowReport] = field(default_factory=dict)
    """row → the report of a row already refused (its code, a cell, a repeat within the chunk)"""
    codes: dict[int, str] = field(default_factory=dict)
    """row → code, for the first row naming each firm"""
    to_load: list[str] = field(default_factory=list)


@dataclass
class _Loaded:
    """A chunk's firms, loaded and locked, with their indicator years and side titles (for recognitions)."""

    firms: FetchedFirms
    indicators: dict[int, list[tuple[int, Any]]]
    side_spans: dict[int, list[SideSpan]]


class _Importer:
    def __init__(self, session: Session, source: ImportFile, options: ImportOptions, actor: Actor, sink: Sink,
                 progress: Progress | None, *, apply: bool, request_id: str | None = None) -> None:
        self.session = session
        self.request_id = request_id
        self.should_stop: Callable[[], bool] | None = None
        self.source = source
        self.options = options
        self.actor = actor
        self.sink = sink
        self.progress = progress
        self.today = business_today()
        self.now = recording_instant()
        """When the chunk being applied is recorded: its events' ``recorded_at`` (never before a firm's head's,
        :func:`pipeline.lifecycle.chain.next_recorded_at`) and its new firms' ``created_at``. One instant a chunk,
        as one statement's rows share one: the chunk's timestamps are then formatted once, for the hash and for
        the database, not once a row."""
        self.run_id = 0
        self.summary = ImportSummary(
            file_name=source.file_name, file_sha256=source.sha256, action=options.action,
            options=options.as_dict(), dry_run=not apply, applied=False, already_imported_by=None, run_id=None)
        self.writes = ChunkWrites()
        """The chunk being applied, handed whole to :class:`pipeline.imports.bulk.ChunkWriter`."""
        self.writer = ChunkWriter(session)
        self.recent: dict[str, int] = {}
        """firm → the row that wrote its event in the previous chunk, whose writing may still be under way
        while this chunk's firms are loaded (so the database cannot tell yet that it is a duplicate)."""
        self._rulebooks: dict[dt.date, Rulebook] = {}
        self._regions: dict[str, str] = {}
        self.touched: set[str] = set()
        """firms with a row written: what ``awards`` is derived for once the rows are in"""
        achievement = options.kind or options.action
        self._may_earn = options.awards_mode != "none" and (
            options.action == "backfill" or earns_anywhere(achievement))
        self._indicators: dict[int, list[tuple[int, Any]]] = {}
        self._side_spans: dict[int, list[SideSpan]] = {}
        """this chunk's firms' indicator years, for the recognitions' eligibility warning"""

    # -- the run ------------------------------------------------------------------------------------------

    def run(self, apply: bool) -> ImportSummary:
        earlier = find_run(self.session, self.source, self.options)
        if earlier is not None:
            return self._already_imported(earlier)
        without_jit(self.session)
        savepoint = self.session.begin_nested()
        try:
            run = self._start_run()
            if self.options.action == "backfill":
                with self.writer.bulk_plans():
                    self._backfill(self.source.rows(self.options.mapping))
            elif self.options.kind:
                self._side_titles(self.options.kind)
            else:
                with self.writer.bulk_plans():
                    self._chunked(self.source.rows(self.options.mapping))
            self.writer.flush()
            self.writer.close()
            if self.progress:
                self.progress(self.summary.rows)
            if self.summary.problems == 0 and self.touched:
                self._entitle()
            self.summary.ignored_headers = list(self.source.header.ignored) if self.source.header else []
            if apply and self.summary.problems == 0:
                run.rows = self.summary.rows
                run.events_written = self.summary.events
                self.session.flush()
                savepoint.commit()
                self.summary.applied = True
                self.summary.run_id = run.id
            else:
                savepoint.rollback()
        except BaseException:
            self.writer.close()
            if savepoint.is_active:
                savepoint.rollback()
            raise
        return self.summary

    def _start_run(self) -> ImportRun:
        """The run's record, written first so that its id can go into every event's evidence.

        Two concurrent imports of one file meet on its unique key: the second waits for the first and then
        finds it (PostgreSQL) — reported as a conflict, to be retried, which then says "already imported".
        """
        run = ImportRun(
            file_name=self.source.file_name[:255], file_sha256=self.source.sha256, action=self.options.action,
            options=self.options.as_dict(), options_key=self.options.key(), rows=0, events_written=0,
            actor=self.actor.id, applied_at=utc_now())
        try:
            with self.session.begin_nested():
                self.session.add(run)
                self.session.flush()
        except IntegrityError:
            raise Conflict("同一文件正在被导入 — the same file with the same options was imported concurrently; "
                           "retry to see its report") from None
        self.run_id = run.id
        return run

    def _already_imported(self, earlier: ImportRun) -> ImportSummary:
        self.summary.already_imported_by = earlier.id
        self.summary.run_id = earlier.id
        when = earlier.applied_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        message = (f"无变化：该文件已于{when}导入（第{earlier.id}次导入） — no change: this file was already imported "
                   f"with the same options (run {earlier.id}, {when}, by {earlier.actor})")
        for done, row in enumerate(self.source.rows(self.options.mapping), start=1):
            report = RowReport(row.number, self._display_code(row.uscc), row.name, UNCHANGED, message)
            self.summary.count(report)
            self.sink(report)
            if self.progress and done % CHUNK_ROWS == 0:
                self.progress(done)
        return self.summary

    def _emit(self, reports: Sequence[RowReport]) -> None:
        for report in reports:
            self._count(report)
            self.sink(report)

    def _count(self, report: RowReport) -> None:
        self.summary.count(report)
        if report.status == OK and self._may_earn:
            self.touched.add(report.uscc)

    def _entitle(self) -> None:
        """What the imported history is owed under the policy packs (``awards``), as ``pipeline awards sync``
        derives it, for the firms this file changed — in the run's savepoint, so a dry run reports it too."""
        self.session.expire_all()  # the rows went in bulk, beside the ORM
        report = sync(self.session, actor=self.actor, apply=True, settle=self.options.awards_mode,
                      usccs=self.touched)
        self.summary.entitlements = len(report.created)

    # -- row helpers --------------------------------------------------------------------------------------

    @staticmethod
    def _display_code(raw: str) -> str:
        try:
            return validate_uscc(raw)
        except PipelineError:
            return raw

    def _evidence(self, row: SourceRow, *, with_decision: bool = True) -> dict[str, Any]:
        facts: dict[str, Any] = {"import": {"file_name": self.source.file_name, "file_sha256": self.source.sha256,
                                            "row": row.number, "run": self.run_id}}
        if with_decision:
            document_no = row.document_no or self.options.document_no
            batch = row.batch or self.options.batch
            if document_no and document_no.strip():
                facts["document_no"] = document_no.strip()
            if batch and batch.strip():
                facts["batch"] = batch.strip()
            if row.valid_until is not None:
                facts["valid_until"] = row.valid_until
        return facts

    def _decision_date(self, row: SourceRow) -> dt.date:
        day = row.effective_date or self.options.effective_date
        if day is None:
            raise InvalidInput("缺少认定日期：行内无“认定日期”，也未指定 --effective-date — the row has no 认定日期 "
                               "and no --effective-date was given", field="effective_date")
        return day

    def _invisible(self, code: str, region: str | None = None) -> PipelineError:
        """The refusal for a firm the actor cannot see: the same words whether or not it exists elsewhere."""
        region = region or region_of_uscc(code)
        if self.actor.covers(region):
            return NotFound(f"辖区内无企业{code}，请先纳入培育库 — no enterprise {code} in your jurisdiction; enroll "
                            f"it first (--action enroll) or record its history with --action backfill")
        return NotFound(f"企业{code}不在您的辖区内 — {code} (region {region}) is outside your jurisdiction")

    def _fetch(self, codes: Sequence[str]) -> _Loaded:
        """A chunk's firms, locked, with what a recognition's warning reads of them (rows only: on PostgreSQL
        this runs on the writer's thread, and :meth:`_use` makes the records)."""
        firms = fetch_firms(self.session, codes, self.run_id)
        if self.options.action == "enroll":  # the codes not found are the chunk's new firms: their ids now
            self.writer.reserve_ids(len(codes) - len(firms.firms))
        if self.options.action in RECOGNITION_TIER or self.options.action == "backfill":
            stored = firms.ids
            return _Loaded(firms, indicator_years(self.session, stored), side_title_spans(self.session, stored))
        return _Loaded(firms, {}, {})

    def _use(self, loaded: _Loaded) -> dict[str, FirmRecord]:
        """Make a loaded chunk the one being applied."""
        firms = loaded.firms.records()
        self.writes.firms.extend(firms.values())
        self._indicators, self._side_spans = loaded.indicators, loaded.side_spans
        return firms

    def _load(self, codes: Sequence[str]) -> dict[str, FirmRecord]:
        """This chunk's firms, locked; then the previous chunk starts being written (beside this one's work)."""
        firms = self._use(self._fetch(codes))
        self.writer.start()
        return firms

    def _write(self) -> None:
        """Hand the chunk to the writer and let go of it, so that a 100,000-row file does not pile up in memory."""
        self.writer.join()
        self.writer.prepare(self.writes)
        self.recent = {event.uscc: int(event.evidence["import"]["row"]) for event in self.writes.events}
        self.writes = ChunkWrites()

    def _last_import_row(self, firm: FirmRecord) -> int | None:
        """The row of this run that wrote the firm's latest stored event (catches duplicates across chunks)."""
        imported = firm.head_import
        if imported is not None and imported.get("run") == self.run_id and "row" in imported:
            return int(imported["row"])
        return None

    def _rulebook(self, day: dt.date) -> Rulebook:
        rulebook = self._rulebooks.get(day)
        if rulebook is None:
            rulebook = self._rulebooks[day] = rulebook_in_force(day)
        return rulebook

    def _region(self, text: str) -> str:
        """:func:`resolve_region`, remembered per cell text (a list repeats a few regions)."""
        region = self._regions.get(text)
        if region is None:
            region = resolve_region(text)
            if len(self._regions) < 10_000:
                self._regions[text] = region
        return region

    # -- the domain steps, as the service does them --------------------------------------------------------

    def _new_firm(self, code: str, row: SourceRow, day: dt.date) -> tuple[FirmRecord, Rulebook]:
        """:func:`pipeline.firms.service.enroll` up to its insert, without its per-row existence query."""
        if not row.name.strip():
            raise InvalidInput("企业名称不能为空 — the row has no 企业名称 (needed to enroll a new firm)", field="name")
        region = self._region(row.region or region_of_uscc(code))
        rulebook = self._rulebook(day)
        name = check_new_firm(name=row.name, region=region, day=day, rulebook=rulebook, actor=self.actor, reason=None)
        firm = FirmRecord(uscc=code, name=name, region_code=region, state=machine.NEW, version=0, last_seq=0,
                          barred_until=None, last_effective_date=None, created_at=self.now, updated_at=self.now)
        machine.fire(rulebook, "enroll", firm)
        return firm, rulebook

    def _enroll_event(self, firm: FirmRecord, rulebook: Rulebook, day: dt.date, row: SourceRow) -> None:
        self.writes.new_firms.append(firm)
        self._append_event(
            firm, trigger="enroll", from_state=None, effective_date=day, actor=self.actor, rulebook=rulebook,
            reason=DEFAULT_ENROLL_REASON,
            evidence=enroll_evidence(firm.name, firm.region_code, None, self._evidence(row)))

    def _append_event(self, firm: FirmRecord, *, trigger: str, from_state: str | None, effective_date: dt.date,
                      actor: Actor, rulebook: Rulebook, reason_code: str | None = None, reason: str | None = None,
                      evidence: dict[str, Any]) -> None:
        """The firm's next event from :func:`pipeline.lifecycle.events.next_event`, into the chunk's batch."""
        event = next_event(
            firm, kind=TRANSITION, trigger=trigger, from_state=from_state, effective_date=effective_date,
            actor_id=actor.id, rulebook=rulebook, reason_code=reason_code, reason=reason, evidence=evidence,
            request_id=self.request_id, enterprise_id=firm.id, previous_hash=firm.head_hash or GENESIS_HASH,
            user=actor.user, now=self.now)
        firm.head_hash = event.hash
        self.writes.events.append(event)
        self.summary.events += 1

    def _transition(self, firm: FirmRecord, trigger: str, day: dt.date, facts: dict[str, Any], *,
                    actor: Actor | None = None, reason_code: str | None = None, reason: str | None = None) -> str:
        """:func:`pipeline.firms.service.transition` on a firm already loaded and locked; returns what happened."""
        actor = actor or self.actor
        rulebook = self._rulebook(day)
        from_state, evidence = decide(firm, trigger, day, actor=actor, rulebook=rulebook, today=self.today,
                                      reason_code=reason_code, reason=reason, facts=facts, new_title=TitleRecord)
        if trigger in RECOGNITION_TIER:  # as the service records it
            years = self._indicators.get(firm.id, []) if firm.id is not None else []
            spans = self._side_spans.get(firm.id, []) if firm.id is not None else []
            evidence.update(warning_for(firm, trigger, day, rulebook, latest_before(years, day),
                                        side_kinds_on(spans, day)))
        self._append_event(firm, trigger=trigger, from_state=from_state, effective_date=day, actor=actor,
                           rulebook=rulebook, reason_code=reason_code, reason=reason, evidence=evidence)
        return f"{trigger}: {from_state} → {firm.state} ({day.isoformat()})"

    # -- enroll / recognize / renew: chunk by chunk -----------------------------------------------------------

    def _chunked(self, rows: Iterable[SourceRow]) -> None:
        """Chunk by chunk, the database's work beside Python's: while chunk N is computed, the writer's thread
        writes chunk N−1 and then loads (and locks) chunk N+1's firms — so the file is read one chunk ahead.

        Chunk N+1's firms are thus read before chunk N is written, as they always were before chunk N−1 was:
        a firm both name is a duplicate row (``recent``), and its copy loaded early is never used."""
        chunks = _chunks(rows, FIRST_CHUNK_ROWS, CHUNK_ROWS)
        first = next(chunks, None)
        checked = self._check_codes(first) if first is not None else None
        loading = self.writer.submit(partial(self._fetch, checked.to_load)) if checked is not None else None
        while checked is not None and loading is not None:
            if self.should_stop is not None and self.should_stop():
                raise ImportAbandoned("the caller went away")
            self.writer.start()  # the chunk before, prepared
            following = next(chunks, None)
            upcoming = self._check_codes(following) if following is not None else None
            loaded = loading.result()
            loading = self.writer.submit(partial(self._fetch, upcoming.to_load)) if upcoming is not None else None
            reports = self._chunk(checked, self._use(loaded))
            self._write()
            self._emit(reports)
            checked = upcoming

    def _check_codes(self, rows: list[SourceRow]) -> _Checked:
        """What a chunk's rows say before its firms are loaded: each code checked, cell problems, repeats."""
        checked = _Checked(rows)
        first_row: dict[str, int] = {}
        for row in rows:
            try:
                if not row.problems and row.uscc not in first_row and in_canonical_form(row.uscc):
                    code = row.uscc  # its check character checked once loaded, if the register lacks it (_chunk)
                else:
                    code = validate_uscc(row.uscc)
            except PipelineError as exc:
                checked.reports[row.number] = self._problem(row, row.uscc, exc.detail)
                continue
            if row.problems:
                checked.reports[row.number] = self._problem(row, code, "; ".join(row.problems))
            elif code in first_row:
                checked.reports[row.number] = self._duplicate(row, code, first_row[code])
            else:
                first_row[code] = row.number
                checked.codes[row.number] = code
        checked.to_load = sorted(set(checked.codes.values()))
        return checked

    def _chunk(self, checked: _Checked, firms: dict[str, FirmRecord]) -> list[RowReport]:
        rows, reports = checked.rows, checked.reports
        self.now = recording_instant()
        codes: dict[int, str] = {}
        for row in rows:
            code_or_none = checked.codes.get(row.number)
            if code_or_none is None:
                continue
            if code_or_none not in firms:  # a code the register holds was checked when its firm was enrolled
                try:
                    validate_uscc(code_or_none)
                except PipelineError as exc:
                    reports[row.number] = self._problem(row, code_or_none, exc.detail)
                    continue
            if code_or_none in self.recent:  # written by the chunk before, maybe still being written
                reports[row.number] = self._duplicate(row, code_or_none, self.recent[code_or_none])
            else:
                codes[row.number] = code_or_none
        new_firms: dict[int, tuple[FirmRecord, Rulebook, dt.date]] = {}
        if self.options.action == "enroll":
            for row in rows:
                new_code = codes.get(row.number)
                if new_code is None or new_code in firms:
                    continue
                code = new_code
                try:
                    day = row.effective_date or self.options.effective_date or self.today
                    firm, rulebook = self._new_firm(code, row, day)
                    new_firms[row.number] = (firm, rulebook, day)
                except PipelineError as exc:
                    reports[row.number] = self._problem(row, code, exc.detail)
        for row in rows:
            row_code = codes.get(row.number)
            if row_code is None or row.number in reports:
                continue
            code = row_code
            if row.number in new_firms:
                firm, rulebook, day = new_firms[row.number]
                self._enroll_event(firm, rulebook, day, row)
                reports[row.number] = RowReport(row.number, code, row.name, OK, f"enroll → reserve ({day.isoformat()})")
                continue
            firm_or_none = firms.get(code)
            earlier = self._last_import_row(firm_or_none) if firm_or_none is not None else None
            if earlier is not None:
                reports[row.number] = self._duplicate(row, code, earlier)
                continue
            try:
                outcome = self._existing(row, code, firm_or_none)
                reports[row.number] = RowReport(row.number, code, row.name, OK, outcome)
            except _Unchanged as verdict:
                reports[row.number] = RowReport(row.number, code, row.name, UNCHANGED, verdict.message)
            except PipelineError as exc:
                reports[row.number] = self._problem(row, code, exc.detail)
        return [reports[row.number] for row in rows]

    def _existing(self, row: SourceRow, code: str, firm: FirmRecord | None) -> str:
        action = self.options.action
        if firm is None or not self.actor.covers(firm.region_code):
            if action == "enroll" and firm is not None:
                raise AlreadyExists(f"企业{code}已存在 — enterprise {code} already exists")
            raise self._invisible(code, firm.region_code if firm else None)
        if action == "enroll":
            if firm.state not in ("removed", "revoked"):
                label = self._rulebook(self.today).label(firm.state)
                raise _Unchanged(f"无变化：已在培育库（{label}） — no change: already in the pool ({firm.state})")
            day = row.effective_date or self.options.effective_date or self.today
            return self._transition(firm, "enroll", day, self._evidence(row), reason=DEFAULT_ENROLL_REASON)
        day = self._decision_date(row)
        tier = RECOGNITION_TIER.get(action) or firm.state
        if any(t.tier == tier and t.recognized_on == day for t in firm.recognitions):
            raise _Unchanged(f"无变化：该称号（{tier}，{day}）已有记录 — no change: the {tier} title recognised on "
                             f"{day} is already recorded")
        return self._transition(firm, action, day, self._evidence(row))

    def _problem(self, row: SourceRow, code: str, message: str) -> RowReport:
        return RowReport(row.number, code, row.name, PROBLEM, "—", message)

    def _duplicate(self, row: SourceRow, code: str, first: int) -> RowReport:
        return self._problem(row, code, f"与第{first}行重复 — duplicate of row {first} (same firm); remove one of them")

    def _side_titles(self, kind: str) -> None:
        """A side-title list, row by row through :func:`pipeline.titles.service.grant`."""
        source = {"file_name": self.source.file_name, "file_sha256": self.source.sha256, "run": self.run_id}
        for report, events in import_rows(
                self.session, self.source.rows(self.options.mapping), kind=kind, actor=self.actor,
                document_no=self.options.document_no, effective_date=self.options.effective_date, source=source,
                request_id=self.request_id):
            self.summary.events += events
            self._emit([report])

    # -- backfill -----------------------------------------------------------------------------------------

    def _backfill(self, rows: Iterable[SourceRow]) -> None:
        reports: dict[int, RowReport] = {}
        order: list[int] = []
        by_firm: dict[str, list[tuple[dt.date, int, SourceRow]]] = {}
        seen: dict[tuple[str, str, dt.date], int] = {}
        for row in rows:
            order.append(row.number)
            try:
                code = validate_uscc(row.uscc)
                if row.problems:
                    raise InvalidInput("; ".join(row.problems))
                tier = parse_tier(row.tier)
                if row.effective_date is None:
                    raise InvalidInput("缺少认定日期 — backfill rows need their own 认定日期 (recognised on)")
            except PipelineError as exc:
                reports[row.number] = self._problem(row, self._display_code(row.uscc), exc.detail)
                continue
            key = (code, tier, row.effective_date)
            if key in seen:
                reports[row.number] = self._problem(
                    row, code, f"与第{seen[key]}行重复 — duplicate of row {seen[key]} (same firm, title and date)")
                continue
            seen[key] = row.number
            row.tier = tier
            by_firm.setdefault(code, []).append((row.effective_date, TITLE_TIERS.index(tier), row))
        del seen
        codes = list(by_firm)
        done = 0
        for start in range(0, len(codes), BACKFILL_CHUNK_FIRMS):
            chunk = codes[start:start + BACKFILL_CHUNK_FIRMS]
            self.now = recording_instant()
            firms = self._load(chunk)
            created: dict[str, tuple[FirmRecord, Rulebook, dt.date, SourceRow]] = {}
            blocked: set[str] = set()
            for code in chunk:
                history = sorted(by_firm[code], key=lambda item: (item[0], item[1], item[2].number))
                by_firm[code] = history
                if code in firms:
                    continue
                first = history[0][2]
                try:
                    firm, rulebook = self._new_firm(code, first, history[0][0])
                    created[code] = (firm, rulebook, history[0][0], first)
                except PipelineError as exc:
                    blocked.add(code)
                    for _, _, row in history:
                        reports[row.number] = self._problem(row, code, exc.detail)
            for code in chunk:
                if code in blocked:
                    continue
                self._backfill_firm(code, firms.get(code), created.get(code), by_firm[code], reports)
                done += len(by_firm[code])
            self._write()
            for code in chunk:
                del by_firm[code]
            if self.progress:
                self.progress(done)
        for number in order:
            report = reports[number]
            self._count(report)
            self.sink(report)

    def _backfill_firm(self, code: str, firm: FirmRecord | None,
                       created: tuple[FirmRecord, Rulebook, dt.date, SourceRow] | None,
                       history: list[tuple[dt.date, int, SourceRow]], reports: dict[int, RowReport]) -> None:
        steps: dict[int, list[str]] = {row.number: [] for _, _, row in history}
        if created is not None:
            firm, rulebook, day, first = created
            self._enroll_event(firm, rulebook, day, first)
            steps[first.number].append(f"enroll → reserve ({day.isoformat()})")
        assert firm is not None
        if not self.actor.covers(firm.region_code):
            for _, _, row in history:
                reports[row.number] = self._problem(row, code, self._invisible(code, firm.region_code).detail)
            return
        for day, _, row in history:
            try:
                if any(t.tier == row.tier and t.recognized_on == day for t in firm.recognitions):
                    raise _Unchanged(f"无变化：该称号（{row.tier}，{day}）已有记录 — no change: the {row.tier} title "
                                     f"recognised on {day} is already recorded")
                steps[row.number].extend(self._expire_lapsed(firm, day, row))
                trigger = "renew" if firm.state == row.tier else RECOGNIZE[row.tier]
                steps[row.number].append(self._transition(firm, trigger, day, self._evidence(row)))
                reports[row.number] = RowReport(row.number, code, row.name, OK, "; ".join(steps[row.number]))
            except _Unchanged as verdict:
                reports[row.number] = RowReport(row.number, code, row.name, UNCHANGED, verdict.message)
            except PipelineError as exc:
                reports[row.number] = self._problem(row, code, exc.detail)
        last_row = history[-1][2]
        if reports[last_row.number].status == OK:
            try:
                lapsed = self._expire_lapsed(firm, self.today, last_row)
                report = reports[last_row.number]
                report.outcome = "; ".join([report.outcome, *lapsed])
            except PipelineError as exc:
                reports[last_row.number] = self._problem(last_row, code, exc.detail)

    def _expire_lapsed(self, firm: FirmRecord, by: dt.date, row: SourceRow) -> list[str]:
        """Expire the firm's titles that have lapsed by ``by``, each dated as the sweep dates it."""
        return [self._transition(firm, "expire", day, self._evidence(row, with_decision=False), actor=SYSTEM,
                                 reason_code=EXPIRY_REASON_CODE,
                                 reason="历史称号已过有效期（导入补录） — the backfilled title had lapsed")
                for day, _ in due_expiries(firm, by)]


def parse_tier(text: str) -> str:
    """A tier cell: a code (innovative/provincial/national) or a title as lists print it (小巨人, 专精特新 …)."""
    cleaned = "".join(text.split()).lower()
    if cleaned in TITLE_TIERS:
        return cleaned
    if "小巨人" in cleaned or cleaned in ("国家级", "国家级专精特新"):
        return "national"
    if "专精特新" in cleaned or cleaned == "省级":
        return "provincial"
    if "创新型" in cleaned:
        return "innovative"
    raise InvalidInput(f"未知称号“{text}” — unknown title {text!r} in 层级/称号; use 创新型中小企业, 专精特新中小企业, "
                       f"专精特新“小巨人”企业 or innovative/provincial/national", field="tier")

