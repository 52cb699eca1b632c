"""Helpers for the /console tests: read a page's CSRF token, sign a TestClient in with a principal's token."""

from __future__ import annotations

import re

from api_support import Caller
from fastapi.testclient import TestClient


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: TestClient, caller: Caller) -> str:
    """Sign in through the login form; return the session's CSRF token."""
    login = client.get("/console/login")
    response = client.post("/console/login", data={"token": caller.token, "csrf_token": csrf_of(login.text)},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/console").text)
