"""Versioned policy data.

A rulebook is a directory under ``data/`` holding ``rulebook.toml`` (labels, validity, bars, reason
catalogues, permissions) and any further ``*.toml`` files (e.g. ``eligibility.toml``). Its content hash
covers every file, so an event that records ``rulebook_hash`` pins the exact text it was judged by.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pipeline.errors import NotFound

DATA_DIR = Path(__file__).parent / "data"

TITLE_TIERS: tuple[str, ...] = ("innovative", "provincial", "national")
"""The titles, lowest first."""


@dataclass(frozen=True)
class Rulebook:
    id: str
    title: str
    document: str
    in_force_from: dt.date
    content_hash: str
    state_labels: Mapping[str, str]
    validity_years: Mapping[str, int]
    bar_years: int
    major_change_window_months: int
    annual_data_deadline: tuple[int, int]
    correction_window_days: int
    reason_codes: Mapping[str, Mapping[str, str]]
    permissions: Mapping[str, tuple[str, ...]]
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Further files of the rulebook by name (``eligibility`` …), parsed but not interpreted here."""

    def label(self, state: str) -> str:
        return self.state_labels.get(state, state)

    def reasons_for(self, trigger: str) -> Mapping[str, str]:
        """The reason-code catalogue a trigger draws from (`expire` shares demote's)."""
        catalogue = "demote" if trigger == "expire" else trigger
        return self.reason_codes.get(catalogue, {})

    def permits(self, action: str, role: str, level: str | None) -> bool:
        allowed = self.permissions.get(action, ())
        return role in allowed or (level is not None and f"{role}:{level}" in allowed)


def _content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.toml")):
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _load(directory: Path) -> Rulebook:
    main = tomllib.loads((directory / "rulebook.toml").read_text(encoding="utf-8"))
    sections = {
        path.stem: tomllib.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.toml"))
        if path.name != "rulebook.toml"
    }
    month, day = (int(part) for part in main["annual_data_deadline"].split("-"))
    return Rulebook(
        id=main["id"],
        title=main["title"],
        document=main["document"],
        in_force_from=main["in_force_from"],
        content_hash=_content_hash(directory),
        state_labels=dict(main["states"]),
        validity_years=dict(main["validity_years"]),
        bar_years=int(main["bar_years"]),
        major_change_window_months=int(main["major_change_window_months"]),
        annual_data_deadline=(month, day),
        correction_window_days=int(main["correction_window_days"]),
        reason_codes={name: dict(codes) for name, codes in main["reason_codes"].items()},
        permissions={name: tuple(who) for name, who in main["permissions"].items()},
        sections=sections,
    )


@cache
def all_rulebooks() -> tuple[Rulebook, ...]:
    """Every shipped rulebook, oldest first."""
    books = [_load(path) for path in DATA_DIR.iterdir() if (path / "rulebook.toml").is_file()]
    return tuple(sorted(books, key=lambda book: book.in_force_from))


def get_rulebook(rulebook_id: str) -> Rulebook:
    for book in all_rulebooks():
        if book.id == rulebook_id:
            return book
    known = ", ".join(book.id for book in all_rulebooks())
    raise NotFound(f"unknown rulebook {rulebook_id!r}; known rulebooks: {known}")


def rulebook_in_force(on: dt.date) -> Rulebook:
    """The rulebook in force on a date.

    History older than the first shipped rulebook (a 2020 小巨人 imported as backfill) is judged by the
    earliest one: it is the closest codified rule, and the event records which rulebook that was.
    """
    books = all_rulebooks()
    in_force = [book for book in books if book.in_force_from <= on]
    return in_force[-1] if in_force else books[0]
