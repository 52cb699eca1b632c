"""An auditor in a real browser: reads a firm without any open trigger, searches the audit events of the
jurisdiction with filters, and downloads the CSV export."""

from __future__ import annotations

from collections.abc import Callable

from console_e2e import GAOXIN_FIRM, SANMENXIA_FIRM, LiveServer, sign_in
from playwright.sync_api import Page, expect


def test_auditor_searches_and_exports_events(page: Page, live_server: LiveServer, shot: Callable[[str], None]) -> None:
    sign_in(page, live_server, role="auditor")
    page.goto(f"{live_server.url}/console/enterprises/{GAOXIN_FIRM}")
    expect(page.locator("li.allowed")).to_have_count(0)
    expect(page.locator(".read-only")).to_contain_text("审计人员只读")  # no action panel at all
    expect(page.get_by_role("link", name="名单导入")).to_have_count(0)

    page.get_by_role("link", name="审计查询", exact=True).click()
    expect(page.locator("table.audit")).not_to_contain_text(SANMENXIA_FIRM)
    page.locator("select[name=trigger]").select_option("recognize_national")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("table.audit tbody tr")).to_have_count(1)
    expect(page.locator("table.audit")).to_contain_text(GAOXIN_FIRM)
    shot("13-audit-search")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="导出 CSV").click()
    exported = download_info.value.path().read_text(encoding="utf-8-sig")
    lines = exported.strip().splitlines()
    assert len(lines) == 2  # the header and the one matching event
    assert GAOXIN_FIRM in lines[1]
    assert "recognize_national" in lines[1]
