"""The 规则 page: each rule file as the table policy staff think in, and a rule-change preview.

The preview unpacks an uploaded candidate folder (zip or tar, size-capped, no links, no paths
outside the folder) into a temporary directory and runs the kernel's own checks on it:
:func:`kernel.rules.load.check_rules`, :func:`kernel.tools.lint.lint` and the impact replay of
:mod:`kernel.tools.impact` over the live ledger. Nothing is installed: live rules change only
through the rule files and their review.
"""

from __future__ import annotations

import datetime as dt
import io
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kernel.errors import InputError
from kernel.evaluation.explain import show
from kernel.rules.conditions import OP_WORDS, All, AnyOf, Leaf, Not
from kernel.rules.model import RuleSet
from kernel.vocabulary import ESCALATION_WORDS, OWNER_WORDS, ROUTE_SLOT_WORDS

#: the largest archive accepted, and the most its files may unpack to
MAX_ARCHIVE = 2 * 1024 * 1024
MAX_UNPACKED = 8 * 1024 * 1024
MAX_FILES = 200


@dataclass
class RuleTable:
    """A titled table of rules (text cells)."""

    title: str
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)


def condition_words(cond: Any) -> str:
    """A rule condition as one line of Chinese."""
    if isinstance(cond, Leaf):
        if cond.count:
            return f"{cond.field} 的数量{OP_WORDS.get(cond.op, cond.op)} {show(cond.value)}"
        if cond.op == "exists":
            return f"{cond.field} {'已填写' if cond.value else '未填写'}"
        value = list(cond.value) if isinstance(cond.value, tuple) else cond.value
        return f"{cond.field} {OP_WORDS.get(cond.op, cond.op)} {show(value)}"
    if isinstance(cond, All):
        return "且".join(f"（{condition_words(c)}）" for c in cond.items)
    if isinstance(cond, AnyOf):
        return "或".join(f"（{condition_words(c)}）" for c in cond.items)
    if isinstance(cond, Not):
        return f"并非（{condition_words(cond.item)}）"
    return "总是适用"


def _outcome(then: dict[str, Any]) -> str:
    parts = []
    for key, value in then.items():
        word = ROUTE_SLOT_WORDS.get(key, {"grade": "等级"}.get(key, key))
        parts.append(f"{word}：{show(value)}")
    return "；".join(parts)


def rule_tables(ruleset: RuleSet) -> list[RuleTable]:
    """Grading in order, routing, deadlines, escalation and deductions, each row with its clause."""
    tables = []
    for kind, title in (("grading", "分级规则（按顺序，先命中者定级）"), ("routing", "路由规则")):
        rule_file = ruleset.files.get(kind)
        if rule_file is None:
            continue
        table = RuleTable(
            f"{title} · {rule_file.path} v{rule_file.version}",
            ("序", "编号", "名称", "条件", "结果", "依据"),
        )
        for i, rule in enumerate(rule_file.rules, 1):
            table.rows.append(
                (
                    str(i),
                    rule.id,
                    rule.title,
                    condition_words(rule.when),
                    _outcome(rule.then),
                    rule.clause,
                )
            )
        tables.append(table)
    deadlines = ruleset.deadlines
    if deadlines is not None:
        clocks = RuleTable(
            f"期限 · {deadlines.path} v{deadlines.version}（{deadlines.counting}）",
            ("编号", "名称", "责任", "起算", "结束", "期限（工作日）", "依据"),
        )
        for clock in deadlines.clocks:
            limit = ""
            if clock.limit is not None:
                bits = [f"{g} 级 {n}" for g, n in clock.limit.by_grade.items()]
                bits += [f"{c} {n}" for c, n in clock.limit.by_category.items()]
                if clock.limit.default is not None:
                    bits.append(f"其他 {clock.limit.default}")
                limit = "；".join(bits)
            clocks.rows.append(
                (
                    clock.id,
                    clock.title,
                    OWNER_WORDS.get(clock.owner, clock.owner),
                    "、".join(clock.start),
                    "、".join(clock.stop),
                    limit,
                    clock.clause,
                )
            )
        tables.append(clocks)
        steps = RuleTable("督办、通报、约谈", ("编号", "名称", "措施", "条件", "依据"))
        for step in deadlines.escalation:
            when = step.after
            if step.workdays is not None:
                when += f" 后 {step.workdays} 个工作日"
            if step.consecutive_months is not None:
                when += f"，连续 {step.consecutive_months} 个月"
            steps.rows.append(
                (
                    step.id,
                    step.title,
                    ESCALATION_WORDS.get(step.action, step.action),
                    when,
                    step.clause,
                )
            )
        tables.append(steps)
    if ruleset.scoring is not None and ruleset.scoring.versions:
        scoring = ruleset.scoring.versions[-1]
        deductions = RuleTable(
            f"考核扣分 · {scoring.path} v{scoring.version}（{scoring.effective_from} 起）",
            ("编号", "名称", "扣分", "指标", "上限", "依据"),
        )
        for deduction in scoring.deductions:
            deductions.rows.append(
                (
                    deduction.id,
                    deduction.title,
                    show(deduction.points),
                    deduction.indicator,
                    show(deduction.cap) if deduction.cap is not None else "",
                    deduction.clause,
                )
            )
        tables.append(deductions)
    return tables


def _safe_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise InputError(f"压缩包中的路径 {name!r} 指向目录之外，已拒绝")
    return path


def unpack_candidate(data: bytes, filename: str, into: Path) -> Path:
    """Unpack an uploaded rule folder archive safely; returns the folder holding grading.yaml."""
    if len(data) > MAX_ARCHIVE:
        raise InputError(f"压缩包超过 {MAX_ARCHIVE // 1024 // 1024} MB")
    members: list[tuple[PurePosixPath, bytes]] = []
    total = 0
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_FILES:
                raise InputError(f"压缩包中的文件超过 {MAX_FILES} 个")
            for info in infos:
                if info.is_dir():
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise InputError(f"压缩包中的 {info.filename} 是符号链接，已拒绝")
                total += info.file_size
                if total > MAX_UNPACKED:
                    raise InputError(f"压缩包解开后超过 {MAX_UNPACKED // 1024 // 1024} MB")
                members.append((_safe_name(info.filename), archive.read(info)))
    else:
        try:
            archive_tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115
        except tarfile.TarError:
            raise InputError(f"{filename} 不是 zip 或 tar 压缩包") from None
        with archive_tar:
            tar_members = archive_tar.getmembers()
            if len(tar_members) > MAX_FILES:
                raise InputError(f"压缩包中的文件超过 {MAX_FILES} 个")
            for member in tar_members:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InputError(f"压缩包中的 {member.name} 不是普通文件，已拒绝")
                total += member.size
                if total > MAX_UNPACKED:
                    raise InputError(f"压缩包解开后超过 {MAX_UNPACKED // 1024 // 1024} MB")
                handle = archive_tar.extractfile(member)
                members.append((_safe_name(member.name), handle.read() if handle else b""))
    for path, content in members:
        target = into.joinpath(*path.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    found = sorted(into.rglob("grading.yaml"), key=lambda p: len(p.parts))
    if not found:
        raise InputError("压缩包中没有 grading.yaml：请把整个规则目录压缩后上传")
    return found[0].parent


@dataclass
class CandidatePreview:
    """What a candidate rule folder would change."""

    problems: list[str]
    findings: list[str] = field(default_factory=list)
    headline: list[str] = field(default_factory=list)
    markdown: str = ""


def preview_candidate(
    data: bytes, filename: str, baseline: RuleSet, events: list[Any], as_of: dt.date
) -> CandidatePreview:
    """Validate, lint and replay the ledger under an uploaded candidate rule folder."""
    from kernel.assessment.reports import render_report
    from kernel.rules.load import check_rules
    from kernel.tools.impact import compare, headline_lines, impact_report, replay
    from kernel.tools.lint import lint
    from kernel.tools.rulediff import rule_changes

    with tempfile.TemporaryDirectory(prefix="huhang-candidate-") as tmp:
        folder = unpack_candidate(data, filename, Path(tmp))
        candidate, problems = check_rules(folder)
        if candidate is None or problems:
            return CandidatePreview([str(p).replace(str(folder) + "/", "") for p in problems])
        findings = [str(f).replace(str(folder) + "/", "") for f in lint(candidate)]
        if not events:
            return CandidatePreview([], findings, ["台账中没有事件，无法计算影响"], "")
        impact = compare(replay(events, baseline, as_of), replay(events, candidate, as_of))
        impact.rule_changes = rule_changes(baseline.directory, folder)
        names = {"baseline": "现行规则", "candidate": f"候选规则（{filename}）"}
        headline = headline_lines(impact, **names)
        markdown = render_report(impact_report(impact, **names), "md")
    return CandidatePreview([], findings, headline, markdown)
