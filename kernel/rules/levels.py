"""Rule folders in levels: a county or zone folder that extends the city's (分层分级).

A folder with a ``level.yaml`` declares its level and ``extends`` an upper folder; a folder
without one is the top level (the city). :func:`level_chain` reads the chain from the top down,
each step checked against ``level.schema.json`` and located by file and line.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from kernel.errors import Problem, ProblemsError
from kernel.inputs.contracts import schema_problems
from kernel.inputs.sourcefile import SourceDoc, read_file
from kernel.vocabulary import TOP_LEVEL_CODE, TOP_LEVEL_NAME

LEVEL_FILE = "level.yaml"
#: levels above a folder, at most (city, county, town is two)
MAX_DEPTH = 4
#: ``extends: package:NAME[/FOLDER]``: the rule folder inside an installed Python package
PACKAGE_PREFIX = "package:"
_PACKAGE = re.compile(r"^package:([A-Za-z_][A-Za-z0-9_]*)(?:/([A-Za-z0-9_./-]+))?$")


@dataclass(frozen=True)
class Level:
    """One level of a rule folder chain."""

    code: str
    name: str
    directory: Path
    upper: str | None = None
    unit_at_upper: str | None = None
    #: ``level.yaml`` as shown in messages ('' for the top level)
    source: str = ""


def _shown(path: Path) -> str:
    """A path for messages, relative to the working folder when inside it (as in load)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):
        return str(path)


def top_level(directory: Path) -> Level:
    """The level of a folder without ``level.yaml``."""
    return Level(TOP_LEVEL_CODE, TOP_LEVEL_NAME, directory)


def package_folder(extends: str) -> tuple[Path | None, str]:
    """The folder that ``extends: package:NAME[/FOLDER]`` names, or None and why not.

    Only a top-level package name is accepted: finding it does not import (run) anything.
    """
    match = _PACKAGE.match(extends)
    if match is None:
        return None, (
            f"规则包应写为 {PACKAGE_PREFIX}包名 或 {PACKAGE_PREFIX}包名/子目录"
            f"（包名为已安装的顶层 Python 包），实际为 '{extends}'"
        )
    name, inner = match.group(1), match.group(2) or ""
    if ".." in inner.split("/"):
        return None, f"规则包 {name} 中的子目录不能含有 ..：'{inner}'"
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        return None, f"没有安装名为 {name} 的规则包（Python 包），请先安装它"
    return Path(os.path.normpath(Path(locations[0]) / inner)), ""


def _read_level(directory: Path, problems: list[Problem]) -> tuple[Level, Path] | None:
    """The level declared in ``directory`` and the folder it extends (None if unreadable)."""
    path = directory / LEVEL_FILE
    shown = _shown(path)
    try:
        doc = read_file(path, shown)
    except ProblemsError as exc:
        problems.extend(exc.problems)
        return None
    problems.extend(doc.problems)
    found = schema_problems(doc, "level") if isinstance(doc.data, dict) else []
    if not isinstance(doc.data, dict):
        found = [doc.problem((), "SCHEMA-TYPE", "文件内容应为映射（键: 值），实际为空或其他类型")]
    if found or doc.problems:
        problems.extend(found)
        return None
    info = doc.data["level"]
    extends = str(doc.data["extends"])
    if extends.startswith(PACKAGE_PREFIX):
        found_dir, why = package_folder(extends)
        if found_dir is None:
            problems.append(_at(doc, ("extends",), "LEVEL-EXTENDS", why))
            return None
        upper_dir = found_dir
    else:
        upper_dir = Path(os.path.normpath(directory / extends))
    if not (upper_dir / "grading.yaml").is_file() and not (upper_dir / LEVEL_FILE).is_file():
        problems.append(
            _at(
                doc,
                ("extends",),
                "LEVEL-EXTENDS",
                f"上级规则目录 {_shown(upper_dir)} 不存在或不是规则目录",
            )
        )
        return None
    level = Level(
        code=str(info["code"]),
        name=str(info["name"]),
        directory=directory,
        upper=str(info["upper"]),
        unit_at_upper=str(info["unit_at_upper"]),
        source=shown,
    )
    return level, upper_dir


def _at(doc: SourceDoc, path: tuple[str, ...], code: str, message: str) -> Problem:
    return doc.problem(path, code, message)


def level_chain(directory: Path) -> tuple[tuple[Level, ...], list[Problem]]:
    """The levels of ``directory`` from the top down (the folder's own level last)."""
    problems: list[Problem] = []
    chain: list[Level] = []
    seen: set[Path] = set()
    current = directory
    while (current / LEVEL_FILE).is_file():
        try:
            key = current.resolve()
        except (OSError, RuntimeError):
            key = current
        if key in seen or len(chain) >= MAX_DEPTH:
            problems.append(
                Problem(
                    _shown(current / LEVEL_FILE),
                    0,
                    0,
                    "LEVEL-CYCLE",
                    f"extends 形成循环或超过 {MAX_DEPTH} 层：{' → '.join(_shown(c.directory) for c in chain)}",
                )
            )
            return (), problems
        seen.add(key)
        read = _read_level(current, problems)
        if read is None:
            return (), problems
        level, upper_dir = read
        chain.append(level)
        current = upper_dir
    chain.append(top_level(current))
    chain.reverse()
    for upper, lower in pairwise(chain):
        if lower.upper != upper.code:
            doc = read_file(Path(lower.directory / LEVEL_FILE), lower.source)
            problems.append(
                _at(
                    doc,
                    ("level", "upper"),
                    "LEVEL-UPPER",
                    f"level.upper 为 '{lower.upper}'，但 extends 指向的目录是 "
                    f"{upper.name}（{upper.code}）",
                )
            )
    return tuple(chain), problems


def home(chain: tuple[Level, ...], name: str, default: Path) -> Path:
    """The folder of the nearest level (from the bottom) that holds ``name``."""
    for level in reversed(chain):
        if (level.directory / name).exists():
            return level.directory
    return default
