"""Request and response bodies of /api/v1/imports and the exports."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ImportRowOut(BaseModel):
    row: int = Field(description="行号 — the row number as the spreadsheet shows it")
    uscc: str
    name: str
    status: Literal["ok", "unchanged", "problem"]
    outcome: str = Field(description="处理 — what the row does (or would do), e.g. `enroll → reserve (2025-01-10)`")
    problem: str | None = Field(description="问题 — why the row cannot be applied")


class ImportReportOut(BaseModel):
    """导入报告 — the row-by-row report of an import (a dry run unless `dry_run=false`)."""

    model_config = {"json_schema_extra": {"examples": [{
        "file_name": "2025年上街区培育库.xlsx", "file_sha256": "9f2c…", "action": "enroll",
        "options": {"batch": None, "document_no": None, "effective_date": "2025-03-01", "map": []},
        "dry_run": True, "applied": False, "already_imported_by": None, "run_id": None, "rows": 2, "ok": 1,
        "unchanged": 0, "problems": 1, "events": 1, "ignored_headers": [],
        "items": [
            {"row": 3, "uscc": "91410106MA44PB8G3D", "name": "郑州上街精密制造有限公司", "status": "ok",
             "outcome": "enroll → reserve (2025-03-01)", "problem": None},
            {"row": 4, "uscc": "91410106MA44PB8G30", "name": "某某公司", "status": "problem", "outcome": "—",
             "problem": "第18位校验码应为'D'，实为'0' — check character 18 of … is '0', expected 'D'"},
        ]}]}}

    file_name: str
    file_sha256: str
    action: str
    options: dict[str, Any]
    dry_run: bool
    applied: bool = Field(description="true when this request wrote the file's events")
    already_imported_by: int | None = Field(description="the earlier run that imported this very file")
    run_id: int | None
    rows: int
    ok: int
    unchanged: int
    entitlements: int = Field(0, description="按政策包生成的应享记录数（见 awards） — entitlements derived for the "
                                            "imported history (see `awards`)")
    problems: int
    events: int
    ignored_headers: list[str]
    items: list[ImportRowOut]
