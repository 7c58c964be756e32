"""Lint findings: their codes and severities, the exit code, and the text and JSON report."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)
SEVERITY_WORDS = {ERROR: "错误", WARNING: "警告", INFO: "提示"}

SHADOWED = "LINT-SHADOWED"
GAP = "LINT-GAP"
CONFLICT = "LINT-CONFLICT"
GRADE_CLOCKS = "LINT-GRADE-CLOCKS"
UNKNOWN_TARGET = "LINT-UNKNOWN-TARGET"
DEAD_DEDUCTION = "LINT-DEAD-DEDUCTION"
ENGINE = "LINT-ENGINE"
STALE_NUMBER = "LINT-STALE-NUMBER"
CODES = (
    SHADOWED,
    GAP,
    CONFLICT,
    GRADE_CLOCKS,
    UNKNOWN_TARGET,
    DEAD_DEDUCTION,
    ENGINE,
    STALE_NUMBER,
)

# --------------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    """One lint finding, located at ``path:line:col`` like a validation problem."""

    path: str
    line: int
    col: int
    code: str
    severity: str  # error | warning | info
    message: str
    example: dict[str, Any] | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} [{self.severity}] {self.message}"

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order of the report: file, line, column, code, message."""
        return (self.path, self.line, self.col, self.code, self.message)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``example`` is null when there is none)."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "example": self.example,
        }


def exit_code(findings: Sequence[Finding]) -> int:
    """2 if any error, 1 if any warning, else 0."""
    severities = {f.severity for f in findings}
    if ERROR in severities:
        return 2
    return 1 if WARNING in severities else 0


class _ExampleDumper(yaml.SafeDumper):
    """Block mappings with flow lists: ``departments: [发改委, 工信局]``."""


def _flow_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)


_ExampleDumper.add_representer(list, _flow_list)


def render_findings(findings: Sequence[Finding], fmt: str = "text") -> str:
    """The report: ``text`` (one line per finding, example tickets as indented YAML, a summary
    line) or ``json`` (a list of :meth:`Finding.as_dict`)."""
    if fmt == "json":
        return json.dumps([f.as_dict() for f in findings], ensure_ascii=False, indent=2) + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}")
    lines: list[str] = []
    for finding in findings:
        lines.append(str(finding))
        if finding.example is not None:
            dumped = yaml.dump(
                finding.example,
                Dumper=_ExampleDumper,
                allow_unicode=True,
                sort_keys=False,
                width=1000,
            )
            lines.extend(f"    {line}" for line in dumped.splitlines())
    counts = {s: sum(1 for f in findings if f.severity == s) for s in SEVERITIES}
    if findings:
        parts = "、".join(f"{SEVERITY_WORDS[s]} {counts[s]} 项" for s in SEVERITIES)
        lines.append(f"规则检查：{parts}")
    else:
        lines.append("规则检查：没有发现问题")
    return "\n".join(lines) + "\n"
