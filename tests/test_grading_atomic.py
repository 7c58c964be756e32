"""No ticket is ever left reported but ungraded: not by a crash, a kill -9, two writers, nor by
an earlier ingest without ``--grade``; ``huhang ledger check`` finds and repairs old ones."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.cli.main import main
from kernel.demo.generate import generate
from kernel.ledger.ledger import Ledger
from kernel.plugins import get_plugin_manager
from kernel.rules.load import load_rules

ROOT = Path(__file__).resolve().parent.parent
RULES = load_rules(ROOT / "rules")
AS_OF = ("--as-of", "2026-12-31")  # the simulated year's events are plausible as of its end


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated year (20 enterprises, 80 problems) as JSON lines, without grades."""
    sim = generate(seed=5, enterprises=20, problems=80)
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_text(
        "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in sim.events), encoding="utf-8"
    )
    return path


ENDED = ("ticket.withdrawn", "ticket.rejected", "ticket.merged")
ENDED_STATES = ("withdrawn", "rejected", "merged")


def states(url: str) -> dict[str, str]:
    """Every ticket's state in the ledger at ``url``."""
    with get_plugin_manager(use_entry_points=False).open_storage(url) as store:
        projector = Ledger(store, RULES.reference).project()
    return {ticket_id: state.state for ticket_id, state in projector.tickets.items()}


def read_model_differences(url: str) -> list[str]:
    """How the stored read model differs from a full replay (it is written with the events,
    in their transaction, so a kill -9 can never leave them apart)."""
    from kernel.ledger.readmodel import ReadModel

    with get_plugin_manager(use_entry_points=False).open_storage(url) as store:
        model = ReadModel(Ledger(store, RULES.reference))
        return model.differences() if store.count() else []


def stuck(url: str) -> list[str]:
    """Tickets reported but not graded."""
    return sorted(t for t, state in states(url).items() if state == "reported")


def ingest(url: str, path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "kernel", "ingest", str(path), "--grade", "--db", url, *AS_OF],
        cwd=ROOT,
        env={**os.environ, "HUHANG_PROGRESS": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )


def finish(url: str, path: Path) -> None:
    """Ingest the whole file to the end and check that every ticket went past grading."""
    child = ingest(url, path)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, out + err
    found = states(url)
    assert len(found) == 80
    assert "reported" not in found.values() and "collected" not in found.values()


# ---------------------------------------------------------------------- in process


def test_an_earlier_ingest_without_grading_is_graded_by_the_next(
    events_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    db = str(tmp_path / "l.db")
    lines = events_file.read_text(encoding="utf-8").splitlines(keepends=True)
    early = ("enterprise.registered", "ticket.collected", "ticket.reported")
    first = tmp_path / "first.jsonl"
    first.write_text(
        "".join(line for line in lines[:400] if json.loads(line)["type"] in early),
        encoding="utf-8",
    )
    assert main(["ingest", str(first), "--db", db, *AS_OF]) == 0
    before = stuck(db)
    assert before, "the first part holds reports"
    assert (
        main(["ingest", str(events_file), "--grade", "--db", db, *AS_OF]) == 0
    )  # no event refused
    assert stuck(db) == []


def test_ledger_check_lists_and_repairs_reported_tickets(
    events_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    db = str(tmp_path / "l.db")
    assert main(["ingest", str(events_file), "--db", db, *AS_OF]) == 2  # dispatches need a grade
    capsys.readouterr()
    reported = stuck(db)
    # a problem withdrawn, not accepted or merged before it was graded is no longer waiting
    lines = [json.loads(line) for line in events_file.read_text(encoding="utf-8").splitlines()]
    ended = {e["ticket_id"] for e in lines if e["type"] in ENDED}
    assert ended and len(reported) == 80 - len(ended)
    assert main(["ledger", "check", "--db", db]) == 1
    out = capsys.readouterr().out
    assert f"发现 {len(reported)} 件已上报但未分级的办理单" in out
    assert all(ticket_id in out for ticket_id in reported)
    assert main(["ledger", "check", "--repair", "--db", db]) == 0
    assert f"已补做分级 {len(reported)} 件" in capsys.readouterr().out
    assert stuck(db) == []
    found = set(states(db).values())
    assert "graded" in found and found <= {"graded", *ENDED_STATES}
    assert main(["ledger", "check", "--db", db]) == 0
    assert "台账检查通过" in capsys.readouterr().out
    # the rest of the file now goes in, but for the dispatches of the problems that ended
    # (withdrawn, merged …) while their dispatch was refused for want of a grade
    code = main(["ingest", str(events_file), "--grade", "--db", db, *AS_OF])
    refused = re.findall(r"第 \d+ 行 (\S+?)：", capsys.readouterr().err)
    assert code == (2 if refused else 0)
    assert {r.split(":")[0] for r in refused} <= ended
    assert all(r.endswith(":dispatched") for r in refused)
    assert "collected" not in states(db).values()


CRASHER = """
import json, os, sys
sys.path.insert(0, {root!r})
from kernel.evaluation.kernel import Kernel
from kernel.ledger.ingest import ingest_events
from kernel.ledger.ledger import Ledger
from kernel.plugins import get_plugin_manager
from kernel.rules.load import load_rules

url, path, crash_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
ruleset = load_rules({rules!r})
calls = 0


class Crashing(Kernel):
    def evaluate(self, ticket):
        global calls
        calls += 1
        if calls == crash_at:
            os._exit(9)  # dies as under kill -9: no clean-up, in the middle of grading
        return super().evaluate(ticket)


store = get_plugin_manager(use_entry_points=False).open_storage(url)
items = [(json.loads(line), None, ()) for line in open(path, encoding="utf-8")]
ingest_events(Ledger(store, ruleset.reference), items, kernel=Crashing(ruleset))
"""


def test_dying_while_grading_stores_neither_the_report_nor_its_grade(
    events_file: Path, tmp_path: Path
) -> None:
    script = tmp_path / "crasher.py"
    script.write_text(CRASHER.format(root=str(ROOT), rules=str(ROOT / "rules")), encoding="utf-8")
    url = str(tmp_path / "l.db")
    for crash_at in (3, 70):  # in the first batch of 500 events, and in a later one
        child = subprocess.run(
            [sys.executable, str(script), url, str(events_file), str(crash_at)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert child.returncode == 9, child.stderr
        assert stuck(url) == []
    # the batches before the crash were kept: some tickets were graded (and went on from there)
    assert set(states(url).values()) - {"collected", "reported"}
    finish(url, events_file)


# ---------------------------------------------------------------------- kill -9


def kill_after(child: subprocess.Popen[str], seconds: float) -> None:
    time.sleep(seconds)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()


@pytest.mark.slow
def test_kill_9_of_one_writer_leaves_no_ticket_ungraded(events_file: Path, tmp_path: Path) -> None:
    url = str(tmp_path / "l.db")
    rng = random.Random(13)
    for _ in range(3):
        kill_after(ingest(url, events_file), rng.uniform(0.5, 3.0))
        assert stuck(url) == []
        assert read_model_differences(url) == []
    finish(url, events_file)
    assert read_model_differences(url) == []


@pytest.mark.slow
def test_kill_9_of_one_of_two_writers_leaves_no_ticket_ungraded(
    events_file: Path, tmp_path: Path
) -> None:
    url = str(tmp_path / "l.db")
    rng = random.Random(7)
    for _ in range(2):
        survivor, victim = ingest(url, events_file), ingest(url, events_file)
        kill_after(victim, rng.uniform(0.5, 3.0))
        assert stuck(url) == []
        assert read_model_differences(url) == []
        out, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, out + err
        assert stuck(url) == []
    finish(url, events_file)


def _postgres_url() -> Iterator[str]:
    from tests.test_postgres import drop, url_for  # skips the test without a server

    schema = f"huhang_kill_{random.randrange(1 << 40):x}"
    try:
        yield url_for(schema)
    finally:
        drop(schema)


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _postgres_url()


@pytest.mark.slow
def test_kill_9_of_one_of_three_postgres_workers_leaves_no_ticket_ungraded(
    events_file: Path, pg_url: str
) -> None:
    rng = random.Random(3)
    for _ in range(1):
        workers = [ingest(pg_url, events_file) for _ in range(3)]
        kill_after(workers[rng.randrange(3)], rng.uniform(0.8, 3.0))
        assert stuck(pg_url) == []
        assert read_model_differences(pg_url) == []
        for worker in workers:
            if worker.returncode is None:
                out, err = worker.communicate(timeout=120)
                assert worker.returncode == 0, out + err
        assert stuck(pg_url) == []
    finish(pg_url, events_file)
