"""Anchors over the API are signed: `GET /api/v1/audit/anchors/{id}` returns the signature, the public key id
and the signed fields; with no key configured, creating one answers 409 `anchor-key-missing` and writes
nothing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import rfc8785
from api_support import SHANGJIE, Caller, assert_problem, enroll, make_uscc
from fastapi.testclient import TestClient

from pipeline.history.anchor_signing import KEY_ENV, generate, load_public_key

ANCHORS = "/api/v1/audit/anchors"


@pytest.fixture
def public_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    private = tmp_path / "anchor.key"
    public_path, _, key_id = generate(private)
    monkeypatch.setenv(KEY_ENV, str(private))
    return public_path, key_id


def test_an_anchor_carries_a_signature_that_the_public_key_checks(
    client: TestClient, city: Caller, admin: Caller, auditor: Caller, public_key: tuple[Path, str],
) -> None:
    public_path, key_id = public_key
    enroll(client, city, make_uscc(SHANGJIE, 91))
    created = client.post(ANCHORS, json={"note": "季度审计"}, headers=admin.headers)
    assert created.status_code == 201, created.text
    anchor_id = created.json()["id"]
    shown = client.get(f"{ANCHORS}/{anchor_id}", headers=auditor.headers)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body == created.json()
    assert (body["public_key_id"], body["signature_algorithm"]) == (key_id, "Ed25519")
    signed = body["signed"]
    assert signed == {"id": anchor_id, "digest": body["digest"], "firms": 1, "events": 1,
                      "created_at": signed["created_at"]}
    assert signed["created_at"].startswith(body["created_at"][:19])
    load_public_key(public_path).verify(base64.b64decode(body["signature"]), rfc8785.dumps(signed))
    assert body in client.get(ANCHORS, headers=auditor.headers).json()["items"]


def test_without_a_key_creating_an_anchor_is_409_and_writes_nothing(
    client: TestClient, admin: Caller, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    body = assert_problem(client.post(ANCHORS, json={}, headers=admin.headers), 409, "anchor-key-missing")
    assert KEY_ENV in body["detail"]
    assert client.get(ANCHORS, headers=admin.headers).json()["items"] == []
    assert client.get("/problems/anchor-key-missing").json()["status"] == 409


def test_an_unknown_anchor_is_404(client: TestClient, auditor: Caller) -> None:
    assert_problem(client.get(f"{ANCHORS}/12345", headers=auditor.headers), 404, "not-found")
