"""An official's round trip in a real browser: sign in, find a firm, recognise it with evidence, be refused
an illegal trigger with the server's own message, read the history with its verified hash chain, and import a
list (dry run, then apply)."""

from __future__ import annotations

import re
from collections.abc import Callable

from console_e2e import GAOXIN_FIRM, SANMENXIA_FIRM, SHANGJIE_FIRM, LiveServer, sign_in
from helpers import make_uscc
from playwright.sync_api import Page, expect

IMPORTED_FIRM = make_uscc("410106", 201)


def test_official_recognises_a_firm_and_is_refused_an_illegal_trigger(
    page: Page, live_server: LiveServer, shot: Callable[[str], None],
) -> None:
    page.goto(live_server.url + "/console")
    shot("01-login")
    sign_in(page, live_server)

    # the pipeline: counts of the jurisdiction only (三门峡's firm is not counted), and the title due soon
    expect(page.locator('td[data-state="reserve"]')).to_have_text("1")
    expect(page.locator('td[data-state="national"]')).to_have_text("1")
    expect(page.locator("table.due")).to_contain_text("郑州高新智能装备股份有限公司")
    shot("02-pipeline")

    # find a firm; a firm outside the jurisdiction is never listed
    page.get_by_role("link", name="企业查询", exact=True).click()
    expect(page.locator("table.firms")).not_to_contain_text(SANMENXIA_FIRM)
    page.get_by_label("名称或信用代码").fill("精密")
    page.get_by_role("button", name="查询").click()
    expect(page.locator("table.firms tbody tr")).to_have_count(1)
    shot("03-search")
    page.get_by_role("link", name="郑州上街精密制造有限公司").click()
    expect(page.locator("#firm-state")).to_have_attribute("data-state", "reserve")
    refused = page.locator('li.refused[data-trigger="recognize_provincial"]')
    expect(refused).to_contain_text("不允许")
    shot("04-firm-reserve")

    # recognise it, with the decision's document number as evidence
    page.locator('li.allowed[data-trigger="recognize_innovative"] a').click()
    expect(page.get_by_label("批次")).to_be_visible()
    page.get_by_label("文号").fill("郑工信企业〔2025〕12号")
    shot("05-transition-form")
    page.get_by_role("button", name="提交").click()
    expect(page.locator("#firm-state")).to_have_attribute("data-state", "innovative")
    expect(page.locator(".notice")).to_contain_text("已记录事件 #2")
    expect(page.locator("#event-2")).to_contain_text("郑工信企业〔2025〕12号")
    expect(page.locator("svg.timeline rect.held")).to_have_count(1)
    shot("06-firm-recognised")

    # an illegal trigger: the form warns, and the server's problem message is shown on submission
    page.goto(f"{live_server.url}/console/enterprises/{SHANGJIE_FIRM}/transitions/recognize_national")
    expect(page.locator(".warn-box")).to_contain_text("不允许")
    page.get_by_label("文号").fill("工信厅企业函〔2025〕190号")
    page.get_by_role("button", name="提交").click()
    problem = page.locator(".problem")
    expect(problem).to_have_attribute("data-problem", "illegal-transition")
    expect(problem).to_contain_text("当前状态不允许该操作")
    expect(problem).not_to_contain_text("allowed from here")  # the console speaks Chinese only
    shot("07-refused")
    page.goto(f"{live_server.url}/console/enterprises/{SHANGJIE_FIRM}")
    expect(page.locator("#firm-state")).to_have_attribute("data-state", "innovative")  # nothing was written

    # the history, with every hash recomputed
    page.get_by_role("link", name="完整审计视图（含哈希）").click()
    expect(page.locator(".chain")).to_have_attribute("data-chain-ok", "true")
    expect(page.locator("table.events tbody tr")).to_have_count(2)
    shot("08-history")

    # import a list: the dry run reports row by row and writes nothing; then apply it
    page.get_by_role("link", name="名单导入", exact=True).click()
    page.get_by_label("名单文件").set_input_files(files=[{
        "name": "上街区2026年培育库.csv", "mimeType": "text/csv",
        "buffer": f"统一社会信用代码,企业名称,纳入日期\n{IMPORTED_FIRM},郑州上街新材料科技有限公司,2026-01-05\n"
                  .encode(),
    }])
    page.get_by_label("导入类型").select_option("enroll")
    page.get_by_role("button", name="预演").click()
    expect(page.locator("table.report tbody tr")).to_have_count(1)
    expect(page.locator("table.report")).to_contain_text("可导入")
    expect(page.locator(".summary")).to_have_attribute("data-applied", "false")
    shot("09-import-dry-run")
    page.get_by_role("button", name=re.compile("确认导入")).click()
    expect(page.locator(".summary")).to_have_attribute("data-applied", "true")
    shot("10-import-applied")
    page.goto(f"{live_server.url}/console/enterprises/{IMPORTED_FIRM}")
    expect(page.locator("#firm-state")).to_have_attribute("data-state", "reserve")

    page.get_by_role("link", name="状态机", exact=True).click()
    expect(page.locator("svg.machine")).to_be_visible()
    shot("11-machine")
    page.goto(f"{live_server.url}/console/enterprises/{GAOXIN_FIRM}")
    shot("12-firm-national")
