"""Local policy packs: what a city's or district's policy document promises, as versioned data.

A pack is one file under ``data/`` per policy document (``zhengzhou-2022-36.toml`` …): its id, title,
document number, issuing body, jurisdiction (GB/T 2260), level, in-force window, stacking settings
(``first_only``, ``stacking_group``, ``mode``), its awards, and what it promises banks: ``[credit] ceilings``
(the unsecured "专精特新贷" line per tier, yuan) and ``[whitelist] min_tier`` (firms holding that tier or a
higher one go on the banks' white-list). The shipped file is version 1; an official's
change (an award's amount, the end of the window) is a new version stored in ``policy_versions``, with its
own content hash — the SHA-256 of the pack's canonical JSON — which every entitlement derived from it keeps.

地方政策包：政策文件承诺的奖励金额等作为带版本的数据；官员修改即生成新版本（新哈希）。
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.identifiers import region_covers
from pipeline.lifecycle.chain import canonical_json
from pipeline.rulebooks import TITLE_TIERS

DATA_DIR = Path(__file__).parent / "data"
MODES = ("top_up", "full")
FIRM_COUNTY = "firm_county"
"""A payer ``region_code`` meaning the firm's own county-level region (Sanmenxia's "所在地受益财政")."""


@dataclass(frozen=True)
class Payer:
    region_code: str
    percent: int


@dataclass(frozen=True)
class Award:
    id: str
    label: str
    trigger: str | None
    side_title_kind: str | None
    amount: int | None
    """Yuan; ``None`` while the seed leaves it to be entered."""
    first_only: bool
    payers: tuple[Payer, ...]
    ratio: float | None = None
    """Matching awards: the amount is ``ratio`` × the side-title grant's ``funds_field``."""
    funds_field: str | None = None

    @property
    def achievement(self) -> str:
        return self.trigger or self.side_title_kind or ""


@dataclass(frozen=True)
class PolicyPack:
    id: str
    version: int
    title: str
    document_no: str
    issuing_body: str
    jurisdiction: str
    level: str
    in_force_from: dt.date
    in_force_until: dt.date | None
    first_only: bool
    stacking_group: str
    mode: str
    notes: tuple[str, ...]
    awards: tuple[Award, ...]
    content_hash: str
    document: Mapping[str, Any]
    """The pack as stored and hashed (dates as ``YYYY-MM-DD``)."""
    credit_ceilings: Mapping[str, int] = field(default_factory=dict)
    """Tier → the unsecured credit line (yuan) the pack asks banks to offer a firm holding it."""
    whitelist_min_tier: str | None = None
    """Firms holding this tier or a higher one are on the banks' white-list (``None``: no white-list rule)."""

    def in_force_on(self, day: dt.date) -> bool:
        return self.in_force_from <= day and (self.in_force_until is None or day <= self.in_force_until)

    def covers(self, region_code: str) -> bool:
        return region_covers(self.jurisdiction, region_code)

    def award(self, award_id: str) -> Award | None:
        return next((award for award in self.awards if award.id == award_id), None)


def content_hash(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(document)).encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _day(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value))


def pack_from_document(document: Mapping[str, Any], version: int) -> PolicyPack:
    """Build a pack from its document (the parsed TOML, or a stored version); the document is validated here,
    so a bad file or a bad stored change fails loudly rather than paying the wrong amount."""
    mode = document.get("mode", "top_up")
    if mode not in MODES:
        raise ValueError(f"policy {document.get('id')}: mode must be one of {MODES}, not {mode!r}")
    pack_first_only = bool(document.get("first_only", False))
    awards = []
    for item in document.get("awards", []):
        if bool(item.get("trigger")) == bool(item.get("side_title_kind")):
            raise ValueError(f"policy {document['id']} award {item.get('id')}: give exactly one of trigger, "
                             f"side_title_kind")
        payers = tuple(Payer(str(p["region_code"]), int(p["percent"])) for p in item.get("payers", []))
        if not payers or sum(p.percent for p in payers) != 100:
            raise ValueError(f"policy {document['id']} award {item['id']}: payers' percents must sum to 100")
        amount = item.get("amount")
        awards.append(Award(
            id=str(item["id"]), label=str(item.get("label", item["id"])), trigger=item.get("trigger"),
            side_title_kind=item.get("side_title_kind"), amount=None if amount is None else int(amount),
            first_only=bool(item.get("first_only", pack_first_only)), payers=payers,
            ratio=None if item.get("ratio") is None else float(item["ratio"]), funds_field=item.get("funds_field")))
    ceilings = {str(tier): amount for tier, amount in dict(document.get("credit", {}).get("ceilings", {})).items()}
    for tier, amount in ceilings.items():
        if tier not in TITLE_TIERS or isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            raise ValueError(f"policy {document['id']}: credit ceilings are tier = yuan (a non-negative integer) "
                             f"for tiers {TITLE_TIERS}, not {tier} = {amount!r}")
    min_tier = document.get("whitelist", {}).get("min_tier")
    if min_tier is not None and min_tier not in TITLE_TIERS:
        raise ValueError(f"policy {document['id']}: whitelist.min_tier must be one of {TITLE_TIERS}")
    return PolicyPack(
        id=str(document["id"]), version=version, title=str(document["title"]),
        document_no=str(document["document_no"]), issuing_body=str(document.get("issuing_body", "")),
        jurisdiction=str(document["jurisdiction"]), level=str(document["level"]),
        in_force_from=_day(document["in_force_from"]) or dt.date.min,
        in_force_until=_day(document.get("in_force_until")), first_only=pack_first_only,
        stacking_group=str(document.get("stacking_group") or document["id"]), mode=mode,
        notes=tuple(document.get("notes", ())), awards=tuple(awards), content_hash=content_hash(document),
        document=document, credit_ceilings=ceilings, whitelist_min_tier=min_tier,
    )


@cache
def shipped_packs() -> tuple[PolicyPack, ...]:
    """Every pack shipped with the package (version 1 of each), by id."""
    packs = []
    for path in sorted(DATA_DIR.glob("*.toml")):
        document = _plain(tomllib.loads(path.read_text(encoding="utf-8")))
        packs.append(pack_from_document(document, 1))
    return tuple(sorted(packs, key=lambda pack: pack.id))


@cache
def _stored_pack(document_json: str, version: int) -> PolicyPack:
    return pack_from_document(json.loads(document_json), version)


def stored_pack(document: Mapping[str, Any], version: int) -> PolicyPack:
    """A stored version, parsed once per distinct document."""
    return _stored_pack(canonical_json(dict(document)), version)


def applicable(packs: Sequence[PolicyPack], region_code: str) -> list[PolicyPack]:
    """The packs whose jurisdiction covers a firm's region (in force or not: the caller says why not)."""
    return [pack for pack in packs if pack.covers(region_code)]
