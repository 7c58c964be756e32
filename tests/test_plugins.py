"""The plugin system: hook documentation, discovery order, block list, third-party packages."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kernel import hookspecs
from kernel.calendar.workdays import WorkCalendar
from kernel.evaluation.kernel import Kernel
from kernel.hookspecs import hookimpl
from kernel.ledger.events import Event
from kernel.ledger.ledger import Ledger
from kernel.ledger.projection import TransitionRejected
from kernel.plugins import PluginError, get_plugin_manager
from kernel.rules.model import RuleSet
from kernel.storage.memory import MemoryStorage
from tests.conftest import ROOT
from tests.timeline import CODE

HOOKS = sorted(
    name
    for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)
    if name.startswith("huhang_")
)


# --------------------------------------------------------------------------- meta-test


@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_is_documented_and_tested(name: str) -> None:
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec) or ""
    assert "Called" in doc, f"{name}: the docstring must say when the hook fires"
    for param in inspect.signature(spec).parameters:
        assert f":param {param}:" in doc, f"{name}: parameter {param} is undocumented"
    tests = [
        p
        for p in (ROOT / "tests").glob("test_*.py")
        if p.name != "test_plugins.py" and name in p.read_text(encoding="utf-8")
    ]
    this = Path(__file__).read_text(encoding="utf-8")
    own_tests = this.count(name) - this.count(f'"{name}"')  # mentions beyond this meta-test
    assert tests or own_tests > 0, f"{name}: no test exercises this hook"
    assert name in (ROOT / "docs" / "plugins" / "hooks.md").read_text(encoding="utf-8"), (
        f"{name}: not described in docs/plugins/hooks.md"
    )


def test_hook_list_is_what_the_issues_promised() -> None:
    assert HOOKS == [
        "huhang_calendar",
        "huhang_decision_made",
        "huhang_event_committed",
        "huhang_register_commands",
        "huhang_register_notifiers",
        "huhang_register_storage",
    ]


# --------------------------------------------------------------------------- registered plugins


class Recorder:
    """A plugin that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.decisions: list[tuple[str, str | None]] = []

    @hookimpl
    def huhang_event_committed(self, event: Event) -> None:
        self.events.append(event.event_id)

    @hookimpl
    def huhang_decision_made(self, ticket_id: str, evaluation: Any) -> None:
        self.decisions.append((ticket_id, evaluation.grade.grade))


def registered_ledger(ruleset: RuleSet, recorder: Recorder) -> Ledger:
    host = get_plugin_manager(use_entry_points=False, extra=[("recorder", recorder)])
    return Ledger(MemoryStorage(), ruleset.reference, plugins=host)


def register_event(event_id: str = "R-1") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "enterprise.registered",
        "date": "2026-01-05",
        "actor": "助商稳企办",
        "enterprise": CODE,
        "payload": {
            "name": "汉运物流",
            "territory": "汉台区",
            "lead_unit": "商务局",
            "lead_leader": "张明",
        },
    }


def test_event_committed_fires_once_per_stored_event(ruleset: RuleSet) -> None:
    recorder = Recorder()
    ledger = registered_ledger(ruleset, recorder)
    ledger.submit(register_event())
    ledger.submit(register_event())  # duplicate: not committed again
    with pytest.raises(TransitionRejected):
        ledger.submit({**register_event("R-2")})  # already registered: rejected
    assert recorder.events == ["R-1"]


def test_a_failing_plugin_does_not_undo_the_event(
    ruleset: RuleSet, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        @hookimpl
        def huhang_event_committed(self, event: Event) -> None:
            raise RuntimeError("boom")

    host = get_plugin_manager(use_entry_points=False, extra=[("broken", Broken())])
    ledger = Ledger(MemoryStorage(), ruleset.reference, plugins=host)
    assert ledger.submit(register_event()).accepted
    assert ledger.storage.count() == 1
    assert "huhang_event_committed" in caplog.text


def test_decision_made_fires_when_the_ledger_grades(ruleset: RuleSet, kernel: Kernel) -> None:
    import datetime as dt

    recorder = Recorder()
    ledger = registered_ledger(ruleset, recorder)
    ledger.submit(register_event())
    ledger.submit(
        {
            "event_id": "C-1",
            "type": "ticket.collected",
            "date": "2026-03-02",
            "actor": "商务局",
            "enterprise": CODE,
            "ticket_id": "T-1",
            "payload": {
                "category": "用工",
                "summary": "招工难",
                "assessment": {"authority_level": "中央"},
            },
        }
    )
    ledger.submit(
        {
            "event_id": "P-1",
            "type": "ticket.reported",
            "date": "2026-03-02",
            "actor": "商务局",
            "ticket_id": "T-1",
            "payload": {},
        }
    )
    result = ledger.grade("T-1", kernel, dt.date(2026, 3, 3))
    assert recorder.decisions == [("T-1", "D")]
    assert result.event.payload["grade"] == "D"
    assert result.event.payload["grade_rule"] == "G-D-AUTHORITY"
    assert recorder.events[-1] == result.event.event_id


def test_huhang_calendar_first_result_wins(tmp_path: Path) -> None:
    class OwnCalendar:
        def __init__(self) -> None:
            self.calendar = WorkCalendar.default()

        @hookimpl(tryfirst=True)
        def huhang_calendar(self, rules_dir: Path) -> WorkCalendar:
            return self.calendar

    plugin = OwnCalendar()
    host = get_plugin_manager(use_entry_points=False, extra=[("own", plugin)])
    assert host.calendar(tmp_path) is plugin.calendar  # tmp_path has no calendar folder
    plain = get_plugin_manager(use_entry_points=False)
    with pytest.raises(PluginError, match="没有插件提供工作日历"):
        plain.calendar(tmp_path)


def test_huhang_register_storage_duplicate_scheme_is_an_error() -> None:
    class Again:
        @hookimpl
        def huhang_register_storage(self, register: Callable[[str, Any], None]) -> None:
            register("memory", MemoryStorage)

    with pytest.raises(
        PluginError, match="存储后端 'memory' 被插件 storage_memory 和 again 重复注册"
    ):
        get_plugin_manager(use_entry_points=False, extra=[("again", Again())])


def test_huhang_register_notifiers_adds_a_type() -> None:
    class Sink:
        @hookimpl
        def huhang_register_notifiers(self, register: Callable[[str, Any], None]) -> None:
            register("sink", lambda name, options: (name, dict(options)))

    host = get_plugin_manager(use_entry_points=False, extra=[("sink", Sink())])
    assert host.notifier("sink", "n1", {"a": 1}) == ("n1", {"a": 1})
    with pytest.raises(PluginError, match="没有名为 'snk' 的通知方式"):
        host.notifier("snk", "n1", {})


def test_unknown_hook_is_refused() -> None:
    class Typo:
        @hookimpl
        def huhang_event_comitted(self, event: Event) -> None:
            pass

    with pytest.raises(PluginError, match="huhang_event_comitted"):
        get_plugin_manager(use_entry_points=False, extra=[("typo", Typo())])


def test_managers_are_independent() -> None:
    a = get_plugin_manager(use_entry_points=False, extra=[("recorder", Recorder())])
    b = get_plugin_manager(use_entry_points=False)
    assert "recorder" in {p.name for p in a.describe()}
    assert "recorder" not in {p.name for p in b.describe()}


def test_block_list(monkeypatch: pytest.MonkeyPatch) -> None:
    host = get_plugin_manager(use_entry_points=False, block=["storage_memory"])
    assert "memory" not in host.storage
    monkeypatch.setenv("HUHANG_BLOCK_PLUGINS", "calendar_files, storage_memory")
    names = {p.name for p in get_plugin_manager(use_entry_points=False).describe()}
    assert not names & {"calendar_files", "storage_memory"}


def test_local_plugins_folder(tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "audit_log.py").write_text(
        textwrap.dedent(
            """
            from kernel.hookspecs import hookimpl
            SEEN = []

            @hookimpl
            def huhang_event_committed(event):
                SEEN.append(event.event_id)
            """
        ),
        encoding="utf-8",
    )
    (folder / "_private.py").write_text("raise RuntimeError('not loaded')\n", encoding="utf-8")
    host = get_plugin_manager(use_entry_points=False, local_dir=folder)
    info = {p.name: p for p in host.describe()}["audit_log"]
    assert info.source.startswith("local (") and info.hooks == ("huhang_event_committed",)
    order = [p.name for p in host.describe()]
    assert order.index("audit_log") > order.index("storage_memory")  # built-ins come first


def test_broken_local_plugin_is_reported(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import nonexistent_module_xyz\n", encoding="utf-8")
    with pytest.raises(PluginError, match=r"本地插件 .*bad\.py 加载失败：ModuleNotFoundError"):
        get_plugin_manager(use_entry_points=False, local_dir=tmp_path)


# --------------------------------------------------------------------------- a real package


PACKAGE_PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "huhang-demo-plugin"
version = "0.1.0"

[project.entry-points.huhang]
demo_audit = "huhang_demo_plugin"
"""

PACKAGE_MODULE = '''
"""A third-party Huhang plugin: writes every committed event id to $DEMO_AUDIT_FILE."""
import os
from kernel.hookspecs import hookimpl


@hookimpl
def huhang_event_committed(event):
    with open(os.environ["DEMO_AUDIT_FILE"], "a", encoding="utf-8") as handle:
        handle.write(event.event_id + "\\n")
'''

SCRIPT = """
import json, sys
from kernel import load_rules
from kernel.ledger.ledger import Ledger
from kernel.plugins import get_plugin_manager
host = get_plugin_manager()
infos = {p.name: [p.source, list(p.hooks)] for p in host.describe()}
ledger = Ledger(host.open_storage("memory:"), load_rules("RULES").reference, plugins=host)
ledger.submit(json.loads(sys.argv[1]))
print(json.dumps(infos["demo_audit"]))
"""


@pytest.mark.slow
def test_third_party_package_is_discovered_through_its_entry_point(tmp_path: Path) -> None:
    import json

    package = tmp_path / "pkg"
    (package / "huhang_demo_plugin").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PACKAGE_PYPROJECT, encoding="utf-8")
    (package / "huhang_demo_plugin" / "__init__.py").write_text(PACKAGE_MODULE, encoding="utf-8")
    env_dir = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(env_dir),
            str(package),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    audit = tmp_path / "audit.txt"
    env = {
        **os.environ,
        "PYTHONPATH": f"{env_dir}{os.pathsep}{ROOT}",
        "DEMO_AUDIT_FILE": str(audit),
    }
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT.replace("RULES", str(ROOT / "rules")),
            json.dumps(register_event()),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [
        "entry point (huhang-demo-plugin)",
        ["huhang_event_committed"],
    ]
    assert audit.read_text(encoding="utf-8") == "R-1\n"
    listed = subprocess.run(
        [sys.executable, "-m", "kernel", "plugins"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert "demo_audit" in listed.stdout and "huhang_event_committed" in listed.stdout
    blocked = subprocess.run(
        [sys.executable, "-m", "kernel", "plugins"],
        capture_output=True,
        text=True,
        env={**env, "HUHANG_BLOCK_PLUGINS": "demo_audit"},
        cwd=tmp_path,
        check=True,
    )
    assert "demo_audit" not in blocked.stdout.split("已禁用")[0]
