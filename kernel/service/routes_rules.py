"""Rules: the rule files in force, and candidate rule folders checked or replayed on the ledger.

A candidate is uploaded as the request body: a zip or tar(.gz) archive of a rule folder, bounded
in size, unpacked safely (:mod:`kernel.service.archive`) into a temporary folder that is removed
after the answer. Checking is for the office and the auditor; impact (a replay of the whole
ledger) too.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from kernel.service.access import Principal
from kernel.service.context import ServiceContext
from kernel.service.deps import Caller, Context, read_body, reader_of_all
from kernel.service.problems import ApiProblem
from kernel.service.routes_reports import (
    FORMAT_QUERY,
    REPORT_RESPONSES,
    chosen_format,
    report_response,
)

router = APIRouter(tags=["规则"])

ARCHIVE_BODY = {
    "required": True,
    "description": "规则文件夹的压缩包（zip、tar 或 tar.gz）",
    "content": {
        media: {"schema": {"type": "string", "format": "binary"}}
        for media in ("application/zip", "application/gzip", "application/x-tar")
    },
}


def rules_summary(context: ServiceContext) -> dict[str, Any]:
    """The rule files in force: each file's version and title, the fingerprint."""
    rules = context.ruleset
    return {
        "fingerprint": rules.fingerprint,
        "versions": rules.versions(),
        "files": [
            {
                "kind": kind,
                "path": Path(f.path).name,
                "version": f.version,
                "title": f.title,
                "hit_policy": f.hit_policy,
                "rules": [r.id for r in f.rules],
                "effective_from": f.effective_from,
            }
            for kind, f in rules.files.items()
        ],
    }


@router.get("/rules", summary="现行规则文件：版本与指纹")
def get_rules(context: Context, principal: Caller) -> dict[str, Any]:
    """What decides every ticket now."""
    return rules_summary(context)


async def _unpacked(request: Request, context: ServiceContext) -> tuple[Path, Path]:
    from kernel.service.archive import remove, unpack

    data = await read_body(request, context.limits.archive_bytes)
    if not data:
        raise ApiProblem(422, "API-ARCHIVE", "请求体为空：应为规则文件夹的压缩包")
    folder = Path(tempfile.mkdtemp(prefix="huhang-candidate-"))
    try:
        root = await run_in_threadpool(
            unpack,
            data,
            folder,
            max_files=context.limits.archive_files,
            max_bytes=context.limits.unpacked_bytes,
        )
    except BaseException:
        remove(folder)
        raise
    return folder, root


def _relative(text: str, root: Path) -> str:
    return text.replace(str(root) + "/", "").replace(str(root), ".")


def check_candidate(root: Path) -> dict[str, Any]:
    """Validation problems, then (for a valid folder) lint findings."""
    from kernel.rules.load import check_rules
    from kernel.tools.lint import lint

    ruleset, problems = check_rules(root)
    out: dict[str, Any] = {
        "valid": ruleset is not None,
        "problems": [{**p.as_dict(), "path": _relative(p.path, root)} for p in problems],
        "findings": [],
    }
    if ruleset is not None:
        out["fingerprint"] = ruleset.fingerprint
        out["versions"] = ruleset.versions()
        out["findings"] = [{**f.as_dict(), "path": _relative(f.path, root)} for f in lint(ruleset)]
    return out


def check_locked(context: ServiceContext, root: Path) -> dict[str, Any]:
    """:func:`check_candidate` holding the engine lock (lint builds engines of its own)."""
    with context.kernel_lock:
        return check_candidate(root)


@router.post(
    "/rules/check",
    summary="检查候选规则（压缩包）：校验问题与 lint 发现",
    openapi_extra={"requestBody": ARCHIVE_BODY},
)
async def post_rules_check(
    request: Request,
    context: Context,
    principal: Annotated[Principal, Depends(reader_of_all)],
) -> dict[str, Any]:
    """``huhang validate`` and ``huhang lint`` on an uploaded rule folder."""
    from kernel.service.archive import remove

    folder, root = await _unpacked(request, context)
    try:
        return await run_in_threadpool(check_locked, context, root)
    finally:
        remove(folder)


def impact(context: ServiceContext, root: Path, as_of: dt.date | None) -> Any:
    """The impact report of the candidate against the rules in force, on the live ledger."""
    from kernel.errors import InputError
    from kernel.rules.load import display_path, load_rules
    from kernel.tools.impact import compare, impact_report, replay
    from kernel.tools.rulediff import rule_changes

    candidate = load_rules(root)
    events = list(context.ledger.events())
    if not events:
        raise InputError("台账中没有事件可以重放")
    day = as_of or max(e.date for e in events)
    with context.kernel_lock:
        result = compare(replay(events, context.ruleset, day), replay(events, candidate, day))
    result.rule_changes = rule_changes(context.ruleset.directory, root)
    return impact_report(
        result, baseline=display_path(context.ruleset.directory), candidate="上传的压缩包"
    )


@router.post(
    "/rules/impact",
    summary="候选规则对现有台账的影响（重放全部事件）",
    openapi_extra={"requestBody": ARCHIVE_BODY},
    responses=REPORT_RESPONSES,
)
async def post_rules_impact(
    request: Request,
    context: Context,
    principal: Annotated[Principal, Depends(reader_of_all)],
    as_of: Annotated[
        dt.date | None, Query(description="重放到哪一天（默认最后一个事件的日期）")
    ] = None,
    format: Annotated[str | None, FORMAT_QUERY] = None,
) -> Response:
    """``huhang impact --candidate`` against the live ledger."""
    from kernel.service.archive import remove

    fmt = chosen_format(request, format)
    folder, root = await _unpacked(request, context)
    try:
        report = await run_in_threadpool(impact, context, root, as_of)
    finally:
        remove(folder)
    return report_response(report, fmt, "impact")
