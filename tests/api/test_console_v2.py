"""Console v2 through the TestClient: one definition of 复核 everywhere, lapsed titles shown as 已过期, search and
region prefixes, Chinese exports that re-import unchanged, and a Chinese page for unknown addresses."""

from __future__ import annotations

import datetime as dt
import io
import re
from urllib.parse import unquote

import openpyxl  # type: ignore[import-untyped]
import pytest
from api_support import SANMENXIA, SHANGJIE, Caller
from console_support import csrf_of, sign_in
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers import enroll, fire, make_uscc
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from api.console import views
from pipeline.access import cli_actor
from pipeline.dates import business_today
from pipeline.db import unit_of_work
from pipeline.firms import service
from pipeline.imports import ImportFile, ImportOptions, run_import
from pipeline.models import Entitlement
from pipeline.principals.service import add_principal
from pipeline.titles import service as titles_service

DUE = make_uscc(SHANGJIE, 11)        # 小巨人 whose title ends in about two months
LAPSED = make_uscc(SHANGJIE, 12)     # 创新型 whose title ended last year and was never swept
FAR = make_uscc("410105", 13)        # 创新型 recognised this year: not due
ELSEWHERE = make_uscc(SANMENXIA, 14)  # due, but outside Zhengzhou


def _seed(factory: sessionmaker[Session]) -> None:
    today = business_today()
    start = today.replace(year=today.year - 3) + dt.timedelta(days=60)
    for uscc, name in ((DUE, "上街精密制造有限公司"), (ELSEWHERE, "三门峡新材料有限公司")):
        enroll(factory, uscc, start - dt.timedelta(days=30), name=name)
        for trigger in ("recognize_innovative", "recognize_provincial", "recognize_national"):
            fire(factory, uscc, trigger, start)
    enroll(factory, LAPSED, "2019-03-01", name="上街过期样例有限公司")
    fire(factory, LAPSED, "recognize_innovative", "2019-06-01", evidence={"document_no": "豫工信〔2019〕1号",
                                                                         "valid_until": "2022-06-01"})
    enroll(factory, FAR, today.replace(month=1, day=2), name="金水智能科技有限公司")
    fire(factory, FAR, "recognize_innovative", today.replace(month=1, day=3))


def _usccs(html: str) -> set[str]:
    return set(re.findall(r'data-uscc="([0-9A-Z]{18})"', html))


def test_review_card_list_and_api_agree_and_lapsed_titles_are_marked(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    api = client.get("/api/v1/dynamic-management/due", headers=city.headers).json()
    api_usccs = {item["uscc"] for group in api["groups"] for item in group["items"]}
    assert api_usccs == {DUE}

    sign_in(client, city)
    dashboard = client.get("/console").text
    card = re.search(r'class="card review-card" data-total="(\d+)"', dashboard)
    assert card is not None
    assert int(card.group(1)) == api["total"] == 1
    assert 'href="/console/review">查看全部' in dashboard
    review = client.get("/console/review").text
    assert _usccs(review) == api_usccs
    assert re.search(r'data-total="(\d+)"', review).group(1) == str(api["total"])  # type: ignore[union-attr]
    assert "上街过期样例有限公司" in review.split('id="lapsed"')[1]  # lapsed: listed apart, not as due

    # the funnel: the lapsed firm stands on 创新型, but its title is not a valid one
    assert re.search(r'data-state="innovative">2<', dashboard)
    assert re.search(r'data-valid="innovative">2<', dashboard)  # FAR's and DUE's (a 小巨人 holds all three)
    firm = client.get(f"/console/enterprises/{LAPSED}").text
    assert 'data-lapsed="true"' in firm
    assert "已过期" in firm
    assert 'class="title-valid"' not in firm


def test_search_region_prefixes_and_chinese_exports_that_reimport_unchanged(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    sign_in(client, city)
    # several words, full-width: every word must match the name or a USCC prefix
    found = client.get("/console/enterprises", params={"q": "９１４１０１　精密"}).text
    assert "上街精密制造有限公司" in found
    assert "金水智能科技有限公司" not in found
    assert "上街精密制造有限公司" not in client.get("/console/enterprises", params={"q": "精密 金水"}).text
    # 2-, 4- and 6-digit region prefixes
    for prefix, expected in (("41", 3), ("4101", 3), ("410105", 1)):  # 三门峡 is outside the jurisdiction
        page = client.get("/console/enterprises", params={"region": prefix}).text
        assert page.count('<td data-label="企业名称">') == expected, prefix

    response = client.get("/console/exports/roster.xlsx", params={"region": "4101"})
    assert response.status_code == 200
    disposition = response.headers["content-disposition"]
    assert unquote(disposition.split("UTF-8''")[1]) == f"称号名单-{business_today().isoformat()}.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert "层级代码" not in rows[0]
    assert "区划名称" in rows[0]
    assert all(not re.search(r"[A-Za-z]{3,}", str(v)) for row in rows for v in row if v is not None)
    assert any(isinstance(v, dt.datetime | dt.date) for v in rows[1])  # real date cells
    assert "河南省郑州市上街区" in [v for row in rows for v in row]
    with unit_of_work(api_sessions) as session:
        summary = run_import(session, ImportFile(io.BytesIO(response.content), "称号名单.xlsx"),
                             ImportOptions(action="backfill"), cli_actor("cli:test"), apply=False,
                             sink=lambda row: None)
    assert summary.rows == len(rows) - 1
    assert summary.problems == 0
    assert summary.ok == 0  # every title is already recorded: the export re-imports unchanged

    firms = client.get("/console/exports/enterprises.csv", params={"region": "410106"})
    assert "企业名单" in unquote(firms.headers["content-disposition"])
    text = firms.content.decode("utf-8-sig")
    assert "国家级专精特新" in text
    assert "状态代码" not in text


def test_unknown_console_page_amendment_evidence_and_stale_form(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    with unit_of_work(api_sessions) as session:
        service.amend(session, FAR, changes={"name": "金水智能科技股份有限公司"}, actor=cli_actor("cli:test"))
    sign_in(client, city)
    missing = client.get("/console/no/such/page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "页面不存在" in missing.text
    firm = client.get(f"/console/enterprises/{FAR}").text
    assert "企业名称</span> 金水智能科技有限公司 → 金水智能科技股份有限公司" in firm
    assert "系统管理员（命令行）" in firm
    assert "cli:test" not in firm
    stale = client.post(f"/console/enterprises/{FAR}/transitions/renew", data={"csrf_token": "old"})
    assert stale.status_code == 403
    assert "页面已过期" in stale.text


def test_city_dashboard_and_batch_review_from_the_worklist(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    csrf = sign_in(client, city)
    board = client.get("/console/dashboard").text
    assert re.search(r'<tr data-region="410106">.*?</tr>', board, re.S)
    row = re.search(r'<tr data-region="410106">(.*?)</tr>', board, re.S).group(1)  # type: ignore[union-attr]
    assert 'href="/console/enterprises?region=410106&amp;state=national">1<' in row
    assert "<svg class=\"chart bars\"" in board
    assert "<svg class=\"chart trend\"" in board
    assert "三门峡" not in board

    demote = {"csrf_token": csrf, "uscc": [DUE], "trigger": "demote", "reason_code": "failed_review",
              "reason": "复核未通过"}
    preview = client.post("/console/review/batch", data=demote)
    assert preview.status_code == 200
    assert 'data-resulting="provincial"' in preview.text
    refused = client.post("/console/review/batch", data={
        "csrf_token": csrf, "uscc": [DUE, ELSEWHERE], "trigger": "renew", "document_no": "豫工信〔2026〕5号"})
    assert refused.status_code == 409  # 三门峡's firm is not the city's: nothing of the batch is written
    assert "全部未执行" in refused.text
    assert re.search(rf'value="{DUE}"[^>]*checked', refused.text)  # the ticks are kept
    renewed = client.post("/console/review/batch", data={"csrf_token": csrf, "uscc": [DUE], "trigger": "renew",
                                                          "document_no": "豫工信〔2026〕5号"}, follow_redirects=False)
    assert renewed.status_code == 303
    assert DUE not in _usccs(client.get("/console/review").text)

    sheet = client.get("/console/review.xlsx")
    assert unquote(sheet.headers["content-disposition"].split("UTF-8''")[1]).startswith("复核清单-")
    assert openpyxl.load_workbook(io.BytesIO(sheet.content)).active.max_row == 1  # only the header is left


def test_side_titles_and_the_awards_ledger(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    today = business_today()
    with unit_of_work(api_sessions) as session:
        titles_service.grant(session, FAR, kind="high_tech_enterprise", granted_on=today - dt.timedelta(days=10),
                             document_no="豫科〔2026〕3号", actor=cli_actor("cli:test"))
    with api_sessions() as session:
        owed = session.scalars(select(Entitlement).where(Entitlement.uscc == DUE)).all()
    sign_in(client, city)
    titles = client.get("/console/titles").text
    assert 'data-kind="high_tech_enterprise">1<' in titles
    holders = client.get("/console/titles", params={"kind": "high_tech_enterprise"}).text
    assert "金水智能科技有限公司" in holders
    assert "豫科〔2026〕3号" in holders
    firm = client.get(f"/console/enterprises/{FAR}").text.split('class="side-titles cards"')[1]
    assert "豫科〔2026〕3号" in firm.split("</table>")[0]  # the firm page lists its side titles
    awards = client.get("/console/awards")
    assert awards.status_code == 200
    assert owed, "the seeded 小巨人 earns the city's award"
    for entitlement in owed:  # every entitlement of the city's firm is listed
        assert f'data-entitlement="{entitlement.id}"' in awards.text
    assert "三门峡新材料有限公司" not in awards.text


def test_audit_readable_export_speaks_chinese(client: TestClient, auditor: Caller,
                                              api_sessions: sessionmaker[Session]) -> None:
    _seed(api_sessions)
    sign_in(client, auditor)
    response = client.get("/console/audit/readable.xlsx", params={"region": "410106"})
    assert response.status_code == 200
    assert unquote(response.headers["content-disposition"].split("UTF-8''")[1]).startswith("审计事件-")
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("统一社会信用代码", "企业名称", "区划代码")
    body = rows[1:]
    assert {row[1] for row in body} == {"上街精密制造有限公司", "上街过期样例有限公司"}
    assert any(row[6] == "认定为国家级专精特新“小巨人”企业" for row in body)
    assert all(isinstance(row[5], dt.datetime | dt.date) for row in body)  # real date cells
    text = [str(v) for row in body for v in row[:-1] if v is not None]  # the hash aside
    assert not [v for v in text if re.search(r"[a-z]{3,}", v)]
    verifiable = client.get("/console/audit/export.csv", params={"region": "410106"})
    assert "可复算" in unquote(verifiable.headers["content-disposition"])


def test_a_finance_bureau_sees_the_shares_its_region_pays(
    client: TestClient, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    with api_sessions() as session:
        shares = [(e.id, s["region_code"]) for e in session.scalars(select(Entitlement)) for s in e.payers]
    payer = shares[0][1]
    with unit_of_work(api_sessions) as session:
        token = add_principal(session, name="财政局", role="finance", level=None, region_code=payer,
                              created_by="cli:test").token
    login = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_of(login.text), "token": token})
    page = client.get("/console/awards").text
    assert f'data-payer="{payer}"' in page
    assert {f'data-payer="{p}"' for _, p in shares if p != payer}.isdisjoint(set(re.findall(r'data-payer="\d+"', page)))
    nav = page.split('aria-label="主菜单"')[1].split("</nav>")[0]
    assert "/console/awards" in nav
    assert "/console/imports" not in nav


def test_malformed_requests_and_failures_get_chinese_pages(
    app: FastAPI, city: Caller, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, city)
        bad = client.get(f"/console/enterprises/{DUE}/events/abc/correct")
        assert bad.status_code == 422
        assert bad.headers["content-type"].startswith("text/html")
        assert "请求参数有误" in bad.text

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(views, "funnel", broken)
        failed = client.get("/console")
        assert failed.status_code == 500
        assert "系统内部错误" in failed.text
        assert client.get("/api/v1/enterprises/nope", headers=city.headers).headers["content-type"].startswith(
            "application/problem+json")  # the API keeps its problem documents


def test_a_province_dashboard_lists_cities_and_drills_down(
    client: TestClient, province: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    sign_in(client, province)
    board = client.get("/console/dashboard").text
    assert set(re.findall(r'<tr data-region="(\d{6})">', board)) == {"410100", "411200"}  # 郑州市, 三门峡市
    assert 'href="/console/dashboard?region=4101">郑州市</a>' in board
    city = client.get("/console/dashboard", params={"region": "4101"}).text
    assert set(re.findall(r'<tr data-region="(\d{6})">', city)) == {"410105", "410106"}
    assert "返回上一级" in city
    assert client.get("/console/dashboard", params={"region": "12"}).status_code == 422  # outside: 天津


def test_targets_vs_actual_on_the_dashboard_and_the_progress_notice(
    client: TestClient, city: Caller, auditor: Caller, integrator: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    year = business_today().year
    for region, value in (("410100", 4), ("410105", 1), ("410106", 2)):
        put = client.put(f"/api/v1/targets/{region}/{year}", headers=city.headers, json={"items": [
            {"tier": "innovative", "kind": "new", "value": value, "document_no": "郑工信企业〔2026〕4号"}]})
        assert put.status_code == 200, put.text
    sign_in(client, city)
    board = client.get("/console/dashboard").text
    targets = board.split('class="card targets-card"')[1]
    assert '<svg class="chart completion"' in targets  # 金水 1 of 1 (100%), 上街 0 of 2
    assert "100.0%" in targets
    assert "0.0%" in targets
    assert 'data-completion="total">25.0%<' in targets  # the city: FAR, 1 of 4
    page = client.get("/console/targets").text
    row = re.search(r'<tr data-region="410105">(.*?)</tr>', page, re.S).group(1)  # type: ignore[union-attr]
    assert 'data-completion="new">100.0%<' in row
    assert '<tr data-region="410106">' in page
    assert "三门峡" not in page
    sheet = client.get("/console/targets.xlsx", params={"year": year})
    assert sheet.status_code == 200
    assert unquote(sheet.headers["content-disposition"].split("UTF-8''")[1]) == f"通报-河南省郑州市-{year}年.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(sheet.content))
    assert "名额与申报" in book.sheetnames
    assert client.get("/console/targets", params={"region": "4112"}).status_code == 404  # 三门峡: not the city's

    client.cookies.clear()
    sign_in(client, auditor)
    assert 'data-completion="new">100.0%<' in client.get("/console/targets").text
    client.cookies.clear()
    sign_in(client, integrator)  # banks and other systems use the API
    refused = client.get("/console/targets")
    assert refused.status_code == 403
    assert "仅供工信部门" in refused.text
    assert "/console/targets" not in refused.text.split('aria-label="主菜单"')[1].split("</nav>")[0]


def test_rounds_recommend_within_the_quota_and_decide_by_the_roles_the_rulebook_names(
    client: TestClient, principals: dict[str, Caller], api_sessions: sessionmaker[Session],
) -> None:
    province, city, district, auditor = (principals[n] for n in ("province", "city", "district", "auditor"))
    today, year = business_today(), business_today().year
    first, second = make_uscc(SHANGJIE, 1701), make_uscc(SHANGJIE, 1702)
    for uscc, name in ((first, "上街申报一号有限公司"), (second, "上街申报二号有限公司")):
        enroll(api_sessions, uscc, today.replace(month=1, day=2), name=name)
        fire(api_sessions, uscc, "recognize_innovative", today.replace(month=1, day=3))
    assert client.put(f"/api/v1/quotas/410100/{year}/provincial", headers=city.headers,
                      json={"base": {SHANGJIE: 1}}).status_code == 200
    created = client.post("/api/v1/rounds", headers=province.headers, json={
        "tier": "provincial", "year": year, "batch": f"{year}年第一批", "opens_on": f"{year}-01-01",
        "closes_on": f"{year}-12-31", "document_no": "豫工信企业〔2026〕20号"})
    round_id = created.json()["id"]
    ids = [client.post(f"/api/v1/rounds/{round_id}/applications", headers=district.headers,
                       json={"uscc": uscc, "submitted_on": today.isoformat()}).json()["id"] for uscc in (first, second)]

    csrf = sign_in(client, city)
    assert f'href="/console/rounds/{round_id}">{year}年第一批<' in client.get("/console/rounds").text
    page = client.get(f"/console/rounds/{round_id}").text
    assert page.count("/recommend\"") == 2
    assert "/decide\"" not in page
    assert re.search(r'<tr data-region="410106">.*?data-used="0"', page, re.S)
    done = client.post(f"/console/applications/{ids[0]}/recommend", data={"csrf_token": csrf, "recommended": "yes"},
                       follow_redirects=False)
    assert done.status_code == 303
    over = client.post(f"/console/applications/{ids[1]}/recommend", data={"csrf_token": csrf, "recommended": "yes"})
    assert over.status_code == 409
    assert 'data-problem="quota-exceeded"' in over.text
    assert "推荐名额已用完" in over.text
    client.post(f"/console/applications/{ids[1]}/recommend", data={"csrf_token": csrf, "recommended": "no"})
    page = client.get(f"/console/rounds/{round_id}").text
    assert f'data-application="{ids[0]}" data-status="recommended"' in page
    assert f'data-application="{ids[1]}" data-status="not_recommended"' in page
    assert "未推荐" in page
    assert re.search(r'<tr data-region="410106">.*?data-used="1"', page, re.S)

    client.cookies.clear()
    csrf = sign_in(client, province)
    page = client.get(f"/console/rounds/{round_id}").text
    assert page.count("/decide\"") == 1
    assert "/recommend\"" not in page
    rejected = client.post(f"/console/applications/{ids[0]}/decide", follow_redirects=False, data={
        "csrf_token": csrf, "outcome": "rejected", "decided_on": today.isoformat(), "document_no": "豫工信〔2026〕60号",
        "criterion": "is_sme", "points": "5"})
    assert rejected.status_code == 303, rejected.text
    page = client.get(f"/console/rounds/{round_id}").text
    assert f'data-application="{ids[0]}" data-status="rejected"' in page
    assert "失分：符合《中小企业划型标准规定》" in page

    client.cookies.clear()
    sign_in(client, auditor)
    page = client.get(f"/console/rounds/{round_id}").text
    assert "未通过认定" in page
    assert "<form method=\"post\" action=\"/console/applications" not in page


def test_credit_on_the_firm_page_the_white_list_and_the_report(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    today = business_today()
    with unit_of_work(api_sessions) as session:
        bank = add_principal(session, name="郑州银行", role="integrator", level=None, region_code="410000",
                             grants=["record_loan"], created_by="cli:test").token
    loan = client.post(f"/api/v1/enterprises/{DUE}/loans", headers={"Authorization": f"Bearer {bank}"}, json={
        "bank": "郑州银行", "product": "专精特新贷", "contract_no": "ZZB-2026-0001", "amount_yuan": 3_000_000,
        "signed_on": (today - dt.timedelta(days=20)).isoformat(),
        "matures_on": (today + dt.timedelta(days=300)).isoformat(), "secured": False})
    assert loan.status_code == 201, loan.text
    sign_in(client, city)
    firm = client.get(f"/console/enterprises/{DUE}").text.split('id="credit"')[1].split("</section>")[0]
    assert 'data-whitelisted="yes"' in firm
    assert "ZZB-2026-0001" in firm
    assert "3,000,000" in firm
    assert "依据：" in firm
    assert " — " not in firm
    page = client.get("/console/credit").text
    assert f'<tr data-uscc="{DUE}">' in page
    assert f'<tr data-uscc="{FAR}">' not in page
    national = re.search(r'<tr data-tier="national">(.*?)</tr>', page, re.S).group(1)  # type: ignore[union-attr]
    assert "3,000,000" in national
    sheet = client.get("/console/credit/whitelist.xlsx")
    assert unquote(sheet.headers["content-disposition"].split("UTF-8''")[1]).startswith("银行白名单-")
    rows = list(openpyxl.load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][:5] == ("序号", "统一社会信用代码", "企业名称", "区划代码", "区划名称")
    assert rows[1][1:5] == (DUE, "上街精密制造有限公司", "410106", "河南省郑州市上街区")
    assert isinstance(rows[1][6], dt.datetime | dt.date)

    client.cookies.clear()
    login = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_of(login.text), "token": bank})
    assert client.get("/console/credit").status_code == 403  # banks use the API


def test_awards_approved_by_the_payers_officials_and_paid_by_its_finance_bureau(
    client: TestClient, city: Caller, auditor: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _seed(api_sessions)
    with api_sessions() as session:
        shares = [(e.id, s["region_code"]) for e in session.scalars(select(Entitlement).where(Entitlement.uscc == DUE))
                  for s in e.payers]
    entitlement, payer = next((i, r) for i, r in shares if r.startswith("4101"))  # the city's or 上街's share
    sign_in(client, auditor)
    assert "/approve\"" not in client.get("/console/awards").text  # auditors read only
    client.cookies.clear()
    csrf = sign_in(client, city)
    page = client.get("/console/awards").text
    assert f'action="/console/awards/{entitlement}/approve"' in page
    assert "/pay\"" not in page  # paying is the finance bureau's
    approved = client.post(f"/console/awards/{entitlement}/approve", data={"csrf_token": csrf},
                           follow_redirects=False)
    assert approved.status_code == 303
    row = client.get("/console/awards").text.split(f'data-entitlement="{entitlement}"')[1].split("</tr>")[0]
    assert "已审批待拨付" in row
    again = client.post(f"/console/awards/{entitlement}/approve", data={"csrf_token": csrf})
    assert again.status_code in (403, 409)  # nothing left that this official may approve
    assert 'data-problem="' in again.text

    client.cookies.clear()
    with unit_of_work(api_sessions) as session:
        token = add_principal(session, name="上街区财政局", role="finance", level=None, region_code=payer,
                              created_by="cli:test").token
    login = client.get("/console/login")
    client.post("/console/login", data={"csrf_token": csrf_of(login.text), "token": token})
    page = client.get("/console/awards").text
    assert f'action="/console/awards/{entitlement}/pay"' in page
    assert "/approve\"" not in page
    csrf = csrf_of(page)
    missing = client.post(f"/console/awards/{entitlement}/pay", data={"csrf_token": csrf, "paid_on": "",
                                                                      "document_no": ""})
    assert missing.status_code == 422
    paid = client.post(f"/console/awards/{entitlement}/pay", follow_redirects=False, data={
        "csrf_token": csrf, "paid_on": business_today().isoformat(), "document_no": "上财〔2026〕8号"})
    assert paid.status_code == 303
    row = client.get("/console/awards").text.split(f'data-entitlement="{entitlement}"')[1].split("</tr>")[0]
    assert "已拨付" in row
