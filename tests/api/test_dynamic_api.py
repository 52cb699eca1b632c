"""The dynamic-management routes: sweep, re-review worklist, filings and change reports, batches."""

from __future__ import annotations

from typing import Any

from api_support import Caller, assert_problem, enroll, event_count, fire, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.dates import business_today

DM = "/api/v1/dynamic-management"
ENT = "/api/v1/enterprises"


def innovative(client: TestClient, admin: Caller, uscc: str, on: str, batch: str) -> None:
    enroll(client, admin, uscc, on="2021-01-04")
    fire(client, admin, uscc, "recognize_innovative", on, evidence={"batch": batch})


def test_the_sweep_dry_run_lists_what_apply_then_does_once(client: TestClient, admin: Caller,
                                                          api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 1)
    innovative(client, admin, uscc, "2022-01-10", "2022-创新-1")  # → 2025-01-09
    dry = client.post(f"{DM}/sweeps", json={"as_of": "2025-02-01"}, headers=admin.headers)
    assert dry.status_code == 200, dry.text
    assert dry.json()["applied"] is False
    assert [(i["uscc"], i["tier"], i["valid_until"], i["from_state"], i["to_state"], i["effective_date"])
            for i in dry.json()["items"]] == [(uscc, "innovative", "2025-01-09", "innovative", "reserve", "2025-01-10")]
    assert event_count(api_sessions, uscc) == 2

    applied = client.post(f"{DM}/sweeps", json={"as_of": "2025-02-01", "apply": True}, headers=admin.headers)
    assert applied.json()["by_tier"] == {"innovative": 1}
    assert applied.json()["items"][0]["seq"] == 3
    again = client.post(f"{DM}/sweeps", json={"as_of": "2025-02-01", "apply": True}, headers=admin.headers)
    assert (again.json()["events"], again.json()["items"]) == (0, [])
    assert event_count(api_sessions, uscc) == 3
    assert client.get(f"{ENT}/{uscc}", headers=admin.headers).json()["state"] == "reserve"


def test_applying_a_sweep_needs_the_expire_permission(client: TestClient, city: Caller) -> None:
    assert_problem(client.post(f"{DM}/sweeps", json={"apply": True}, headers=city.headers), 403, "forbidden")
    future = business_today().replace(year=business_today().year + 1).isoformat()
    assert_problem(client.post(f"{DM}/sweeps", json={"as_of": future}, headers=city.headers), 422,
                   "validation-error")


def _groups(response: Any) -> list[tuple[str, str | None, int, list[str]]]:
    assert response.status_code == 200, response.text
    return [(g["tier"], g["batch"], g["count"], [i["uscc"] for i in g["items"]]) for g in response.json()["groups"]]


def test_the_worklist_groups_due_titles_by_tier_and_batch_within_the_jurisdiction(
        client: TestClient, admin: Caller, city: Caller) -> None:
    a, b, c, d = (make_uscc("410106", n) for n in (11, 12, 13, 14))
    far = make_uscc("411200", 15)  # 三门峡: outside Zhengzhou
    innovative(client, admin, a, "2024-01-10", "2024-创新-1")  # → 2027-01-09
    innovative(client, admin, b, "2024-02-01", "2024-创新-1")  # → 2027-01-31
    innovative(client, admin, c, "2022-01-05", "2022-创新-1")
    fire(client, admin, c, "recognize_provincial", "2024-03-01", evidence={"batch": "2024-专精特新-1"})  # → 2027-02-28
    innovative(client, admin, d, "2025-06-01", "2025-创新-1")  # → 2028-05-31: not due
    innovative(client, admin, far, "2024-01-10", "2024-创新-1")
    filed = client.put(f"{ENT}/{a}/filings/2025", json={"filed_on": "2026-04-01"}, headers=admin.headers)
    assert filed.status_code == 200, filed.text

    due = client.get(f"{DM}/due", params={"within_days": 180}, headers=city.headers)
    assert _groups(due) == [("provincial", "2024-专精特新-1", 1, [c]), ("innovative", "2024-创新-1", 2, [a, b])]
    assert due.json()["groups"][0]["tier_label"] == "省级专精特新中小企业"
    items = {i["uscc"]: i for g in due.json()["groups"] for i in g["items"]}
    assert "annual_data_overdue" not in items[a]["flags"]  # filed 2025's data by 2026-05-31
    assert items[b]["flags"]["annual_data_overdue"] == {"year": 2025, "deadline": "2026-05-31", "filed_on": None}

    flagged = client.get(f"{DM}/due", params={"within_days": 180, "tier": "innovative",
                                              "flag": "annual_data_overdue"}, headers=city.headers)
    assert _groups(flagged) == [("innovative", "2024-创新-1", 1, [b])]
    assert _groups(client.get(f"{DM}/due", params={"within_days": 50}, headers=city.headers)) == [
        ("innovative", "2024-创新-1", 1, [a])]
    assert len(_groups(client.get(f"{DM}/due", headers=admin.headers))) == 2
    assert sum(g[2] for g in _groups(client.get(f"{DM}/due", headers=admin.headers))) == 4  # + 三门峡
    assert_problem(client.get(f"{DM}/due", params={"flag": "nonsense"}, headers=city.headers), 422,
                   "validation-error")


def test_a_late_filing_keeps_the_flag_and_the_filing_is_an_audited_event(
        client: TestClient, admin: Caller, api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 21)
    innovative(client, admin, uscc, "2024-01-10", "2024-创新-1")
    before = event_count(api_sessions, uscc)
    late = client.put(f"{ENT}/{uscc}/filings/2025", json={"filed_on": "2026-06-10"}, headers=admin.headers)
    assert late.status_code == 200, late.text
    body = late.json()
    assert (body["deadline"], body["on_time"]) == ("2026-05-31", False)
    assert body["event"]["kind"] == "amendment"
    assert body["event"]["evidence"]["annual_filing"]["year"] == 2025
    assert body["flags"]["annual_data_overdue"]["filed_on"] == "2026-06-10"
    repeat = client.put(f"{ENT}/{uscc}/filings/2025", json={"filed_on": "2026-06-10"}, headers=admin.headers)
    assert repeat.json()["event"] is None
    assert event_count(api_sessions, uscc) == before + 1
    corrected = client.put(f"{ENT}/{uscc}/filings/2025", json={"filed_on": "2026-05-30"}, headers=admin.headers)
    assert "annual_data_overdue" not in corrected.json()["flags"]
    assert client.get(f"{ENT}/{uscc}", headers=admin.headers).json()["flags"] == {}
    assert_problem(client.put(f"{ENT}/{uscc}/filings/2026", json={"filed_on": "2026-05-30"},
                              headers=admin.headers), 422, "validation-error")


def test_a_change_reported_after_the_window_flags_the_firm(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 31)
    innovative(client, admin, uscc, "2024-01-10", "2024-创新-1")
    today = business_today()
    on_time = client.post(f"{ENT}/{uscc}/changes", json={"kind": "rename", "occurred_on": today.isoformat(),
                                                           "detail": "更名"}, headers=admin.headers)
    assert on_time.status_code == 201, on_time.text
    assert on_time.json()["late"] is False
    assert "late_change_report" not in on_time.json()["enterprise"]["flags"]
    late = client.post(f"{ENT}/{uscc}/changes", json={"kind": "merger", "occurred_on": "2025-01-31",
                                                        "detail": "吸收合并某公司"}, headers=admin.headers)
    assert late.json()["late"] is True
    assert late.json()["due_by"] == "2025-04-30"
    assert late.json()["event"]["evidence"]["major_change"]["kind"] == "merger"
    [flag] = client.get(f"{ENT}/{uscc}", headers=admin.headers).json()["flags"]["late_change_report"]
    assert (flag["kind"], flag["occurred_on"], flag["due_by"]) == ("merger", "2025-01-31", "2025-04-30")
    assert_problem(client.post(f"{ENT}/{uscc}/changes", json={"kind": "haircut", "occurred_on": "2025-01-31",
                                                               "detail": "x"}, headers=admin.headers),
                   422, "validation-error")


def test_moving_out_of_the_province_can_remove_the_firm_as_relocated(client: TestClient, admin: Caller) -> None:
    uscc = make_uscc("410106", 41)
    innovative(client, admin, uscc, "2024-01-10", "2024-创新-1")
    moved = client.post(f"{ENT}/{uscc}/changes", json={
        "kind": "relocation_out_of_province", "occurred_on": business_today().isoformat(), "detail": "迁至武汉",
        "remove_from_pool": True, "document_no": "郑工信〔2026〕88号"}, headers=admin.headers)
    assert moved.status_code == 201, moved.text
    removal = moved.json()["removal_event"]
    assert (removal["trigger"], removal["reason_code"], removal["to_state"]) == ("remove", "relocated", "removed")
    assert moved.json()["enterprise"]["state"] == "removed"
    assert_problem(client.post(f"{ENT}/{uscc}/changes", json={
        "kind": "rename", "occurred_on": "2025-01-01", "detail": "x", "remove_from_pool": True},
        headers=admin.headers), 422, "validation-error")


def test_an_all_or_nothing_batch_with_bad_items_writes_nothing_and_names_each(
        client: TestClient, admin: Caller, api_sessions: sessionmaker[Session]) -> None:
    good, bad = make_uscc("410106", 51), make_uscc("410106", 52)
    innovative(client, admin, good, "2024-01-10", "2024-创新-1")
    enroll(client, admin, bad, on="2024-01-05")
    demote = {"trigger": "demote", "effective_date": "2025-03-01", "reason_code": "failed_review",
              "reason": "复核未通过"}
    body = {"mode": "all_or_nothing", "items": [
        {"uscc": good, **demote}, {"uscc": bad, **demote}, {"uscc": "91410106000000000X", **demote}]}
    refused = assert_problem(client.post(f"{DM}/batches", json=body, headers=admin.headers), 422, "batch-refused")
    assert [(i["index"], i["uscc"], i["type"]) for i in refused["items"]] == [
        (1, bad, "illegal-transition"), (2, "91410106000000000X", "invalid-uscc")]
    assert event_count(api_sessions, good) == 2  # the good item was rolled back with the rest

    each = client.post(f"{DM}/batches", json={**body, "mode": "each"}, headers=admin.headers)
    assert each.status_code == 200, each.text
    assert [(r["index"], r["status"]) for r in each.json()["results"]] == [(0, "ok"), (1, "failed"), (2, "failed")]
    assert each.json()["results"][0]["event"]["to_state"] == "reserve"
    assert each.json()["results"][1]["problem"]["type"] == "/problems/illegal-transition"
    assert (each.json()["succeeded"], each.json()["failed"]) == (1, 2)
    assert event_count(api_sessions, good) == 3
