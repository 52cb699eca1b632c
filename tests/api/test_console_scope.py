"""The console shows and does exactly what the API lets the same principal see and do."""

from __future__ import annotations

import re

from api_support import SANMENXIA, SHANGJIE, Caller, enroll, event_count, make_uscc
from console_support import sign_in
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

FIRM = make_uscc(SHANGJIE, 7)
ELSEWHERE = make_uscc(SANMENXIA, 8)


def test_a_firm_outside_the_jurisdiction_is_not_found(client: TestClient, city: Caller, admin: Caller) -> None:
    enroll(client, admin, ELSEWHERE, name="三门峡某企业")
    sign_in(client, city)
    assert "三门峡某企业" not in client.get("/console/enterprises").text
    response = client.get(f"/console/enterprises/{ELSEWHERE}")
    assert response.status_code == 404
    assert "三门峡某企业" not in response.text


def test_funnel_counts_only_the_jurisdiction(client: TestClient, city: Caller, admin: Caller) -> None:
    enroll(client, admin, FIRM)
    enroll(client, admin, ELSEWHERE)
    sign_in(client, city)
    page = client.get("/console").text
    assert re.search(r'data-state="reserve">1<', page)


def test_an_auditor_sees_no_open_trigger_and_cannot_post_one(
    client: TestClient, auditor: Caller, admin: Caller, api_sessions: sessionmaker[Session],
) -> None:
    enroll(client, admin, FIRM)
    csrf = sign_in(client, auditor)
    page = client.get(f"/console/enterprises/{FIRM}").text
    assert 'class="allowed"' not in page
    assert "审计人员只读" in page
    response = client.post(f"/console/enterprises/{FIRM}/transitions/remove",
                           data={"csrf_token": csrf, "effective_date": "2025-02-01", "reason_code": "relocated"})
    assert response.status_code == 403
    assert "审计人员只读" in response.text
    assert event_count(api_sessions, FIRM) == 1


def test_a_refused_transition_shows_the_problem_and_writes_nothing(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    enroll(client, city, FIRM)
    csrf = sign_in(client, city)
    form = client.get(f"/console/enterprises/{FIRM}/transitions/recognize_innovative").text
    assert 'name="document_no"' in form
    assert 'name="batch"' in form
    assert 'name="reason_code"' not in form
    response = client.post(f"/console/enterprises/{FIRM}/transitions/recognize_innovative",
                           data={"csrf_token": csrf, "effective_date": "2025-02-01"})
    assert response.status_code == 409
    assert 'data-problem="guard-failed"' in response.text
    assert "须提供文号或批次" in response.text
    assert event_count(api_sessions, FIRM) == 1


def test_a_stale_form_is_refused_with_version_mismatch(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    enroll(client, city, FIRM)
    csrf = sign_in(client, city)
    data = {"csrf_token": csrf, "effective_date": "2025-02-01", "document_no": "豫工信〔2025〕1号", "version": "1"}
    url = f"/console/enterprises/{FIRM}/transitions/recognize_innovative"
    first = client.post(url, data=data, follow_redirects=False)
    assert first.status_code == 303
    again = client.post(url, data=data)  # a double submission of the same form
    assert again.status_code == 412
    assert event_count(api_sessions, FIRM) == 2


def test_the_form_asks_for_what_each_trigger_needs(client: TestClient, city: Caller) -> None:
    enroll(client, city, FIRM)
    sign_in(client, city)
    revoke = client.get(f"/console/enterprises/{FIRM}/transitions/revoke").text
    assert 'name="reason_code" required' in revoke
    assert "false_information" in revoke
    assert re.search(r'name="document_no"[^>]*required', revoke)
    assert re.search(r'name="reason"[^>]*required', revoke)
    remove = client.get(f"/console/enterprises/{FIRM}/transitions/remove").text
    assert "relocated" in remove
    assert 'name="document_no"' in remove  # destructive actions take the decision's 文号
    assert not re.search(r'name="document_no"[^>]*required', remove)
