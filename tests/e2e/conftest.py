"""Browser tests of /console: a live uvicorn server on a fresh database (SQLite and PostgreSQL), driven by
Debian's Chromium through Playwright (``executable_path``: Playwright downloads no browser of its own).

Every request the page makes is checked: anything not addressed to the live server is aborted and fails
the test, so the console provably works with no request leaving the machine.
Screenshots of each page go to ``test-artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from console_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GAOXIN_FIRM,
    SANMENXIA_FIRM,
    SCREENSHOTS,
    SHANGJIE_FIRM,
    SKIP_REASON,
    VIEWPORT,
    LiveServer,
)
from helpers import ADMIN, enroll, fire
from playwright.sync_api import Page, Route, sync_playwright
from server_process import free_port

from api.main import create_app
from pipeline.dates import business_today
from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.principals.service import add_principal


def _seed(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    tokens = {}
    with unit_of_work(factory) as session:
        for name, role, level, region in (("郑州市工信局 王敏", "official", "city", "410100"),
                                          ("郑州市审计局 李强", "auditor", None, "410100")):
            tokens[role] = add_principal(session, name=name, role=role, level=level, region_code=region,
                                         created_by="cli:e2e").token
    today = business_today()
    enroll(factory, SHANGJIE_FIRM, "2024-03-01", name="郑州上街精密制造有限公司")
    # recognised so that each title's validity (3 years) ends about two months from today
    start = today.replace(year=today.year - 3) + dt.timedelta(days=60)
    enroll(factory, GAOXIN_FIRM, start - dt.timedelta(days=30), name="郑州高新智能装备股份有限公司")
    for trigger in ("recognize_innovative", "recognize_provincial", "recognize_national"):
        fire(factory, GAOXIN_FIRM, trigger, start)
    enroll(factory, SANMENXIA_FIRM, "2024-05-01", name="三门峡黄河新材料有限公司", actor=ADMIN)
    engine.dispose()
    return tokens


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    tokens = _seed(database_url)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(database_url), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console's live server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", tokens, database_url.split(":", 1)[0].split("+")[0])
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    """Skip before building a database when there is no browser to drive."""
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)


@pytest.fixture
def page(live_server: LiveServer, tmp_path: Path) -> Iterator[Page]:
    """A Chromium page with a fresh profile; any request that would leave the live server is refused."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai",
        )

        def guard(route: Route) -> None:
            url = route.request.url
            if url.startswith(live_server.url + "/"):
                route.continue_()
            else:
                live_server.external_requests.append(url)
                route.abort()

        context.route("**/*", guard)
        context.set_default_timeout(10_000)
        page = context.pages[0] if context.pages else context.new_page()
        try:
            yield page
        finally:
            context.close()
    assert live_server.external_requests == [], "requests tried to leave the machine"


@pytest.fixture
def shot(page: Page, live_server: LiveServer) -> Callable[[str], None]:
    """``shot("firm")`` saves a full-page screenshot as test-artifacts/screenshots/<dialect>-firm.png."""

    def save(name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{live_server.dialect}-{name}.png"), full_page=True)

    return save
