"""The committed JSON Schemas and the translation of their errors into plain Chinese."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from jsonschema import Draft202012Validator

from kernel.errors import InputError, Problem
from kernel.inputs.schemagen import SCHEMA_DIR
from kernel.inputs.sourcefile import PathKey, SourceDoc, field_name
from kernel.inputs.suggest import did_you_mean

TYPE_WORDS = {
    "string": "文本",
    "number": "数字",
    "integer": "整数",
    "boolean": "布尔值（true/false）",
    "array": "列表",
    "object": "映射（键: 值）",
    "null": "空值",
}


# Plain words for the patterns our schemas use, instead of the regular expression itself.
PATTERN_WORDS = {
    "^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$": (
        "应为 18 位统一社会信用代码（数字或大写字母，不含 I、O、Z、S、V，第 3–8 位为行政区划数字）"
    ),
    "^[A-Za-z][A-Za-z0-9_.-]*$": "应以英文字母开头，只含字母、数字和 - _ .",
}
RANGE_WORDS = {
    "minimum": "最小为",
    "maximum": "最大为",
    "exclusiveMinimum": "须大于",
    "exclusiveMaximum": "须小于",
}
# Errors that only repeat a type error at the same place.
_SECONDARY = {"enum", "const", "pattern", "format", "minLength", "minItems"}


def schema_names() -> list[str]:
    """Names of every published schema, for ``huhang schema NAME``."""
    return sorted(p.name.removesuffix(".schema.json") for p in SCHEMA_DIR.glob("*.schema.json"))


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The committed schema called ``name`` (for example ``grading`` or ``ticket``)."""
    path = SCHEMA_DIR / f"{name}.schema.json"
    if not path.is_file():
        known = schema_names()
        raise InputError(
            f"没有名为 '{name}' 的 schema（可用：{'、'.join(known)}）{did_you_mean(name, known)}"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def validator(name: str) -> Draft202012Validator:
    """A cached validator for the schema ``name``."""
    return Draft202012Validator(
        load_schema(name), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _type_words(expected: Any) -> str:
    if isinstance(expected, list):
        return " 或 ".join(TYPE_WORDS.get(t, str(t)) for t in expected)
    return TYPE_WORDS.get(str(expected), str(expected))


def describe_value(value: Any) -> str:
    """Show a value the way policy staff wrote it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"'{value}'"
    if value is None:
        return "空值"
    return json.dumps(value, ensure_ascii=False)


def schema_problems(
    doc: SourceDoc, name: str, *, data: Any = None, prefix: PathKey = ()
) -> list[Problem]:
    """Validate ``doc.data`` (or ``data``, found at ``prefix`` in the document) against schema
    ``name``; every error becomes a located problem."""
    problems: list[Problem] = []
    target = doc.data if data is None else data
    errors = list(validator(name).iter_errors(target))
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    for error in errors:
        if error.validator in _SECONDARY and tuple(error.absolute_path) in typed:
            continue
        if doc.has_issue((*prefix, *error.absolute_path)):
            continue  # e.g. an impossible date, already reported while reading
        problems.extend(_translate(doc, error, prefix))
    return problems


def _best_leaf(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    if error.context:
        best: jsonschema.ValidationError | None = jsonschema.exceptions.best_match(error.context)
        if best is not None:
            return best
    return error


def _translate(doc: SourceDoc, error: jsonschema.ValidationError, prefix: PathKey) -> list[Problem]:
    if error.validator in ("oneOf", "anyOf"):
        error = _best_leaf(error)
    path: PathKey = (*prefix, *error.absolute_path)
    where = field_name(path)
    kind = error.validator
    in_condition = any(part in ("when",) for part in path if isinstance(part, str))
    if kind == "additionalProperties":
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = sorted(schema.get("properties", {}))
        instance = error.instance if isinstance(error.instance, dict) else {}
        out = []
        for key in instance:
            if key in allowed:
                continue
            code = (
                "UNKNOWN-OPERATOR" if in_condition and "field" in instance else "SCHEMA-UNKNOWN-KEY"
            )
            if code == "UNKNOWN-OPERATOR":
                ops = [k for k in allowed if k not in ("all", "any", "not", "always", "field")]
                hint = did_you_mean(key, ops) or f"；可用的运算符：{'、'.join(ops)}"
                message = f"{where} 中的运算符 '{key}' 不存在{hint}"
            else:
                hint = did_you_mean(key, allowed)
                message = f"{where} 中有未知字段 '{key}'{hint}"
            out.append(doc.problem((*path, key), code, message, key=True))
        return out
    if kind == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        return [doc.problem(path, "SCHEMA-REQUIRED", f"{where} 缺少必填字段 '{missing}'")]
    if kind == "type":
        expected = _type_words(error.validator_value)
        got = describe_value(error.instance)
        return [doc.problem(path, "SCHEMA-TYPE", f"{where} 应为{expected}，实际为 {got}")]
    if kind in ("enum", "const"):
        options: list[Any] = (
            list(error.validator_value) if kind == "enum" else [error.validator_value]  # type: ignore[arg-type]
        )
        choices = [str(o) for o in options]
        hint = did_you_mean(str(error.instance), choices)
        return [
            doc.problem(
                path,
                "SCHEMA-VALUE",
                f"{where} 的值 {describe_value(error.instance)} 不在允许范围内"
                f"（允许：{'、'.join(describe_value(o) for o in options)}）{hint}",
            )
        ]
    if kind == "pattern":
        pattern = str(error.validator_value)
        expected = PATTERN_WORDS.get(pattern, f"须符合格式 {pattern}")
        return [
            doc.problem(
                path,
                "SCHEMA-FORMAT",
                f"{where} 的值 {describe_value(error.instance)} 格式不正确，{expected}",
            )
        ]
    if kind in ("minItems", "minLength", "minProperties"):
        return [doc.problem(path, "SCHEMA-EMPTY", f"{where} 不能为空")]
    if kind in ("maxProperties",):
        return [doc.problem(path, "SCHEMA-TOO-MANY", f"{where} 只能写一项")]
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return [
            doc.problem(
                path,
                "SCHEMA-RANGE",
                f"{where} 的值 {describe_value(error.instance)} 超出允许范围"
                f"（{RANGE_WORDS[kind]} {error.validator_value}）",
            )
        ]
    if kind == "uniqueItems":
        items = error.instance if isinstance(error.instance, list) else []
        repeated = [v for i, v in enumerate(items) if v in items[:i]]
        shown = "、".join(describe_value(v) for v in dict.fromkeys(map(str, repeated)))
        return [doc.problem(path, "SCHEMA-DUPLICATE", f"{where} 中有重复的值：{shown}")]
    if kind == "format":
        return [
            doc.problem(
                path,
                "SCHEMA-FORMAT",
                f"{where} 的值 {describe_value(error.instance)} 不是有效的日期",
            )
        ]
    return [doc.problem(path, "SCHEMA-INVALID", f"{where} 不符合格式要求：{error.message}")]
