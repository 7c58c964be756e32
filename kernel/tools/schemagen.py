"""Build the JSON Schemas of the rule files.

The committed files in ``kernel/schemas/`` are generated from this module
(``python -m kernel.tools.schemagen`` or ``make schemas``); a test fails when they are stale.
The ticket schema is written by hand and is not generated here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from kernel.inputs.contracts import SCHEMA_DIR
from kernel.ledger.eventtypes import EVENT_TYPES
from kernel.vocabulary import ACTOR_WORDS, FINAL_STATES, OWNER_WORDS, TICKET_STATE_WORDS

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://huhang.example/schemas/"

# Every policy the kernel knows; which one a file may use is a semantic check with a reason.
HIT_POLICIES = ["first", "priority", "collect"]
RULE_ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
#: an upper level's item that a lower level (county, zone) may neither replace nor remove
LOCKED: dict[str, Any] = {
    "description": "锁定：下级层级（县区、开发区）不能替换或删除此项（见 docs/guide/levels.md）",
    "type": "boolean",
}

SCALAR_OPS: dict[str, str] = {
    "eq": "等于",
    "ne": "不等于（字段未填写也算不等于）",
    "lt": "小于",
    "le": "小于或等于",
    "gt": "大于",
    "ge": "大于或等于",
}
LIST_OPS: dict[str, str] = {
    "in": "属于列表中的某一个值",
    "not_in": "不属于列表中的任何值（字段未填写也算不属于）",
}


def _scalar() -> dict[str, Any]:
    return {"type": ["string", "number", "boolean"]}


def condition_schema() -> dict[str, Any]:
    """The schema of one condition node (recursive through ``$defs/condition``)."""
    ref = {"$ref": "#/$defs/condition"}
    props: dict[str, Any] = {
        "all": {"description": "全部满足", "type": "array", "items": ref, "minItems": 1},
        "any": {"description": "任一满足", "type": "array", "items": ref, "minItems": 1},
        "not": {"description": "不满足", **ref},
        "always": {"description": "总是满足（无条件规则）", "const": True},
        "field": {
            "description": "办理单字段路径，如 category、enterprise.territory、assessment.departments",
            "type": "string",
            "minLength": 1,
        },
    }
    for op, text in SCALAR_OPS.items():
        props[op] = {"description": text, **_scalar()}
    for op, text in LIST_OPS.items():
        props[op] = {"description": text, "type": "array", "items": _scalar(), "minItems": 1}
    props["contains"] = {
        "description": "列表字段包含该值，或文本字段包含该文字",
        **_scalar(),
    }
    props["exists"] = {"description": "true：字段已填写；false：字段未填写", "type": "boolean"}
    props["count"] = {
        "description": "列表字段的元素个数满足比较，如 {ge: 3}",
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "maxProperties": 1,
        "properties": {
            op: {"description": text, "type": "integer", "minimum": 0}
            for op, text in SCALAR_OPS.items()
        },
    }
    return {
        "description": "条件：all/any/not 组合，或 {field: 字段, 运算符: 值}",
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": props,
    }


def _unit_value() -> dict[str, Any]:
    return {
        "description": "单位 id（见 units.yaml），或 {ref: 字段} 取办理单中该字段的单位",
        "oneOf": [
            {"type": "string", "minLength": 1},
            {
                "type": "object",
                "additionalProperties": False,
                "required": ["ref"],
                "properties": {"ref": {"type": "string", "minLength": 1}},
            },
        ],
    }


def _rule(then: dict[str, Any], *, precedence: bool) -> dict[str, Any]:
    props: dict[str, Any] = {
        "id": {
            "description": "稳定的规则编号，如 G-C-DEPARTMENTS；发布后不要更改",
            "type": "string",
            "pattern": RULE_ID_PATTERN,
        },
        "title": {"description": "规则的中文标题", "type": "string", "minLength": 1},
        "clause": {"description": "规则所依据的文件条款", "type": "string", "minLength": 1},
        "description": {"description": "补充说明", "type": "string"},
        "when": {"$ref": "#/$defs/condition"},
        "then": then,
        "locked": LOCKED,
    }
    if precedence:
        props["precedence"] = {
            "description": "优先级：单值结果（主办、反馈）冲突时取较大者，默认 0",
            "type": "integer",
            "minimum": -1000,
            "maximum": 1000,
        }
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "when", "then"],
        "properties": props,
    }


def _rule_file(kind: str, title: str, policies: list[str], rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{kind}.schema.json",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "version", "hit_policy", "rules"],
        "properties": {
            "kind": {"const": kind},
            "version": {"description": "规则版本号", "type": "integer", "minimum": 1},
            "title": {"type": "string"},
            "effective_from": {
                "description": "生效日期 YYYY-MM-DD",
                "type": "string",
                "format": "date",
            },
            "hit_policy": {
                "description": "命中策略：first 第一条命中；collect 全部命中；priority 取优先级最高",
                "enum": policies,
            },
            "rules": {"type": "array", "minItems": 1, "items": rule},
        },
        "$defs": {"condition": condition_schema()},
    }


def grading_schema() -> dict[str, Any]:
    """Schema of rules/grading.yaml."""
    then = {
        "type": "object",
        "additionalProperties": False,
        "required": ["grade"],
        "properties": {"grade": {"description": "问题等级", "enum": ["A", "B", "C", "D"]}},
    }
    rule = _rule(then, precedence=True)
    return _rule_file("grading", "问题分级规则（grading.yaml）", HIT_POLICIES, rule)


def routing_schema() -> dict[str, Any]:
    """Schema of rules/routing.yaml."""
    unit = _unit_value()
    then = {
        "type": "object",
        "additionalProperties": False,
        "minProperties": 1,
        "properties": {
            "primary": {"description": "主办单位", **unit},
            "co_handlers": {"description": "协办单位", "type": "array", "items": unit},
            "feedback_owner": {"description": "向企业反馈结果的单位", **unit},
            "coordinators": {"description": "协调单位", "type": "array", "items": unit},
            "agenda": {"description": "列入月度调度会议程", "type": "boolean"},
            "report_upward": {"description": "报领导小组", "type": "boolean"},
        },
    }
    rule = _rule(then, precedence=True)
    return _rule_file("routing", "问题路由规则（routing.yaml）", HIT_POLICIES, rule)


def _reference(kind: str, title: str, lists: dict[str, str]) -> dict[str, Any]:
    entry = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": {
            "locked": LOCKED,
            "id": {"description": "简称，规则文件中引用它", "type": "string", "minLength": 1},
            "name": {"description": "全称", "type": "string", "minLength": 1},
            "title": {"description": "说明", "type": "string", "minLength": 1},
            "aliases": {"description": "别名", "type": "array", "items": {"type": "string"}},
        },
    }
    props: dict[str, Any] = {
        "kind": {"const": kind},
        "version": {"type": "integer", "minimum": 1},
        "title": {"type": "string"},
    }
    for key, text in lists.items():
        props[key] = {"description": text, "type": "array", "items": entry}
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}{kind}.schema.json",
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "version", *lists],
        "properties": props,
    }


def units_schema() -> dict[str, Any]:
    """Schema of rules/units.yaml."""
    return _reference(
        "units",
        "参与单位（units.yaml）",
        {
            "territories": "县区政府、开发区管委会（块）",
            "departments": "市级部门（条）",
            "offices": "协调机构，如助商稳企办",
            "others": "其他单位，如供电公司",
        },
    )


def categories_schema() -> dict[str, Any]:
    """Schema of rules/categories.yaml."""
    return _reference("categories", "问题类别（categories.yaml）", {"categories": "问题类别"})


EVENT_KINDS = list(EVENT_TYPES)
CLOCK_OWNERS = OWNER_WORDS


def _event_kinds(description: str) -> dict[str, Any]:
    one = {"enum": EVENT_KINDS}
    return {
        "description": description,
        "oneOf": [one, {"type": "array", "items": one, "minItems": 1, "uniqueItems": True}],
    }


def deadlines_schema() -> dict[str, Any]:
    """Schema of rules/deadlines.yaml."""
    days = {"type": "integer", "minimum": 1, "maximum": 250}
    text = {"type": "string", "minLength": 1}
    clock = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "start", "stop", "owner"],
        "properties": {
            "locked": LOCKED,
            "id": {
                "description": "时限编号，如 T-RESOLVE",
                "type": "string",
                "pattern": RULE_ID_PATTERN,
            },
            "title": {"description": "中文名称", **text},
            "clause": {"description": "所依据的条款", **text},
            "start": _event_kinds("开始计时的事件（每次发生都开始一轮计时）"),
            "stop": _event_kinds("停止计时的事件"),
            "pause": _event_kinds("暂停计时的事件（可选）"),
            "resume": _event_kinds("恢复计时的事件（与 pause 一起使用）"),
            "extend": _event_kinds(
                "延长时限的事件：其 payload.workdays 个工作日加到本轮的到期日上（如延期批准）"
            ),
            "cancel": _event_kinds(
                "取消本轮计时的事件（如退回、撤回、不予受理、合并）：取消的时限不超期，"
                "也不计入办结率"
            ),
            "start_when": {
                "description": "开始事件须满足的 payload 条件，按事件类型写，"
                "如 {ticket.rated: {rating: 不满意}}",
                "type": "object",
                "propertyNames": {"enum": EVENT_KINDS},
                "additionalProperties": {
                    "type": "object",
                    "minProperties": 1,
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
            "grades": {
                "description": "只适用于这些等级（不写则适用全部）",
                "type": "array",
                "items": {"enum": ["A", "B", "C", "D"]},
                "minItems": 1,
                "uniqueItems": True,
            },
            "limit": {
                "description": "时限（工作日）：一个数，或按等级/类别分别规定",
                "oneOf": [
                    days,
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "minProperties": 1,
                        "properties": {
                            "by_grade": {
                                "type": "object",
                                "propertyNames": {"enum": ["A", "B", "C", "D"]},
                                "additionalProperties": days,
                            },
                            "by_category": {"type": "object", "additionalProperties": days},
                            "default": days,
                        },
                    },
                ],
            },
            "monthly": {
                "description": "按月计时：每月最后一个工作日前须发生一次 report 事件（如 D 级进展报告）",
                "type": "object",
                "additionalProperties": False,
                "required": ["report"],
                "properties": {"report": _event_kinds("每月须报送的事件")},
            },
            "owner": {
                "description": "时限责任方："
                + "；".join(f"{k} {v}" for k, v in CLOCK_OWNERS.items()),
                "enum": list(CLOCK_OWNERS),
            },
            "escalate": {
                "description": "超期后是否进入督办—通报—约谈程序，默认 true",
                "type": "boolean",
            },
            "warn": {"description": "到期前是否预警，默认 true", "type": "boolean"},
        },
    }
    step = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "action", "after"],
        "properties": {
            "locked": LOCKED,
            "id": {"type": "string", "pattern": RULE_ID_PATTERN},
            "title": text,
            "clause": text,
            "action": {
                "description": "supervision 督办；notice 列入月度通报；interview 约谈建议",
                "enum": ["supervision", "notice", "interview"],
            },
            "after": {"description": "从何时起算：due（到期日）或上一步骤的 id", **text},
            "workdays": {
                "description": "起算后第几个工作日仍未完成则触发",
                "type": "integer",
                "minimum": 0,
            },
            "consecutive_months": {
                "description": "连续几个月被列入通报则触发",
                "type": "integer",
                "minimum": 2,
            },
        },
    }
    monthly_duty = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "event", "owner"],
        "properties": {
            "locked": LOCKED,
            "id": {"type": "string", "pattern": RULE_ID_PATTERN},
            "title": text,
            "clause": text,
            "event": _event_kinds("满足该项要求的事件"),
            "by": {
                "description": "只计入这些联系人身份（contact.recorded 的 payload.by）",
                "type": "array",
                "items": {"enum": ["lead_leader", "liaison_cadre", "other"]},
                "minItems": 1,
            },
            "at_least": {"description": "每月至少几次，默认 1", "type": "integer", "minimum": 1},
            "due_workday": {
                "description": "次月第几个工作日前完成（不写则为当月内）",
                "type": "integer",
                "minimum": 1,
            },
            "per": {
                "description": "enterprise：每家企业每月；office：全市每月一次",
                "enum": ["enterprise", "office"],
            },
            "owner": {"enum": list(CLOCK_OWNERS)},
        },
    }
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}deadlines.schema.json",
        "title": "办理时限与督办（deadlines.yaml）",
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "version", "clocks", "escalation"],
        "properties": {
            "kind": {"const": "deadlines"},
            "version": {"type": "integer", "minimum": 1},
            "title": {"type": "string"},
            "effective_from": {"type": "string", "format": "date"},
            "counting": {
                "description": "next_day：从次日起算（默认）；inclusive：含本数，当天是工作日则算第 1 天",
                "enum": ["next_day", "inclusive"],
            },
            "warning_lead": {
                "description": "到期前几个工作日预警，默认 1",
                "type": "integer",
                "minimum": 0,
            },
            "judged_at": {
                "description": "督办各步骤在其当天何时判定“仍未完成”：end（当天结束时，默认；"
                "当天办结即不督办）或 start（当天开始时）",
                "enum": ["end", "start"],
            },
            "clocks": {"type": "array", "minItems": 1, "items": clock},
            "escalation": {"type": "array", "items": step},
            "monthly": {
                "description": "按月考核的工作要求",
                "type": "array",
                "items": monthly_duty,
            },
        },
    }


#: the states a lifecycle step may be limited to (the final ones take no step)
LIFECYCLE_STATES = {k: v for k, v in TICKET_STATE_WORDS.items() if k not in FINAL_STATES}
LIFECYCLE_STATES["closed"] = TICKET_STATE_WORDS["closed"]  # a callback may follow closing


def lifecycle_schema() -> dict[str, Any]:
    """Schema of rules/lifecycle.yaml: which steps of a problem's life are allowed, and how."""
    text = {"type": "string", "minLength": 1}
    days = {"type": "integer", "minimum": 1, "maximum": 250}
    step = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "event", "title", "clause"],
        "properties": {
            "id": {
                "description": "编号，如 L-RETURN",
                "type": "string",
                "pattern": RULE_ID_PATTERN,
            },
            "event": {
                "description": "办理单事件类型",
                "enum": [k for k in EVENT_KINDS if k.startswith("ticket.")],
            },
            "title": {"description": "中文名称", **text},
            "clause": {"description": "所依据的条款（政策 §8.x）", **text},
            "states": {
                "description": "只在这些状态下允许："
                + "；".join(f"{k} {v}" for k, v in LIFECYCLE_STATES.items()),
                "type": "array",
                "items": {"enum": list(LIFECYCLE_STATES)},
                "minItems": 1,
                "uniqueItems": True,
            },
            "actors": {
                "description": "只允许这些单位："
                + "；".join(f"{k} {v}" for k, v in ACTOR_WORDS.items()),
                "type": "array",
                "items": {"enum": list(ACTOR_WORDS)},
                "minItems": 1,
                "uniqueItems": True,
            },
            "reasons": {
                "description": "payload.reason 只能是其中之一",
                "type": "array",
                "items": text,
                "minItems": 1,
                "uniqueItems": True,
            },
            "within_workdays": {
                "description": "退回：交办（或重新交办）后几个工作日内可以退回",
                **days,
            },
            "late": {
                "description": "超过 within_workdays 的退回：refuse 拒绝；count 接受，"
                "但须注明 late: true，计为本单位延误",
                "enum": ["refuse", "count"],
            },
            "before_due": {
                "description": "延期：只能在办结时限到期日（含）之前申请或批准",
                "type": "boolean",
            },
            "per_round": {
                "description": "延期：每轮办理最多批准几次",
                "type": "integer",
                "minimum": 0,
            },
            "max_workdays": {
                "description": "延期：每轮最多延长的工作日数，一个数或按等级",
                "oneOf": [
                    days,
                    {
                        "type": "object",
                        "minProperties": 1,
                        "propertyNames": {"enum": ["A", "B", "C", "D"]},
                        "additionalProperties": {"type": "integer", "minimum": 0},
                    },
                ],
            },
        },
    }
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}lifecycle.schema.json",
        "title": "退回、延期、挂起、撤回、合并与回访（lifecycle.yaml）",
        "type": "object",
        "additionalProperties": False,
        "required": ["kind", "version", "steps"],
        "properties": {
            "kind": {"const": "lifecycle"},
            "version": {"type": "integer", "minimum": 1},
            "title": {"type": "string"},
            "steps": {"type": "array", "items": step},
        },
    }


SCORING_METRICS = {
    "score": "总分",
    "closure_rate": "问题办结率（0–1；无应办结事项时不适用）",
    "satisfaction_rate": "企业满意度（0–1；无评价时不适用）",
    "daily_points": "日常考核得分",
    "deduction_points": "扣分合计",
    "supervisions": "被督办次数",
    "notices": "被通报次数",
    "interviews": "被约谈次数",
    "zero_indicators": "得分为 0 的指标个数",
}


def scoring_schema() -> dict[str, Any]:
    """Schema of rules/scoring.yaml (and scoring.*.yaml, earlier or later versions)."""
    text = {"type": "string", "minLength": 1}
    number = {"type": "number", "minimum": 0}
    ident = {"type": "string", "pattern": RULE_ID_PATTERN}
    indicator = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "points", "formula"],
        "properties": {
            "locked": LOCKED,
            "id": ident,
            "title": text,
            "clause": text,
            "points": {"description": "满分", **number},
            "formula": {
                "description": "ratio：满分 × 分子 ÷ 分母；deductions：满分减去扣分",
                "enum": ["ratio", "deductions"],
            },
            "measure": {
                "description": "ratio 指标的口径：closure（按时办结 ÷ 期内到期）或 satisfaction（满意+基本满意 ÷ 已评价）",
                "enum": ["closure", "satisfaction"],
            },
            "clock": {"description": "closure 口径所用的办结时限 id，如 T-RESOLVE", **text},
            "when_empty": {
                "description": "分母为 0（无应办结事项/无评价）时：full 给满分；zero 给 0 分",
                "enum": ["full", "zero"],
            },
            "floor": {"description": "最低得分（deductions 指标），默认 0", "type": "number"},
        },
    }
    deduction = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "points"],
        "properties": {
            "locked": LOCKED,
            "id": ident,
            "title": text,
            "clause": text,
            "points": {"description": "每次扣分", **number},
            "indicator": {"description": "从哪个指标扣（默认唯一的 deductions 指标）", **text},
            "clock": {"description": "按时限超期扣分：时限 id（每个超期的时限实例扣一次）", **text},
            "monthly": {
                "description": "按月工作要求未完成扣分：monthly 中的 id（每个企业月扣一次）",
                **text,
            },
            "event": {"description": "按事件扣分：事件类型", "enum": EVENT_KINDS},
            "payload": {
                "description": "只计 payload 中这些字段等于给定值的事件，如 {rating: 不满意}",
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
            "unit": {
                "description": "扣哪个单位：payload.unit（事件中的被督办单位）、actor（经办单位）、primary、lead_unit",
                "enum": ["payload.unit", "actor", "primary", "lead_unit"],
            },
            "cap": {"description": "同一单位、同一考核期内本项最多扣多少分", **number},
        },
    }
    test = {
        "type": "object",
        "additionalProperties": False,
        "required": ["metric"],
        "minProperties": 2,
        "maxProperties": 2,
        "properties": {
            "metric": {
                "description": "；".join(f"{k} {v}" for k, v in SCORING_METRICS.items()),
                "enum": list(SCORING_METRICS),
            },
            **{op: {"type": "number"} for op in SCALAR_OPS},
        },
    }
    outcome = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "title", "clause", "any"],
        "properties": {
            "locked": LOCKED,
            "id": ident,
            "title": text,
            "clause": text,
            "any": {
                "description": "任一条件成立即适用",
                "type": "array",
                "items": test,
                "minItems": 1,
            },
            "unless": {
                "description": "已适用这些结果时不再适用（如有通报批评则不予鼓励）",
                "type": "array",
                "items": text,
            },
        },
    }
    return {
        "$schema": DRAFT,
        "$id": f"{BASE_ID}scoring.schema.json",
        "title": "考核计分办法（scoring.yaml）",
        "type": "object",
        "additionalProperties": False,
        "required": [
            "kind",
            "version",
            "effective_from",
            "scope",
            "indicators",
            "deductions",
            "outcomes",
            "conversion",
        ],
        "properties": {
            "kind": {"const": "scoring"},
            "version": {"type": "integer", "minimum": 1},
            "effective_from": {
                "description": "本版本生效日期；此前发生的事实仍按旧版本计分",
                "type": "string",
                "format": "date",
            },
            "title": {"type": "string"},
            "scope": {
                "description": "考核范围（单位类别）",
                "type": "array",
                "items": {"enum": ["territories", "departments", "offices", "others"]},
                "minItems": 1,
                "uniqueItems": True,
            },
            "indicators": {"type": "array", "items": indicator, "minItems": 1},
            "deductions": {"type": "array", "items": deduction},
            "outcomes": {"type": "array", "items": outcome},
            "conversion": {
                "type": "object",
                "additionalProperties": False,
                "required": ["weight"],
                "properties": {
                    "weight": {"description": "在年度目标责任综合考核中的权重（分）", **number},
                    "weights": {
                        "description": "个别单位的不同权重",
                        "type": "object",
                        "additionalProperties": number,
                    },
                },
            },
        },
    }


GENERATED = {
    "scoring": scoring_schema,
    "deadlines": deadlines_schema,
    "lifecycle": lifecycle_schema,
    "grading": grading_schema,
    "routing": routing_schema,
    "units": units_schema,
    "categories": categories_schema,
}


def render(schema: dict[str, Any]) -> str:
    """The exact text of a committed schema file."""
    return json.dumps(schema, ensure_ascii=False, indent=2) + "\n"


def main() -> int:
    """Write every generated schema into kernel/schemas/."""
    for name, build in GENERATED.items():
        target = SCHEMA_DIR / f"{name}.schema.json"
        target.write_text(render(build()), encoding="utf-8")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
