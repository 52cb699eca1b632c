"""Versioned policy data.

A rulebook is a directory under ``data/`` holding ``rulebook.toml`` (labels, validity, bars, reason
catalogues, permissions) and any further ``*.toml`` files (e.g. ``eligibility.toml``). Its content hash
covers every file, so an event that records ``rulebook_hash`` pins the exact text it was judged by.

Every published version stays retrievable by its hash: when a rulebook's files change, the previous files
are kept, unchanged, under ``data/<id>/published/<hash>/`` (a test checks each copy still hashes to its
name), and :func:`get_rulebook` with a hash loads exactly that version.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

from pipeline.dates import validity_end
from pipeline.errors import NotFound

DATA_DIR = Path(__file__).parent / "data"

TITLE_TIERS: tuple[str, ...] = ("innovative", "provincial", "national")
"""The titles, lowest first."""


YEAR_END: Final = "year_end"
"""A side title's ``ends`` value: it ends on 31 December of its grant year."""


@dataclass(frozen=True)
class SideTitleKind:
    """A kind of title beside the tiers (单项冠军, 高新技术企业 …) as the rulebook defines it."""

    id: str
    label: str
    issuer_level: str
    validity_years: int | None = None
    ends: str | None = None
    requires_product: bool = False
    enrolls_unknown_firms: bool = False
    """An import of this kind enrolls a firm it does not know into the reserve pool first."""

    def default_valid_until(self, granted_on: dt.date) -> dt.date:
        """Valid through this date when the grant does not say: 31 December of the grant year for annual
        kinds, else ``validity_years`` from the grant date (the day before its anniversary)."""
        if self.ends == YEAR_END:
            return dt.date(granted_on.year, 12, 31)
        assert self.validity_years is not None  # the loader refuses a kind with neither
        return validity_end(granted_on, self.validity_years)


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
    side_titles: Mapping[str, SideTitleKind] = field(default_factory=dict)
    """Kinds of title beside the tiers, by id (versions published before they existed have none)."""
    remove_ends_titles: Mapping[str, bool] = field(default_factory=dict)
    """Per removal reason, whether ``remove`` ends the firm's titles (absent: it does, as before the table)."""
    integrator_grantable: tuple[str, ...] = ()
    """The actions an integration client may ever be granted (versions published before the list: none)."""

    def label(self, state: str) -> str:
        """The label of a state or tier — or of a side-title kind, so one roster column serves both."""
        if state in self.state_labels:
            return self.state_labels[state]
        side = self.side_titles.get(state)
        return side.label if side else state

    def reasons_for(self, trigger: str) -> Mapping[str, str]:
        """The reason-code catalogue a trigger draws from (`expire` shares demote's)."""
        catalogue = "demote" if trigger == "expire" else trigger
        return self.reason_codes.get(catalogue, {})

    def remove_ends_titles_for(self, reason_code: str | None) -> bool:
        return self.remove_ends_titles.get(reason_code or "", True)

    def permits(self, action: str, role: str, level: str | None) -> bool:
        allowed = self.permissions.get(action, ())
        return role in allowed or (level is not None and f"{role}:{level}" in allowed)


def _content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.toml")):
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _side_title_kind(kind: str, spec: Mapping[str, Any]) -> SideTitleKind:
    if (spec.get("ends") == YEAR_END) == ("validity_years" in spec):
        raise ValueError(f"side title {kind!r}: give either validity_years or ends = {YEAR_END!r}")
    return SideTitleKind(
        id=kind, label=str(spec["label"]), issuer_level=str(spec["issuer_level"]),
        validity_years=int(spec["validity_years"]) if "validity_years" in spec else None,
        ends=spec.get("ends"), requires_product=bool(spec.get("requires_product", False)),
        enrolls_unknown_firms=bool(spec.get("enrolls_unknown_firms", False)),
    )


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
        side_titles={kind: _side_title_kind(kind, spec) for kind, spec in main.get("side_titles", {}).items()},
        integrator_grantable=tuple(main.get("integrator_grantable", ())),
        remove_ends_titles={code: bool(ends) for code, ends in main.get("remove_ends_titles", {}).items()},
    )


@cache
def all_rulebooks() -> tuple[Rulebook, ...]:
    """Every shipped rulebook, oldest first."""
    books = [_load(path) for path in DATA_DIR.iterdir() if (path / "rulebook.toml").is_file()]
    return tuple(sorted(books, key=lambda book: book.in_force_from))


@cache
def published_versions(rulebook_id: str) -> dict[str, Rulebook]:
    """Every version of a rulebook ever published, by content hash: the current files and the frozen copies
    of earlier ones (``data/<id>/published/<hash>/``)."""
    current = get_rulebook(rulebook_id)
    versions = {current.content_hash: current}
    frozen = DATA_DIR / rulebook_id / "published"
    if frozen.is_dir():
        for directory in sorted(frozen.iterdir()):
            if (directory / "rulebook.toml").is_file():
                book = _load(directory)
                versions[book.content_hash] = book
    return versions


def get_rulebook(rulebook_id: str, content_hash: str | None = None) -> Rulebook:
    """The rulebook ``rulebook_id`` as published now, or exactly the version with ``content_hash`` (what an
    event recorded) — history is judged by the text it was decided under, never by today's."""
    for book in all_rulebooks():
        if book.id == rulebook_id:
            if content_hash is None or content_hash == book.content_hash:
                return book
            version = published_versions(rulebook_id).get(content_hash)
            if version is None:
                raise NotFound(f"规则{rulebook_id}没有哈希为{content_hash}的版本 — rulebook {rulebook_id} has no "
                               f"published version with hash {content_hash}")
            return version
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


def title_label(tier: str, recognized_on: dt.date) -> str:
    """A title's label as the rulebook that recognised it names it (the one in force on its recognition date):
    a 2024 创新型中小企业 keeps its name after miit-2026 renames the tier 科技和创新型中小企业."""
    return rulebook_in_force(recognized_on).label(tier)
