"""`huhang ingest`, `ledger`, `roster import`, `plugins` and `notify` from the command line."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from kernel.cli.main import main
from kernel.inputs.creditcode import complete
from kernel.storage.sqlite import SqliteStorage
from tests.conftest import ROOT

EVENTS = ROOT / "examples" / "events.jsonl"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUHANG_BLOCK_PLUGINS", raising=False)
    monkeypatch.setenv("HUHANG_RULES", str(ROOT / "rules"))
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_ingest_then_again_is_all_duplicates(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "ingest", str(EVENTS), "--grade") == (
        0,
        "导入完成：接受 13 条，重复 0 条，拒绝 0 条，自动分级 2 件（huhang.db）\n",
        "新建台账：huhang.db\n",
    )
    assert run(capsys, "ingest", str(EVENTS), "--grade")[1] == (
        "导入完成：接受 0 条，重复 13 条，拒绝 0 条，自动分级 0 件（huhang.db）\n"
    )
    with SqliteStorage("huhang.db") as store:
        assert store.count() == 15  # 13 events + 2 ticket.graded from --grade


def test_ingest_reports_each_rejection_with_its_line(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = EVENTS.read_text(encoding="utf-8").splitlines()
    bad = workdir / "bad.jsonl"
    bad.write_text(
        "\n".join(
            [
                lines[0],
                json.dumps(
                    {
                        "event_id": "E-9",
                        "type": "ticket.reported",
                        "date": "2026-03-02",
                        "actor": "发改委",
                        "ticket_id": "HZ-9",
                        "payload": {},
                    }
                ),
                "{not json",
                "",
                json.dumps(
                    {
                        "event_id": "E-10",
                        "type": "contact.recorded",
                        "date": "2026-03-02",
                        "actor": "发改委",
                        "enterprise": "91610723MA6YQ5C2X2",
                        "payload": {"by": "boss"},
                    }
                ),
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "ingest", str(bad), "--db", "ledger.db")
    assert code == 2
    assert out == "导入完成：接受 1 条，重复 0 条，拒绝 3 条（ledger.db）\n"
    assert err.splitlines() == [
        "新建台账：ledger.db",
        "被拒绝的事件（未写入台账）：",
        "  第 2 行 E-9：办理单 HZ-9 不存在",
        "  第 3 行：不是有效的 JSON：键应写在双引号中",
        "  第 5 行 E-10：SCHEMA-VALUE payload.by 的值 'boss' 不在允许范围内（允许：'lead_leader'、'liaison_cadre'、'other'）",
    ]


def test_ingest_progress_bar(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUHANG_PROGRESS", "1")
    code, _, err = run(capsys, "ingest", str(EVENTS), "--grade")
    assert code == 0
    assert "导入 [##############################] 100%  13/13" in err


def test_ledger_csv_files_and_output_end_lines_plainly(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CSV file ends its lines with CRLF, as Excel expects; printed, with LF. Neither shows
    the CR as the text ``\\u000d`` (it used to: the whole file went through the escaping of
    control characters meant for the cells), and both hold the same cells."""
    import csv
    import io

    run(capsys, "ingest", str(EVENTS), "--grade")
    code, out, _ = run(
        capsys, "ledger", "--as-of", "2026-11-30", "--format", "csv", "--output", "台账.csv"
    )
    assert code == 0 and out == "已写入 台账.csv（2 行）\n"
    data = Path("台账.csv").read_bytes()
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert "\\u000d" not in text
    assert text.endswith("\r\n") and text.count("\r\n") == text.count("\n") == 3
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 3 and rows[0][:2] == ["办理单编号", "企业名称"]
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--format", "csv")
    assert "\\u000d" not in out and "\r" not in out
    assert list(csv.reader(io.StringIO(out.removeprefix("\ufeff")))) == rows


def test_ingest_missing_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "ingest", "nope.jsonl")
    assert (code, out) == (2, "")
    assert err.startswith("nope.jsonl:0:0: FILE-MISSING 文件不存在")


def test_ledger_formats(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "ingest", str(EVENTS), "--grade")
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--format", "json")
    assert code == 0
    rows = {r["ticket_id"]: r for r in json.loads(out)}
    assert rows["HZ-2026-0003"] | {} == rows["HZ-2026-0003"]
    c = rows["HZ-2026-0003"]
    assert (
        c["grade"],
        c["primary"],
        c["status"],
        c["resolve_due"],
        c["overdue"],
        c["overdue_workdays"],
    ) == (
        "C",
        "洋县",
        "办理中",
        "2026-11-06",
        True,
        16,
    )
    assert c["overdue_clocks"] == ["交办后按等级限期办结（A 5、B 10、C 20 个工作日）"]
    b = rows["HZ-2026-0002"]
    assert (b["grade"], b["status"], b["rating"], b["overdue"]) == ("B", "已关闭", "满意", False)
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--format", "csv")
    assert out.startswith("\ufeff办理单编号,企业名称,统一社会信用代码,")
    code, out, _ = run(
        capsys, "ledger", "--as-of", "2026-11-30", "--format", "xlsx", "--output", "台账.xlsx"
    )
    assert out == "已写入 台账.xlsx（2 行）\n"
    from openpyxl import load_workbook

    sheet = load_workbook("台账.xlsx").active
    assert sheet is not None
    assert [c.value for c in sheet[1]][:3] == ["办理单编号", "企业名称", "统一社会信用代码"]
    assert sheet.max_row == 3


def test_ledger_xlsx_needs_an_output(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "ledger", "--format", "xlsx") == (
        2,
        "",
        "错误：xlsx 格式需要用 --output 指定文件\n",
    )


def test_roster_import(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, other = complete("91610700MA6Y00001"), complete("91610700MA6Y00002")
    roster = workdir / "roster.csv"
    roster.write_text(
        "统一社会信用代码,企业名称,所在县区,所属行业,牵头部门,包抓领导,对口服务干部\n"
        f"{good},汉中甲公司,汉台区,物流,商务局,张明,李娜\n"
        f"{other},汉中乙公司,汉台,餐饮,商务局,张明,李娜\n",
        encoding="utf-8",
    )
    code, out, err = run(capsys, "roster", "import", str(roster), "--date", "2026-03-01")
    assert code == 2
    assert "roster.csv:3:3: UNKNOWN-TERRITORY" in err and "是否想写 '汉台区'" in err
    assert out.startswith("共 2 行：新登记 1 户")
    code, out, err = run(
        capsys, "roster", "import", str(roster), "--date", "2026-03-01", "--strict"
    )
    assert code == 2 and "按 --strict 未导入任何行" in err
    with SqliteStorage("huhang.db") as store:
        assert [e.enterprise for e in store.events()] == [good]


def test_plugins_lists_builtins(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    assert re.search(r"^storage_sqlite +builtin +huhang_register_storage$", out, re.M)
    assert out.splitlines()[-2:] == [
        "通知方式：console（notify_console）、file（notify_file）、smtp（notify_smtp）、webhook（notify_webhook）",
        "本地插件目录：未配置（不加载任何本地插件代码）",
    ]


def test_notify_sends_queued_notices_to_a_file(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import datetime as dt

    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules
    from kernel.storage.contract import Notice

    (workdir / "huhang.yaml").write_text(
        "notifiers:\n  - {name: 发件箱, type: file, path: outbox/notices.jsonl}\n", encoding="utf-8"
    )
    with SqliteStorage("huhang.db") as store:
        ledger = Ledger(store, load_rules(ROOT / "rules").reference, notifiers=["发件箱"])
        notice = Notice(
            "督办:T-1:T-RESOLVE#1",
            "supervision",
            "汉台区",
            "办理单 T-1 超期",
            "请尽快办结",
            dt.date(2026, 3, 31),
            "T-1",
        )
        assert ledger.add_notices([notice, notice]) == [notice]
    assert run(capsys, "notify") == (
        0,
        "通知发送：成功 1，待重试 0，失败 0，跳过 0\n发件箱中已没有待发送的通知。\n",
        "",
    )
    [line] = (workdir / "outbox" / "notices.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["notice_id"] == "督办:T-1:T-RESOLVE#1"
    assert run(capsys, "notify")[1].startswith("通知发送：成功 0，待重试 0，失败 0，跳过 0\n")


def test_notify_sends_everything_due_with_a_progress_bar_or_up_to_a_limit(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from kernel.ledger.ledger import Ledger
    from kernel.rules.load import load_rules
    from kernel.storage.contract import Notice

    (workdir / "huhang.yaml").write_text(
        "notifiers:\n  - {name: 发件箱, type: file, path: notices.jsonl}\n", encoding="utf-8"
    )
    notices = [
        Notice(f"督办:T-{n}:T-RESOLVE#1", "supervision", "汉台区", f"办理单 T-{n} 超期", "请办结",
               dt.date(2026, 3, 31), f"T-{n}")
        for n in range(250)
    ]  # fmt: skip
    with SqliteStorage("huhang.db") as store:
        Ledger(store, load_rules(ROOT / "rules").reference, notifiers=["发件箱"]).add_notices(
            notices
        )
    assert run(capsys, "notify", "--limit", "120") == (
        0,
        "通知发送：成功 120，待重试 0，失败 0，跳过 0\n"
        "还有 130 条到期待发送（再次运行 huhang notify 继续发送）。\n",
        "",
    )
    monkeypatch.setenv("HUHANG_PROGRESS", "1")
    code, out, err = run(capsys, "notify")  # more than one batch of 100 in one run
    assert (code, out) == (
        0,
        "通知发送：成功 130，待重试 0，失败 0，跳过 0\n发件箱中已没有待发送的通知。\n",
    )
    assert "发送通知 [" in err and "130/130" in err
    sent = [
        json.loads(x)["notice_id"] for x in Path("notices.jsonl").read_text("utf-8").splitlines()
    ]
    assert sorted(sent) == sorted(n.notice_id for n in notices)  # each once


def test_notify_without_notifiers(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "notify")
    assert code == 2 and err.startswith("错误：配置文件中没有 notifiers")


def test_bad_config_file(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "huhang.yaml").write_text("db: x.db\nnotifier: []\n", encoding="utf-8")
    code, _, err = run(capsys, "ledger")
    assert code == 2
    assert (
        "huhang.yaml:2:1: CONFIG 未知配置项 'notifier'（可用：calendar、date_window、db、notifiers、plugins、rules）"
        in err
    )


def test_jsonl_ledger_is_a_readable_export(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "ingest", str(EVENTS), "--grade", "--db", "export.jsonl")
    exported = [
        json.loads(line)
        for line in (workdir / "export.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    source = [json.loads(x)["event_id"] for x in EVENTS.read_text(encoding="utf-8").splitlines()]
    graded = [
        e["event_id"]
        for e in exported
        if e["type"] == "ticket.graded" and e["event_id"] not in source
    ]
    assert graded == ["HZ-2026-0003:graded", "HZ-2026-0002:graded"]
    assert [e["event_id"] for e in exported if e["event_id"] not in graded] == source
    shutil.copy(workdir / "export.jsonl", workdir / "reimport.jsonl")
    assert run(capsys, "ingest", "reimport.jsonl", "--db", "copy.db")[0] == 0  # no --grade needed
    with SqliteStorage("copy.db") as store:
        assert store.count() == 15


def test_ledger_refuses_a_unit_the_rules_do_not_know(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown ``--unit``/``--primary``/``--territory`` used to list an empty 台账."""
    run(capsys, "ingest", str(EVENTS), "--grade")
    assert run(capsys, "ledger", "--unit", "发改") == (
        2,
        "",
        "错误：--unit 的值 '发改' 不是规则中登记的单位，是否想写 '发改委'？\n",
    )
    assert run(capsys, "ledger", "--primary", "洋") == (
        2,
        "",
        "错误：--primary 的值 '洋' 不是规则中登记的单位，是否想写 '洋县'？\n",
    )
    assert run(capsys, "ledger", "--territory", "发改委") == (
        2,
        "",
        "错误：--territory 的值 '发改委' 是市级部门，不是县区\n",
    )
    code, out, err = run(capsys, "ledger", "--territory", "ZZZ")
    assert (code, out, err) == (2, "", "错误：--territory 的值 'ZZZ' 不是规则中登记的县区\n")
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--unit", "发改委")
    assert code == 0 and "HZ-2026-0003" in out
    code, out, _ = run(capsys, "ledger", "--as-of", "2026-11-30", "--territory", "洋县")
    assert code == 0 and "HZ-2026-0003" in out and "HZ-2026-0002" not in out
