"""Console sign-in: the cookie keeps no token, is HTTP-only and SameSite=Strict (Secure over https), every
form needs the session's CSRF token, and signing out or revoking the principal ends the session."""

from __future__ import annotations

from api_support import Caller
from console_support import csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.console.session import COOKIE_NAME
from pipeline.db import unit_of_work
from pipeline.principals.service import revoke_principal


def test_pages_need_sign_in(client: TestClient) -> None:
    response = client.get("/console/enterprises?q=abc", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/enterprises%3Fq%3Dabc"


def test_cookie_is_signed_http_only_strict_and_holds_no_token(client: TestClient, city: Caller) -> None:
    sign_in(client, city)
    cookie = client.cookies[COOKIE_NAME]
    assert city.token not in cookie
    header = client.get("/console/login").headers.get("set-cookie", "")
    assert header == ""  # an established session is not re-sent
    login = client.post("/console/logout", data={"csrf_token": csrf_of(client.get("/console").text)},
                        follow_redirects=False)
    flags = login.headers["set-cookie"].lower()
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/console" in flags
    assert "secure" not in flags  # plain http: a Secure cookie would never come back


def test_cookie_is_secure_over_https(app: object, city: Caller) -> None:
    with TestClient(app, base_url="https://testserver") as client:  # type: ignore[arg-type]
        response = client.get("/console/login")
        assert "; secure" in response.headers["set-cookie"].lower()


def test_wrong_token_is_refused_on_the_page(client: TestClient) -> None:
    login = client.get("/console/login")
    response = client.post("/console/login", data={"token": "zjtx_nope", "csrf_token": csrf_of(login.text)})
    assert response.status_code == 401
    assert "令牌无效或已吊销" in response.text


def test_posts_without_the_sessions_csrf_token_get_403(client: TestClient, city: Caller) -> None:
    sign_in(client, city)
    for data in ({}, {"csrf_token": "forged"}):
        response = client.post("/console/logout", data=data, follow_redirects=False)
        assert response.status_code == 403
        assert "页面已过期" in response.text
    assert client.get("/console", follow_redirects=False).status_code == 200  # still signed in


def test_a_forged_cookie_is_not_a_session(client: TestClient, city: Caller) -> None:
    sign_in(client, city)
    body, _, mac = client.cookies[COOKIE_NAME].partition(".")
    client.cookies.set(COOKIE_NAME, body + "." + mac[::-1], path="/console")
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(client: TestClient, city: Caller) -> None:
    csrf = sign_in(client, city)
    response = client.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.headers["location"] == "/console/login"
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_revoking_the_principal_ends_its_console_session(
    client: TestClient, city: Caller, api_sessions: sessionmaker[Session],
) -> None:
    sign_in(client, city)
    with unit_of_work(api_sessions) as session:
        revoke_principal(session, city.id)
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_login_redirect_stays_inside_the_console(client: TestClient, city: Caller) -> None:
    login = client.get("/console/login")
    response = client.post("/console/login", data={"token": city.token, "csrf_token": csrf_of(login.text),
                                                   "next": "https://evil.example/"}, follow_redirects=False)
    assert response.headers["location"] == "/console"


def test_pages_send_a_same_origin_content_security_policy(client: TestClient) -> None:
    policy = client.get("/console/login").headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
