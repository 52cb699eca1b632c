"""Signing out of the console ends the session on the server: a copy of the cookie taken before sign-out is
sent to the sign-in page afterwards, by this worker and by any other worker sharing the database."""

from __future__ import annotations

import pytest
from api_support import Caller
from console_support import sign_in
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.console.session import COOKIE_NAME, COOKIE_PATH, SECRET_ENV
from api.main import create_app


def _client_with_cookie(app: FastAPI, cookie: str) -> TestClient:
    client = TestClient(app)
    client.cookies.set(COOKIE_NAME, cookie, path=COOKIE_PATH)
    return client


def test_a_cookie_copied_before_sign_out_is_sent_to_sign_in_afterwards(app: FastAPI, client: TestClient,
                                                                         city: Caller) -> None:
    csrf = sign_in(client, city)
    copied = client.cookies[COOKIE_NAME]
    with _client_with_cookie(app, copied) as thief:
        assert thief.get("/console", follow_redirects=False).status_code == 200  # the copy works while signed in
        out = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.status_code == 303
        response = thief.get("/console/enterprises", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")
        assert thief.get("/console", follow_redirects=False).status_code == 303


def test_signing_out_on_one_worker_ends_the_session_on_another(database_url: str, city: Caller,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "shared-secret-of-every-worker")
    with TestClient(create_app(database_url)) as first, TestClient(create_app(database_url)) as second:
        csrf = sign_in(first, city)
        second.cookies.set(COOKIE_NAME, first.cookies[COOKIE_NAME], path=COOKIE_PATH)
        assert second.get("/console", follow_redirects=False).status_code == 200
        assert second.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
        response = first.get("/console", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login")


def test_signing_in_again_starts_a_new_session_and_ends_the_old_one(app: FastAPI, client: TestClient,
                                                                   city: Caller) -> None:
    sign_in(client, city)
    before = client.cookies[COOKIE_NAME]
    sign_in(client, city)
    assert client.cookies[COOKIE_NAME] != before
    assert client.get("/console", follow_redirects=False).status_code == 200
    with _client_with_cookie(app, before) as old:
        assert old.get("/console", follow_redirects=False).status_code == 303
