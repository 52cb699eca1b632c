"""Shared by the /console browser tests: the browser, the seeded firms, the live server, signing in.

(A module of its own: test modules cannot import ``conftest`` when several test folders each have one.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from helpers import make_uscc
from playwright.sync_api import Page, expect

CHROMIUM = Path("/usr/bin/chromium")
SKIP_REASON = "Chromium not installed: apt-get install chromium (the CI script does)"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}

#: The firms every browser test starts with.
SHANGJIE_FIRM = make_uscc("410106", 101)   # 上街区, in the pool: the test recognises it
GAOXIN_FIRM = make_uscc("410100", 102)     # 郑州市, 小巨人 whose title is due for re-review soon
SANMENXIA_FIRM = make_uscc("411200", 103)  # 三门峡: outside a Zhengzhou official's jurisdiction


@dataclass
class LiveServer:
    url: str
    tokens: dict[str, str]
    dialect: str
    external_requests: list[str] = field(default_factory=list)


def sign_in(page: Page, live_server: LiveServer, role: str = "official") -> None:
    page.goto(live_server.url + "/console")
    expect(page).to_have_url(re.compile(r"/console/login"))
    page.get_by_label("访问令牌").fill(live_server.tokens[role])
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(live_server.url + "/console")
