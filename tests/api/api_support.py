"""Helpers shared by the API tests: callers, one-call requests, and problem+json assertions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import httpx
import rfc8785
from fastapi.testclient import TestClient
from helpers import REQUIRED, make_uscc
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from pipeline.models import Enterprise, Event

__all__ = ["BASE", "REQUIRED", "SANMENXIA", "SHANGJIE", "ZHENGZHOU", "Caller", "assert_problem", "enroll",
           "event_count", "fire", "firm_count", "make_uscc", "readme_hash", "transition_body", "version_of"]

BASE = "/api/v1/enterprises"

#: A Sanmenxia (三门峡) code and a Shangjie (上街区, Zhengzhou) code that tests use over and over.
SHANGJIE = "410106"
ZHENGZHOU = "410100"
SANMENXIA = "411200"


@dataclass(frozen=True)
class Caller:
    id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def with_headers(self, **extra: str) -> dict[str, str]:
        return {**self.headers, **{name.replace("_", "-"): value for name, value in extra.items()}}


def enroll(client: TestClient, caller: Caller, uscc: str, *, on: str = "2025-01-10", **body: Any) -> httpx.Response:
    payload = {"uscc": uscc, "name": body.pop("name", f"测试企业{uscc[-6:]}"), "effective_date": on, **body}
    response = client.post(BASE, json=payload, headers=caller.headers)
    assert response.status_code == 201, response.text
    return response


def transition_body(trigger: str, on: str, **overrides: Any) -> dict[str, Any]:
    body = {"trigger": trigger, "effective_date": on, **REQUIRED.get(trigger, {}), **overrides}
    return {key: value for key, value in body.items() if value is not None}


def fire(client: TestClient, caller: Caller, uscc: str, trigger: str, on: str, *, expect: int = 200,
         headers: dict[str, str] | None = None, **overrides: Any) -> httpx.Response:
    response = client.post(f"{BASE}/{uscc}/transitions", json=transition_body(trigger, on, **overrides),
                           headers={**caller.headers, **(headers or {})})
    assert response.status_code == expect, response.text
    return response


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """The response is RFC 9457 problem+json of this status and slug; return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["type"].endswith("/" + slug), body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def event_count(factory: sessionmaker[Session], uscc: str) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Event).where(Event.uscc == uscc)) or 0)


def firm_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def version_of(factory: sessionmaker[Session], uscc: str) -> int:
    with factory() as session:
        return session.scalars(select(Enterprise.version).where(Enterprise.uscc == uscc)).one()


def readme_hash(prev_hash: str, fields: dict[str, Any], recipe: str = "jcs-1") -> str:
    """The README's recipes, written out independently of pipeline.lifecycle.chain."""
    if recipe == "jcs-1":
        return hashlib.sha256(prev_hash.encode() + rfc8785.dumps(fields)).hexdigest()
    assert recipe == "pyjson-1", recipe
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()
