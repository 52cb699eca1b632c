"""Every console page, for each role, at a phone's size (390×844) and a desktop's (1366×768): no page is wider
than the window, and no English leaks into what an official reads.

One seeded server per database for the whole module. The matrix is full on PostgreSQL; on SQLite each page is
visited once at 390 px, by one role (the issue's CI budget). Screenshots: test-artifacts/screenshots/pages-*.png.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from console_e2e import (
    CHROMIUM,
    CHROMIUM_ARGS,
    GAOXIN_FIRM,
    SCREENSHOTS,
    SHANGJIE_FIRM,
    SKIP_REASON,
    LiveServer,
)
from helpers import ADMIN, enroll, fire, make_uscc
from playwright.sync_api import Browser, Page, sync_playwright
from server_process import free_port
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from pipeline.credit import loans
from pipeline.dates import business_today
from pipeline.db import make_engine, make_session_factory, unit_of_work
from pipeline.firms import service
from pipeline.principals.accounts import add_user
from pipeline.principals.service import add_principal, authenticate
from pipeline.targets import quotas, rounds
from pipeline.targets import service as targets
from pipeline.titles import service as titles_service

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
REVOKED_FIRM = make_uscc("410106", 301)
ZHONGYUAN_FIRM = make_uscc("410102", 302)
PASSWORD = "郑州-console-2026"

#: Visible ASCII words allowed on a page (the issue's settled list); everything else of 3+ letters is a leak.
ALLOWED_WORDS = {"USCC", "CSV", "Excel", "SHA", "JSON", "API", "xlsx", "csv"}


def _seed(database_url: str) -> dict[str, str]:
    factory = make_session_factory(make_engine(database_url))
    tokens = {}
    with unit_of_work(factory) as session:
        for name, role, level, region in (("郑州市工信局", "official", "city", "410100"),
                                          ("郑州市审计局", "auditor", None, "410100")):
            created = add_principal(session, name=name, role=role, level=level, region_code=region,
                                    created_by="cli:e2e")
            tokens[role] = created.token
            if role == "official":  # the official signs in with an account, the auditor with a token
                add_user(session, name="王敏", principal_id=created.principal.id, password=PASSWORD,
                         created_by="cli:e2e")
    today = business_today()
    enroll(factory, SHANGJIE_FIRM, "2024-03-01", name="郑州上街精密制造有限公司")
    start = today.replace(year=today.year - 3) + dt.timedelta(days=60)
    enroll(factory, GAOXIN_FIRM, start - dt.timedelta(days=30), name="郑州高新智能装备股份有限公司")
    for trigger in ("recognize_innovative", "recognize_provincial", "recognize_national"):
        fire(factory, GAOXIN_FIRM, trigger, start)
    with unit_of_work(factory) as session:
        service.amend(session, GAOXIN_FIRM, changes={"name": "郑州高新智能装备集团股份有限公司"}, actor=ADMIN,
                      reason="更名")
    with unit_of_work(factory) as session:
        titles_service.grant(session, SHANGJIE_FIRM, kind="high_tech_enterprise", granted_on=today,
                             document_no="豫科〔2026〕3号", actor=ADMIN)
    enroll(factory, REVOKED_FIRM, "2023-01-05", name="上街虚假申报样例有限公司")
    fire(factory, REVOKED_FIRM, "recognize_innovative", "2023-06-01")
    fire(factory, REVOKED_FIRM, "revoke", "2024-02-01")
    _seed_plans(factory, today)
    return tokens


ROUND_ID = 1


def _seed_plans(factory: sessionmaker[Session], today: dt.date) -> None:
    """The year's targets (the city's, 上街's and 中原's), a quota, a round with one application, a bank's loan."""
    enroll(factory, ZHONGYUAN_FIRM, today.replace(month=1, day=1), name="郑州中原数控科技有限公司")
    fire(factory, ZHONGYUAN_FIRM, "recognize_innovative", today)  # 中原: 1 of 3 new this year
    with unit_of_work(factory) as session:
        for region, value in (("410100", 10), ("410106", 2), ("410102", 3)):
            targets.put_targets(session, region, today.year, [
                {"tier": "national", "kind": "new", "value": value, "document_no": "郑工信企业〔2026〕4号"},
                {"tier": "innovative", "kind": "new", "value": value, "document_no": "郑工信企业〔2026〕4号"},
                {"tier": "provincial", "kind": "total", "value": value * 2, "document_no": "郑工信企业〔2026〕4号"}],
                actor=ADMIN)
        quotas.put_quota(session, "410100", today.year, "provincial", base={"410106": 2, "410102": 1}, bonus=[],
                         based_on=None, actor=ADMIN)
        created = rounds.create_round(session, tier="provincial", year=today.year, batch=f"{today.year}年第一批",
                                      opens_on=today.replace(month=1, day=1), closes_on=today.replace(month=12, day=31),
                                      document_no="豫工信企业〔2026〕20号", actor=ADMIN)
        assert created.id == ROUND_ID
        rounds.apply(session, created.id, uscc=SHANGJIE_FIRM, submitted_on=today, actor=ADMIN)
        bank = authenticate(session, add_principal(session, name="郑州银行", role="integrator", level=None,
                                                   region_code="410000", grants=["record_loan"],
                                                   created_by="cli:e2e").token)
        assert bank is not None
        loans.record(session, GAOXIN_FIRM, loans.LoanTerms(
            bank="郑州银行", product="专精特新贷", contract_no="郑银专贷〔2026〕0001号", amount_yuan=3_000_000,
            signed_on=today - dt.timedelta(days=20), matures_on=today + dt.timedelta(days=300), secured=False),
            actor=bank)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("pages") / "pipeline.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url, drop = f"sqlite:///{path}", None
    else:
        template = request.getfixturevalue("postgres_template")
        url = template.clone()
        drop = template
    tokens = _seed(url)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(create_app(url), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", tokens, request.param)
    uv.should_exit = True
    thread.join(timeout=10)
    if drop is not None:
        drop.drop(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(SKIP_REASON)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=[*CHROMIUM_ARGS, "--lang=zh-CN"])  # dates as 年/月/日
        yield launched
        launched.close()


def _pages(role: str) -> list[tuple[str, str]]:
    """(name, path) of every page this role can open."""
    pages = [
        ("pipeline", "/console"),
        ("review", "/console/review"),
        ("dashboard", "/console/dashboard"),
        ("titles", "/console/titles?kind=high_tech_enterprise"),
        ("awards", "/console/awards"),
        ("targets", "/console/targets"),
        ("rounds", "/console/rounds"),
        ("round", f"/console/rounds/{ROUND_ID}"),
        ("credit", "/console/credit"),
        ("enterprises", "/console/enterprises"),
        ("search", "/console/enterprises?q=%EF%BC%99%EF%BC%91+%E7%B2%BE%E5%AF%86"),  # "９１ 精密", full width
        ("firm-national", f"/console/enterprises/{GAOXIN_FIRM}"),
        ("firm-reserve", f"/console/enterprises/{SHANGJIE_FIRM}"),
        ("firm-revoked", f"/console/enterprises/{REVOKED_FIRM}"),
        ("history", f"/console/enterprises/{GAOXIN_FIRM}/history"),
        ("audit", "/console/audit"),
        ("machine", "/console/machine"),
        ("unknown", "/console/no-such-page"),
    ]
    if role == "official":
        pages += [("transition", f"/console/enterprises/{SHANGJIE_FIRM}/transitions/recognize_innovative"),
                  ("revoke-form", f"/console/enterprises/{REVOKED_FIRM}/transitions/enroll"),
                  ("imports", "/console/imports"),
                  ("demote-form", f"/console/enterprises/{GAOXIN_FIRM}/transitions/demote"),
                  ("edit", f"/console/enterprises/{GAOXIN_FIRM}/edit"),
                  ("changes", f"/console/enterprises/{GAOXIN_FIRM}/changes")]
    return pages


def _english_words(text: str) -> list[str]:
    text = re.sub(r"\b[0-9A-HJ-NPQRTUWXY]{18}\b", " ", text)  # USCCs
    text = re.sub(r"\b[0-9a-f]{8,}\b", " ", text)  # hashes and request ids
    text = re.sub(r"\.(xlsx|csv)\b", " ", text)
    return [w for w in re.findall(r"[A-Za-z]{3,}", text) if w not in ALLOWED_WORDS]


def _sign_in(page: Page, server: LiveServer, role: str) -> None:
    page.goto(server.url + "/console/login")
    if role == "official":
        page.get_by_label("用户名").fill("王敏")
        page.get_by_label("密码").fill(PASSWORD)
    else:
        page.get_by_label("访问令牌").fill(server.tokens[role])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(server.url + "/console")


def _check(page: Page, name: str, path: str, failures: list[str]) -> None:
    wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if wide[0] > wide[1]:
        failures.append(f"{name} ({path}): {wide[0]} px wide in a {wide[1]} px window")
    leaks = _english_words(page.inner_text("body"))
    if leaks:
        failures.append(f"{name} ({path}): English on the page: {sorted(set(leaks))}")


def _visit_all(browser: Browser, server: LiveServer, role: str, size: str, only: set[str] | None,
               timings: list[float]) -> list[str]:
    viewport = PHONE if size == "phone" else DESKTOP
    context = browser.new_context(viewport=viewport, locale="zh-CN", timezone_id="Asia/Shanghai")
    outside: list[str] = []
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.url)
                  else (outside.append(route.request.url), route.abort()))
    page = context.new_page()
    failures: list[str] = []
    shots = SCREENSHOTS
    shots.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(server.url + "/console/login")
        page.screenshot(path=str(shots / f"pages-{server.dialect}-{role}-{size}-login.png"), full_page=True)
        _check(page, "login", "/console/login", failures)
        page.keyboard.press("Tab")  # the first stop is the skip link, with a visible focus ring
        focused = page.evaluate("[document.activeElement.textContent, getComputedStyle(document.activeElement)"
                                ".outlineStyle]")
        assert focused == ["跳到正文", "solid"], focused
        _sign_in(page, server, role)
        for name, path in _pages(role):
            if only is not None and name not in only:
                continue
            started = time.perf_counter()
            page.goto(server.url + path)
            timings.append(time.perf_counter() - started)
            page.screenshot(path=str(shots / f"pages-{server.dialect}-{role}-{size}-{name}.png"), full_page=True)
            _check(page, name, path, failures)
            if name.startswith("firm-"):  # actions per role: an auditor gets no action panel at all
                panel = page.locator(".actions-panel").count()
                if (role == "auditor") == (panel > 0):
                    failures.append(f"{name}: action panel {'shown' if panel else 'missing'} for {role}")
            if name == "awards":  # officials approve their payers' shares; auditors only read
                approve = page.locator('form[action$="/approve"]').count()
                if (role == "official") != (approve > 0):
                    failures.append(f"awards: {approve} approve forms for {role}")
            if name == "round":  # the city recommends (the firm has applied); the province decides; auditors read
                recommend, decide = (page.locator(f'form[action$="/{verb}"]').count() for verb in ("recommend",
                                                                                                    "decide"))
                if (recommend, decide) != ((1, 0) if role == "official" else (0, 0)):
                    failures.append(f"round: {recommend} recommend and {decide} decide forms for {role}")
        if (role == "auditor") == (page.locator('nav a[href="/console/imports"]').count() > 0):
            failures.append(f"the import page is {'offered' if role == 'auditor' else 'missing'} for {role}")
        if size == "phone":  # the menu opens, and 退出 is within reach
            page.goto(server.url + "/console")
            assert not page.get_by_role("button", name="退出").is_visible()
            page.click("label.menu-button")
            page.get_by_role("button", name="退出").click()
            page.wait_for_url(re.compile(r"/console/login"))
    finally:
        context.close()
    assert outside == [], "requests tried to leave the machine"
    return failures


def test_every_page_fits_the_window_and_speaks_chinese(browser: Browser, server: LiveServer) -> None:
    timings: list[float] = []
    failures = []
    if server.dialect == "postgresql":
        for role in ("official", "auditor"):
            for size in ("phone", "desktop"):
                failures += _visit_all(browser, server, role, size, None, timings)
    else:  # one role per page, at 390 px
        names = [name for name, _ in _pages("official")]
        official = set(names[::2]) | {"transition", "revoke-form", "imports", "demote-form", "edit", "changes"}
        failures += _visit_all(browser, server, "official", "phone", official, timings)
        failures += _visit_all(browser, server, "auditor", "phone", set(names) - official, timings)
    timings.sort()
    print(f"\n{server.dialect}: {len(timings)} pages, median {1000 * statistics.median(timings):.0f} ms, "
          f"slowest {1000 * timings[-1]:.0f} ms")
    assert not failures, "\n".join(failures)
