"""Every read an auditor makes through the console (firm page, history, audit search, exports) goes to the
same read log as the API's reads, and `GET /api/v1/audit/reads` shows it; officials' pages are not logged."""

from __future__ import annotations

from api_support import SHANGJIE, Caller, enroll, make_uscc
from console_support import sign_in
from fastapi.testclient import TestClient

FIRM = make_uscc(SHANGJIE, 71)


def _reads(client: TestClient, caller: Caller) -> list[dict[str, object]]:
    response = client.get("/api/v1/audit/reads", headers=caller.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return [item for item in items if str(item["route"]).startswith("/console")]


def test_an_auditors_console_reads_appear_in_the_read_log(client: TestClient, city: Caller, auditor: Caller) -> None:
    enroll(client, city, FIRM)
    sign_in(client, auditor)
    assert client.get(f"/console/enterprises/{FIRM}").status_code == 200
    assert client.get(f"/console/enterprises/{FIRM}/history").status_code == 200
    assert client.get(f"/console/audit?uscc={FIRM}").status_code == 200
    export = client.get(f"/console/audit/export.csv?uscc={FIRM}")
    assert export.status_code == 200
    assert FIRM in export.text

    logged = _reads(client, auditor)
    by_route = {str(item["route"]): item for item in logged}
    assert set(by_route) >= {"/console/enterprises/{uscc}", "/console/enterprises/{uscc}/history",
                             "/console/audit", "/console/audit/export.{fmt}"}
    assert by_route["/console/enterprises/{uscc}"]["uscc"] == FIRM
    assert by_route["/console/enterprises/{uscc}/history"]["uscc"] == FIRM
    assert by_route["/console/audit"]["query"] == f"uscc={FIRM}"
    assert by_route["/console/audit/export.{fmt}"]["query"] == f"uscc={FIRM}"
    assert all(item["actor"] == auditor.id for item in logged)


def test_a_console_read_by_an_auditor_is_logged_once_per_page(client: TestClient, city: Caller,
                                                               auditor: Caller) -> None:
    enroll(client, city, FIRM)
    sign_in(client, auditor)
    before = len(_reads(client, auditor))
    client.get(f"/console/enterprises/{FIRM}/history")
    assert len(_reads(client, auditor)) == before + 1


def test_officials_console_pages_are_not_logged(client: TestClient, city: Caller, auditor: Caller,
                                               admin: Caller) -> None:
    enroll(client, city, FIRM)
    sign_in(client, city)
    assert client.get(f"/console/enterprises/{FIRM}").status_code == 200
    everyone = client.get("/api/v1/audit/reads", headers=admin.headers).json()["items"]
    assert [item for item in everyone if item["actor"] == city.id] == []
