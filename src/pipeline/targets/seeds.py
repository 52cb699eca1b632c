"""The seeds' targets shipped as data (``data/seed_targets.toml``) and loaded by ``pipeline targets load-seeds``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from pipeline.access import Actor
from pipeline.models import Target
from pipeline.targets import service

SEEDS_FILE = Path(__file__).parent / "data" / "seed_targets.toml"


@dataclass(frozen=True)
class SeedTargets:
    region: str
    year: int
    seed: str
    items: list[dict[str, Any]]
    note: str | None


def seed_targets() -> list[SeedTargets]:
    data = tomllib.loads(SEEDS_FILE.read_text(encoding="utf-8"))
    return [SeedTargets(str(t["region"]), int(t["year"]), str(t["seed"]), list(t["items"]), t.get("note"))
            for t in data["targets"]]


def load_seeds(session: Session, actor: Actor) -> list[tuple[SeedTargets, Target | None]]:
    """Put each seed region-year's items (skipped, ``None``, when its current items already equal them)."""
    done: list[tuple[SeedTargets, Target | None]] = []
    for seed in seed_targets():
        current = service.targets_of(session, [seed.region], seed.year).get(seed.region)
        if current == service.normalized_items(seed.items):
            done.append((seed, None))
            continue
        done.append((seed, service.put_targets(session, seed.region, seed.year, seed.items, actor=actor,
                                               reason=f"seeds/{seed.seed}")))
    return done
