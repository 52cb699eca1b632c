"""`/docs` and `/redoc` render with the network cut off: every asset comes from the server itself.

Government intranets are offline. Chromium is only allowed to reach the live server on 127.0.0.1; any other
request (a CDN, Google Fonts, Swagger's validator) is aborted and fails the test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from console_e2e import CHROMIUM, CHROMIUM_ARGS, VIEWPORT
from playwright.sync_api import Page, Route, expect, sync_playwright
from server_process import free_port

from api.main import create_app


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server; the documentation pages do not read the database, so an empty SQLite file will do."""
    database = tmp_path_factory.mktemp("docs") / "docs.db"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(f"sqlite:///{database}"), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the docs' live server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def offline_page(docs_server: str, tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    blocked: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport=VIEWPORT)

        def only_local(route: Route) -> None:
            if route.request.url.startswith(docs_server + "/"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        context.set_default_timeout(20_000)
        try:
            yield (context.pages[0] if context.pages else context.new_page()), blocked
        finally:
            context.close()


RENDER_MS = 30_000
"""How long the page may take to render the whole OpenAPI document: seconds on a loaded 2-core machine
(``expect`` waits 5 s by default, not the context's timeout)."""


def test_swagger_ui_renders_every_operation_offline(docs_server: str,
                                                     offline_page: tuple[Page, list[str]]) -> None:
    page, blocked = offline_page
    page.goto(docs_server + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("专精特新 Pipeline API", timeout=RENDER_MS)
    expect(page.locator(".opblock-summary-path[data-path='/api/v1/imports']")).to_be_visible()
    assert page.locator(".opblock").count() >= 30
    assert blocked == []


def test_redoc_renders_offline(docs_server: str, offline_page: tuple[Page, list[str]]) -> None:
    page, blocked = offline_page
    page.goto(docs_server + "/redoc")
    expect(page.locator("h1")).to_contain_text("专精特新 Pipeline API", timeout=RENDER_MS)
    expect(page.get_by_text("/api/v1/imports", exact=False).first).to_be_attached()
    assert page.locator("[data-section-id^='operation/']").count() >= 30
    assert blocked == []
