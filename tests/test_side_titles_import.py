"""Importing side titles: `pipeline import FILE --action grant_side_title --kind KIND` and POST /api/v1/imports —
dry run, all or nothing, idempotent; 高新技术企业 lists enroll unknown firms first; every door records the same
side-title event."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from helpers import CITY, Factory, enroll, events, fire, make_uscc
from imports_support import write_csv
from sqlalchemy import select

from api.main import create_app
from pipeline.cli import main
from pipeline.db import unit_of_work
from pipeline.errors import InvalidInput
from pipeline.imports import ImportOptions
from pipeline.models import SideTitle
from pipeline.principals.service import add_principal
from pipeline.titles import service

A, B, C = make_uscc("410106", 51), make_uscc("410106", 52), make_uscc("410106", 53)
HEADER = ("序号", "统一社会信用代码", "企业名称", "所在地区", "认定日期", "文号")


def _import(database_url: str, path: Path, kind: str, *extra: str) -> int:
    return main(["--database-url", database_url, "import", str(path), "--action", "grant_side_title",
                 "--kind", kind, *extra])


def _side_titles(factory: Factory) -> list[tuple[str, str, str]]:
    with factory() as session:
        return [(t.kind, t.granted_on.isoformat(), t.valid_until.isoformat())
                for t in session.scalars(select(SideTitle).order_by(SideTitle.id))]


def test_a_high_tech_list_enrolls_unknown_firms_then_grants_once(
        database_url: str, session_factory: Factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enroll(session_factory, A, "2024-01-10")
    path = write_csv(tmp_path / "高新技术企业.csv", [(1, A, "甲公司", "", "2025-03-01", "豫科〔2025〕7号"),
                                                      (2, B, "乙公司", "上街区", "2025-03-01", "豫科〔2025〕7号")])
    assert _import(database_url, path, "high_tech_enterprise") == 0
    assert "2 to write" in capsys.readouterr().out
    assert events(session_factory, B) == []

    assert _import(database_url, path, "high_tech_enterprise", "--apply") == 0
    assert [(e.kind, e.trigger) for e in events(session_factory, B)] == [
        ("transition", "enroll"), ("side_title", "grant_side_title")]
    new = events(session_factory, B)
    assert (new[0].effective_date.isoformat(), new[0].to_state) == ("2025-03-01", "reserve")
    assert "纳入创新型中小企业后备清单" in (new[0].reason or "")
    assert _side_titles(session_factory) == [("high_tech_enterprise", "2025-03-01", "2028-02-29")] * 2

    assert _import(database_url, path, "high_tech_enterprise", "--apply") == 0
    assert "was already imported" in capsys.readouterr().out
    again = write_csv(tmp_path / "高新技术企业（重排）.csv", [(1, B, "乙公司", "", "2025-03-01", "豫科〔2025〕7号")])
    assert _import(database_url, again, "high_tech_enterprise", "--apply") == 0
    assert len(_side_titles(session_factory)) == 2  # the same title from another file: unchanged


def test_other_kinds_need_the_firm_and_one_bad_row_writes_nothing(
        database_url: str, session_factory: Factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enroll(session_factory, A, "2024-01-10")
    path = write_csv(tmp_path / "瞪羚.csv", [(1, A, "甲公司", "", "2025-03-01", "平科〔2025〕2号"),
                                              (2, C, "丙公司", "", "2025-03-01", "平科〔2025〕2号")])
    assert _import(database_url, path, "gazelle", "--apply") == 1
    assert f"no enterprise {C} in your jurisdiction" in capsys.readouterr().out
    assert _side_titles(session_factory) == []
    assert len(events(session_factory, A)) == 1


def test_a_champion_product_list_reads_the_product_column(
        database_url: str, session_factory: Factory, tmp_path: Path) -> None:
    enroll(session_factory, A, "2024-01-10")
    row = (1, A, "甲公司", "2025-11-20", "工信部产业函〔2025〕301号", "数控主轴")
    path = write_csv(tmp_path / "单项冠军产品.csv", [row],
                     header=("序号", "统一社会信用代码", "企业名称", "认定日期", "文号", "产品名称"))
    assert _import(database_url, path, "champion_product", "--apply") == 0
    with session_factory() as session:
        assert session.scalars(select(SideTitle.product)).one() == "数控主轴"


def test_the_kind_goes_with_grant_side_title_and_only_with_it() -> None:
    with pytest.raises(InvalidInput, match="needs --kind"):
        ImportOptions(action="grant_side_title")
    with pytest.raises(InvalidInput, match="needs --kind"):
        ImportOptions(action="enroll", kind="gazelle")
    assert "kind" not in ImportOptions(action="enroll").as_dict()  # earlier runs keep their option keys


def _comparable(event: Any) -> dict[str, Any]:
    """An event without what differs by door: who, when, which request, the import's file and row, the chain."""
    evidence = {k: v for k, v in event.evidence.items() if k != "import"}
    return {"kind": event.kind, "trigger": event.trigger, "from_state": event.from_state, "to_state": event.to_state,
            "effective_date": event.effective_date, "reason_code": event.reason_code, "evidence": evidence,
            "rulebook_id": event.rulebook_id, "rulebook_hash": event.rulebook_hash, "seq": event.seq}


def test_the_api_the_cli_import_and_the_api_import_record_the_same_side_title_event(
        database_url: str, session_factory: Factory, tmp_path: Path) -> None:
    for uscc in (A, B, C):
        enroll(session_factory, uscc, "2024-01-10")
        fire(session_factory, uscc, "recognize_innovative", "2024-02-01")
    with unit_of_work(session_factory) as session:
        service.grant(session, A, kind="champion_enterprise", granted_on=dt.date(2025, 3, 1),
                      document_no="工信部产业函〔2025〕300号", actor=CITY)
    rows = [(1, B, "乙公司", "", "2025-03-01", "工信部产业函〔2025〕300号")]
    assert _import(database_url, write_csv(tmp_path / "冠军.csv", rows), "champion_enterprise", "--apply") == 0
    app = create_app(database_url)
    with TestClient(app) as client, unit_of_work(app.state.session_factory) as session:
        token = add_principal(session, name="admin", role="admin", level=None, region_code=None, grants=[],
                              created_by="cli:test").token
    path = write_csv(tmp_path / "冠军2.csv", [(1, C, "丙公司", "", "2025-03-01", "工信部产业函〔2025〕300号")])
    with TestClient(app) as client, path.open("rb") as stream:
        response = client.post("/api/v1/imports", headers={"Authorization": f"Bearer {token}"},
                               files={"file": (path.name, stream)},
                               data={"action": "grant_side_title", "kind": "champion_enterprise", "dry_run": "false"})
        assert response.status_code == 200, response.text
    api, cli, api_import = (events(session_factory, uscc)[-1] for uscc in (A, B, C))
    assert _comparable(api) == _comparable(cli) == _comparable(api_import)
    assert api.evidence["kind_label"] == "制造业单项冠军企业"
    assert "import" in cli.evidence
    assert "import" in api_import.evidence
