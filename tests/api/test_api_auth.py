"""Bearer tokens: none, unknown or revoked → 401 problem with WWW-Authenticate; health needs none."""

from __future__ import annotations

import pytest
from api_support import BASE, Caller, assert_problem, enroll, make_uscc
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from pipeline.db import unit_of_work
from pipeline.principals.service import revoke_principal

ROUTES = [
    ("GET", BASE, None),
    ("POST", BASE, {"uscc": make_uscc("410106", 1), "name": "x"}),
    ("GET", f"{BASE}/{make_uscc('410106', 1)}", None),
    ("PATCH", f"{BASE}/{make_uscc('410106', 1)}", {"name": "y"}),
    ("POST", f"{BASE}/{make_uscc('410106', 1)}/transitions", {"trigger": "remove", "effective_date": "2025-01-01"}),
    ("GET", f"{BASE}/{make_uscc('410106', 1)}/history", None),
    ("GET", "/api/v1/machine", None),
    ("GET", "/api/v1/machine/diagram", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_every_api_route_needs_a_bearer_token(client: TestClient, method: str, path: str,
                                              body: dict[str, str] | None) -> None:
    response = client.request(method, path, json=body)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("authorization", ["Bearer zjtx_not-a-real-token", "Basic dXNlcjpwYXNz", "Bearer ", "zjtx_x"])
def test_unknown_or_malformed_credentials_are_401(client: TestClient, authorization: str) -> None:
    response = client.get(BASE, headers={"Authorization": authorization})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_token_stops_working(client: TestClient, city: Caller,
                                       api_sessions: sessionmaker[Session]) -> None:
    uscc = make_uscc("410106", 2)
    enroll(client, city, uscc)
    with unit_of_work(api_sessions) as session:
        revoke_principal(session, city.id)
    response = client.get(f"{BASE}/{uscc}", headers=city.headers)
    assert_problem(response, 401, "unauthorized")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_the_event_actor_is_the_principal(client: TestClient, city: Caller) -> None:
    uscc = make_uscc("410106", 3)
    enroll(client, city, uscc)
    history = client.get(f"{BASE}/{uscc}/history", headers=city.headers).json()
    assert history["items"][0]["actor"] == city.id


def test_health_routes_need_no_token(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_openapi_declares_the_bearer_scheme(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": document["components"]["securitySchemes"]["bearer"][
            "description"]}
    assert {"bearer": []} in document["paths"]["/api/v1/enterprises"]["get"]["security"]
