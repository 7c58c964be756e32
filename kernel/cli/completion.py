"""``huhang completion bash|zsh``: a shell completion script generated from the parser itself.

The script is static text (no Python runs while the user presses Tab), so it must be generated
again after an upgrade that adds commands; the docs say so. Completed: subcommands at every level,
options, the choices of options such as ``--format``, and file names elsewhere.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Iterator
from typing import Any

from kernel.cli.exits import EXIT_OK


def register(sub: Any) -> None:
    """``completion``."""
    p = sub.add_parser("completion", help="输出 shell 自动补全脚本（bash 或 zsh）")
    p.add_argument("shell", choices=("bash", "zsh"), help="shell 类型")
    p.set_defaults(handler=cmd_completion)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(
    parser: argparse.ArgumentParser, path: str = ""
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for name, child in _subparsers(parser).items():
        yield from _walk(child, f"{path}/{name}")


def bash_script(parser: argparse.ArgumentParser, prog: str = "huhang") -> str:
    """The bash completion function for ``parser``."""
    words: list[str] = []
    paths: list[str] = []
    choices: list[str] = []
    for path, node in _walk(parser):
        options = [s for a in node._actions for s in a.option_strings]
        names = list(_subparsers(node))
        words.append(f"    {shlex.quote(path)}) words={shlex.quote(' '.join(names + options))} ;;")
        paths.extend(f"{path}/{name}" for name in names)
        for action in node._actions:
            if action.option_strings and action.choices and action.nargs != 0:
                for option in action.option_strings:
                    values = " ".join(str(c) for c in action.choices)
                    choices.append(
                        f"    {shlex.quote(path + ' ' + option)}) words={shlex.quote(values)} ;;"
                    )
    fn = f"_{prog}_complete"
    known = "|".join(shlex.quote(p) for p in paths) or "''"
    return "\n".join(
        [
            f"# {prog} 的 bash 自动补全；由 `{prog} completion bash` 生成",
            f"{fn}() {{",
            '  local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"',
            '  local key="" w i words=""',
            "  for ((i = 1; i < COMP_CWORD; i++)); do",
            '    w="${COMP_WORDS[i]}"',
            f'    case "$key/$w" in {known}) key="$key/$w" ;; esac',
            "  done",
            '  case "$key $prev" in',
            *choices,
            "    *)",
            '      case "$key" in',
            *("  " + line for line in words),
            "      esac",
            '      if [[ "$cur" != -* ]]; then',
            '        COMPREPLY=($(compgen -W "$(echo "$words" | tr " " "\\n" | grep -v "^-")" -- "$cur"))',
            '        [[ ${#COMPREPLY[@]} -eq 0 ]] && COMPREPLY=($(compgen -f -- "$cur"))',
            "        return 0",
            "      fi ;;",
            "  esac",
            '  COMPREPLY=($(compgen -W "$words" -- "$cur"))',
            "}",
            f"complete -o filenames -F {fn} {prog}",
            "",
        ]
    )


def cmd_completion(args: argparse.Namespace) -> int:
    """Print the completion script for a shell."""
    script = bash_script(args.root_parser)
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    sys.stdout.write(script)
    return EXIT_OK
