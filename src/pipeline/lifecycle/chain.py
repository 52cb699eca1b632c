"""The hash chain: canonical JSON of an event's fields, chained per firm.

The recipe (also in the README) is meant to be run by a third party, in any language, on an exported history::

    hash = sha256((prev_hash + canonical(fields)).encode("utf-8")).hexdigest()

``fields`` are the items of :data:`HASHED_FIELDS`, absent values as ``null``, dates ``YYYY-MM-DD`` and
times ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. ``canonical`` is the recipe that sealed the event, recorded
beside it (``hash_recipe``; ``NULL`` in the database for events sealed before recipes were recorded):

* ``jcs-1`` (every new event): RFC 8785, the JSON Canonicalization Scheme (the ``rfc8785`` package). Numbers
  are written as ECMAScript writes them, so JavaScript, Java, Go … reproduce the text exactly.
* ``pyjson-1`` (the original recipe): ``json.dumps(fields, sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` — Python's own number forms (``1e+16``), which other languages do not write.

Numbers are canonicalised before an event is sealed *and* stored (:func:`canonical_value`): integers must lie
within ±(2^53−1) and every number must be finite (what an IEEE double — JSON's number in every language —
holds exactly); an integral float within that range is stored as the integer (``2.0`` → ``2``, ``-0.0`` →
``0``); every other float stays a float. PostgreSQL's JSONB keeps numbers as decimals and hands an integral
float beyond 2^53 back as an integer (``1e16`` → ``10000000000000000``): read back, such an integer is turned
into the float it came from (:func:`stored_value`), which is exact, since the decimal JSONB kept is the
float's shortest round-trip form. So what either database returns re-hashes to the stored hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import orjson
import rfc8785

from pipeline.dates import utc_now
from pipeline.json_numbers import MAX_SAFE_INTEGER, canonical_value, stored_value
from pipeline.models import Event

GENESIS_HASH = "0" * 64
ONE_MICROSECOND = dt.timedelta(microseconds=1)

JCS = "jcs-1"
"""RFC 8785 canonical JSON, SHA-256: every event sealed since recipes were recorded."""
PYJSON = "pyjson-1"
"""Python's ``json.dumps`` with sorted keys, SHA-256: events whose ``hash_recipe`` is ``NULL``."""
RECIPES = (JCS, PYJSON)
Recipe = Literal["jcs-1", "pyjson-1"]


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
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. The last instant formatted is remembered: a bulk write records
    its rows at one instant, formatted once for all their hashes and their COPY."""
    global _last_timestamp
    last = _last_timestamp
    if last[0] is value:  # that very object: immutable, and kept alive by the memo, so its id is not reused
        return last[1]
    utc = value if value.tzinfo is dt.UTC else value.astimezone(dt.UTC)
    if utc.year >= 1000:  # the same text as strftime below, three times faster
        text = utc.isoformat(timespec="microseconds")[:-6] + "Z"
    else:
        text = utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    _last_timestamp = (value, text)  # one tuple, swapped whole: another thread reads an old pair or a new one
    return text


_last_timestamp: tuple[dt.datetime | None, str] = (None, "")


# --- canonical forms -----------------------------------------------------------------------------------


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
"""``json.dumps`` with these arguments builds an encoder per call; one is enough."""


def canonical_json(obj: Any) -> str:
    """The ``pyjson-1`` canonical form: ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` — written by orjson when ``obj`` holds JSON's own types only (:func:`_native`)."""
    return _native_json(obj) if _native(obj) else _CANONICAL.encode(obj)


def _native(value: Any) -> bool:
    """Exactly JSON's own Python types — ``dict`` with text keys within the BMP, ``list``, ``str``, ``bool``,
    ``None`` and ``int`` within ±(2^53−1), no subclass, no float: then ``json.dumps`` (sorted keys, compact,
    ``ensure_ascii=False``), RFC 8785 and orjson with sorted keys all write the same text (strings are escaped
    alike, and keys sort by code point, which is UTF-8 byte order, and UTF-16 order within the BMP) — proven
    by a property test. It also means :func:`pipeline.json_numbers.canonical_value` has nothing to change."""
    return _walk(value, exact=True)


def _native_json(obj: Any) -> str:
    """:data:`_CANONICAL`'s text of a :func:`_native` value, from orjson (one C call instead of an encoder
    set up per call). orjson refuses a lone surrogate (``json`` writes it, and encoding the text then fails)
    and nesting beyond 255 levels: those take ``json``, as before."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except orjson.JSONEncodeError:
        return _CANONICAL.encode(obj)


def _native_bytes(obj: Any) -> bytes:
    """:func:`_native_json` encoded as UTF-8 (which raises for a lone surrogate, as it always did)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        return _CANONICAL.encode(obj).encode("utf-8")


def _plain(value: Any) -> bool:
    """No float, no integer beyond ±(2^53−1) and no key outside the Basic Multilingual Plane: then RFC 8785
    and ``json.dumps`` write the same text (integers, strings and escapes alike; keys sort alike, since
    UTF-16 and code-point order differ only for characters beyond U+FFFF).

    Walked with a stack and exact type checks (every event's evidence passes here); subclasses of the JSON
    types take :func:`_plain_slow`."""
    return _walk(value, exact=False)


def _walk(value: Any, *, exact: bool) -> bool:
    """The walk of :func:`_native` (``exact``: JSON's own types only) and :func:`_plain` (subclasses asked of
    :func:`_plain_slow`): a stack and exact type checks; text keys within the BMP, integers within ±(2^53−1),
    no float."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key, child in item.items():
                if type(key) is not str or not (key.isascii() or max(map(ord, key)) <= 0xFFFF):
                    return False
                if type(child) is not str:  # text is JSON's own and needs no look: most values are text
                    stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                return False
        elif exact or kind is float or not _plain_slow(item):
            return False
    return True


def _plain_slow(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and (key.isascii() or max(map(ord, key)) <= 0xFFFF) and _plain(item)
                   for key, item in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(item) for item in value)
    if isinstance(value, float):
        return False
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value) <= MAX_SAFE_INTEGER
    return True


def jcs_json(obj: Any) -> str:
    """The ``jcs-1`` canonical form: RFC 8785. Documents without floats or keys beyond the BMP take the
    fast path (``json.dumps``, the same text — proven by a property test); others go through ``rfc8785``."""
    if _native(obj):
        return _native_json(obj)
    if _plain(obj):
        return _CANONICAL.encode(obj)
    return rfc8785.dumps(obj).decode("utf-8")


def canonical_text(fields: Mapping[str, Any], recipe: str) -> str:
    if recipe == JCS:
        return jcs_json(dict(fields))
    if recipe == PYJSON:
        return canonical_json(dict(fields))
    raise ValueError(f"unknown hash recipe {recipe!r}")


def recipe_of(event: Any) -> Recipe:
    """The recipe that sealed an event (``NULL`` in the database: the original one)."""
    recipe = getattr(event, "hash_recipe", None) or PYJSON
    if recipe not in RECIPES:
        raise ValueError(f"unknown hash recipe {recipe!r}")
    return cast(Recipe, recipe)


def hash_recipes(events: Sequence[Any]) -> tuple[int, dict[str, Recipe]]:
    """``(n, {"<seq>": recipe})`` for the first ``n`` events: a page of several firms' events ends before the
    first one whose seq the map already names with another recipe, so that every key stays unambiguous."""
    recipes: dict[str, Recipe] = {}
    for count, event in enumerate(events):
        key, recipe = str(event.seq), recipe_of(event)
        if recipes.setdefault(key, recipe) != recipe:
            return count, recipes
    return len(events), recipes


# --- events --------------------------------------------------------------------------------------------


def _exported(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return format_timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def event_fields(event: Event) -> dict[str, Any]:
    """The hashed fields of an event, in their exported (JSON) form.

    ``jcs-1`` evidence is read back into canonical form (:func:`stored_value`); ``pyjson-1`` evidence is
    shown as stored — its numbers were never canonicalised, so no rule could restore them
    (:func:`pipeline.history.verify.check_chain` recognises what JSONB rewrote).
    """
    fields = {name: _exported(getattr(event, name)) for name in HASHED_FIELDS}
    if recipe_of(event) == JCS:
        fields["evidence"] = stored_value(fields["evidence"])
    return fields


_SORTED_FIELDS = tuple(sorted(HASHED_FIELDS))
assert _SORTED_FIELDS == ("actor", "effective_date", "evidence", "from_state", "kind", "reason", "reason_code",
                          "recorded_at", "request_id", "rulebook_hash", "rulebook_id", "seq", "to_state", "trigger",
                          "uscc"), "recompute_hash writes these fields by name: change it with them"
_SORTED_VALUES = operator.attrgetter(*_SORTED_FIELDS)
_PREFIXES = tuple(("{" if index == 0 else ",") + _CANONICAL.encode(name) + ":"
                  for index, name in enumerate(_SORTED_FIELDS))
_encode_string = json.encoder.encode_basestring  # what json.dumps(..., ensure_ascii=False) writes a string with


def recompute_hash(event: Any, prev_hash: str, recipe: str) -> str:
    """``chain_hash(prev_hash, event_fields(event), recipe)`` — the same text and so the same hash — written
    field by field in sorted order as ``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)``
    writes it, without copying the evidence when nothing in it needs putting back into canonical form (no
    float, no integer beyond 2^53: :func:`stored_value` would return it unchanged, and RFC 8785 writes what
    ``json.dumps`` writes). Verification recomputes every event with it."""
    return _recompute_hash(event, prev_hash, recipe, None)


def _recompute_hash(event: Any, prev_hash: str, recipe: str, native: bool | None) -> str:
    """:func:`recompute_hash`; ``native`` is :func:`_native` of the evidence when the caller knows it."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown hash recipe {recipe!r}")
    values = _SORTED_VALUES(event)
    (actor, effective_date, evidence, from_state, kind, reason, reason_code, recorded_at, request_id, rulebook_hash,
     rulebook_id, seq, to_state, trigger, uscc) = values
    if (type(evidence) is dict and type(effective_date) is dt.date and type(recorded_at) is dt.datetime
            and type(seq) is int and -MAX_SAFE_INTEGER <= seq <= MAX_SAFE_INTEGER and type(actor) is str
            and type(kind) is str and type(rulebook_hash) is str and type(rulebook_id) is str and type(uscc) is str
            and (from_state is None or type(from_state) is str) and (reason is None or type(reason) is str)
            and (reason_code is None or type(reason_code) is str) and (request_id is None or type(request_id) is str)
            and (to_state is None or type(to_state) is str) and (trigger is None or type(trigger) is str)):
        # every event as the tables hold it: the same text as the loop below
        if native is None:
            native = _native(evidence)
        if native:  # then the whole document is JSON's own types: one orjson call writes it
            document = {"actor": actor, "effective_date": effective_date.isoformat(), "evidence": evidence,
                        "from_state": from_state, "kind": kind, "reason": reason, "reason_code": reason_code,
                        "recorded_at": format_timestamp(recorded_at), "request_id": request_id,
                        "rulebook_hash": rulebook_hash, "rulebook_id": rulebook_id, "seq": seq, "to_state": to_state,
                        "trigger": trigger, "uscc": uscc}
            return hashlib.sha256(prev_hash.encode("utf-8") + _native_bytes(document)).hexdigest()
        if recipe == PYJSON or _plain(evidence):
            text = (f'{{"actor":{_encode_string(actor)},"effective_date":"{effective_date.isoformat()}",'
                    f'"evidence":{_CANONICAL.encode(evidence)},'
                    f'"from_state":{"null" if from_state is None else _encode_string(from_state)},'
                    f'"kind":{_encode_string(kind)},"reason":{"null" if reason is None else _encode_string(reason)},'
                    f'"reason_code":{"null" if reason_code is None else _encode_string(reason_code)},'
                    f'"recorded_at":"{format_timestamp(recorded_at)}",'
                    f'"request_id":{"null" if request_id is None else _encode_string(request_id)},'
                    f'"rulebook_hash":{_encode_string(rulebook_hash)},"rulebook_id":{_encode_string(rulebook_id)},'
                    f'"seq":{int.__repr__(seq)},"to_state":{"null" if to_state is None else _encode_string(to_state)},'
                    f'"trigger":{"null" if trigger is None else _encode_string(trigger)},'
                    f'"uscc":{_encode_string(uscc)}}}')
            return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()
    parts: list[str] = []
    plain = True
    for prefix, value in zip(_PREFIXES, values, strict=True):
        parts.append(prefix)
        kind = type(value)
        if kind is str:
            parts.append(_encode_string(value))
        elif value is None:
            parts.append("null")
        elif kind is int:  # seq: written as json.dumps writes an int
            if plain and recipe == JCS and not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                plain = False
            parts.append(int.__repr__(value))
        elif kind is dt.date:
            parts.append('"' + value.isoformat() + '"')  # what _exported gives, a string with nothing to escape
        elif isinstance(value, dt.date):
            parts.append(_encode_string(_exported(value)))
        else:
            if plain and recipe == JCS:
                plain = _plain(value)
            parts.append(_CANONICAL.encode(value))
    if not plain:
        return chain_hash(prev_hash, event_fields(event), recipe)
    parts.append("}")
    return hashlib.sha256((prev_hash + "".join(parts)).encode("utf-8")).hexdigest()


def event_document(event: Event) -> dict[str, Any]:
    """An event as the API and exports show it: the hashed fields plus the chain links."""
    return {**event_fields(event), "prev_hash": event.prev_hash, "hash": event.hash}


def chain_hash(prev_hash: str, fields: Mapping[str, Any], recipe: str = JCS) -> str:
    return hashlib.sha256((prev_hash + canonical_text(fields, recipe)).encode("utf-8")).hexdigest()


def seal(event: Event, prev_hash: str) -> None:
    """Canonicalise a new event's evidence (refusing numbers JSON cannot round-trip), then set
    ``hash_recipe``, ``prev_hash`` and ``hash`` from its other fields. Evidence of JSON's own types with
    nothing to canonicalise (:func:`_native`: every event an import or the service writes) is kept as it is."""
    native = _native(event.evidence)
    if not native:
        event.evidence = canonical_value(event.evidence)
    event.hash_recipe = JCS
    event.prev_hash = prev_hash
    # = chain_hash(prev_hash, event_fields(event), JCS)
    event.hash = _recompute_hash(event, prev_hash, JCS, native or None)


def next_recorded_at(head_recorded_at: dt.datetime | None, now: dt.datetime | None = None) -> dt.datetime:
    """The ``recorded_at`` of a firm's next event: now, but never before its head's plus 1 µs — so an honest
    chain never goes backwards, even when its writers' clocks disagree. Call it holding the firm's lock."""
    current = now or utc_now()
    if head_recorded_at is None:
        return current
    return max(current, head_recorded_at + ONE_MICROSECOND)
