"""An import whose caller went away stops at the next chunk and writes nothing (the API asks whether the
client hung up before each chunk)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ADMIN, Factory, make_uscc
from imports_support import write_csv
from sqlalchemy import func, select

from pipeline.db import unit_of_work
from pipeline.imports import ImportFile, ImportOptions
from pipeline.imports.engine import CHUNK_ROWS, FIRST_CHUNK_ROWS, ImportAbandoned, run_import
from pipeline.models import Enterprise, ImportRun


def test_an_import_asked_to_stop_stops_before_the_next_chunk_and_writes_nothing(
        session_factory: Factory, tmp_path: Path) -> None:
    rows = [(n, make_uscc("410106", 100_000 + n), f"企业{n}", "", "2025-01-10", "") for n in range(CHUNK_ROWS + 5)]
    path = write_csv(tmp_path / "培育库.csv", rows)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1  # the client hangs up after the first chunk

    seen = []
    with pytest.raises(ImportAbandoned), unit_of_work(session_factory) as session, path.open("rb") as stream:
        run_import(session, ImportFile(stream, path.name), ImportOptions(action="enroll"), ADMIN, apply=True,
                   sink=seen.append, should_stop=stop)
    assert len(asked) == 2
    assert len(seen) == FIRST_CHUNK_ROWS  # the first chunk was reported, the second never read
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Enterprise)) == 0
        assert session.scalar(select(func.count()).select_from(ImportRun)) == 0
