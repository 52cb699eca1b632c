"""The hash chain: canonical JSON of an event's fields, chained per firm.

The recipe (also in the README) is meant to be run by a third party on an exported history::

    hash = sha256((prev_hash + canonical_json(fields)).encode("utf-8")).hexdigest()

``fields`` are the items of :data:`HASHED_FIELDS`, absent values as ``null``, dates ``YYYY-MM-DD`` and
times ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pipeline.models import Event

GENESIS_HASH = "0" * 64

HASHED_FIELDS: tuple[str, ...] = (
    "uscc",
    "seq",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "effective_date",
    "recorded_at",
    "actor",
    "reason_code",
    "reason",
    "evidence",
    "rulebook_id",
    "rulebook_hash",
    "request_id",
)


def format_timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_fields(event: Event) -> dict[str, Any]:
    """The hashed fields of an event, in their exported (JSON) form."""
    return {name: _plain(getattr(event, name)) for name in HASHED_FIELDS}


def event_document(event: Event) -> dict[str, Any]:
    """An event as the API and exports show it: the hashed fields plus the chain links."""
    return {**event_fields(event), "prev_hash": event.prev_hash, "hash": event.hash}


def chain_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(dict(fields))).encode("utf-8")).hexdigest()


def seal(event: Event, prev_hash: str) -> None:
    """Set ``prev_hash`` and ``hash`` on a new event from its other fields."""
    event.prev_hash = prev_hash
    event.hash = chain_hash(prev_hash, event_fields(event))
