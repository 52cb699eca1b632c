"""The machine as data and diagram, health probes, and problem+json for unknown routes and methods."""

from __future__ import annotations

from pathlib import Path

from api_support import BASE, Caller, assert_problem
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.main import create_app
from pipeline.db import make_engine


def test_machine_lists_states_with_labels_and_trigger_shapes(client: TestClient, auditor: Caller) -> None:
    body = client.get("/api/v1/machine", headers=auditor.headers).json()
    assert body["rulebook_id"] == "miit-2026"
    states = {state["code"]: state["label"] for state in body["states"]}
    assert states["innovative"] == "科技和创新型中小企业"
    assert set(states) == {"reserve", "innovative", "provincial", "national", "revoked", "removed"}
    shapes = {t["trigger"]: t for t in body["triggers"]}
    assert shapes["enroll"]["sources"] == [None, "removed", "revoked"]
    assert shapes["recognize_national"] == {"trigger": "recognize_national", "sources": ["provincial"],
                                            "destinations": ["national"]}


def test_machine_of_an_older_rulebook_and_an_unknown_one(client: TestClient, auditor: Caller) -> None:
    older = client.get("/api/v1/machine", headers=auditor.headers, params={"rulebook": "miit-2022"}).json()
    assert {s["code"]: s["label"] for s in older["states"]}["innovative"] == "创新型中小企业"
    body = assert_problem(client.get("/api/v1/machine", headers=auditor.headers, params={"rulebook": "miit-1999"}),
                          404, "not-found")
    assert "miit-2022" in body["detail"]


def test_diagram_is_mermaid_text(client: TestClient, auditor: Caller) -> None:
    response = client.get("/api/v1/machine/diagram", headers=auditor.headers)
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.startswith("stateDiagram-v2\n")
    assert "[*] --> reserve : enroll" in response.text
    assert "provincial --> national : recognize_national" in response.text


def test_unknown_route_is_404_problem(client: TestClient) -> None:
    body = assert_problem(client.get("/api/v1/nothing-here"), 404, "not-found")
    assert body["instance"] == "/api/v1/nothing-here"


def test_unsupported_method_is_405_problem_listing_every_allowed_method(client: TestClient, city: Caller) -> None:
    response = client.delete(BASE, headers=city.headers)
    assert_problem(response, 405, "method-not-allowed")
    assert set(response.headers["allow"].split(", ")) >= {"GET", "POST"}
    response = client.put(f"{BASE}/91410106000000001H", headers=city.headers)
    assert set(response.headers["allow"].split(", ")) >= {"GET", "PATCH"}


def test_problem_types_are_documented(client: TestClient) -> None:
    body = client.get("/problems/guard-failed").json()
    assert (body["status"], body["type"]) == (409, "/problems/guard-failed")


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    assert ready.json()["revision"] == ready.json()["head"]


def test_readyz_is_503_on_an_unmigrated_database(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:  # forget every migration, as on a database nobody upgraded
        connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()
    with TestClient(create_app(database_url)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["revision"] is None
    assert "pipeline db upgrade" in response.json()["detail"]


def test_readyz_is_503_on_an_empty_sqlite_file(tmp_path: Path) -> None:
    with TestClient(create_app(f"sqlite:///{tmp_path / 'empty.db'}")) as client:
        assert client.get("/readyz").status_code == 503


def test_readyz_is_503_when_the_database_is_unreachable() -> None:
    with TestClient(create_app("postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]
    assert client.get("/healthz").status_code == 200
