"""Errors as RFC 9457 problem documents, each with a project problem code and a Chinese detail.

A route raises :class:`ApiProblem`; the handlers installed by :func:`install_handlers` also turn
the kernel's own input errors (:class:`kernel.errors.InputError`, located
:class:`kernel.errors.ProblemsError`) and FastAPI's parameter errors into problem documents.
Nothing reaches a client as a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel.errors import InputError, ProblemsError
from kernel.vocabulary import API_PROBLEM_TITLES

log = logging.getLogger("huhang.service")

MEDIA_TYPE = "application/problem+json"
#: the ``type`` URI of a problem code (its page is docs/reference/problems/<code>.md)
TYPE_PREFIX = "urn:huhang:problem:"


class ApiProblem(Exception):
    """An answer that is an error: HTTP status, problem code, Chinese detail, extra members."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.extra = extra


def problem_body(
    status: int, code: str, detail: str, instance: str, **extra: Any
) -> dict[str, Any]:
    """The JSON of a problem document."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code,
        "title": API_PROBLEM_TITLES.get(code, code),
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    body.update(extra)
    return body


def problem_response(
    status: int, code: str, detail: str, instance: str, **extra: Any
) -> JSONResponse:
    """A problem document response (``application/problem+json``)."""
    headers = {"WWW-Authenticate": 'Bearer realm="huhang"'} if status == 401 else None
    return JSONResponse(
        problem_body(status, code, detail, instance, **extra),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def input_problem(exc: InputError) -> ApiProblem:
    """A kernel input error as a 422 problem (located problems listed)."""
    if isinstance(exc, ProblemsError):
        return ApiProblem(
            422,
            "API-INPUT",
            exc.summary,
            problems=[p.as_dict() for p in exc.problems],
        )
    return ApiProblem(422, "API-INPUT", str(exc))


_STATUS_CODES = {
    401: "API-AUTH",
    403: "API-FORBIDDEN",
    404: "API-NOT-FOUND",
    405: "API-NOT-FOUND",
    413: "API-BODY-SIZE",
    406: "API-FORMAT",
}


def install_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem document."""

    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        return problem_response(exc.status, exc.code, exc.detail, request.url.path, **exc.extra)

    async def on_input(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, InputError)
        found = input_problem(exc)
        return problem_response(
            found.status, found.code, found.detail, request.url.path, **found.extra
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"location": ".".join(str(p) for p in e.get("loc", ())), "message": str(e.get("msg"))}
            for e in exc.errors()
        ]
        where = "、".join(e["location"] for e in errors) or "请求"
        return problem_response(
            422, "API-PARAMETER", f"请求参数无效：{where}", request.url.path, errors=errors
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _STATUS_CODES.get(exc.status_code, "API-PARAMETER")
        detail = {404: "没有这个地址", 405: "此地址不支持该请求方法"}.get(
            exc.status_code, API_PROBLEM_TITLES.get(code, code)
        )
        return problem_response(exc.status_code, code, detail, request.url.path)

    async def on_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "API-UNAVAILABLE", "服务内部错误，已记录日志；请联系管理员", request.url.path
        )

    app.add_exception_handler(ApiProblem, on_problem)
    app.add_exception_handler(InputError, on_input)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)
