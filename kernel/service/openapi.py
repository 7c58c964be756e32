"""The OpenAPI document of the service: FastAPI's, plus the kernel's own JSON Schemas.

The event and ticket schemas (``kernel/schemas``) become components: each schema's ``$defs``
are moved to ``components/schemas`` under a prefixed name and its ``#/$defs/`` references are
rewritten to match. Everything is done on deep copies, so the cached schemas of
:mod:`kernel.inputs.contracts` (which validate every event) are never changed, and building the
document twice gives the same document.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

#: kernel schemas published as components: (schema file name, component name)
PUBLISHED = (("event", "Event"), ("ticket", "Ticket"))

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "问题文档（RFC 9457）",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "urn:huhang:problem:<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "中文说明"},
        "instance": {"type": "string"},
        "code": {"type": "string", "description": "项目问题代码（见文档“问题代码”）"},
        "problems": {"type": "array", "items": {"type": "object"}},
    },
}


def _rewrite(node: Any, prefix: str) -> Any:
    """A copy of ``node`` whose ``#/$defs/X`` references point at ``components/schemas``."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                out[key] = f"#/components/schemas/{prefix}_{value[len('#/$defs/') :]}"
            elif key == "$ref" and value == "#":
                out[key] = f"#/components/schemas/{prefix}"
            else:
                out[key] = _rewrite(value, prefix)
        return out
    if isinstance(node, list):
        return [_rewrite(item, prefix) for item in node]
    return node


def schema_components(name: str, component: str) -> dict[str, Any]:
    """The components for one kernel schema: itself and each of its ``$defs``, renamed."""
    from kernel.inputs.contracts import load_schema

    schema = copy.deepcopy(load_schema(name))
    defs = schema.pop("$defs", {})
    for key in ("$schema", "$id"):
        schema.pop(key, None)
    out = {component: _rewrite(schema, component)}
    for key, value in defs.items():
        out[f"{component}_{key}"] = _rewrite(value, component)
    return out


#: the Chinese description of each operation (the docstrings are for maintainers)
DESCRIPTIONS: dict[str, str] = {
    "GET /healthz": "进程在运行即回答 200，不检查其他。",
    "GET /readyz": "台账可读、规则已加载、工作日历覆盖今天时回答 200，否则 503 并说明哪一项未通过。",
    "GET /metrics": "Prometheus 文本格式：按结果和原因统计的事件数、按路由的请求时延、巡查耗时、发件箱积压。"
    "计数按工作进程分别统计。",
    "POST /api/v1/events": "与 huhang ingest --grade 相同：逐个校验、检查状态转换、幂等写入"
    "（同一编号同一内容为重复，不同内容被拒绝），上报的办理单在同一事务中自动分级。"
    '请求体可以是一个事件、事件列表或 {"events": [...]}；一批事件在一个事务中写入。'
    "只要请求被处理就回答 200，每个事件的结果见 results[i].status"
    "（accepted、duplicate、rejected 及 code、reason）。重发同一请求是安全的。"
    "责任单位只能以本单位名义提交（否则整批 403 API-ACTOR，不写入任何事件）；"
    "写入的每个事件都记录令牌的主体（recorded_by）。",
    "GET /api/v1/tickets": "按编号排序、分页；筛选条件可以组合。责任单位只看到本单位作为包抓、主办、协办、"
    "反馈或协调单位的办理单。",
    "GET /api/v1/tickets/{ticket_id}": "状态、等级与路由（规则结果与改判）、办理单位、事件时间线、"
    "各项时限（截止日期与状态）、督办通报、分级路由的说明。不属于本单位的办理单与不存在的一样回答 404。",
    "POST /api/v1/explain": "请求体是一张办理单；回答等级、路由及每条依据（规则、条款、条件与实际值）。"
    "不写入台账。",
    "GET /api/v1/enterprises": "包抓企业名册（四个一）。责任单位只看到本单位包抓或参与工作专班的企业。",
    "GET /api/v1/enterprises/{code}": "一家企业的四个一、变更记录、每月联系和办理单。",
    "GET /api/v1/reports/monthly": "月度服务动态与问题办理通报。格式由 format 参数或 Accept 头决定。",
    "GET /api/v1/reports/assessment": "各单位考核排名、扣分明细与指标明细（year 或 period 二选一）。",
    "GET /api/v1/reports/units/{unit}": "一个单位的全部扣分及其依据。责任单位只能读取本单位的。",
    "GET /api/v1/rules": "现行规则文件、各自版本与规则集指纹。",
    "POST /api/v1/rules/check": "请求体是候选规则文件夹的压缩包（zip、tar 或 tar.gz，大小有上限，"
    "只解压普通文件，拒绝绝对路径、.. 和链接）；回答校验问题（同 huhang validate）"
    "与 lint 发现（同 huhang lint）。",
    "POST /api/v1/rules/impact": "候选规则（压缩包）与现行规则分别重放现有台账，回答影响报告"
    "（同 huhang impact --candidate）。",
    "POST /api/v1/sweep": "按日期巡查全部办理单：预警、督办、通报、约谈建议进入发件箱，督办等事件写入台账。"
    "可重复运行。",
    "GET /api/v1/outbox": "通知发件箱：按状态和通知方式统计、到期待发数、发送失败的通知。",
    "POST /api/v1/outbox/retry": "把发送失败（failed）的通知放回待发送队列，由下一次 huhang notify 发送。",
}

_PROBLEM_CONTENT = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
}


def _problem_answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": copy.deepcopy(_PROBLEM_CONTENT)}


def _chinese(document: dict[str, Any]) -> None:
    """Chinese descriptions, and problem documents for every error answer."""
    for path, item in document.get("paths", {}).items():
        for method, op in item.items():
            key = f"{method.upper()} {path}"
            if key in DESCRIPTIONS:
                op["description"] = DESCRIPTIONS[key]
            answers = op.setdefault("responses", {})
            for status, answer in list(answers.items()):
                if answer.get("description") == "Successful Response":
                    answer["description"] = "成功"
                if status == "422":
                    answers[status] = _problem_answer("参数或输入无效（API-PARAMETER、API-INPUT）")
                elif status[0] in "45":
                    answers[status] = _problem_answer(answer.get("description", ""))
            if op.get("security"):
                answers.setdefault("401", _problem_answer("缺少、无效、过期或已吊销的访问令牌"))
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The whole document (a new dict each call)."""
    document = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    document = copy.deepcopy(document)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, component in PUBLISHED:
        for key, value in schema_components(name, component).items():
            if key in schemas:
                raise ValueError(f"OpenAPI component {key} defined twice")
            schemas[key] = value
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    _chinese(document)
    return document
