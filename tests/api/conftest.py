"""API test fixtures: the app on a fresh migrated database (SQLite and PostgreSQL), a client, and principals.

This directory has no ``__init__.py`` on purpose: as a package it would be imported as ``api`` and shadow
the project's own ``api`` package. Shared helpers live in ``api_support.py`` beside this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from api_support import Caller
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from pipeline.db import unit_of_work
from pipeline.principals.service import add_principal

#: name → (role, level, region, grants)
PRINCIPALS: dict[str, tuple[str, str | None, str | None, list[str]]] = {
    "city": ("official", "city", "410100", []),            # 郑州市工信局
    "district": ("official", "district", "410106", []),    # 上街区工信局
    "sanmenxia": ("official", "city", "411200", []),       # 三门峡市工信局
    "province": ("official", "province", "410000", []),   # 河南省工信厅
    "auditor": ("auditor", None, "410100", []),             # 郑州审计
    "integrator": ("integrator", None, "410000", ["enroll"]),  # 省财政厅系统, granted only enroll
    "admin": ("admin", None, None, []),
}


@pytest.fixture
def app(database_url: str) -> FastAPI:
    return create_app(database_url)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api_sessions(app: FastAPI) -> sessionmaker[Session]:
    """The app's own session factory, for checking what a request did (or did not) write."""
    factory: sessionmaker[Session] = app.state.session_factory
    return factory


@pytest.fixture
def principals(api_sessions: sessionmaker[Session]) -> dict[str, Caller]:
    callers = {}
    with unit_of_work(api_sessions) as session:
        for name, (role, level, region, grants) in PRINCIPALS.items():
            created = add_principal(session, name=f"test {name}", role=role, level=level, region_code=region,
                                    grants=grants, created_by="cli:test")
            callers[name] = Caller(created.principal.id, created.token)
    return callers


def _principal(name: str) -> Any:
    """The fixture named ``name``: that principal's caller."""

    @pytest.fixture(name=name)
    def caller(principals: dict[str, Caller]) -> Caller:
        return principals[name]

    return caller


city = _principal("city")
district = _principal("district")
sanmenxia = _principal("sanmenxia")
province = _principal("province")
auditor = _principal("auditor")
integrator = _principal("integrator")
admin = _principal("admin")
