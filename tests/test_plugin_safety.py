"""No plugin code runs unless configured, and a blocked plugin is never imported."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from kernel import plugins as plugins_module
from kernel.cli.main import main
from kernel.plugins import get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent
EVIL = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A downloaded folder: ``plugins/evil.py`` writes a marker file when imported."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUHANG_PLUGINS_DIR", raising=False)
    monkeypatch.delenv("HUHANG_BLOCK_PLUGINS", raising=False)
    monkeypatch.delenv("HUHANG_CONFIG", raising=False)
    monkeypatch.setenv("HUHANG_PROGRESS", "0")
    (tmp_path / "plugins").mkdir()
    marker = tmp_path / "ran.txt"
    (tmp_path / "plugins" / "evil.py").write_text(EVIL.format(marker=str(marker)), "utf-8")
    sys.modules.pop("huhang_local_evil", None)
    return tmp_path


def commands(events: Path) -> list[list[str]]:
    return [
        ["plugins"],
        ["ingest", str(events), "--grade"],
        ["ledger", "--as-of", "2026-12-31"],
        ["ledger", "check"],
        ["sweep", "--as-of", "2026-12-31"],
        ["report", "monthly", "--month", "2026-11"],
        ["notify"],
    ]


def test_a_plugins_folder_in_the_current_directory_is_never_imported(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in commands(ROOT / "examples" / "events.jsonl"):
        main(argv)
        assert not (folder / "ran.txt").exists(), argv
    out = capsys.readouterr().out
    assert "本地插件目录：未配置" in out and "evil.py" in out  # `huhang plugins` says why


@pytest.mark.parametrize(
    ("config", "env"),
    [
        ("plugins:\n  dir: plugins\n  block: [evil]\n", {}),
        ("plugins:\n  dir: plugins\n", {"HUHANG_BLOCK_PLUGINS": "other, evil"}),
    ],
)
def test_a_blocked_local_plugin_is_never_imported(
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    config: str,
    env: dict[str, str],
) -> None:
    (folder / "huhang.yaml").write_text(config, encoding="utf-8")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for argv in commands(ROOT / "examples" / "events.jsonl"):
        main(argv)
        assert not (folder / "ran.txt").exists(), argv
    assert "已禁用：" in capsys.readouterr().out


def test_a_configured_local_plugin_is_loaded(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The control: the same file does run once huhang.yaml names the folder."""
    (folder / "huhang.yaml").write_text("plugins:\n  dir: plugins\n", encoding="utf-8")
    assert main(["plugins"]) == 0
    assert (folder / "ran.txt").read_text() == "ran"
    assert "本地插件目录：plugins" in capsys.readouterr().out


def test_the_plugins_dir_variable_names_a_folder(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUHANG_PLUGINS_DIR", str(folder / "plugins"))
    get_plugin_manager(use_entry_points=False)
    assert (folder / "ran.txt").exists()


def test_a_configured_folder_that_does_not_exist_is_an_error(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (folder / "huhang.yaml").write_text("plugins:\n  dir: plugins-typo\n", encoding="utf-8")
    assert main(["plugins"]) == 2
    assert "本地插件目录 plugins-typo 不存在" in capsys.readouterr().err
    host = get_plugin_manager(use_entry_points=False, local_dir=folder / "nowhere")
    assert all(info.source == "builtin" for info in host.describe())  # the API: nothing to load


def test_a_blocked_entry_point_is_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "ran.txt"
    (tmp_path / "evil_entry.py").write_text(EVIL.format(marker=str(marker)), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(
        plugins_module,
        "entry_points",
        lambda group: [EntryPoint("evil", "evil_entry", group)],
    )
    host = get_plugin_manager(block=["evil"])
    assert not marker.exists()
    assert "evil" in host.blocked
    get_plugin_manager()  # the control: unblocked, it is imported
    assert marker.exists()


def test_a_blocked_builtin_is_never_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "kernel.notify.smtp", raising=False)
    host = get_plugin_manager(use_entry_points=False, block=["notify_smtp"])
    assert "kernel.notify.smtp" not in sys.modules
    assert "smtp" not in host.notifiers
