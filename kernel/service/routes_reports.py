"""Reports: the monthly notice, the assessment (year or period) and one unit's deductions.

Each as JSON, Markdown, CSV (a .zip with one file per table) or Excel, chosen by ``?format=`` or
the ``Accept`` header. The office and the auditor read every report; a unit reads its own unit
report only.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from kernel.service.access import Principal, can_read_unit_report
from kernel.service.context import ServiceContext
from kernel.service.deps import Caller, Context
from kernel.service.problems import ApiProblem

router = APIRouter(tags=["报表"])

MEDIA_TYPES = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "csv": "application/zip",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_ACCEPT = {
    "application/json": "json",
    "text/markdown": "md",
    "text/csv": "csv",
    "application/zip": "csv",
    MEDIA_TYPES["xlsx"]: "xlsx",
}
_MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
_PERIOD = re.compile(r"^[0-9]{4}(-(0[1-9]|1[0-2])|-Q[1-4])?$")

FORMAT_QUERY = Query(
    description="输出格式 json、md、csv（每张表一个文件的 zip）、xlsx；缺省时按 Accept 头，再缺省为 json"
)
#: the assessment period's query parameters (a year, or ``period``: a month or quarter)
YearQuery = Annotated[str | None, Query(description="考核年度 YYYY")]
PeriodQuery = Annotated[str | None, Query(description="考核期 YYYY-MM 或 YYYY-Qn")]
REPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "报表",
        "content": {media: {} for media in MEDIA_TYPES.values()},
    },
    406: {"description": "不支持的格式"},
}


def chosen_format(request: Request, fmt: str | None) -> str:
    """``?format=`` first, then the first known type of the ``Accept`` header, else json."""
    if fmt is not None:
        if fmt not in MEDIA_TYPES:
            raise ApiProblem(
                406, "API-FORMAT", f"格式 {fmt!s:.20} 不支持，应为 {'、'.join(MEDIA_TYPES)} 之一"
            )
        return fmt
    for part in request.headers.get("accept", "").split(","):
        media = part.split(";")[0].strip().lower()
        if media in _ACCEPT:
            return _ACCEPT[media]
    return "json"


def report_response(report: Any, fmt: str, name: str) -> Response:
    """The report in the chosen format."""
    from kernel.assessment.reports import render_report
    from kernel.outputs.tables import write_csv_files, write_xlsx

    if fmt in ("json", "md"):
        return Response(render_report(report, fmt), media_type=MEDIA_TYPES[fmt])
    with tempfile.TemporaryDirectory(prefix="huhang-report-") as folder:
        path = Path(folder) / (f"{name}.zip" if fmt == "csv" else f"{name}.xlsx")
        if fmt == "csv":
            write_csv_files(report.workbook_tables(), path)
        else:
            write_xlsx(report.workbook_tables(), path)
        content = path.read_bytes()
    return Response(
        content,
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
    )


def _readers_only(principal: Principal) -> None:
    if not principal.reads_everything:
        raise ApiProblem(
            403, "API-FORBIDDEN", "月度通报和考核排名由助商稳企办发布；单位可读取本单位的扣分明细"
        )


def build_monthly(context: ServiceContext, month: str) -> Any:
    from kernel.assessment.monthly_cache import cached_monthly_report

    return cached_monthly_report(context.ledger, context.ruleset, context.evaluator(), month)


def build_assessment(context: ServiceContext, period: str, unit: str | None) -> Any:
    from kernel.assessment.facts import facts_assess
    from kernel.assessment.reports import assessment_report, unit_report
    from kernel.assessment.scoring import FactCollector
    from kernel.clocks.view import clock_titles

    rules = context.ruleset
    assert rules.deadlines is not None and rules.scoring is not None
    collector = FactCollector(rules.scoring, rules.deadlines, context.calendar(), rules.reference)
    assessment = facts_assess(collector, context.ledger, period)
    titles = clock_titles(rules.deadlines)
    if unit is None:
        return assessment_report(assessment, titles)
    return unit_report(assessment, unit, titles)


def _period(year: str | None, period: str | None) -> str:
    chosen = period or year
    if chosen is None or (year is not None and period is not None):
        raise ApiProblem(
            422, "API-PARAMETER", "请给出 year（YYYY）或 period（YYYY-MM 或 YYYY-Qn）之一"
        )
    if not _PERIOD.match(chosen):
        raise ApiProblem(
            422, "API-PARAMETER", f"考核期 {chosen!s:.20} 应写作 YYYY、YYYY-MM 或 YYYY-Qn"
        )
    return chosen


@router.get("/reports/monthly", summary="月度服务动态与通报", responses=REPORT_RESPONSES)
async def get_monthly(
    request: Request,
    context: Context,
    principal: Caller,
    month: Annotated[str, Query(description="月份 YYYY-MM")],
    format: Annotated[str | None, FORMAT_QUERY] = None,
) -> Response:
    """The monthly report (office and auditor)."""
    _readers_only(principal)
    if not _MONTH.match(month):
        raise ApiProblem(422, "API-PARAMETER", f"月份 {month!s:.20} 应写作 YYYY-MM")
    fmt = chosen_format(request, format)
    report = await run_in_threadpool(build_monthly, context, month)
    return report_response(report, fmt, f"monthly-{month}")


@router.get("/reports/assessment", summary="考核排名", responses=REPORT_RESPONSES)
async def get_assessment(
    request: Request,
    context: Context,
    principal: Caller,
    year: YearQuery = None,
    period: PeriodQuery = None,
    format: Annotated[str | None, FORMAT_QUERY] = None,
) -> Response:
    """The ranking of every unit (office and auditor)."""
    _readers_only(principal)
    return await _assessment(request, context, year, period, format, None)


@router.get(
    "/reports/units/{unit}",
    summary="一个单位的扣分明细",
    responses={**REPORT_RESPONSES, 404: {"description": "不是本单位"}},
)
async def get_unit_report(
    unit: str,
    request: Request,
    context: Context,
    principal: Caller,
    year: YearQuery = None,
    period: PeriodQuery = None,
    format: Annotated[str | None, FORMAT_QUERY] = None,
) -> Response:
    """Every deduction of one unit with its events and clause; a unit reads only its own."""
    if not can_read_unit_report(principal, unit):
        raise ApiProblem(404, "API-NOT-FOUND", f"没有单位 {unit:.40} 的报表")
    return await _assessment(request, context, year, period, format, unit)


async def _assessment(
    request: Request,
    context: ServiceContext,
    year: str | None,
    period: str | None,
    format: str | None,
    unit: str | None,
) -> Response:
    """The ranking (``unit`` None) or one unit's deductions, in the asked format."""
    chosen = _period(year, period)
    fmt = chosen_format(request, format)
    report = await run_in_threadpool(build_assessment, context, chosen, unit)
    return report_response(
        report, fmt, f"unit-{chosen}" if unit is not None else f"assessment-{chosen}"
    )
