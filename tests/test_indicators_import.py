"""`pipeline indicators import`: Chinese headers and units, dry run by default, all or nothing with --apply."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers import Factory, enroll, events, make_uscc
from sqlalchemy import select

from pipeline.cli import main
from pipeline.eligibility.engine import indicator_catalogue
from pipeline.eligibility.indicators import header_map
from pipeline.models import Enterprise
from pipeline.models.dynamic import AnnualFiling

A, B = make_uscc("410106", 81), make_uscc("410106", 82)
HEADER = ["序号", "统一社会信用代码", "企业名称", "年度", "营业收入（万元）", "研发费用（万元）", "资产负债率",
          "研发人员占比（%）", "战略性新兴产业", "研发机构级别", "荣誉与认证", "备注"]


def write(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["2025年度企业指标数据（上街区）"])  # a title row above the header
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def stored(factory: Factory, uscc: str, year: int) -> dict[str, object] | None:
    with factory() as session:
        firm_id = session.scalars(select(Enterprise.id).where(Enterprise.uscc == uscc)).one()
        return session.scalars(select(AnnualFiling.indicators).where(
            AnnualFiling.enterprise_id == firm_id, AnnualFiling.year == year)).one_or_none()


def test_dry_run_then_apply_converts_units_and_labels(database_url: str, session_factory: Factory, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    enroll(session_factory, A, "2025-01-10")
    enroll(session_factory, B, "2025-01-10")
    path = write(tmp_path / "指标.csv", [
        [1, A, "甲公司", "2025", "4,800", "192", "60%", "25", "是", "市级研发机构", "相关管理体系认证、高新技术企业",
         ""],
        [2, B, "乙公司", "2025年", "1200.5", "", "0.4", "", "否", "none", "", "研发费用待核"],
    ])
    db = ["--database-url", database_url]
    assert main([*db, "indicators", "import", str(path)]) == 0
    assert "dry run, nothing written: 2 rows: 2 to write" in capsys.readouterr().out
    assert stored(session_factory, A, 2025) is None

    assert main([*db, "indicators", "import", str(path), "--apply"]) == 0
    assert "2 rows: 2 to write, 0 unchanged, 0 with problems; 2 events" in capsys.readouterr().out
    assert stored(session_factory, A, 2025) == {
        "revenue": 48_000_000.0, "rd_spend": 1_920_000.0, "debt_ratio": 0.6, "rd_staff_share": 0.25,
        "strategic_emerging_field": True, "rd_institution_level": "municipal",
        "certifications": ["high_tech_enterprise", "management_system"]}
    assert stored(session_factory, B, 2025) == {"revenue": 12_005_000.0, "debt_ratio": 0.4,
                                                "strategic_emerging_field": False, "rd_institution_level": "none"}
    last = events(session_factory, A)[-1]
    assert last.kind == "amendment"
    assert last.evidence["indicators"]["changes"]["revenue"]["to"] == 48_000_000.0

    assert main([*db, "indicators", "import", str(path), "--apply"]) == 0  # the same file again: no change
    assert "0 to write, 2 unchanged" in capsys.readouterr().out


def test_one_bad_row_writes_nothing_and_names_the_problem(database_url: str, session_factory: Factory,
                                                          tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    enroll(session_factory, A, "2025-01-10")
    path = write(tmp_path / "指标.csv", [
        [1, A, "甲公司", "2025", "4800", "", "0.5", "", "", "", "", ""],
        [2, A[:-1] + ("0" if A[-1] != "0" else "1"), "坏代码", "2025", "1", "", "", "", "", "", "", ""],
        [3, B, "未入库", "2025", "1", "", "", "", "", "", "", ""],
        [4, A, "甲公司", "2024", "1", "", "", "150", "", "", "", ""],
        [5, A, "甲公司", "2024", "1", "", "", "", "也许", "", "", ""],
    ])
    assert main(["--database-url", database_url, "indicators", "import", str(path), "--apply"]) == 1
    out = capsys.readouterr().out
    assert "row 4: " in out
    assert "check character 18" in out
    assert "row 5: " in out
    assert "no enterprise" in out
    assert "row 6: " in out
    assert "rd_staff_share" in out
    assert "row 7: " in out
    assert "yes or no" in out
    assert "nothing written: 5 rows: 1 to write" in out
    assert stored(session_factory, A, 2025) is None


def test_every_header_maps_to_an_indicator_of_the_catalogue() -> None:
    targets = set(header_map().index.values())
    assert targets - {"uscc", "year", "name"} <= set(indicator_catalogue())
    assert {"revenue", "main_business_revenue", "rd_spend", "debt_ratio"} <= targets
    assert header_map().index["营业收入"] == "revenue"
