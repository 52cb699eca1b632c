"""A caller's X-Request-ID is echoed back and stored on the event it caused, so logs and audit rows meet."""

from __future__ import annotations

from api_support import BASE, Caller, enroll, make_uscc, transition_body
from fastapi.testclient import TestClient


def test_the_request_id_is_echoed_and_recorded_on_the_event(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 91)
    enroll(client, city, uscc)
    response = client.post(f"{BASE}/{uscc}/transitions", json=transition_body("recognize_innovative", "2025-02-01"),
                           headers={**city.headers, "X-Request-ID": "finance-bureau-0042"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "finance-bureau-0042"
    assert response.json()["event"]["request_id"] == "finance-bureau-0042"


def test_without_one_the_server_makes_one_up_and_records_it(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 92)
    response = enroll(client, city, uscc)
    generated = response.headers["x-request-id"]
    assert len(generated) == 32
    history = client.get(f"{BASE}/{uscc}/history", headers=city.headers).json()["items"]
    assert history[0]["request_id"] == generated
