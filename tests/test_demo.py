"""``pipeline demo``: a marked demonstration data set, written through the real services, only into an
empty database; a sign-in token per role."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline import demo
from pipeline.cli.main import main as pipeline_main
from pipeline.db import unit_of_work
from pipeline.history import verify
from pipeline.models import Enterprise, Entitlement, Event, Principal, SideTitle
from pipeline.principals.service import add_principal

Factory = sessionmaker[Session]


def _run(capsys: pytest.CaptureFixture[str], database_url: str, *args: str) -> tuple[int, str, str]:
    code = pipeline_main(["--database-url", database_url, "demo", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_demo_loads_a_living_history_and_prints_a_token_per_role(
        capsys: pytest.CaptureFixture[str], database_url: str, session_factory: Factory) -> None:
    code, out, err = _run(capsys, database_url, "--firms", "60")
    assert code == 0, err
    tokens = [line.strip() for line in out.splitlines() if line.startswith("    ")]
    assert len(tokens) == len(demo.PRINCIPALS)
    assert all(t.startswith("zjtx_") for t in tokens)
    assert {line.split()[0].split(":")[0] for line in out.splitlines()[1:] if not line.startswith(" ")} == {
        "official", "auditor", "finance", "integrator", "admin"}
    with session_factory() as session:
        names = list(session.scalars(select(Enterprise.name)))
        assert len(names) == 60
        assert all(name.startswith(demo.NAME_MARK) for name in names)
        assert {p.created_by for p in session.scalars(select(Principal))} == {demo.CREATED_BY}
        triggers = dict(session.execute(select(Event.trigger, func.count()).group_by(Event.trigger)).all())
        for trigger in ("enroll", "recognize_innovative", "recognize_provincial", "recognize_national", "renew",
                        "expire", "revoke", "grant_side_title"):
            assert triggers.get(trigger), (trigger, triggers)
        regions = {region[:4] for region in session.scalars(select(Enterprise.region_code))}
        assert regions == {"4101", "4104", "4112"}
        assert session.scalar(select(func.count()).select_from(Entitlement))
        assert session.scalar(select(func.count()).select_from(SideTitle))
        assert verify.verify(session).problems == []

    again, _, err = _run(capsys, database_url, "--firms", "5")
    assert again == 1
    assert err.count("\n") == 1
    assert "演示数据已载入" in err


def test_the_demo_refuses_a_database_with_real_data(
        capsys: pytest.CaptureFixture[str], database_url: str, session_factory: Factory) -> None:
    with unit_of_work(session_factory) as session:
        add_principal(session, name="郑州市工信局", role="official", level="city", region_code="410100",
                      created_by="cli:root")
    code, out, err = _run(capsys, database_url, "--firms", "5")
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1
    assert "真实数据" in err
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Enterprise)) == 0
        assert session.scalar(select(func.count()).select_from(Principal)) == 1
    assert _run(capsys, database_url, "--firms", "0")[0] == 1
