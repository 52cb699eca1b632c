"""The role-fitted firm page: only this user's actions, refusals folded, destructive actions confirmed with the
tier the lifecycle's decision function computes, 更正 within the window (the voided event struck through),
and the firm's own forms: details, annual filings, change reports."""

from __future__ import annotations

import datetime as dt
import re

from api_support import SHANGJIE, Caller, event_count
from console_support import csrf_of, sign_in
from fastapi.testclient import TestClient
from helpers import enroll, fire, load, make_uscc
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today

FIRM = make_uscc(SHANGJIE, 21)


def _national(factory: sessionmaker[Session]) -> None:
    today = business_today()
    start = today.replace(year=today.year - 2)
    enroll(factory, FIRM, start - dt.timedelta(days=30), name="上街精密制造有限公司")
    fire(factory, FIRM, "recognize_innovative", start)
    fire(factory, FIRM, "recognize_provincial", start + dt.timedelta(days=1))
    fire(factory, FIRM, "recognize_national", start + dt.timedelta(days=2))


def test_demotion_is_confirmed_with_the_kernels_tier_then_voided_within_the_window(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _national(api_sessions)
    csrf = sign_in(client, city)
    page = client.get(f"/console/enterprises/{FIRM}").text
    danger = page.split('class="danger-zone"')[1].split("</div>")[0]
    assert {"demote", "revoke", "remove"} == set(re.findall(r'data-trigger="(\w+)"', danger))
    assert "<details class=\"why-not\">" in page  # refusals folded

    url = f"/console/enterprises/{FIRM}/transitions/demote"
    data = {"csrf_token": csrf, "effective_date": business_today().isoformat(), "reason_code": "failed_review",
            "reason": "复核未通过", "document_no": "郑工信〔2026〕9号",
            "version": str(load(api_sessions, FIRM).version)}
    preview = client.post(url, data=data)
    assert preview.status_code == 200
    shown = re.search(r'id="resulting-tier" data-state="(\w+)"', preview.text)
    assert shown is not None
    assert event_count(api_sessions, FIRM) == 4  # a dry run writes nothing
    done = client.post(url, data={**data, "confirm": "yes"}, follow_redirects=False)
    assert done.status_code == 303
    assert load(api_sessions, FIRM).state == shown.group(1) == "provincial"

    firm = client.get(f"/console/enterprises/{FIRM}").text
    assert f'href="/console/enterprises/{FIRM}/events/5/correct"' in firm
    voided = client.post(f"/console/enterprises/{FIRM}/events/5/correct",
                         data={"csrf_token": csrf, "reason": "误操作"}, follow_redirects=False)
    assert voided.status_code == 303
    firm = client.get(f"/console/enterprises/{FIRM}").text
    assert re.search(r'<tr id="event-5" class="[^"]*voided', firm)
    assert 'href="#event-6">更正 #6</a>作废' in firm
    assert load(api_sessions, FIRM).state == "national"


def test_a_district_sees_only_its_actions_and_edits_files_and_reports(
    client: TestClient, district: Caller, auditor: Caller, api_sessions: sessionmaker[Session],
) -> None:
    _national(api_sessions)
    csrf = sign_in(client, district)
    page = client.get(f"/console/enterprises/{FIRM}").text
    assert "recognize_" not in page  # the city recognises: never offered to a district, not even as a refusal
    assert 'data-trigger="demote"' not in page

    assert client.post(f"/console/enterprises/{FIRM}/edit", data={
        "csrf_token": csrf, "name": "上街精密制造股份有限公司", "region_code": SHANGJIE, "reason": "更名"},
        follow_redirects=False).status_code == 303
    assert load(api_sessions, FIRM).name == "上街精密制造股份有限公司"
    year = business_today().year - 1
    assert client.post(f"/console/enterprises/{FIRM}/filings", data={
        "csrf_token": csrf, "year": str(year), "filed_on": business_today().isoformat()},
        follow_redirects=False).status_code == 303
    late = client.post(f"/console/enterprises/{FIRM}/changes", data={
        "csrf_token": csrf, "kind": "foreign_branch", "occurred_on": "2020-01-01", "detail": "设立新加坡子公司"})
    assert late.status_code == 200  # followed to the firm page
    assert "设立境外分支机构" in late.text
    refused = client.post(f"/console/enterprises/{FIRM}/filings", data={
        "csrf_token": csrf, "year": "abc", "filed_on": ""})
    assert refused.status_code == 422
    assert 'value="abc"' in refused.text  # the typed form is kept
    assert event_count(api_sessions, FIRM) == 7

    client.post("/console/logout", data={"csrf_token": csrf_of(client.get("/console").text)})
    sign_in(client, auditor)
    firm = client.get(f"/console/enterprises/{FIRM}").text
    assert "actions-panel" not in firm
    assert client.get("/console/imports").status_code == 403
