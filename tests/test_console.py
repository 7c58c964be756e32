"""The web console in-process (Starlette's TestClient): every page, every role boundary, CSRF,
sign-in and lockout, the forms that record events, the export and the rule-change preview."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from kernel.web import accounts
from kernel.web.app import create_console
from tests.conftest import ROOT
from tests.console_support import (
    NANZHENG_TICKET,
    PASSWORD,
    YANGXIAN_ENTERPRISE,
    YANGXIAN_TICKET,
    Clock,
    csrf_of,
    served_context,
)

PAGES = (
    "/",
    "/ledger",
    "/ledger?grade=C&sort=grade&dir=desc",
    f"/tickets/{YANGXIAN_TICKET}",
    "/tickets/new",
    "/enterprises",
    f"/enterprises/{YANGXIAN_ENTERPRISE}",
    "/reports/monthly?month=2026-10",
    "/reports/assessment?period=2026",
    "/rules",
)
OFFICE_ONLY_TO_UNITS = ("/reports/monthly?month=2026-10", "/rules")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(tmp_path: Path, clock: Clock) -> Iterator[Any]:
    context = served_context(tmp_path, clock)
    yield context
    context.close()


@pytest.fixture
def app(served: Any) -> Any:
    return create_console(served, secret=b"s" * 32)


def client(app: Any) -> TestClient:
    return TestClient(app, base_url="https://testserver", follow_redirects=False)


def sign_in(app: Any, name: str, password: str = PASSWORD) -> TestClient:
    c = client(app)
    token = csrf_of(c.get("/login").text)
    r = c.post("/login", data={"csrf": token, "name": name, "password": password})
    assert r.status_code == 303, r.text
    return c


def steps_of(html: str) -> set[str]:
    """The steps a problem's page offers (the names of its forms' buttons)."""
    return set(re.findall(r'name="step" value="([^"]+)"', html))


def events_of(served: Any, ticket_id: str) -> list[Any]:
    return list(served.ledger.events(ticket_id=ticket_id))


# ---------------------------------------------------------------------- sign-in


def test_every_page_needs_a_session(app: Any) -> None:
    c = client(app)
    for path in (*PAGES, "/ledger.xlsx"):
        r = c.get(path)
        assert (r.status_code, r.headers["location"]) == (303, "/login"), path


def test_sign_in_sets_a_secure_httponly_samesite_cookie(app: Any) -> None:
    c = client(app)
    page = c.get("/login")
    assert "登录" in page.text and page.headers["content-security-policy"].startswith(
        "default-src 'self'"
    )
    r = c.post("/login", data={"csrf": csrf_of(page.text), "name": "clerk", "password": PASSWORD})
    cookie = r.headers["set-cookie"].split(",")[0].lower()
    assert r.status_code == 303
    assert "huhang_session=" in cookie
    assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie


def test_sign_in_without_its_csrf_token_is_refused(app: Any) -> None:
    c = client(app)
    c.get("/login")
    r = c.post("/login", data={"name": "clerk", "password": PASSWORD})
    assert r.status_code == 403 and "防伪令牌" in r.text
    assert c.get("/").status_code == 303


def test_lockout_after_five_failures_then_unlocks(app: Any, clock: Clock) -> None:
    c = client(app)
    for attempt in range(accounts.MAX_FAILURES):
        r = c.post(
            "/login",
            data={"csrf": csrf_of(c.get("/login").text), "name": "clerk", "password": "wrong-pw"},
        )
        assert r.status_code == 401
        assert ("已锁定" in r.text) == (attempt == accounts.MAX_FAILURES - 1)
    right = {"csrf": csrf_of(c.get("/login").text), "name": "clerk", "password": PASSWORD}
    r = c.post("/login", data=right)
    assert r.status_code == 401 and "锁定" in r.text  # the right password does not help now
    clock.now += accounts.LOCK_FOR + dt.timedelta(seconds=1)
    right["csrf"] = csrf_of(c.get("/login").text)
    assert c.post("/login", data=right).status_code == 303


def test_wrong_name_and_wrong_password_say_the_same(app: Any) -> None:
    c = client(app)
    texts = []
    for name in ("clerk", "nobody"):
        r = c.post(
            "/login",
            data={"csrf": csrf_of(c.get("/login").text), "name": name, "password": "wrong-pw"},
        )
        texts.append(re.search(r'role="alert">([^<]+)<', r.text).group(1))  # type: ignore[union-attr]
    assert texts == ["账号或密码不正确"] * 2


def test_sign_out_password_change_and_disabling_end_sessions(app: Any, served: Any) -> None:
    c = sign_in(app, "clerk")
    r = c.post("/logout", data={"csrf": csrf_of(c.get("/").text)})
    assert r.headers["location"] == "/login" and c.get("/").status_code == 303
    c = sign_in(app, "clerk")
    accounts.set_password(served.ledger.storage, "clerk", "another-password")
    assert c.get("/").status_code == 303
    c = sign_in(app, "clerk", "another-password")
    accounts.disable_account(served.ledger.storage, "clerk")
    assert c.get("/").status_code == 303
    r = client(app).post(
        "/login",
        data={
            "csrf": csrf_of(c.get("/login").text),
            "name": "clerk",
            "password": "another-password",
        },
    )
    assert r.status_code in (401, 403)


def test_a_session_ends_after_idle_time_and_activity_keeps_it(app: Any, clock: Clock) -> None:
    from kernel.web.sessions import IDLE, LIFETIME

    c = sign_in(app, "clerk")
    clock.now += IDLE + dt.timedelta(seconds=1)
    assert c.get("/").status_code == 303  # idle too long
    c = sign_in(app, "clerk")
    started = clock.now
    while clock.now - started < LIFETIME - IDLE:  # a request every 20 minutes renews the cookie
        clock.now += dt.timedelta(minutes=20)
        assert c.get("/ledger").status_code == 200, clock.now - started
    clock.now = started + LIFETIME + dt.timedelta(seconds=1)
    assert c.get("/").status_code == 303  # busy or not, it ends after LIFETIME


def test_signing_out_ends_only_this_browser_unless_everywhere(app: Any) -> None:
    first, second = sign_in(app, "clerk"), sign_in(app, "clerk")
    copied = dict(first.cookies)
    r = first.post("/logout", data={"csrf": csrf_of(first.get("/").text)})
    assert r.headers["location"] == "/login" and first.get("/").status_code == 303
    assert second.get("/").status_code == 200  # the other browser stays signed in
    stolen = client(app)
    stolen.cookies.update(copied)
    assert stolen.get("/").status_code == 303  # a copy of the signed-out cookie is dead too
    third = sign_in(app, "clerk")
    page = second.get("/").text
    assert "退出所有设备" in page
    second.post("/logout", data={"csrf": csrf_of(page), "everywhere": "1"})
    assert second.get("/").status_code == 303 and third.get("/").status_code == 303
    assert sign_in(app, "clerk").get("/").status_code == 200


# ---------------------------------------------------------------------- pages and roles


def test_every_page_answers_in_chinese_for_the_office(app: Any) -> None:
    c = sign_in(app, "clerk")
    for path in PAGES:
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:500])
        assert '<html lang="zh-CN">' in r.text and "工作台" in r.text, path


def test_units_see_their_pages_and_not_the_office_s(app: Any) -> None:
    c = sign_in(app, "yangxian")
    for path in PAGES:
        r = c.get(path)
        expected = 404 if path in OFFICE_ONLY_TO_UNITS else 200
        assert r.status_code == expected, path
    assert "月度通报" not in c.get("/").text  # not offered either


def test_the_auditor_reads_everything_and_changes_nothing(app: Any, served: Any) -> None:
    c = sign_in(app, "audit")
    for path in PAGES:
        if path != "/tickets/new":
            assert c.get(path).status_code == 200, path
    assert c.get("/tickets/new").status_code == 403
    page = c.get(f"/tickets/{YANGXIAN_TICKET}")
    assert "下一步" not in page.text
    before = served.ledger.storage.count()
    r = c.post(f"/tickets/{YANGXIAN_TICKET}/resolve", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 403 and served.ledger.storage.count() == before


def test_a_unit_cannot_read_or_change_another_units_problem(app: Any, served: Any) -> None:
    c = sign_in(app, "nanzheng")
    assert c.get(f"/tickets/{NANZHENG_TICKET}").status_code == 200
    hidden = c.get(f"/tickets/{YANGXIAN_TICKET}")
    missing = c.get("/tickets/HZ-2099-9999")
    assert hidden.status_code == missing.status_code == 404
    assert YANGXIAN_TICKET not in hidden.text
    token = csrf_of(c.get("/").text)
    before = served.ledger.storage.count()
    for action in ("resolve", "progress", "feedback", "dispatch"):
        r = c.post(f"/tickets/{YANGXIAN_TICKET}/{action}", data={"csrf": token})
        assert r.status_code == 404, action
    assert served.ledger.storage.count() == before
    assert YANGXIAN_TICKET not in c.get("/ledger").text
    sheet = load_workbook(io.BytesIO(c.get("/ledger.xlsx").content)).active
    assert sheet is not None
    ids = [row[0] for row in sheet.iter_rows(values_only=True)]
    assert NANZHENG_TICKET in ids and YANGXIAN_TICKET not in ids
    assert c.get(f"/enterprises/{YANGXIAN_ENTERPRISE}").status_code == 404
    r = c.post(f"/enterprises/{YANGXIAN_ENTERPRISE}/contacts", data={"csrf": token, "by": "other"})
    assert r.status_code == 404 and served.ledger.storage.count() == before
    assert c.get("/reports/assessment?period=2026").status_code == 200  # its own deductions


def test_a_form_posted_without_its_csrf_token_is_refused(app: Any, served: Any) -> None:
    c = sign_in(app, "clerk")
    before = served.ledger.storage.count()
    for path, data in (
        (f"/tickets/{YANGXIAN_TICKET}/feedback", {}),
        (f"/tickets/{YANGXIAN_TICKET}/feedback", {"csrf": "forged"}),
        (f"/enterprises/{YANGXIAN_ENTERPRISE}/contacts", {"by": "other"}),
        ("/tickets/new", {"enterprise": YANGXIAN_ENTERPRISE}),
        ("/logout", {}),
    ):
        r = c.post(path, data=data)
        assert r.status_code == 403 and "防伪令牌" in r.text, path
    assert served.ledger.storage.count() == before
    assert c.get("/").status_code == 200  # still signed in: the forged sign-out did nothing


# ---------------------------------------------------------------------- the journey


NEW_PROBLEM = {
    "enterprise": YANGXIAN_ENTERPRISE,
    "category": "用地",
    "date": "2026-11-30",
    "summary": "二期仓库消防验收需多部门协调",
    "authority_level": "市级",
    "departments": ["自然资源局", "住建局", "发改委"],
    "needs_territory": "1",
}


def test_office_creates_previews_dispatches_unit_resolves(app: Any, served: Any) -> None:
    office = sign_in(app, "clerk")
    token = csrf_of(office.get("/tickets/new").text)
    count = served.ledger.storage.count()
    preview = office.post("/tickets/preview", data={**NEW_PROBLEM, "csrf": token})
    assert preview.status_code == 200
    assert "C 级" in preview.text and "G-C-DEPARTMENTS" in preview.text
    assert "政策 §3.3" in preview.text and "实际：3" in preview.text
    assert served.ledger.storage.count() == count  # a preview stores nothing
    saved = office.post("/tickets/new", data={**NEW_PROBLEM, "csrf": token})
    assert saved.status_code == 303
    ticket_id = saved.headers["location"].split("/")[2].split("?")[0]
    assert ticket_id == "HZ-2026-0004"
    page = office.get(f"/tickets/{ticket_id}")
    assert "已分级" in page.text and ">交办<" in page.text
    office.post(f"/tickets/{ticket_id}/dispatch", data={"csrf": token})
    kinds = [e.type for e in events_of(served, ticket_id)]
    assert kinds == ["ticket.collected", "ticket.reported", "ticket.graded", "ticket.dispatched"]
    assert events_of(served, ticket_id)[-1].recorded_by == "王芳（助商稳企办，办公室）"

    unit = sign_in(app, "yangxian")
    page = unit.get(f"/tickets/{ticket_id}")
    assert "办理中" in page.text and ">办结<" in page.text
    r = unit.post(
        f"/tickets/{ticket_id}/resolve",
        data={"csrf": csrf_of(page.text), "summary": "已完成消防验收"},
    )
    assert r.status_code == 303
    last = events_of(served, ticket_id)[-1]
    assert (last.type, last.actor, last.payload) == (
        "ticket.resolved",
        "洋县",
        {"summary": "已完成消防验收"},
    )
    assert "已办结" in office.get(f"/ledger?q={ticket_id}").text

    other = sign_in(app, "nanzheng")
    assert other.get(f"/tickets/{ticket_id}").status_code == 404


def test_a_refused_step_is_shown_in_plain_words(app: Any, served: Any) -> None:
    office = sign_in(app, "clerk")
    token = csrf_of(office.get("/tickets/new").text)
    saved = office.post("/tickets/new", data={**NEW_PROBLEM, "csrf": token})
    ticket_id = saved.headers["location"].split("/")[2].split("?")[0]
    unit = sign_in(app, "yangxian")
    before = served.ledger.storage.count()
    r = unit.post(f"/tickets/{ticket_id}/resolve", data={"csrf": csrf_of(unit.get("/").text)})
    assert r.status_code == 409
    assert "只有「办理中」时才能办结" in r.text and "Traceback" not in r.text
    assert served.ledger.storage.count() == before


def test_a_new_problem_with_missing_fields_is_not_saved(app: Any, served: Any) -> None:
    office = sign_in(app, "clerk")
    token = csrf_of(office.get("/tickets/new").text)
    before = served.ledger.storage.count()
    r = office.post(
        "/tickets/new", data={**NEW_PROBLEM, "csrf": token, "enterprise": "不存在的企业"}
    )
    assert r.status_code == 422 and "找不到企业" in r.text
    r = office.post("/tickets/preview", data={**NEW_PROBLEM, "csrf": token, "category": "不存在"})
    assert "还不能预览" in r.text
    assert served.ledger.storage.count() == before


# ---------------------------------------------------------------------- 台账, 企业, reports, rules


def test_ledger_filters_sort_pages_and_export_what_is_shown(app: Any) -> None:
    c = sign_in(app, "clerk")
    page = c.get("/ledger?grade=C")
    assert YANGXIAN_TICKET in page.text and NANZHENG_TICKET not in page.text
    shown = re.findall(r'href="/tickets/(HZ-[^"]+)"', c.get("/ledger?sort=ticket_id&dir=asc").text)
    assert shown == sorted(shown) and len(shown) == 2
    backwards = re.findall(
        r'href="/tickets/(HZ-[^"]+)"', c.get("/ledger?sort=ticket_id&dir=desc").text
    )
    assert backwards == shown[::-1]
    workbook = load_workbook(io.BytesIO(c.get("/ledger.xlsx?sort=ticket_id&dir=desc").content))
    sheet = workbook.active
    assert sheet is not None
    ids = [r[0] for r in sheet.iter_rows(values_only=True) if str(r[0]).startswith("HZ-")]
    assert ids == backwards
    page = load_workbook(
        io.BytesIO(c.get("/ledger.xlsx?sort=ticket_id&dir=desc&page=1&scope=page").content)
    ).active
    assert page is not None
    rows = list(page.iter_rows(values_only=True))
    headers = re.findall(
        r'<th><a href="/ledger\?[^"]*">([^<▲▼]+?)(?: [▲▼])?</a></th>', c.get("/ledger").text
    )
    assert list(rows[0]) == headers  # exactly the columns on screen
    assert [r[0] for r in rows if str(r[0]).startswith("HZ-")] == backwards
    only_c = load_workbook(io.BytesIO(c.get("/ledger.xlsx?grade=C").content)).active
    assert only_c is not None
    assert [r[0] for r in only_c.iter_rows(values_only=True) if str(r[0]).startswith("HZ-")] == [
        YANGXIAN_TICKET
    ]


def test_contact_form_records_a_contact_and_fills_the_month_grid(app: Any, served: Any) -> None:
    c = sign_in(app, "yangxian")
    page = c.get(f"/enterprises/{YANGXIAN_ENTERPRISE}")
    assert "四个一" in page.text and "周婷" in page.text
    r = c.post(
        f"/enterprises/{YANGXIAN_ENTERPRISE}/contacts",
        data={
            "csrf": csrf_of(page.text),
            "date": "2026-11-27",
            "by": "liaison_cadre",
            "person": "周婷",
            "method": "走访",
            "summary": "了解二期用地进展",
        },
    )
    assert r.status_code == 303
    contact = list(
        served.ledger.events(enterprise=YANGXIAN_ENTERPRISE, types=("contact.recorded",))
    )
    assert contact[-1].payload["summary"] == "了解二期用地进展"
    grid = c.get("/enterprises?year=2026").text
    row = grid[grid.index("洋县秦岭冷链物流有限公司") :].split("</tr>")[0]
    months = re.findall(r'<td class="m (none|some)">(\d*)</td>', row)
    assert months[10] == ("some", "1") and all(m == ("none", "") for m in months[:10])


def test_reports_on_screen_and_downloads(app: Any) -> None:
    c = sign_in(app, "clerk")
    monthly = c.get("/reports/monthly?month=2026-10")
    assert "2026年10月" in monthly.text or "2026-10" in monthly.text
    md = c.get("/reports/monthly.md?month=2026-10")
    assert md.status_code == 200 and md.text.startswith("# ")
    xlsx = c.get("/reports/monthly.xlsx?month=2026-10")
    assert load_workbook(io.BytesIO(xlsx.content)).sheetnames[0] == "概要"
    assert c.get("/reports/monthly.docx?month=2026-10").content[:2] == b"PK"
    assessment = c.get("/reports/assessment?period=2026")
    assert (
        "按期办结率" in assessment.text or "<meter" in assessment.text or "考核" in assessment.text
    )
    assert c.get("/reports/assessment.xlsx?period=2026").status_code == 200
    assert c.get("/reports/monthly?month=2026-13").status_code == 422
    chart = c.get("/reports/monthly?month=2026-03").text  # HZ-2026-0002 fell due and was met
    assert "各县区问题按期办结率" in chart
    assert re.search(r'<span class="label">南郑区</span><meter[^>]*>100%（1/1）</meter>', chart)


def test_the_closure_chart_caches_only_ended_months(app: Any, served: Any, clock: Clock) -> None:
    """The chart of an ended month reads the facts cached as of its last day (the rows a
    report of that month uses); the current month's is computed as of today and cached by no
    row, so the cache does not grow by a day's rows every day."""
    clock.now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
    storage = served.ledger.storage
    c = sign_in(app, "clerk")
    assert "各县区问题按期办结率" in c.get("/reports/monthly?month=2026-03").text
    assert "各县区问题按期办结率" in c.get("/reports/monthly?month=2026-11").text
    horizons = {h for (h,) in storage._rows("SELECT DISTINCT horizon FROM rm_facts")}
    assert "2026-03-31" in horizons
    assert "2026-11-20" not in horizons


def test_rules_are_tables_with_clauses(app: Any) -> None:
    page = sign_in(app, "clerk").get("/rules").text
    assert "G-C-DEPARTMENTS" in page and "政策 §3.3" in page and "R-PRIMARY-TERRITORY" in page
    assert "浏览器中不能直接修改" in page


def _zip(folder: Path, extra: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"candidate/{path.relative_to(folder)}")
        for name, text in (extra or {}).items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_rule_change_preview_validates_lints_and_shows_the_impact(app: Any, tmp_path: Path) -> None:
    candidate = tmp_path / "candidate"
    shutil.copytree(ROOT / "rules", candidate)
    grading = candidate / "grading.yaml"
    grading.write_text(
        grading.read_text(encoding="utf-8").replace("count: {ge: 3}", "count: {ge: 2}"),
        encoding="utf-8",
    )
    c = sign_in(app, "clerk")
    token = csrf_of(c.get("/rules").text)
    r = c.post(
        "/rules/preview",
        data={"csrf": token},
        files={"archive": ("candidate.zip", _zip(candidate), "application/zip")},
    )
    assert r.status_code == 200 and "校验通过" in r.text and "对现有台账的影响" in r.text
    link = re.search(r'href="(/rules/preview/[^"]+\.md)"', r.text)
    assert link is not None
    report = c.get(link.group(1))
    assert report.status_code == 200 and report.text.startswith("# ")

    broken = _zip(candidate, {"candidate/../../evil.yaml": "x: 1"})
    r = c.post(
        "/rules/preview",
        data={"csrf": token},
        files={"archive": ("bad.zip", broken, "application/zip")},
    )
    assert r.status_code == 422 and "目录之外" in r.text
    (candidate / "grading.yaml").write_text("rules: [", encoding="utf-8")
    r = c.post(
        "/rules/preview",
        data={"csrf": token},
        files={"archive": ("invalid.zip", _zip(candidate), "application/zip")},
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 422 and "校验未通过" in r.text
    assert sign_in(app, "audit").post("/rules/preview", data={"csrf": token}).status_code == 403


# ---------------------------------------------------------------------- storage and CLI


def test_an_older_sqlite_ledger_gains_the_accounts_table(tmp_path: Path) -> None:
    from kernel.storage.contract import AccountRecord
    from kernel.storage.sqlite import SCHEMA_VERSION, SqliteStorage

    path = tmp_path / "old.db"
    SqliteStorage(str(path)).close()
    raw = sqlite3.connect(path)
    raw.execute("DROP TABLE accounts")
    raw.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    raw.commit()
    raw.close()
    store = SqliteStorage(str(path))
    try:
        store.save_account(AccountRecord("a", "h", "甲", "洋县", "unit"))
        assert store.account("a") == AccountRecord("a", "h", "甲", "洋县", "unit")
        assert store.account("b") is None
    finally:
        store.close()
    raw = sqlite3.connect(path)
    (version,) = raw.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert int(version) == SCHEMA_VERSION
    raw.close()


def test_passwords_are_stored_only_as_argon2_hashes(served: Any) -> None:
    record = served.ledger.storage.account("clerk")
    assert record.password_hash.startswith("$argon2id$") and PASSWORD not in record.password_hash
    with pytest.raises(accounts.InputError, match="至少"):
        accounts.add_account(
            served.ledger.storage, "new", "short", principal="x", unit="洋县", role="unit"
        )
    with pytest.raises(accounts.InputError, match="已存在"):
        accounts.add_account(
            served.ledger.storage, "clerk", PASSWORD, principal="x", unit="洋县", role="unit"
        )


def test_user_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from kernel.cli.main import main
    from kernel.storage.sqlite import SqliteStorage

    db = str(tmp_path / "users.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("first-password\n"))
    assert main(["user", "add", "clerk", "--role", "office", "--password-stdin", "--db", db]) == 2
    assert "不存在" in capsys.readouterr().err  # accounts go into an existing ledger only
    SqliteStorage(db).close()
    monkeypatch.setattr("sys.stdin", io.StringIO("first-password\n"))
    assert main(["user", "add", "clerk", "--role", "office", "--password-stdin", "--db", db]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("x\n"))
    assert (
        main(
            [
                "user",
                "add",
                "u1",
                "--role",
                "unit",
                "--unit",
                "洋县x",
                "--password-stdin",
                "--db",
                db,
            ]
        )
        == 2
    )
    assert "洋县" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("second-password\n"))
    assert main(["user", "passwd", "clerk", "--password-stdin", "--db", db]) == 0
    assert main(["user", "disable", "clerk", "--db", db]) == 0
    assert main(["user", "list", "--db", db]) == 0
    assert "clerk\t clerk" not in capsys.readouterr().out
    store = SqliteStorage(db)
    try:
        record = store.account("clerk")
        assert record is not None and record.disabled and record.generation == 2
        assert record.unit == "助商稳企办" and record.role == "office"
    finally:
        store.close()


def _section(html: str, heading: str) -> str:
    start = html.index(heading)
    return html[start : html.index("</section>", start)]


def test_the_workbench_lists_each_kind_of_work_once(app: Any, clock: Clock) -> None:
    unit = sign_in(app, "yangxian")
    home = unit.get("/").text
    assert YANGXIAN_TICKET in _section(home, "超期未办结（1）")
    assert "（无）" in _section(home, "7 日内到期（0）")
    assert YANGXIAN_TICKET in _section(home, "本单位在办（1）")
    office = sign_in(app, "clerk").get("/").text
    assert "待发通知" in office and "本单位在办" not in office
    clock.now = dt.datetime(2026, 10, 12, 9, tzinfo=dt.UTC)  # 20 workdays not yet spent
    earlier = sign_in(app, "yangxian").get("/").text
    assert "（无）" in _section(earlier, "7 日内到期") and "超期未办结（0）" in earlier
    clock.now = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)  # due 2026-11-06: within 7 days
    assert YANGXIAN_TICKET in _section(sign_in(app, "yangxian").get("/").text, "7 日内到期（1）")


def test_the_office_overrides_a_grade_with_a_reason(app: Any, served: Any) -> None:
    office = sign_in(app, "clerk")
    token = csrf_of(office.get("/tickets/new").text)
    saved = office.post("/tickets/new", data={**NEW_PROBLEM, "csrf": token})
    ticket_id = saved.headers["location"].split("/")[2].split("?")[0]
    page = office.get(f"/tickets/{ticket_id}").text
    assert "改判理由" in page
    r = office.post(
        f"/tickets/{ticket_id}/override",
        data={"csrf": token, "grade": "D", "primary": "", "reason": "涉及省级审批权限"},
    )
    assert r.status_code == 303
    last = events_of(served, ticket_id)[-1]
    assert (last.type, last.payload) == (
        "ticket.overridden",
        {"reason": "涉及省级审批权限", "grade": "D"},
    )
    assert "D 级" in office.get(f"/tickets/{ticket_id}").text
    r = office.post(f"/tickets/{ticket_id}/override", data={"csrf": token, "reason": "x"})
    assert r.status_code == 409 and "未能改判" in r.text
    unit = sign_in(app, "yangxian")
    assert "改判理由" not in unit.get(f"/tickets/{ticket_id}").text


def test_a_session_holds_on_every_worker_of_huhang_serve(tmp_path: Path, clock: Clock) -> None:
    """``huhang serve --workers 2``: the workers share the session secret, so every request of a
    signed-in browser is answered as signed in, whichever worker takes it."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    served_context(tmp_path, clock).close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "HUHANG_WEB_SECRET"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kernel",
            "serve",
            "--db",
            str(tmp_path / "console.db"),
            "--rules",
            str(ROOT / "rules"),
            "--port",
            str(port),
            "--workers",
            "2",
            "--insecure-cookies",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "serve did not start"
            time.sleep(0.3)
        with httpx.Client(base_url=base, follow_redirects=False, timeout=10) as browser:
            token = csrf_of(browser.get("/login").text)
            r = browser.post("/login", data={"csrf": token, "name": "clerk", "password": PASSWORD})
            assert r.status_code == 303
            cookies = dict(browser.cookies)
        # a new connection each time: the kernel hands them to either worker
        answers = [
            httpx.get(f"{base}/ledger", cookies=cookies, follow_redirects=False).status_code
            for _ in range(20)
        ]
        assert answers == [200] * 20
    finally:
        process.terminate()
        process.wait(timeout=30)


def _dispatched(app: Any) -> tuple[TestClient, str, str]:
    office = sign_in(app, "clerk")
    token = csrf_of(office.get("/tickets/new").text)
    saved = office.post("/tickets/new", data={**NEW_PROBLEM, "csrf": token})
    ticket_id = saved.headers["location"].split("/")[2].split("?")[0]
    office.post(f"/tickets/{ticket_id}/dispatch", data={"csrf": token})
    return office, token, ticket_id


def test_lifecycle_steps_are_offered_by_the_rules_and_recorded(app: Any, served: Any) -> None:
    office, token, ticket_id = _dispatched(app)
    unit = sign_in(app, "yangxian")
    page = unit.get(f"/tickets/{ticket_id}").text
    assert ">退回<" in page and ">延期申请<" in page and "L-RETURN" in page
    assert ">挂起<" not in page  # the office's step
    assert ">挂起<" in office.get(f"/tickets/{ticket_id}").text
    unit_token = csrf_of(page)
    r = unit.post(
        f"/tickets/{ticket_id}/extension_requested",
        data={"csrf": unit_token, "workdays": "5", "reason_text": "需等待省级批复"},
    )
    assert r.status_code == 303
    decision = office.get(f"/tickets/{ticket_id}").text
    assert ">延期批准<" in decision and ">延期不予批准<" in decision
    office.post(
        f"/tickets/{ticket_id}/extension_granted",
        data={"csrf": token, "workdays": "5", "reason_text": "同意"},
    )
    kinds = [(e.type, e.actor, e.payload) for e in events_of(served, ticket_id)][-2:]
    assert kinds == [
        ("ticket.extension_requested", "洋县", {"workdays": 5, "reason": "需等待省级批复"}),
        ("ticket.extension_granted", "助商稳企办", {"workdays": 5, "reason": "同意"}),
    ]
    r = unit.post(
        f"/tickets/{ticket_id}/returned", data={"csrf": unit_token, "reason": "随便写的理由"}
    )
    assert r.status_code == 409 and "不在规则所列之中" in r.text
    r = unit.post(
        f"/tickets/{ticket_id}/returned",
        data={"csrf": unit_token, "reason": "应由其他单位主办", "suggested": "汉台区"},
    )
    assert r.status_code == 303
    returned = office.get(f"/tickets/{ticket_id}").text
    assert "已退回" in returned and ">重新交办<" in returned
    other = sign_in(app, "nanzheng")
    r = other.post(
        f"/tickets/{ticket_id}/withdrawn",
        data={"csrf": csrf_of(other.get("/").text), "reason": "企业撤回"},
    )
    assert r.status_code == 404
    assert office.post(f"/tickets/{ticket_id}/nothing", data={"csrf": token}).status_code == 404


def test_a_county_office_refers_up_and_the_city_office_sends_it_back(
    tmp_path: Path, clock: Clock
) -> None:
    """上下联动 from the 办理单 page: the county's office refers a dispatched problem up (only in a
    level folder, only the office); ``level up`` carries it to the city, whose office sends it
    back from its page; ``level down`` brings that back and the county handles it again."""
    import json

    from kernel.evaluation.kernel import Kernel
    from kernel.linkage.links import carry_down, carry_up
    from kernel.service.context import open_service

    hantai = ROOT / "examples" / "levels" / "hantai"
    lines = (ROOT / "examples" / "levels" / "events" / "hantai.jsonl").read_text("utf-8")
    events = [json.loads(line) for line in lines.splitlines() if line.strip()]
    assert events[-1]["type"] == "ticket.referred_up"
    county = open_service(db=str(tmp_path / "hantai.db"), rules=hantai, create=True, clock=clock)
    city = open_service(
        db=str(tmp_path / "city.db"), rules=ROOT / "rules", create=True, clock=clock
    )
    try:
        with county.kernel_lock:
            county.ledger.submit_many([(e, None, ()) for e in events[:-1]], kernel=county.kernel())
        for context, name, unit, role in (
            (county, "ht-clerk", "助商稳企办", "office"),
            (county, "ht-unit", "区发改局", "unit"),
            (city, "clerk", "助商稳企办", "office"),
        ):
            accounts.add_account(
                context.ledger.storage, name, PASSWORD, principal=name, unit=unit, role=role
            )
        county_app = create_console(county, secret=b"c" * 32)
        ticket = "HT-2026-0001"
        unit_page = sign_in(county_app, "ht-unit").get(f"/tickets/{ticket}").text
        assert "referred_up" not in steps_of(unit_page)  # the office's step
        office = sign_in(county_app, "ht-clerk")
        page = office.get(f"/tickets/{ticket}").text
        assert ">报上级协调<" in page
        assert {"referred_up"} <= steps_of(page) and "upper_declined" not in steps_of(page)
        r = office.post(
            f"/tickets/{ticket}/referred_up",
            data={"csrf": csrf_of(page), "summary": "需调整市级控规，区级无权限"},
        )
        assert r.status_code == 303, r.text
        referred = events_of(county, ticket)[-1]
        assert (referred.type, referred.actor, referred.payload) == (
            "ticket.referred_up",
            "助商稳企办",
            {"upper": "city", "summary": "需调整市级控规，区级无权限"},
        )
        page = office.get(f"/tickets/{ticket}").text
        assert "已报上级" in page and "referred_up" not in steps_of(page)

        level = county.ruleset.level
        assert level is not None
        carry_up(county.ledger, level, city.ledger, Kernel(city.ruleset), dt.date(2026, 12, 1))
        upper = "HANTAI:HT-2026-0001"
        city_app = create_console(city, secret=b"t" * 32)
        city_office = sign_in(city_app, "clerk")
        page = city_office.get(f"/tickets/{upper}").text
        assert "upper_declined" in steps_of(page) and ">上级退回<" in page
        assert "referred_up" not in steps_of(page)  # the city has no upper level
        assert "upper_declined" not in steps_of(city_office.get(f"/tickets/{YANGXIAN_TICKET}").text)
        r = city_office.post(
            f"/tickets/{upper}/upper_declined",
            data={"csrf": csrf_of(page), "summary": "属区级事权，退回汉台区办理"},
        )
        assert r.status_code == 303, r.text
        assert city.ledger.ticket(upper).state == "sent_back"  # type: ignore[union-attr]

        carry_down(county.ledger, level, city.ledger, dt.date(2026, 12, 1))
        assert county.ledger.ticket(ticket).state == "dispatched"  # type: ignore[union-attr]
        assert "referred_up" in steps_of(office.get(f"/tickets/{ticket}").text)  # again
        # the city's own console has no step to refer up, even by URL
        token = csrf_of(city_office.get("/").text)
        r = city_office.post(f"/tickets/{YANGXIAN_TICKET}/referred_up", data={"csrf": token})
        assert r.status_code == 404
    finally:
        county.close()
        city.close()


def test_a_problem_page_shows_its_explanation_clocks_and_escalations(app: Any, served: Any) -> None:
    """办理单: the rule ids that decided, every clock with its due date, each escalation due."""
    page = sign_in(app, "clerk").get(f"/tickets/{YANGXIAN_TICKET}").text
    state = served.ledger.ticket(YANGXIAN_TICKET)
    evaluation = served.evaluator().evaluate(state, dt.date(2026, 11, 30))
    assert evaluation.escalations  # the example ticket is overdue on the clock's day
    for escalation in evaluation.escalations:
        assert f"{escalation.day} {escalation.step.title}" in page
    for instance in evaluation.instances:
        assert instance.clock.title in page
        if instance.due is not None:
            assert instance.due.isoformat() in page
    assert all(rule_id in page for rule_id in state.rule_ids)


def test_a_problem_page_reads_through_the_read_model_without_a_replay(
    app: Any, served: Any
) -> None:
    """The 办理单 page reads the problem's own events (the read model's ticket query); the
    projection of the whole ledger is not built for it."""
    office = sign_in(app, "clerk")
    served._snapshot = None  # as on a worker that has shown no list yet
    page = office.get(f"/tickets/{YANGXIAN_TICKET}").text
    assert "E-0002" in page or "问题收集" in page
    assert sign_in(app, "nanzheng").get(f"/tickets/{YANGXIAN_TICKET}").status_code == 404
    assert served._snapshot is None
