"""Local overlays: a province's or city's additions on top of a national rulebook.

An overlay is one file ``overlays/<name>.toml`` beside ``data/``::

    id = "henan-2023"
    region = "410000"                      # GB/T 2260 code; covers the firms whose code it prefixes
    applies_to = ["miit-2022", "miit-2026"]
    title_zh = "…"  title_en = "…"  source = "…"
    [tiers.provincial.characteristic]     # 特色化: indicators and banded items, scored by the engine
    max_points = 15                         # the points the national rule leaves to the province
    [tiers.provincial.characteristic.indicators.<key>]   # same shape as the eligibility catalogue
    [[tiers.provincial.characteristic.items]]            # same shape as a score item (bands, points)

This module only finds and parses overlays (it interprets no policy); :mod:`pipeline.eligibility`
compiles and scores them. An overlay's content hash covers its file's bytes, so a result that records
``(id, content_hash)`` pins the exact text it was scored by.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.identifiers import region_covers, region_prefix

OVERLAY_DIR = Path(__file__).parent / "overlays"


class OverlayError(ValueError):
    """An overlay file is malformed."""


@dataclass(frozen=True)
class Overlay:
    id: str
    region: str
    """The GB/T 2260 code of the province / city; a firm is covered when its code falls under it."""
    applies_to: tuple[str, ...]
    """Ids of the national rulebooks it sits on."""
    title_zh: str
    title_en: str
    source: str
    content_hash: str
    tiers: Mapping[str, Mapping[str, Any]]
    """Per tier, its blocks (``characteristic`` …), parsed but not interpreted here."""

    def covers(self, region_code: str) -> bool:
        return region_covers(self.region, region_code)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise OverlayError(f"{where}: `{key}` is required (text)")
    return value


def load_overlay(path: Path) -> Overlay:
    data = path.read_bytes()
    raw = tomllib.loads(data.decode("utf-8"))
    where = path.name
    region = _text(raw, "region", where)
    if not (len(region) == 6 and region.isdigit()):
        raise OverlayError(f"{where}: `region` must be a 6-digit GB/T 2260 code")
    applies_to = raw.get("applies_to")
    if not isinstance(applies_to, list) or not applies_to or not all(isinstance(x, str) for x in applies_to):
        raise OverlayError(f"{where}: `applies_to` must be a non-empty list of rulebook ids")
    tiers = raw.get("tiers", {})
    if not isinstance(tiers, Mapping):
        raise OverlayError(f"{where}: `tiers` must be a table")
    return Overlay(
        id=_text(raw, "id", where), region=region, applies_to=tuple(applies_to),
        title_zh=_text(raw, "title_zh", where), title_en=_text(raw, "title_en", where),
        source=_text(raw, "source", where), content_hash=hashlib.sha256(data).hexdigest(),
        tiers={tier: dict(blocks) for tier, blocks in tiers.items()},
    )


@cache
def all_overlays() -> tuple[Overlay, ...]:
    """Every shipped overlay, broadest region first (then by id)."""
    found = [load_overlay(path) for path in sorted(OVERLAY_DIR.glob("*.toml"))] if OVERLAY_DIR.is_dir() else []
    ids = [overlay.id for overlay in found]
    if len(set(ids)) != len(ids):
        raise OverlayError(f"duplicate overlay ids: {sorted(ids)}")
    return tuple(sorted(found, key=lambda overlay: (len(region_prefix(overlay.region)), overlay.id)))


@cache
def _overlays_for(rulebook_id: str, region_code: str) -> tuple[Overlay, ...]:
    return tuple(overlay for overlay in all_overlays()
                 if rulebook_id in overlay.applies_to and overlay.covers(region_code))


def overlays_for(rulebook: Any, region_code: str | None) -> tuple[Overlay, ...]:
    """The overlays on ``rulebook`` (a Rulebook or its id) covering a firm's region, broadest first. Cached."""
    if not region_code:
        return ()
    return _overlays_for(rulebook if isinstance(rulebook, str) else rulebook.id, region_code)
