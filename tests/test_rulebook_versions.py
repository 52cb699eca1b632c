"""Every published version of a rulebook stays retrievable by its hash, and history follows the version each
event recorded — correcting a rulebook cannot make history fail."""

from __future__ import annotations

import pytest
from helpers import Factory, bring_to, events, make_uscc

from pipeline.db import unit_of_work
from pipeline.errors import NotFound
from pipeline.firms import service
from pipeline.history import verify
from pipeline.rulebooks import DATA_DIR, _content_hash, all_rulebooks, get_rulebook, published_versions

#: The versions published before side titles were added (events in the field carry these hashes).
BEFORE_SIDE_TITLES = {
    "miit-2022": "0e7b4cb0d03bda3e03197280ef0e7683dfd47e97cc78f040410d47b478f9acb4",
    "miit-2026": "51c5ec8bc8086d522f0d54ddafaf5caed10d203f593b0096ef217e719250844b",
}


def test_every_frozen_copy_still_hashes_to_its_name() -> None:
    for book in all_rulebooks():
        frozen = sorted((DATA_DIR / book.id / "published").iterdir())
        assert frozen, f"{book.id} keeps no published versions"
        for directory in frozen:
            assert _content_hash(directory) == directory.name
            assert published_versions(book.id)[directory.name].id == book.id


@pytest.mark.parametrize("rulebook_id", sorted(BEFORE_SIDE_TITLES))
def test_a_rulebook_is_found_by_any_hash_it_was_published_with(rulebook_id: str) -> None:
    current = get_rulebook(rulebook_id)
    old = get_rulebook(rulebook_id, BEFORE_SIDE_TITLES[rulebook_id])
    assert old.content_hash == BEFORE_SIDE_TITLES[rulebook_id] != current.content_hash
    assert old.side_titles == {}
    assert "high_tech_enterprise" in current.side_titles
    assert get_rulebook(rulebook_id, current.content_hash) is current
    with pytest.raises(NotFound, match="no published version"):
        get_rulebook(rulebook_id, "0" * 64)


def test_history_recorded_under_an_earlier_version_still_verifies(
        session_factory: Factory, monkeypatch: pytest.MonkeyPatch) -> None:
    old = get_rulebook("miit-2022", BEFORE_SIDE_TITLES["miit-2022"])
    monkeypatch.setattr(service, "rulebook_in_force", lambda day: old)
    uscc = make_uscc("410106", 1)
    bring_to(session_factory, uscc, "national")
    assert {e.rulebook_hash for e in events(session_factory, uscc)} == {old.content_hash}
    with unit_of_work(session_factory) as session:
        assert verify.verify(session, uscc=uscc).ok
