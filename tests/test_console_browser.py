"""The console in a real browser: headless Chromium from the system's packages, driven by
Playwright (pointed at /usr/bin/chromium; no browser is downloaded), against ``huhang serve``'s
app (the API with the console at ``/``) on a local port.

The journeys: the office signs in, creates a problem, sees the preview, saves and dispatches; a
unit signs in and resolves it; the office sees it resolved; a unit cannot open another unit's
problem by URL; a form posted without its CSRF token is refused; five wrong passwords lock the
account. Every page is saved as a screenshot at 1366×768 and at a phone's width (390 px) in
test-artifacts/console/ (``HUHANG_ARTIFACTS`` moves it).

Without Chromium or Playwright the tests skip, unless ``HUHANG_REQUIRE_BROWSER=1`` (CI), where
they fail instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.console_support import (
    NANZHENG_TICKET,
    PASSWORD,
    YANGXIAN_ENTERPRISE,
    YANGXIAN_TICKET,
    Clock,
    served_context,
)

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("HUHANG_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("HUHANG_ARTIFACTS", ROOT / "test-artifacts")) / "console"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


def _need_browser() -> Any:
    reason = ""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright 未安装（pip install -e '.[dev]'）"
        sync_playwright = None
    if not reason and not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        reason = f"没有系统 Chromium（{CHROMIUM}；make system-deps 用 apt 安装 chromium）"
    if reason:
        if os.environ.get("HUHANG_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """``huhang serve``'s app (API plus console) on a local port, over the example ledger."""
    _need_browser()
    import uvicorn

    from kernel.service.app import create_app
    from kernel.web.app import mount_console

    context = served_context(tmp_path_factory.mktemp("browser"), Clock())
    app = mount_console(create_app(context), secret=b"b" * 32)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the console's server did not start")
        time.sleep(0.05)
    try:
        # "localhost" is a secure context for Chromium: the Secure cookie works over plain HTTP
        yield f"http://localhost:{port}", context
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        context.close()


@pytest.fixture(scope="module")
def browser(server: tuple[str, Any]) -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


class Person:
    """One browser context (its own cookies) signed in as one account."""

    def __init__(self, browser: Any, base: str, viewport: dict[str, int] = DESKTOP) -> None:
        self.base = base
        self.context = browser.new_context(viewport=viewport, locale="zh-CN")
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        # a script or style refused by the Content-Security-Policy is a console error
        self.page.on(
            "console",
            lambda message: (
                self.errors.append(message.text)
                if message.type == "error" and "status of 4" not in message.text
                else None
            ),
        )

    def open(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, name: str, password: str = PASSWORD) -> Any:
        self.open("/login")
        self.page.fill("input[name=name]", name)
        self.page.fill("input[name=password]", password)
        with self.page.expect_navigation():
            self.page.click("button[type=submit]")
        return self.page

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        width = self.page.viewport_size["width"]
        self.page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)

    def close(self) -> None:
        assert self.errors == [], self.errors  # no script errors on any page
        self.context.close()


def test_office_creates_dispatches_unit_resolves_office_sees_it(
    server: tuple[str, Any], browser: Any
) -> None:
    base, context = server
    office = Person(browser, base)
    page = office.sign_in("clerk")
    assert page.url == base + "/" and "工作台" in page.inner_text("h1")
    office.open("/tickets/new")
    page.fill("input[name=enterprise]", YANGXIAN_ENTERPRISE)
    page.select_option("select[name=category]", "用地")
    page.fill("textarea[name=summary]", "二期仓库消防验收需多部门协调")
    page.select_option("select[name=authority_level]", "市级")
    for department in ("自然资源局", "住建局", "发改委"):
        page.check(f"input[name=departments][value={department}]")
    # the live preview (htmx) shows the grade and the deciding rule before anything is saved
    page.wait_for_selector("#preview .grade.gC")
    preview = page.inner_text("#preview")
    assert "C 级" in preview and "G-C-DEPARTMENTS" in preview and "预览（未保存）" in preview
    office.shot("new-ticket-preview")
    before = context.ledger.storage.count()
    assert not any(e.ticket_id == "HZ-2026-0004" for e in context.ledger.events())
    with page.expect_navigation():
        page.click("#ticket-form button[type=submit]")
    assert page.url.startswith(base + "/tickets/HZ-2026-0004")
    assert context.ledger.storage.count() == before + 3  # collected, reported, graded
    assert "已分级" in page.inner_text("h1")
    with page.expect_navigation():
        page.click("button[value=dispatch]")
    assert "办理中" in page.inner_text("h1")
    office.shot("ticket-dispatched")

    unit = Person(browser, base)
    page = unit.sign_in("yangxian")
    assert "HZ-2026-0004" in page.inner_text("main")  # its new work is on its 工作台
    unit.shot("home-unit")
    unit.open("/tickets/HZ-2026-0004")
    page.fill("form[action$='/resolve'] textarea[name=summary]", "已完成消防验收")
    with page.expect_navigation():
        page.click("button[value=resolve]")
    assert "已办结" in page.inner_text("h1")
    assert "已完成消防验收" in page.inner_text(".timeline")
    unit.shot("ticket-resolved-by-unit")
    unit.close()

    office.open("/ledger?q=HZ-2026-0004")
    row = office.page.inner_text("table.ledger tbody")
    assert "HZ-2026-0004" in row and "已办结" in row
    office.close()


def test_a_unit_cannot_open_another_units_problem_by_url(
    server: tuple[str, Any], browser: Any
) -> None:
    base, _ = server
    unit = Person(browser, base)
    unit.sign_in("nanzheng")
    assert unit.open(f"/tickets/{NANZHENG_TICKET}").status == 200
    response = unit.open(f"/tickets/{YANGXIAN_TICKET}")
    assert response.status == 404 and "页面不存在" in unit.page.inner_text("h1")
    unit.shot("not-found-for-another-unit")
    assert unit.open(f"/enterprises/{YANGXIAN_ENTERPRISE}").status == 404
    unit.close()


def test_a_form_without_its_csrf_token_is_refused(server: tuple[str, Any], browser: Any) -> None:
    base, context = server
    office = Person(browser, base)
    office.sign_in("clerk")
    office.open(f"/enterprises/{YANGXIAN_ENTERPRISE}")
    before = context.ledger.storage.count()
    office.page.evaluate("document.querySelector('.contact input[name=csrf]').remove()")
    with office.page.expect_navigation():
        office.page.click(".contact button[type=submit]")
    assert "防伪令牌" in office.page.inner_text("main")
    assert context.ledger.storage.count() == before
    office.close()


def test_repeated_failures_lock_the_account(server: tuple[str, Any], browser: Any) -> None:
    base, _ = server
    person = Person(browser, base)
    for _ in range(5):
        person.sign_in("audit", "not-the-password")
    assert "已锁定" in person.page.inner_text("main")
    person.shot("login-locked")
    person.sign_in("audit")
    assert person.page.url == base + "/login" and "锁定" in person.page.inner_text("main")
    person.close()


PAGES = {
    "home": "/",
    "ledger": "/ledger?sort=ticket_id&dir=asc",
    "ticket": f"/tickets/{YANGXIAN_TICKET}",
    "new-ticket": "/tickets/new",
    "enterprises": "/enterprises?year=2026",
    "enterprise": f"/enterprises/{YANGXIAN_ENTERPRISE}",
    "monthly": "/reports/monthly?month=2026-03",
    "assessment": "/reports/assessment?period=2026",
    "rules": "/rules",
}


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_every_page_renders_and_is_saved_as_a_screenshot(
    server: tuple[str, Any], browser: Any, viewport: dict[str, int]
) -> None:
    base, _ = server
    person = Person(browser, base, viewport)
    person.open("/login")
    person.shot("login")
    person.sign_in("clerk")
    for name, path in PAGES.items():
        assert person.open(path).status == 200, path
        assert person.page.locator("html").get_attribute("lang") == "zh-CN"
        # nothing wider than the screen except inside the tables' own scrolling boxes
        overflow = person.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 1, (name, overflow)
        person.shot(name)
    person.close()


def test_the_contact_form_works_at_a_phones_width(server: tuple[str, Any], browser: Any) -> None:
    base, context = server
    cadre = Person(browser, base, PHONE)
    cadre.sign_in("yangxian")
    cadre.open(f"/enterprises/{YANGXIAN_ENTERPRISE}")
    form = cadre.page.locator(".contact form")
    box = form.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    button = cadre.page.locator(".contact button[type=submit]").bounding_box()
    assert button is not None and button["height"] >= 40  # a thumb can press it
    cadre.page.select_option(".contact select[name=method]", "电话")
    cadre.page.fill(".contact textarea[name=summary]", "电话了解用工需求")
    cadre.shot("contact-form")
    with cadre.page.expect_navigation():
        cadre.page.click(".contact button[type=submit]")
    assert "联系记录已保存" in cadre.page.inner_text("main")
    last = list(context.ledger.events(enterprise=YANGXIAN_ENTERPRISE, types=("contact.recorded",)))
    assert last[-1].payload["method"] == "电话" and last[-1].actor == "洋县"
    cadre.close()
