"""The command line as a whole: Chinese argparse, --version, exit codes, completion, plugin commands."""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kernel.cli import context
from kernel.cli import main as cli_main
from kernel.cli.completion import bash_script
from kernel.cli.main import build_parser, main
from kernel.errors import InputError
from kernel.hookspecs import hookimpl
from kernel.plugins import PluginError, get_plugin_manager
from tests.conftest import ROOT

#: words argparse prints when a message has no translation
ARGPARSE_ENGLISH = re.compile(
    r"\b(usage|options|positional arguments|optional arguments|error|arguments? (are|is) required"
    r"|unrecognized|invalid choice|expected|show this help|version number|not allowed)\b",
    re.IGNORECASE,
)


def _all_parsers() -> list[argparse.ArgumentParser]:
    found = []

    def walk(parser: argparse.ArgumentParser) -> None:
        found.append(parser)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(build_parser())
    return found


def test_every_help_page_is_free_of_argparse_english() -> None:
    parsers = _all_parsers()
    assert len(parsers) > 20
    for parser in parsers:
        text = parser.format_help()
        assert not ARGPARSE_ENGLISH.search(text), f"{parser.prog}:\n{text}"
        assert "用法：" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["report"], "缺少必需的参数：REPORT"),
        (["validate", "--bogus"], "无法识别的参数：--bogus"),
        (["report", "assessment"], "参数 --year --period 必须给出其中一个"),
        (["report", "assessment", "--year", "2026", "--period", "2026-Q1"], "不能与参数"),
        (["validate", "--format", "yaml"], "无效的选项 'yaml'"),
        (["nosuch"], "无效的选项 'nosuch'"),
        (["calendar", "add-days", "2026-01-01", "三"], "'三' 不是整数"),
        (["report", "monthly", "--month", "2026-13"], "'2026-13' 不是有效的月份"),
        (["sweep", "--as-of"], "需要一个值"),
    ],
)
def test_argument_errors_are_chinese_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "错误：命令参数有误：" in err
    assert not ARGPARSE_ENGLISH.search(err), err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert re.fullmatch(r"huhang \d+\.\d+\S*\n", capsys.readouterr().out)


def test_the_cli_reads_the_wall_clock_in_one_place() -> None:
    pattern = re.compile(r"date\.today\(\)|datetime\.now\(|time\.time\(\)")
    readers = sorted(
        str(p.relative_to(ROOT))
        for p in (ROOT / "kernel" / "cli").rglob("*.py")
        if pattern.search(p.read_text(encoding="utf-8"))
    )
    assert readers == ["kernel/cli/clock.py"]


def test_nothing_outside_the_cli_imports_it() -> None:
    pattern = re.compile(
        r"^\s*(from kernel\.cli\b|from kernel import cli\b|import kernel\.cli\b)", re.M
    )
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "kernel").rglob("*.py")
        if "cli" not in p.relative_to(ROOT / "kernel").parts[:1]
        and p.name != "__main__.py"
        and pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# --------------------------------------------------------------------------- completion


def _complete(script: str, words: list[str]) -> list[str]:
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    line = " ".join(words)
    program = (
        f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
        "_huhang_complete; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run([bash, "-c", program], capture_output=True, text=True, check=True)
    return sorted(w for w in out.stdout.splitlines() if w)


def test_bash_completion_knows_commands_subcommands_options_and_choices() -> None:
    script = bash_script(build_parser())
    assert _complete(script, ["huhang", "rep"]) == ["report"]
    assert _complete(script, ["huhang", "report", ""]) == [
        "agenda",
        "assessment",
        "monthly",
        "prefill",
        "unit",
    ]
    assert "--month" in _complete(script, ["huhang", "report", "monthly", "--"])
    assert _complete(script, ["huhang", "report", "monthly", "--format", ""]) == [
        "csv",
        "docx",
        "json",
        "md",
        "text",
        "xlsx",
    ]


def test_completion_command_prints_the_script(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["completion", "zsh"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("autoload -U +X bashcompinit")
    assert "complete -o filenames -F _huhang_complete huhang" in out


# --------------------------------------------------------------------------- plugin commands


class HelloPlugin:
    """A third-party plugin that adds ``huhang hello``."""

    @hookimpl
    def huhang_register_commands(self, register: Any) -> None:
        def configure(parser: argparse.ArgumentParser) -> None:
            parser.add_argument("name", help="称呼")

        def handler(args: argparse.Namespace) -> int:
            if args.name == "坏":
                raise InputError("名字不对")
            print(f"你好，{args.name}")
            return 0

        register("hello", "打个招呼", configure, handler)


def _with_plugin(monkeypatch: pytest.MonkeyPatch, plugin: object, tmp_path: Path) -> None:
    host = get_plugin_manager(local_dir=tmp_path, use_entry_points=False, extra=[("hello", plugin)])
    monkeypatch.setattr(context, "open_plugins", lambda args: (None, host))


def test_a_plugin_adds_a_subcommand(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _with_plugin(monkeypatch, HelloPlugin(), tmp_path)
    assert main(["hello", "汉中"]) == 0
    assert capsys.readouterr().out == "你好，汉中\n"
    assert main(["hello", "坏"]) == 2
    assert "错误：名字不对" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "打个招呼（插件 hello）" in capsys.readouterr().out


def test_built_in_commands_do_not_load_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(args: Any) -> Any:
        raise AssertionError("plugins were loaded for a built-in command")

    monkeypatch.setattr(context, "open_plugins", refuse)
    assert main(["calendar", "is-workday", "2026-10-09"]) == 0
    assert cli_main.GROUPS  # the built-in groups


def test_a_plugin_cannot_take_a_built_in_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    class Clash:
        @hookimpl
        def huhang_register_commands(self, register: Any) -> None:
            register("report", "冒名", lambda p: None, lambda a: 0)

    _with_plugin(monkeypatch, Clash(), tmp_path)
    assert main(["hello"]) == 2
    assert "错误：插件 hello 注册的命令 report 与内置命令重名" in capsys.readouterr().err
    host = get_plugin_manager(local_dir=tmp_path, use_entry_points=False, extra=[("c", Clash())])
    with pytest.raises(PluginError, match="与内置命令重名"):
        host.commands(reserved={"report"})


def test_package_version_comes_from_the_installed_metadata() -> None:
    import importlib.metadata

    import kernel

    assert kernel.__version__ == importlib.metadata.version("huhang")
