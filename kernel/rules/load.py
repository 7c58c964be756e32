"""Load a rule folder, check it in two layers, and build a :class:`RuleSet`.

Layer 1 is the JSON Schema of each file (structure, unknown keys, types). Layer 2 covers what a
schema cannot see: duplicate ids, unknown fields, operators that do not fit a field's type, unknown
units or categories, and the limits of the durable-rules engine. Every problem of every file is
collected with its ``file:line:col`` and reported together, sorted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from kernel.calendar.workdays import WorkCalendar
from kernel.errors import CalendarError, Problem, ProblemsError, RuleSetInvalid
from kernel.inputs.contracts import schema_problems
from kernel.inputs.sourcefile import SourceDoc, field_name, read_file
from kernel.inputs.suggest import did_you_mean
from kernel.rules.conditions import Condition, ConditionParser, leaves
from kernel.rules.deadlines import DeadlineRules, parse_deadlines
from kernel.rules.fields import FieldSpec, fields_for
from kernel.rules.levels import LEVEL_FILE, Level, home, level_chain, top_level
from kernel.rules.lifecycle import parse_lifecycle
from kernel.rules.model import Rule, RuleFile, RuleSet, UnitValue
from kernel.rules.reference import UNIT_KINDS, Category, Reference, Unit
from kernel.rules.resolved import LayeredDoc, merge_docs
from kernel.rules.scoring import ScoringHistory, ScoringRules, parse_scoring
from kernel.rules.templates import check_templates
from kernel.vocabulary import GRADES

REFERENCE_FILES = ("units", "categories")
RULE_FILES = ("grading", "routing")
OTHER_FILES = ("deadlines",)
#: files a rule folder may leave out (then their rules do not apply)
OPTIONAL_FILES = ("lifecycle",)
# Which hit policies each file may use, and why.
ALLOWED_POLICIES = {
    "grading": (("first", "priority"), "每张办理单只能得到一个等级"),
    "routing": (("collect",), "主办、协办、反馈、协调由多条规则共同确定"),
}

# durable-rules limits (see docs/internals/engine.md): 4,096 rules per ruleset and a hang at 512 distinct
# tests under one node. Stay well below both.
MAX_RULES_PER_FILE = 4000
#: versions of the scoring rules (scoring.yaml, scoring.*.yaml) in one rule folder
MAX_SCORING_VERSIONS = 50
MAX_DISTINCT_TESTS_PER_FIELD = 500

UNIT_SLOTS = ("primary", "feedback_owner")
UNIT_LIST_SLOTS = ("co_handlers", "coordinators")


def default_rules_dir() -> Path:
    """The rule folder used when none is given: $HUHANG_RULES, ./rules, or the repository's."""
    env = os.environ.get("HUHANG_RULES")
    if env:
        return Path(env)
    local = Path.cwd() / "rules"
    if (local / "grading.yaml").is_file():
        return local
    return Path(__file__).resolve().parents[2] / "rules"


def display_path(path: Path) -> str:
    """A path as short as possible for messages: relative to the working folder if inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # outside the folder; a symbolic-link loop
        return str(path)


class _Loader:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.problems: list[Problem] = []
        self.docs: dict[str, SourceDoc] = {}
        #: documents that failed their schema: their semantic checks would read wrong types
        self.invalid: set[str] = set()
        #: the levels of the folder, top first (one for a folder without level.yaml)
        self.chain: tuple[Level, ...] = (top_level(directory),)
        #: the files each document was read from (several for a folder that extends another)
        self.files: dict[str, list[Path]] = {}

    def read_all(self) -> None:
        if not self.directory.is_dir():
            what = "不是目录" if self.directory.exists() else "规则目录不存在"
            self.problems.append(
                Problem(display_path(self.directory), 0, 0, "RULES-DIR-MISSING", what)
            )
            return
        if (self.directory / LEVEL_FILE).is_file():
            chain, problems = level_chain(self.directory)
            self.problems.extend(problems)
            self.chain = chain
            if not chain:  # the level file is wrong: the folder cannot be read further
                return
        for kind in (*REFERENCE_FILES, *RULE_FILES, *OTHER_FILES):
            doc = self._read(self.directory / f"{kind}.yaml", kind)
            if doc is not None:
                self.docs[kind] = doc
        for kind in OPTIONAL_FILES:
            path = self.directory / f"{kind}.yaml"
            if any((level.directory / path.name).exists() for level in self.chain):
                doc = self._read(path, kind)
                if doc is not None:
                    self.docs[kind] = doc
        # The scoring rules may have several versions: scoring.yaml and scoring.*.yaml.
        names = {
            path.name
            for level in self.chain
            for path in level.directory.glob("scoring*.yaml")
            if path.name == "scoring.yaml" or path.name.startswith("scoring.")
        }
        versions = sorted(self.directory / name for name in names)
        if len(versions) > MAX_SCORING_VERSIONS:
            self.problems.append(
                Problem(
                    display_path(self.directory),
                    0,
                    0,
                    "RULES-TOO-MANY",
                    f"计分办法文件（scoring*.yaml）有 {len(versions)} 个，超过上限 "
                    f"{MAX_SCORING_VERSIONS}",
                )
            )
            versions = versions[:MAX_SCORING_VERSIONS]
        for path in versions:
            doc = self._read(path, "scoring", key=path.stem)
            if doc is not None:
                self.docs[path.stem] = doc
        if not any(key.startswith("scoring") for key in self.docs) and not names:
            self.problems.append(
                Problem(
                    display_path(self.directory / "scoring.yaml"),
                    0,
                    0,
                    "FILE-MISSING",
                    "文件不存在",
                )
            )

    def _source(self, path: Path, key: str) -> SourceDoc | None:
        """The file at ``path``, resolved over the levels when the folder extends another."""
        layers: list[tuple[Level, SourceDoc, Path]] = []
        for level in self.chain:
            found = level.directory / path.name
            if len(self.chain) > 1 and not found.is_file():
                continue
            try:
                layers.append((level, read_file(found, display_path(found)), found))
            except ProblemsError as exc:
                self.problems.extend(exc.problems)
                return None
        if not layers:  # no level has it: reported as missing
            self._source_missing(path)
            return None
        self.files[key] = [found for _, _, found in layers]
        doc, problems = merge_docs(layers, layered=len(self.chain) > 1)
        self.problems.extend(problems)
        if problems:
            self.invalid.add(key)
        return doc

    def _source_missing(self, path: Path) -> None:
        try:
            read_file(path, display_path(path))
        except ProblemsError as exc:
            self.problems.extend(exc.problems)
        return None

    def _read(self, path: Path, kind: str, key: str | None = None) -> SourceDoc | None:
        doc = self._source(path, key or kind)
        if doc is None:
            return None
        self.problems.extend(doc.problems)
        if not isinstance(doc.data, dict):
            self.problems.append(
                doc.problem((), "SCHEMA-TYPE", "文件内容应为映射（键: 值），实际为空或其他类型")
            )
            return None
        for list_key in ("rules", "clocks", "escalation", "indicators", "deductions"):
            items = doc.data.get(list_key)
            if isinstance(items, list) and len(items) > MAX_RULES_PER_FILE:
                self.problems.append(
                    doc.problem(
                        (list_key,),
                        "ENGINE-LIMIT",
                        f"{list_key} 有 {len(items):,} 项，超过单个文件上限 "
                        f"{MAX_RULES_PER_FILE}，请拆分文件",
                    )
                )
                self.invalid.add(key or kind)
                return doc
        found = schema_problems(doc, kind)
        self.problems.extend(found)
        if found or doc.problems:
            self.invalid.add(key or kind)
        return doc

    # ------------------------------------------------------------------ reference data

    def reference(self) -> Reference:
        units: dict[str, Unit] = {}
        categories: dict[str, Category] = {}
        first_seen: dict[tuple[str, str], str] = {}
        doc = self.docs.get("units")
        if doc is not None:
            for kind in UNIT_KINDS:
                for i, entry in enumerate(_list(doc.data.get(kind))):
                    uid = entry.get("id") if isinstance(entry, dict) else None
                    if not isinstance(uid, str):
                        continue
                    if uid in units:
                        self._duplicate(doc, (kind, i, "id"), uid, "单位", first_seen)
                        continue
                    first_seen[("单位", uid)] = (
                        f"{doc.file_of((kind, i))}:{doc.where((kind, i, 'id'))[0]}"
                    )
                    level = doc.level_of((kind, i)) if isinstance(doc, LayeredDoc) else ""
                    units[uid] = Unit(uid, str(entry.get("name", uid)), kind, level)
        doc = self.docs.get("categories")
        if doc is not None:
            for i, entry in enumerate(_list(doc.data.get("categories"))):
                cid = entry.get("id") if isinstance(entry, dict) else None
                if not isinstance(cid, str):
                    continue
                if cid in categories:
                    self._duplicate(doc, ("categories", i, "id"), cid, "类别", first_seen)
                    continue
                first_seen[("类别", cid)] = (
                    f"{doc.file_of(('categories', i))}:{doc.where(('categories', i, 'id'))[0]}"
                )
                categories[cid] = Category(cid, str(entry.get("title", cid)))
        loaded = frozenset(kind for kind in REFERENCE_FILES if kind in self.docs)
        own = self.chain[-1].name if len(self.chain) > 1 else ""
        return Reference(units=units, categories=categories, loaded=loaded, own_level=own)

    def _duplicate(
        self,
        doc: SourceDoc,
        path: tuple[str | int, ...],
        value: str,
        word: str,
        first_seen: dict[tuple[str, str], str],
    ) -> None:
        where = first_seen.get((word, value), "")
        self.problems.append(
            doc.problem(path, "DUPLICATE-ID", f"{word} id '{value}' 重复，已在 {where} 定义")
        )

    # ------------------------------------------------------------------ rule files

    def rule_file(self, kind: str, reference: Reference, seen: dict[str, str]) -> RuleFile | None:
        doc = self.docs.get(kind)
        if doc is None or (kind in self.invalid and _too_many(doc)):
            return None
        data = doc.data
        fields = fields_for(kind)
        parser = ConditionParser(doc, fields, reference)
        policy = data.get("hit_policy")
        allowed, reason = ALLOWED_POLICIES[kind]
        if isinstance(policy, str) and policy not in allowed:
            self.problems.append(
                doc.problem(
                    ("hit_policy",),
                    "HIT-POLICY",
                    f"{kind}.yaml 的命中策略不能是 '{policy}'：{reason}，应为 {' 或 '.join(allowed)}",
                )
            )
        rules: list[Rule] = []
        for index, raw in enumerate(_list(data.get("rules"))):
            if not isinstance(raw, dict):
                continue
            rule = self._rule(doc, kind, index, raw, parser, reference, fields, seen)
            if rule is not None:
                rules.append(rule)
        self.problems.extend(parser.problems)
        if len(rules) > MAX_RULES_PER_FILE:
            self.problems.append(
                doc.problem(
                    ("rules",),
                    "ENGINE-LIMIT",
                    f"规则数 {len(rules)} 超过单个文件上限 {MAX_RULES_PER_FILE}，请拆分文件",
                )
            )
        self._fan_out(doc, rules)
        return RuleFile(
            kind=kind,
            path=doc.path,
            version=int(data.get("version", 1)) if isinstance(data.get("version"), int) else 1,
            title=str(data.get("title", kind)),
            hit_policy=str(policy),
            rules=tuple(rules),
            effective_from=data.get("effective_from"),
        )

    def _rule(
        self,
        doc: SourceDoc,
        kind: str,
        index: int,
        raw: dict[str, Any],
        parser: ConditionParser,
        reference: Reference,
        fields: dict[str, FieldSpec],
        seen: dict[str, str],
    ) -> Rule | None:
        path = ("rules", index)
        rule_id = raw.get("id")
        ok = isinstance(rule_id, str)
        if isinstance(rule_id, str):
            if rule_id in seen:
                self.problems.append(
                    doc.problem(
                        (*path, "id"),
                        "DUPLICATE-ID",
                        f"规则 id '{rule_id}' 重复，已在 {seen[rule_id]} 定义",
                    )
                )
                ok = False
            else:
                line, _ = doc.where((*path, "id"))
                seen[rule_id] = f"{doc.file_of(path)}:{line}"
        when: Condition | None = None
        if "when" in raw:
            when = parser.parse(raw["when"], (*path, "when"))
        then = raw.get("then")
        outcome = self._outcome(doc, kind, path, then, reference, fields)
        if not ok or when is None or outcome is None:
            return None
        line, col = doc.where(path)
        precedence = raw.get("precedence", 0)
        return Rule(
            id=str(rule_id),
            title=str(raw.get("title", "")),
            clause=str(raw.get("clause", "")),
            when=when,
            then=outcome,
            precedence=precedence if isinstance(precedence, int) else 0,
            index=index,
            kind=kind,
            path=doc.file_of(path),
            line=line,
            col=col,
            level=doc.level_of(path) if isinstance(doc, LayeredDoc) else "",
        )

    def _outcome(
        self,
        doc: SourceDoc,
        kind: str,
        path: tuple[str | int, ...],
        then: Any,
        reference: Reference,
        fields: dict[str, FieldSpec],
    ) -> dict[str, Any] | None:
        if not isinstance(then, dict):
            return None
        if kind == "grading":
            return dict(then) if then.get("grade") in GRADES else None
        out: dict[str, Any] = {}
        ok = True
        for slot, value in then.items():
            slot_path = (*path, "then", slot)
            if slot in UNIT_SLOTS:
                unit = self._unit_value(doc, slot_path, value, reference, fields, single=True)
                ok = ok and unit is not None
                out[slot] = unit
            elif slot in UNIT_LIST_SLOTS:
                units = []
                for i, item in enumerate(_list(value)):
                    unit = self._unit_value(
                        doc, (*slot_path, i), item, reference, fields, single=False
                    )
                    ok = ok and unit is not None
                    units.append(unit)
                out[slot] = tuple(units)
            elif slot in ("agenda", "report_upward"):
                out[slot] = bool(value)
            else:
                ok = False  # unknown slot: reported by the schema
        return out if ok else None

    def _unit_value(
        self,
        doc: SourceDoc,
        path: tuple[str | int, ...],
        value: Any,
        reference: Reference,
        fields: dict[str, FieldSpec],
        *,
        single: bool,
    ) -> UnitValue | None:
        if isinstance(value, str):
            problem = reference.check("units", value)
            if problem is not None:
                code, text = problem
                self.problems.append(doc.problem(path, code, f"{field_name(path)} 的值{text}"))
                return None
            return UnitValue(unit=value)
        if isinstance(value, dict) and isinstance(value.get("ref"), str):
            ref = value["ref"]
            spec = fields.get(ref)
            unit_refs = ("units", "territories", "departments")
            if spec is None or spec.ref not in unit_refs:
                candidates = [f for f, s in fields.items() if s.ref in unit_refs]
                hint = did_you_mean(ref, candidates) or f"；可引用：{'、'.join(candidates)}"
                self.problems.append(
                    doc.problem(
                        (*path, "ref"),
                        "UNKNOWN-FIELD",
                        f"{field_name(path)} 引用的字段 '{ref}' 不是单位字段{hint}",
                    )
                )
                return None
            if single and spec.type == "array":
                self.problems.append(
                    doc.problem(
                        (*path, "ref"),
                        "OUTCOME-TYPE",
                        f"{field_name(path)} 只能是一个单位，而字段 '{ref}' 是列表",
                    )
                )
                return None
            return UnitValue(ref=ref)
        return None  # the schema reports the wrong shape

    def _fan_out(self, doc: SourceDoc, rules: list[Rule]) -> None:
        distinct: dict[str, set[Any]] = defaultdict(set)
        for rule in rules:
            for leaf in leaves(rule.when):
                values = leaf.value if leaf.op in ("in", "not_in") else (leaf.value,)
                distinct[leaf.field].update(values)
        for field, values in sorted(distinct.items()):
            if len(values) > MAX_DISTINCT_TESTS_PER_FIELD:
                self.problems.append(
                    doc.problem(
                        ("rules",),
                        "ENGINE-LIMIT",
                        f"字段 '{field}' 在本文件中被比较了 {len(values)} 个不同的值，"
                        f"超过引擎上限 {MAX_DISTINCT_TESTS_PER_FIELD}，请拆分规则文件",
                    )
                )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _too_many(doc: SourceDoc) -> bool:
    items = doc.data.get("rules")
    return isinstance(items, list) and len(items) > MAX_RULES_PER_FILE


def _fingerprint(docs: dict[str, SourceDoc], files: dict[str, list[Path]]) -> str:
    digest = hashlib.sha256()
    for kind in sorted(docs):
        digest.update(kind.encode())
        for path in files[kind]:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _scoring_history(
    docs: dict[str, SourceDoc],
    invalid: set[str],
    deadlines: DeadlineRules | None,
    reference: Reference,
    seen: dict[str, str],
    problems: list[Problem],
) -> ScoringHistory | None:
    versions: list[ScoringRules] = []
    by_version: dict[int, str] = {}
    by_date: dict[dt.date, str] = {}
    for key in sorted(k for k in docs if k.startswith("scoring")):
        if key in invalid:
            continue  # its schema problems are reported; its values may be of any type
        doc = docs[key]
        parsed = parse_scoring(doc, deadlines, seen, problems)
        if parsed is None:
            continue
        if parsed.version in by_version:
            problems.append(
                doc.problem(
                    ("version",),
                    "SCORING-VERSION",
                    f"版本号 {parsed.version} 与 {by_version[parsed.version]} 重复",
                )
            )
        if parsed.effective_from in by_date:
            problems.append(
                doc.problem(
                    ("effective_from",),
                    "SCORING-VERSION",
                    f"生效日期 {parsed.effective_from} 与 {by_date[parsed.effective_from]} 相同",
                )
            )
        by_version[parsed.version] = doc.path
        by_date[parsed.effective_from] = doc.path
        for unit in parsed.weights:
            found = reference.check("units", unit)
            if found is not None:
                problems.append(
                    doc.problem(
                        ("conversion", "weights"), found[0], f"conversion.weights 中{found[1]}"
                    )
                )
        versions.append(parsed)
    if not versions:
        return None
    ordered = sorted(versions, key=lambda v: v.effective_from)
    if [v.version for v in ordered] != sorted(v.version for v in ordered):
        problems.append(Problem(ordered[0].path, 0, 0, "SCORING-VERSION", "版本号应随生效日期递增"))
    return ScoringHistory(tuple(ordered))


def check_rules(directory: Path | None = None) -> tuple[RuleSet | None, list[Problem]]:
    """Load and check a rule folder; return the rule set (None if invalid) and every problem."""
    directory = directory or default_rules_dir()
    loader = _Loader(directory)
    loader.read_all()
    if not loader.chain:
        return None, sorted(set(loader.problems))
    reference = loader.reference()
    seen: dict[str, str] = {}
    files: dict[str, RuleFile] = {}
    for kind in RULE_FILES:
        rule_file = loader.rule_file(kind, reference, seen)
        if rule_file is not None:
            files[kind] = rule_file
    deadlines = None
    if "deadlines" in loader.docs and "deadlines" not in loader.invalid:
        grades = {
            str(rule.then.get("grade"))
            for rule in (files["grading"].rules if "grading" in files else ())
        }
        deadlines = parse_deadlines(
            loader.docs["deadlines"], reference, grades, seen, loader.problems
        )
    calendar = (
        _check_calendar(home(loader.chain, "calendar", directory) / "calendar", loader.problems)
        if directory.is_dir()
        else None
    )
    scoring = _scoring_history(
        loader.docs, loader.invalid, deadlines, reference, seen, loader.problems
    )
    lifecycle = None
    if "lifecycle" in loader.docs and "lifecycle" not in loader.invalid:
        lifecycle = parse_lifecycle(loader.docs["lifecycle"], loader.problems)
    if directory.is_dir():
        templates = home(loader.chain, "templates", directory)
        loader.problems.extend(check_templates(templates, display_path(templates)))
    problems = sorted(set(loader.problems))
    if problems or deadlines is None or calendar is None or scoring is None:
        return None, problems
    return (
        RuleSet(
            directory=directory,
            reference=reference,
            files=files,
            fingerprint=_fingerprint(loader.docs, loader.files),
            deadlines=deadlines,
            calendar=calendar,
            scoring=scoring,
            lifecycle=lifecycle,
            levels=loader.chain,
            sources=dict(loader.docs),
        ),
        [],
    )


def _check_calendar(folder: Path, problems: list[Problem]) -> WorkCalendar | None:
    """Load the calendar files; their problems join the others (one line per message)."""
    if not folder.is_dir():
        problems.append(
            Problem(
                display_path(folder),
                0,
                0,
                "FILE-MISSING",
                "工作日历目录不存在（每年一个 YYYY.yaml）",
            )
        )
        return None
    try:
        return WorkCalendar.from_dir(folder)
    except ProblemsError as exc:  # a year file's problems, each located
        problems.extend(exc.problems)
        return None
    except CalendarError as exc:  # about the folder as a whole (missing years …)
        for line in str(exc).splitlines():
            problems.append(Problem(display_path(folder), 0, 0, "CALENDAR", line))
        return None


def load_rules(directory: Path | str | None = None) -> RuleSet:
    """Load a rule folder; raise :class:`RuleSetInvalid` listing every problem."""
    ruleset, problems = check_rules(Path(directory) if directory is not None else None)
    if ruleset is None:
        raise RuleSetInvalid(problems, f"规则文件有 {len(problems)} 个问题")
    return ruleset
