"""What a proposal changes in the rule files themselves: rules added, removed and changed, by id.

Every YAML file of the two rule folders (``*.yaml`` and ``calendar/*.yaml``) is read safely and
compared. Items of a list that carry an ``id`` (grading and routing rules, clocks, escalation
steps, monthly duties, indicators, deductions, outcomes …) are matched by id, so moving a rule
within its file changes nothing; for a changed rule the fields that differ are named
(``when``, ``then.grade``, ``limit.by_grade.C``). Whatever else differs in a file (its version,
title, a calendar's holidays) is one change of the file's settings. The Word templates are
compared byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import ProblemsError
from kernel.inputs.sourcefile import read_file

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"
#: how each kind of change reads
CHANGE_WORDS = {ADDED: "新增", REMOVED: "删除", CHANGED: "修改"}
#: how deep a changed field is named (``then.co_handlers`` rather than ``then.co_handlers[2]``)
FIELD_DEPTH = 3
#: the fields named for one changed rule, at most
MAX_FIELDS = 8


@dataclass(frozen=True)
class RuleChange:
    """One rule (or one file's settings) added, removed or changed."""

    file: str  # relative to the rule folder: grading.yaml, calendar/2026.yaml, templates/…
    rule: str  # the id; "" for the file's settings
    change: str  # added | removed | changed
    title: str = ""
    fields: tuple[str, ...] = ()

    @property
    def change_word(self) -> str:
        """新增, 删除 or 修改."""
        return CHANGE_WORDS[self.change]

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "file": self.file,
            "rule": self.rule,
            "change": self.change,
            "title": self.title,
            "fields": list(self.fields),
        }


def _files(folder: Path) -> dict[str, Path]:
    found = {p.name: p for p in sorted(folder.glob("*.yaml"))}
    found |= {f"calendar/{p.name}": p for p in sorted((folder / "calendar").glob("*.yaml"))}
    found |= {f"templates/{p.name}": p for p in sorted((folder / "templates").glob("*.docx"))}
    return found


def _read(path: Path) -> Any:
    if path.suffix == ".docx":
        return path.read_bytes()
    try:
        return read_file(path).data
    except ProblemsError:
        return path.read_bytes()  # unreadable as YAML: compared as bytes


def _split(value: Any) -> tuple[dict[str, dict[str, Any]], Any]:
    """The items carrying an ``id`` (by id) and the document without them."""
    items: dict[str, dict[str, Any]] = {}

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            kept = []
            for item in node:
                if isinstance(item, dict) and isinstance(item.get("id"), str):
                    items.setdefault(item["id"], item)
                else:
                    kept.append(strip(item))
            return kept
        return node

    return items, strip(value)


def differing_fields(old: Any, new: Any, path: str = "", depth: int = 0) -> list[str]:
    """The dotted paths (``then.grade``) under which two values differ."""
    if old == new:
        return []
    if depth >= FIELD_DEPTH or not (isinstance(old, dict) and isinstance(new, dict)):
        return [path or "（全部）"]
    out: list[str] = []
    for key in [*old, *(k for k in new if k not in old)]:
        out += differing_fields(
            old.get(key), new.get(key), f"{path}.{key}" if path else str(key), depth + 1
        )
    return out


def _fields(old: Any, new: Any) -> tuple[str, ...]:
    found = differing_fields(old, new)
    if len(found) > MAX_FIELDS:
        found = [*found[:MAX_FIELDS], f"等 {len(found)} 处"]
    return tuple(found)


def rule_changes(baseline: Path, candidate: Path) -> list[RuleChange]:
    """Every rule added, removed or changed between two rule folders, file by file."""
    before, after = _files(baseline), _files(candidate)
    out: list[RuleChange] = []
    for name in sorted(set(before) | set(after)):
        if name not in after:
            out.append(RuleChange(name, "", REMOVED, "（整个文件）"))
            continue
        if name not in before:
            out.append(RuleChange(name, "", ADDED, "（整个文件）"))
            continue
        old, new = _read(before[name]), _read(after[name])
        if old == new:
            continue
        if isinstance(old, bytes) or isinstance(new, bytes):
            out.append(RuleChange(name, "", CHANGED, "（文件内容）"))
            continue
        old_items, old_rest = _split(old)
        new_items, new_rest = _split(new)
        if old_rest != new_rest:
            out.append(RuleChange(name, "", CHANGED, "（文件设置）", _fields(old_rest, new_rest)))
        for rule_id in [*old_items, *(i for i in new_items if i not in old_items)]:
            was, now = old_items.get(rule_id), new_items.get(rule_id)
            if now is None:
                assert was is not None
                out.append(RuleChange(name, rule_id, REMOVED, str(was.get("title", ""))))
            elif was is None:
                out.append(RuleChange(name, rule_id, ADDED, str(now.get("title", ""))))
            elif was != now:
                out.append(
                    RuleChange(name, rule_id, CHANGED, str(now.get("title", "")), _fields(was, now))
                )
    return out
