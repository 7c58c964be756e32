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
    return document
