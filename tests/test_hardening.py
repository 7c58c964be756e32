"""Hostile input and faults (issue 13): each ends in a clear, located exit 2 -- or success where
the input is legal -- in bounded time and memory, with nothing stored on refusal."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel.cli.main import main
from kernel.escape import visible
from kernel.storage.sqlite import SqliteStorage
from tests.conftest import ROOT, make_ticket

EVENTS = ROOT / "examples" / "events.jsonl"
TICKET = ROOT / "examples" / "tickets" / "c-land.yaml"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder with a copy of the rules."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    monkeypatch.delenv("HUHANG_CONFIG", raising=False)
    monkeypatch.delenv("HUHANG_DB", raising=False)
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ---------------------------------------------------------------------- a mistyped --db


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "assessment", "--year", "2026"],
        ["report", "monthly", "--month", "2026-03"],
        ["ledger"],
        ["ledger", "check"],
        ["sweep", "--as-of", "2026-03-02"],
        ["impact", "--candidate", "rules"],
    ],
)
def test_read_commands_never_create_a_ledger(
    here: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (here / "huhang.db").write_bytes(b"")
    code, out, err = run(capsys, *argv, "--db", "huhang-typo.db")
    assert (code, out) == (2, "")
    assert "台账 huhang-typo.db 不存在，是否想写 'huhang.db'？" in err
    assert (
        "只有 huhang ingest、huhang roster import、huhang demo、huhang token create 和 huhang serve 会新建台账"
        in err
    )
    assert sorted(p.name for p in here.iterdir()) == ["huhang.db", "rules"]


def test_notify_refuses_a_missing_ledger(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "huhang.yaml").write_text(
        "notifiers:\n  - {name: 屏幕, type: console}\n", encoding="utf-8"
    )
    code, _, err = run(capsys, "notify", "--db", "sub/none.db")
    assert code == 2 and "台账 sub/none.db 不存在" in err
    assert not (here / "sub").exists()


def test_ingest_says_it_creates_a_ledger_and_a_missing_input_creates_nothing(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "ingest", "nope.jsonl", "--db", "new.db")
    assert code == 2 and "nope.jsonl:0:0: FILE-MISSING" in err
    assert not (here / "new.db").exists()
    code, _, err = run(capsys, "ingest", str(EVENTS), "--db", "new.db", "--grade")
    assert code == 0 and err == "新建台账：new.db\n"


# ---------------------------------------------------------------------- rule files


@pytest.mark.parametrize(
    ("file", "old", "new", "expected"),
    [
        (
            "scoring.yaml",
            "points: 40",
            "points: 一分",
            "indicators[0].points 应为数字，实际为 '一分'",
        ),
        ("scoring.yaml", "points: 40", "points: 1分", "应为数字，实际为 '1分'"),
        ("scoring.yaml", "points: 40", "points: abc", "应为数字，实际为 'abc'"),
        ("scoring.yaml", "points: 40", "points: [1]", "应为数字，实际为 [1]"),
        ("scoring.yaml", "points: 40", "points:", "应为数字，实际为 空值"),
        ("scoring.yaml", "floor: 0", "floor: 零", "indicators[2].floor 应为数字"),
        (
            "scoring.yaml",
            "effective_from: 2026-01-01",
            "effective_from: 2026年1月1日",
            "effective_from 的值 '2026年1月1日' 不是有效的日期（应写成 YYYY-MM-DD",
        ),
        ("deadlines.yaml", "warning_lead: 1 ", "warning_lead: 一 ", "warning_lead 应为整数"),
        ("grading.yaml", "count: {ge: 3}", "count: {ge: .nan}", "不是有限的数字"),
    ],
)
@pytest.mark.parametrize("command", ["validate", "explain", "lint"])
def test_numbers_and_dates_written_as_words_are_located(
    here: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    file: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    edit(here / "rules" / file, old, new)
    argv = [command, "--rules", "rules"] + ([str(TICKET)] if command == "explain" else [])
    code, out, err = run(capsys, *argv)
    assert code == 2
    text = out + err
    assert expected in text and f"rules/{file}:" in text
    assert "Traceback" not in text


ALIAS_BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_a_yaml_alias_bomb_is_refused_quickly(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + ALIAS_BOMB
    (here / "rules" / "grading.yaml").write_text(bomb, encoding="utf-8")
    (here / "bomb.yaml").write_text(bomb, encoding="utf-8")
    start = time.monotonic()
    code, out, _ = run(capsys, "validate", "--rules", "rules")
    assert code == 2 and "INPUT-TOO-LARGE 内容过多：展开别名（*）后超过" in out
    code, _, err = run(capsys, "explain", "bomb.yaml", "--rules", str(ROOT / "rules"))
    assert code == 2 and "bomb.yaml:" in err and "INPUT-TOO-LARGE" in err
    assert time.monotonic() - start < 20


def test_a_huge_rule_file_is_refused_before_it_is_parsed(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (here / "rules" / "routing.yaml").open("a", encoding="utf-8") as handle:
        handle.write("# " + "x" * 9_000_000 + "\n")
    start = time.monotonic()
    code, out, _ = run(capsys, "validate", "--rules", "rules")
    assert code == 2 and "rules/routing.yaml:0:0: FILE-TOO-LARGE 文件过大" in out
    assert time.monotonic() - start < 10


def test_deep_nesting_and_long_numbers_are_located(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nots = "not: {" * 245 + "field: category, eq: 用工" + "}" * 245
    with (here / "rules" / "grading.yaml").open("a", encoding="utf-8") as handle:
        handle.write(f"  - id: G-DEEP\n    when: {{{nots}}}\n    then: {{grade: A}}\n")
    code, out, _ = run(capsys, "validate", "--rules", "rules")
    assert code == 2 and "rules/grading.yaml:" in out and "嵌套过深" in out
    (here / "deep.yaml").write_text("summary: " + "[" * 990 + "]" * 990 + "\n", "utf-8")
    (here / "digits.yaml").write_text("amount: " + "9" * 5000 + "\n", "utf-8")
    code, _, err = run(
        capsys, "explain", "deep.yaml", "digits.yaml", "--rules", str(ROOT / "rules")
    )
    assert code == 2 and "deep.yaml:1:" in err and "嵌套过深" in err
    assert "digits.yaml:1:9: INPUT-NUMBER amount 的数字过长（5000 个字符，上限 32）" in err


def _line_of(path: Path, text: str) -> int:
    return path.read_text(encoding="utf-8").splitlines().index(text) + 1


def test_a_calendar_file_with_a_duplicate_key_is_refused_at_its_line(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = here / "rules" / "calendar" / "2026.yaml"
    line = _line_of(path, "    to: 2026-10-07") + 1  # the second "to:"
    edit(path, "    to: 2026-10-07\n", "    to: 2026-10-04\n    to: 2026-10-07\n")
    code, out, _ = run(capsys, "validate", "--rules", "rules")
    assert code == 2
    assert f"rules/calendar/2026.yaml:{line}:5: YAML-DUPLICATE-KEY holidays[" in out
    assert "calendar:0:0" not in out


def test_a_calendar_problem_names_its_line(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = here / "rules" / "calendar" / "2026.yaml"
    line = _line_of(path, "    to: 2026-10-07")
    edit(path, "    to: 2026-10-07\n", "    to: 2027-10-07\n")
    code, out, _ = run(capsys, "validate", "--rules", "rules")
    assert code == 2
    assert f"rules/calendar/2026.yaml:{line}:9: CALENDAR holidays[" in out


# ---------------------------------------------------------------------- tickets and files


def test_unreadable_tickets_get_chinese_located_problems(
    here: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "nul.yaml").write_bytes(b"ticket_id: T-1\nsummary: a\x00b\n")
    (here / "loop.yaml").symlink_to(here / "loop.yaml")
    code, _, err = run(capsys, "explain", "nul.yaml", "loop.yaml")
    assert code == 2
    assert "nul.yaml:2:11: INPUT-CONTROL-CHAR 文件中有不允许的控制字符 U+0000" in err
    assert "loop.yaml:0:0: FILE-UNREADABLE 无法读取文件：符号链接循环" in err

    class Stdin:
        buffer = __import__("io").BytesIO(b"\xff\xfeticket_id: x")

    monkeypatch.setattr(sys, "stdin", Stdin)
    code, _, err = run(capsys, "explain", "-")
    assert code == 2 and "<stdin>:1:1: FILE-ENCODING 文件是 UTF-16 编码" in err


def test_ticket_ids_with_control_characters_are_refused(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = make_ticket(ticket_id="T-1\u202e", summary="x" * 3000)
    (here / "t.json").write_text(json.dumps(ticket), encoding="utf-8")
    code, _, err = run(capsys, "explain", "t.json")
    assert code == 2
    assert "ticket_id 的值 'T-1\\u202e' 格式不正确，不能含有控制字符" in err
    assert "summary 过长（3,000 个字符，上限 2000）" in err


def test_the_schema_command_reads_only_published_schemas(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("../schemas/event", "../../pyproject", "/etc/passwd"):
        code, out, err = run(capsys, "schema", name)
        assert (code, out) == (2, "") and "没有名为" in err


# ---------------------------------------------------------------------- JSON lines


def good_lines() -> list[str]:
    return EVENTS.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (b'{"event_id": "X", "type": "t\xff"}', "第 14 行：文件不是 UTF-8 编码（字节 0xFF）"),
        (b"[" * 100_000 + b"]" * 100_000, "第 14 行：嵌套过深"),
        (b'{"event_id": "X", "event_id": "Y"}', "第 14 行：键 'event_id' 重复出现"),
        (b'{"event_id": "X", "n": NaN}', "第 14 行：NaN 不是有限的数字"),
        (b'{"event_id": "X", "n": ' + b"1" * 5000 + b"}", "第 14 行：数字过长"),
        (b'{"event_id": "\\ud800"}', "第 14 行：event_id 含有无效的 Unicode 字符"),
        (b'{"event_id": "X", "note": "' + b"x" * 2_000_000 + b'"}', "第 14 行：这一行过长"),
    ],
)
def test_a_bad_line_is_refused_with_its_number_and_the_others_are_stored(
    here: Path, capsys: pytest.CaptureFixture[str], bad: bytes, expected: str
) -> None:
    path = here / "events.jsonl"
    path.write_bytes("\n".join(good_lines()).encode() + b"\n" + bad + b"\n")
    code, out, err = run(capsys, "ingest", str(path), "--grade", "--db", "l.db")
    assert code == 2
    assert out.startswith("导入完成：接受 13 条")
    assert expected in err and "Traceback" not in err
    with SqliteStorage("l.db") as store:
        assert store.count() == 15


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"recorded_at": "yesterday"}, "recorded_at 的值 'yesterday' 格式不正确，应为日期和时间"),
        ({"event_id": "E-\u001b[31m"}, "event_id 的值 'E-\\u001b[31m' 格式不正确"),
        ({"note": "x" * 10_000}, "note 过长（10,000 个字符，上限 2000）"),
        ({"date": "2030-03-05"}, "日期 2030-03-05 晚于 2026-12-31 之后 31 天，不合常理"),
        ({"date": "1999-03-05"}, "日期 1999-03-05 早于 2000-01-01，不合常理"),
    ],
)
def test_implausible_events_are_refused(
    here: Path, capsys: pytest.CaptureFixture[str], change: dict[str, Any], expected: str
) -> None:
    lines = good_lines()
    dispatch = json.loads(lines[4])
    assert dispatch["type"] == "ticket.dispatched"
    lines[4] = json.dumps(dispatch | change, ensure_ascii=False)
    path = here / "events.jsonl"
    path.write_text("\n".join(lines[:5]) + "\n", encoding="utf-8")
    code, _, err = run(
        capsys, "ingest", str(path), "--grade", "--db", "l.db", "--as-of", "2026-12-31"
    )
    assert code == 2 and expected in err
    with SqliteStorage("l.db") as store:
        assert "ticket.dispatched" not in {e.type for e in store.events()}


def test_the_date_window_is_configurable(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (here / "huhang.yaml").write_text("date_window: {future_days: 3000}\n", encoding="utf-8")
    code, _, _ = run(capsys, "ingest", str(EVENTS), "--grade", "--as-of", "2020-01-01")
    assert code == 0
    (here / "huhang.yaml").write_text("date_window: {future_days: -1}\n", encoding="utf-8")
    code, _, err = run(capsys, "ingest", str(EVENTS))
    assert code == 2 and "huhang.yaml:1:28: CONFIG date_window.future_days 应为" in err


def test_control_characters_from_input_are_escaped_in_every_output(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = good_lines()
    first = json.loads(lines[0])
    first["payload"]["name"] = '=HYPERLINK("http://x")\u001b[2J\u202e公司'
    lines[0] = json.dumps(first, ensure_ascii=False)
    path = here / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run(capsys, "ingest", str(path), "--grade")[0] == 0
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--format", "csv")
    assert code == 0
    assert "\u001b" not in out and "\u202e" not in out
    assert "'=HYPERLINK" in out and "\\u001b[2J\\u202e公司" in out
    code, _, _ = run(
        capsys, "ledger", "--as-of", "2026-11-30", "--format", "xlsx", "--output", "t.xlsx"
    )
    from openpyxl import load_workbook

    sheet = load_workbook(here / "t.xlsx").active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if str(c.value).startswith("=HYPER")]
    assert cells and all(c.data_type == "s" for c in cells)
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--format", "json")
    assert "\u202e" not in out and json.loads(out)  # still valid JSON


def test_visible_keeps_ordinary_text() -> None:
    assert visible("汉中市\t第 1 行\n") == "汉中市\t第 1 行\n"
    assert visible("a\rb\x7f\u2066") == "a\\u000db\\u007f\\u2066"


# ---------------------------------------------------------------------- secrets, slow servers


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def slow_server() -> Iterator[str]:
    """A local endpoint that answers 500 to /fail/… and trickles a byte a second otherwise."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if "/fail/" in self.path:
                self.send_response(500)
                self.end_headers()
                self.wfile.write(f"no such hook {self.path}".encode())
                return
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(60):
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(1)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _notify_setup(here: Path, url: str) -> None:
    (here / "huhang.yaml").write_text(
        f"notifiers:\n  - {{name: 机器人, type: webhook, url: '{url}', timeout: 1}}\n",
        encoding="utf-8",
    )
    assert main(["ingest", str(EVENTS), "--grade"]) == 0
    assert main(["sweep", "--as-of", "2026-11-16"]) == 0


def test_a_secret_in_a_url_path_is_never_shown(
    here: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    slow_server: str,
) -> None:
    token = "tok-3f9a81c2e7"
    monkeypatch.setenv("HOOK_TOKEN", token)
    _notify_setup(here, slow_server + "/fail/${HOOK_TOKEN}/notify")
    capsys.readouterr()
    code, out, err = run(capsys, "notify")
    assert code == 0 and "HTTP 500" in err  # to be retried
    assert token not in out + err and "***" in err
    with sqlite3.connect(here / "huhang.db") as conn:
        errors = [row[0] for row in conn.execute("SELECT last_error FROM outbox")]
    assert errors and all(token not in (e or "") for e in errors)


def test_a_trickling_server_holds_notify_no_longer_than_its_timeout(
    here: Path, slow_server: str
) -> None:
    _notify_setup(here, slow_server + "/hook")
    start = time.monotonic()
    child = subprocess.run(
        [sys.executable, "-m", "kernel", "notify"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=here,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    elapsed = time.monotonic() - start
    assert child.returncode == 0, child.stderr  # to be retried
    assert "发送超时（1 秒）" in child.stderr
    assert elapsed < 15  # the server would trickle for 60 s


# ---------------------------------------------------------------------- scenarios, roster, links


def test_a_scenario_cannot_override_a_file_outside_its_rule_copy(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "tests" / "scenarios" / "rule-override.yaml").read_text(encoding="utf-8")
    victim = here / "victim.yaml"
    victim.write_text("kept: true\n", encoding="utf-8")
    outside = text.replace(
        "{file: deadlines.yaml, path: counting",
        "{file: ../../../../" + str(victim) + ", path: kept",
    )
    (here / "evil.yaml").write_text(outside, encoding="utf-8")
    code, _, err = run(capsys, "test", "evil.yaml")
    assert code == 2 and "evil.yaml:6:14: SCHEMA-FORMAT rules.override[1].file" in err
    assert victim.read_text(encoding="utf-8") == "kept: true\n"


def test_a_roster_row_dated_implausibly_is_refused(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "roster", "import", "missing.csv")
    assert code == 2 and not (here / "huhang.db").exists()
    header = "统一社会信用代码,企业名称,所在县区,牵头部门,包抓领导,生效日期\n"
    row = "91610700MA6YT2A0X4,汉中市汉运物流有限公司,汉台区,商务局,张明,2099-01-01\n"
    (here / "r.csv").write_text(header + row, encoding="utf-8")
    code, _, err = run(capsys, "roster", "import", "r.csv")
    assert code == 2 and "DATE-VALUE 91610700MA6YT2A0X4：日期 2099-01-01 晚于" in err
    with SqliteStorage("huhang.db") as store:
        assert store.count() == 0


def test_a_symbolic_link_loop_is_a_located_problem(
    here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (here / "loop").symlink_to(here / "loop")
    (here / "rules" / "scoring.x.yaml").symlink_to(here / "rules" / "scoring.x.yaml")
    code, out, _ = run(capsys, "validate", "--rules", "loop")
    assert code == 2 and "loop:0:0: RULES-DIR-MISSING" in out
    code, out, _ = run(capsys, "validate", "--rules", "rules")
    assert (
        code == 2 and "rules/scoring.x.yaml:0:0: FILE-UNREADABLE 无法读取文件：符号链接循环" in out
    )
