"""The change feed: every event exactly once, in commit order, for systems that mirror the register.

A plain ``id > last_id`` feed skips events on PostgreSQL: ids are drawn when a row is inserted, not when
its transaction commits, so a follower can read id 8 (committed) while id 7 (still in flight) becomes
visible only later, behind its cursor. Here each event carries ``tx_id``, the id of the transaction that
inserted it (a BEFORE INSERT trigger), and the feed is ordered by ``(tx_id, id)`` and returns only events
whose transaction is older than the oldest transaction of this database still running in the reader's
snapshot (see :data:`HORIZON_SQL`): every such transaction has finished, so no event can later appear
behind the cursor. A long-open transaction in this database holds the feed back (it never skips); that
is the price of exactly-once.

SQLite serialises writers (BEGIN IMMEDIATE), so id order is commit order and ``tx_id`` stays null there.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, literal_column, select, tuple_
from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.dates import utc_now
from pipeline.errors import InvalidInput
from pipeline.models import Enterprise, Event

#: The oldest transaction of our snapshot that may still add events here: the snapshot's running xids
#: (xid8) minus those running in *other* databases (pg_locks + pg_stat_activity; xid8 mod 2^32 is the
#: xid), else the snapshot's xmax. An xid that finished after our snapshot stays in — its rows are not
#: visible to us yet, so the horizon must stay below it. Excluding other databases keeps a long
#: transaction elsewhere on the cluster from holding this feed back.
HORIZON_SQL = """
SELECT min(x) FROM (
    SELECT xip::text::bigint AS x FROM pg_snapshot_xip(pg_current_snapshot()) AS xip
    WHERE NOT EXISTS (
        SELECT 1 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
          AND l.transactionid::text = (xip::text::bigint % 4294967296)::text
          AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))
    UNION ALL
    SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint
) AS candidates
"""


@dataclass(frozen=True)
class Cursor:
    tx_id: int
    id: int

    def encode(self) -> str:
        raw = json.dumps({"t": self.tx_id, "i": self.id}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def after(event: Event) -> Cursor:
        """The cursor that continues after ``event``."""
        return Cursor(event.tx_id if event.tx_id is not None else -1, event.id)

    @staticmethod
    def decode(value: str | None) -> Cursor:
        if not value:
            return Cursor(-1, 0)
        try:
            data = json.loads(base64.urlsafe_b64decode((value + "=" * (-len(value) % 4)).encode()))
            tx_id, event_id = data["t"], data["i"]
            if not (isinstance(tx_id, int) and isinstance(event_id, int)) or isinstance(tx_id, bool) \
                    or isinstance(event_id, bool) or not (-1 <= tx_id < 2**63 and 0 <= event_id < 2**63):
                raise TypeError  # ids and transaction ids are BIGINT: anything else was not made by this feed
            return Cursor(tx_id, event_id)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise InvalidInput("游标无效 — after is not a cursor this feed returned", field="after") from None


def page(session: Session, caller: Actor, after: Cursor, limit: int) -> tuple[list[Event], Cursor]:
    """Up to ``limit`` events after ``after`` in commit order, and the cursor to continue from.

    The cursor advances only over returned events, so an empty page returns ``after`` unchanged.
    """
    query = select(Event)
    if session.get_bind().dialect.name == "postgresql":
        horizon: ColumnElement[int] = literal_column(f"({HORIZON_SQL})")
        query = (query.where(Event.tx_id < horizon, tuple_(Event.tx_id, Event.id) > tuple_(after.tx_id, after.id))
                 .order_by(Event.tx_id, Event.id))
    else:
        query = query.where(Event.id > after.id).order_by(Event.id)
    if caller.region_prefix:
        query = query.join(Enterprise, Enterprise.id == Event.enterprise_id).where(
            Enterprise.region_code.startswith(caller.region_prefix))
    rows = list(session.scalars(query.limit(limit)))
    if not rows:
        return rows, after
    return rows, Cursor.after(rows[-1])


@dataclass(frozen=True)
class FeedLag:
    """Events committed but not yet released to followers (their transaction is newer than the oldest one
    still running), and the age in seconds of the oldest of them — what ``/metrics`` reports."""

    held_back: int
    oldest_age_seconds: float


def lag(session: Session) -> FeedLag:
    """How far the feed's horizon trails the committed events (always none on SQLite: id order is commit
    order there)."""
    if session.get_bind().dialect.name != "postgresql":
        return FeedLag(0, 0.0)
    horizon: ColumnElement[int] = literal_column(f"({HORIZON_SQL})")
    held, oldest = session.execute(select(func.count(), func.min(Event.recorded_at))
                                   .where(Event.tx_id >= horizon)).one()
    return FeedLag(int(held), (utc_now() - oldest).total_seconds() if oldest is not None else 0.0)
