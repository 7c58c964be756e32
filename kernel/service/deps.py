"""FastAPI dependencies: the service context, the caller's principal and bounded JSON bodies.

Routes declare what they need (``Depends(current_principal)``, ``Depends(office_principal)``
…); the console (``kernel.web``) uses the same functions for its pages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kernel.errors import ProblemsError
from kernel.service.access import Principal
from kernel.service.context import ServiceContext
from kernel.service.problems import ApiProblem

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="访问令牌：Authorization: Bearer hh_…（由 huhang token create 生成）",
)


def service_context(request: Request) -> ServiceContext:
    """The context the app was created with."""
    context: ServiceContext = request.app.state.context
    return context


Context = Annotated[ServiceContext, Depends(service_context)]


def current_principal(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of the request's bearer token; 401 ``API-AUTH`` without a valid one."""
    from kernel.service.tokens import authenticate

    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiProblem(401, "API-AUTH", "缺少访问令牌：请在 Authorization 头中给出 Bearer 令牌")
    principal = authenticate(context.ledger.storage, credentials.credentials, context.clock())
    if principal is None:
        raise ApiProblem(401, "API-AUTH", "访问令牌无效、已过期或已吊销")
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def writer_principal(principal: Caller) -> Principal:
    """A principal that may submit events (office or unit); 403 for the auditor."""
    if not principal.may_write:
        raise ApiProblem(403, "API-FORBIDDEN", "审计角色只能读取，不能写入")
    return principal


def office_principal(principal: Caller) -> Principal:
    """The office only (sweep, outbox, candidate rules); 403 for the others."""
    if not principal.is_office:
        raise ApiProblem(403, "API-FORBIDDEN", "只有助商稳企办可以执行此操作")
    return principal


def reader_of_all(principal: Caller) -> Principal:
    """Office or auditor (whole-ledger reads such as the impact of candidate rules)."""
    if not principal.reads_everything:
        raise ApiProblem(403, "API-FORBIDDEN", "只有助商稳企办和审计可以读取全部台账")
    return principal


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 ``API-BODY-SIZE`` past ``limit`` bytes (streamed, so
    a lying or missing Content-Length does not matter)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, "API-BODY-SIZE", f"请求体过大：上限 {limit:,} 字节")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, "API-BODY-SIZE", f"请求体过大：上限 {limit:,} 字节")
        chunks.append(chunk)
    return b"".join(chunks)


async def json_body(request: Request, context: Context) -> Any:
    """The request's JSON value within the service's size and depth bounds (400 otherwise).

    Duplicate keys, NaN, overlong numbers or texts and invalid UTF-8 are refused with their
    location, as ``huhang ingest`` refuses them in a file.
    """
    from kernel.inputs.jsonlines import loads
    from kernel.inputs.sourcefile import Limits

    raw = await read_body(request, context.limits.body_bytes)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiProblem(400, "API-JSON", f"请求体不是 UTF-8 文本（第 {exc.start} 字节）") from None
    if not text.strip():
        raise ApiProblem(400, "API-JSON", "请求体为空，应为 JSON")
    try:
        return loads(text, "<请求体>", limits=Limits(max_depth=context.limits.json_depth))
    except ProblemsError as exc:
        deep = any(p.code == "INPUT-TOO-DEEP" for p in exc.problems)
        raise ApiProblem(
            400,
            "API-JSON-DEPTH" if deep else "API-JSON",
            "；".join(p.message for p in exc.problems),
            problems=[p.as_dict() for p in exc.problems],
        ) from None
