"""Property-based checks of the API against its own OpenAPI schema (schemathesis over ASGI).

Every operation gets generated requests — valid and invalid — sent with an administrator's token; no
response may be a 5xx, and every response (status, content type, headers, body) must be one the schema
declares. Each request is sent twice: as generated, and with its ``{uscc}`` pointed at a firm that exists,
so that writes get past the lookup and reach the domain's checks.

The schema is read from an app built at import (its OpenAPI does not depend on the database); requests go
to the test's own app, on a fresh SQLite or PostgreSQL database.
"""

from __future__ import annotations

import pytest
import schemathesis
from api_support import Caller, enroll, fire, make_uscc
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from pipeline.dates import utc_now
from pipeline.db import unit_of_work
from pipeline.models import Principal
from pipeline.principals.service import hash_token

SEEDED = make_uscc("410106", 777)
TOKEN = "zjtx_schemathesis-admin-token"

CONFIG = schemathesis.Config.from_dict({
    "checks": {
        # A schema-valid request can still be refused for what JSON Schema cannot say: a USCC's check
        # character, a cursor this API never issued, a stale If-Match, a trigger not allowed from the state.
        "positive_data_acceptance": {"expected-statuses": ["2xx", 401, 403, 404, 409, 412, 422]},
    },
})
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app("sqlite://"), config=CONFIG)


@schema.auth()
class AdminBearer:
    """Schemathesis' own auth hook, so it knows which header is the credential when it mutates requests."""

    def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str:
        return TOKEN

    def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def seeded(client: TestClient, api_sessions: sessionmaker[Session]) -> str:
    with unit_of_work(api_sessions) as session:
        session.add(Principal(id="p-schemathesis", name="schemathesis", role="admin", level=None, region_code=None,
                              grants=[], token_hash=hash_token(TOKEN), created_at=utc_now(), created_by="test"))
    admin = Caller("p-schemathesis", TOKEN)
    enroll(client, admin, SEEDED, on="2025-01-10")
    fire(client, admin, SEEDED, "recognize_innovative", "2025-02-01")
    return SEEDED


@schema.parametrize()
# 15 generated requests per operation and database, beside every example the schema declares. This file is a
# third of the suite's time; its SQLite half took 152 s at 25 examples and 106 s at 10 on a 2-core machine.
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_every_operation_conforms_to_its_schema(case: schemathesis.Case, app: FastAPI, seeded: str) -> None:
    case.call_and_validate(app=app)
    if "uscc" in (case.path_parameters or {}):
        case.path_parameters = {**case.path_parameters, "uscc": seeded}
        case.call_and_validate(app=app)
