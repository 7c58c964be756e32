"""The console's routes: sign-in, the 工作台, 台账, 办理单, 新建, 企业, reports and rules.

:func:`create_console` returns an ASGI application that the HTTP service mounts at ``/``
(after its API routes, which keep precedence). Every page needs a session; every POST needs the
session's CSRF token (the sign-in form: the token of its own cookie). A page of another unit's
work answers 404, exactly like a problem that does not exist.
"""

from __future__ import annotations

import datetime as dt
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import kernel
from kernel.errors import InputError, ProblemsError
from kernel.evaluation.explain import condition_text
from kernel.ledger.events import RATINGS
from kernel.ledger.projection import ticket_from_collection
from kernel.outputs.tables import shown
from kernel.vocabulary import CLOCK_STATE_WORDS, GRADES
from kernel.web import accounts as acc
from kernel.web.access import Viewer, may_see_enterprise, may_see_ticket
from kernel.web.actions import action_event, action_named, new_event_id, next_actions
from kernel.web.sessions import COOKIE, LOGIN_COOKIE, Session, SessionSigner, same_token
from kernel.web.state import Console

if TYPE_CHECKING:
    from kernel.service.context import ServiceContext

HERE = Path(__file__).parent
FLAGS = (
    ("needs_territory", "需属地政府办理"),
    ("needs_policy_change", "需修改法律或政策"),
    ("beyond_city_budget", "所需资金超出市级财力"),
    ("needs_leader_decision", "需市级领导决策"),
    ("municipal_funds", "使用市级资金"),
)
LEVELS = ("本单位", "县区", "市级", "省级", "中央")
CONTACT_BY = {"liaison_cadre": "对口服务干部", "lead_leader": "包抓领导", "other": "其他人员"}
CONTACT_METHODS = ("走访", "电话", "座谈", "线上", "其他")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class SignInNeeded(Exception):
    """No live session: the page redirects to the sign-in form."""


@dataclass(frozen=True)
class Signed:
    """The signed-in person and their session."""

    viewer: Viewer
    session: Session


def _templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.globals.update(
        static=lambda name: f"/static/{name}",
        cell=shown,
        condition=condition_text,
        version=kernel.__version__,
        clock_words=CLOCK_STATE_WORDS,
    )
    from kernel.clocks.compute import due_text
    from kernel.clocks.view import clock_label

    env.globals.update(due_text=due_text, clock_label=clock_label)
    return templates


def mount_console(app: Any, *, secure_cookies: bool = True, secret: bytes | None = None) -> Any:
    """Mount the console at ``/`` of the service's app (its API routes keep precedence)."""
    console = create_console(
        app.state.context,
        metrics=app.state.metrics,
        secure_cookies=secure_cookies,
        secret=secret,
    )
    app.mount("/", console, name="console")
    return app


def create_console(
    context: ServiceContext,
    *,
    metrics: Any = None,
    secure_cookies: bool = True,
    secret: bytes | None = None,
) -> Starlette:
    """The console application for the service's ledger (mount it at ``/``)."""
    if metrics is None:
        from kernel.service.metrics import Metrics

        metrics = Metrics()
    console = Console(context, metrics, secure_cookies=secure_cookies)
    if secret is not None:
        console.signer = SessionSigner(secret)
    pages = _Pages(console, _templates())
    routes = [
        Route("/login", pages.login_form, methods=["GET"]),
        Route("/login", pages.login, methods=["POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Route("/", pages.home, methods=["GET"]),
        Route("/ledger", pages.ledger, methods=["GET"]),
        Route("/ledger.xlsx", pages.ledger_xlsx, methods=["GET"]),
        Route("/tickets/new", pages.new_form, methods=["GET"]),
        Route("/tickets/new", pages.new_save, methods=["POST"]),
        Route("/tickets/preview", pages.new_preview, methods=["POST"]),
        Route("/tickets/{ticket_id}", pages.ticket, methods=["GET"]),
        Route("/tickets/{ticket_id}/{action}", pages.ticket_action, methods=["POST"]),
        Route("/enterprises", pages.enterprises, methods=["GET"]),
        Route("/enterprises/{code}", pages.enterprise, methods=["GET"]),
        Route("/enterprises/{code}/contacts", pages.contact, methods=["POST"]),
        Route("/reports/monthly", pages.monthly, methods=["GET"]),
        Route("/reports/monthly.{fmt}", pages.monthly_file, methods=["GET"]),
        Route("/reports/assessment", pages.assessment, methods=["GET"]),
        Route("/reports/assessment.{fmt}", pages.assessment_file, methods=["GET"]),
        Route("/rules", pages.rules, methods=["GET"]),
        Route("/rules/preview", pages.rules_preview, methods=["POST"]),
        Route("/rules/preview/{token}.md", pages.rules_preview_file, methods=["GET"]),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            SignInNeeded: pages.to_login,
            HTTPException: pages.http_error,
            InputError: pages.input_error,
        },
    )
    app.state.console = console
    app.add_middleware(_SessionRenewal, pages=pages)
    app.add_middleware(_SecurityHeaders)
    return app


class _HeaderMiddleware:
    """A pure ASGI middleware (no buffering) that edits the headers of each HTTP response."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def headers(self, scope: Any, headers: list[Any]) -> list[Any]:
        """The response's headers as they should be sent."""
        raise NotImplementedError

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_edited(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": self.headers(scope, list(message.get("headers", []))),
                }
            await send(message)

        await self.app(scope, receive, send_edited)


class _SessionRenewal(_HeaderMiddleware):
    """Sets the renewed session cookie that :meth:`_Pages.signed` left in the request's state,
    unless the response sets or deletes the session cookie itself (sign-in, sign-out)."""

    def __init__(self, app: Any, pages: _Pages) -> None:
        super().__init__(app)
        self.pages = pages

    def headers(self, scope: Any, headers: list[Any]) -> list[Any]:
        sid = scope.get("state", {}).get("renewed_session")
        prefix = f"{COOKIE}=".encode()
        if sid and not any(k.lower() == b"set-cookie" and v.startswith(prefix) for k, v in headers):
            carrier = Response()
            self.pages.cookie(carrier, COOKIE, sid, max_age=None)
            headers += [(k, v) for k, v in carrier.raw_headers if k == b"set-cookie"]
        return headers


class _SecurityHeaders(_HeaderMiddleware):
    """Adds :data:`SECURITY_HEADERS` to every response."""

    def headers(self, scope: Any, headers: list[Any]) -> list[Any]:
        present = {k.lower() for k, _ in headers}
        return headers + [
            (k.lower().encode(), v.encode())
            for k, v in SECURITY_HEADERS.items()
            if k.lower().encode() not in present
        ]


def _not_found() -> HTTPException:
    return HTTPException(404, "没有这张办理单，或您无权查看")


class _Pages:
    """The request handlers, sharing the console state and the templates."""

    def __init__(self, console: Console, templates: Jinja2Templates) -> None:
        self.console = console
        self.templates = templates

    # ------------------------------------------------------------------ plumbing

    def signed(self, request: Request) -> Signed:
        """The live session's person, or :class:`SignInNeeded`."""
        console = self.console
        session = console.signer.get(request.cookies.get(COOKIE), console.now())
        if session is None:
            raise SignInNeeded
        record = console.ledger.storage.account(session.account)
        if record is None or record.disabled or record.generation != session.generation:
            raise SignInNeeded
        if any(nonce == session.nonce for nonce, _ in record.signed_out):
            raise SignInNeeded
        renewed = console.signer.renew(session, console.now())
        if renewed is not None:  # the browser's activity moves its idle timeout
            request.state.renewed_session = renewed.sid
        viewer = Viewer(record.name, record.principal, record.unit, record.role)
        return Signed(viewer, session)

    async def checked_form(self, request: Request, signed: Signed) -> FormData:
        """The posted form, after its CSRF token matched the session's (403 if not)."""
        form = await request.form()
        given = form.get("csrf")
        token = given if isinstance(given, str) else request.headers.get("X-CSRF-Token")
        if not same_token(signed.session.csrf, token):
            raise HTTPException(403, "表单已过期或来源不明（缺少有效的防伪令牌），请刷新页面后重试")
        return form

    def page(
        self,
        request: Request,
        template: str,
        signed: Signed | None,
        status: int = 200,
        **values: Any,
    ) -> HTMLResponse:
        """Render a page with the common values."""
        context = {
            "viewer": signed.viewer if signed else None,
            "session": signed.session if signed else None,
            "today": self.console.today().isoformat(),
            "title": values.pop("title", "护航"),
            **values,
        }
        return self.templates.TemplateResponse(request, template, context, status_code=status)

    def cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        """Set a Secure (unless turned off), HttpOnly, SameSite=Strict cookie."""
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            httponly=True,
            secure=self.console.secure_cookies,
            samesite="strict",
            path="/",
        )

    async def to_login(self, request: Request, exc: Exception) -> Response:
        """Redirect to the sign-in form (htmx: tell it to load the whole page)."""
        if request.headers.get("HX-Request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)

    def maybe_signed(self, request: Request) -> Signed | None:
        """The signed-in person, or None (for error pages)."""
        try:
            return self.signed(request)
        except SignInNeeded:
            return None

    async def http_error(self, request: Request, exc: Exception) -> Response:
        """A Chinese error page (404 for another unit's work as for nothing at all)."""
        assert isinstance(exc, HTTPException)
        titles = {403: "操作被拒绝", 404: "页面不存在", 405: "不支持的操作"}
        signed = self.maybe_signed(request)
        detail = exc.detail if isinstance(exc.detail, str) else "请求有误"
        if exc.status_code == 404 and detail == "Not Found":
            detail = "没有这个页面，或您无权查看"
        return self.page(
            request,
            "error.html",
            signed,
            status=exc.status_code,
            title=titles.get(exc.status_code, "请求有误"),
            detail=detail,
        )

    async def input_error(self, request: Request, exc: Exception) -> Response:
        """Bad input anywhere: a 422 page with the kernel's own Chinese words."""
        signed = self.maybe_signed(request)
        return self.page(
            request, "error.html", signed, status=422, title="输入有误", detail=_words(exc)
        )

    # ------------------------------------------------------------------ sign-in

    async def login_form(self, request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = self.page(request, "login.html", None, title="登录", login_csrf=token)
        self.cookie(response, LOGIN_COOKIE, token, max_age=3600)
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        token = form.get("csrf")
        if not same_token(
            request.cookies.get(LOGIN_COOKIE), token if isinstance(token, str) else None
        ):
            raise HTTPException(
                403, "登录表单已过期或来源不明（缺少有效的防伪令牌），请刷新页面后重试"
            )
        name = str(form.get("name", "")).strip()
        password = str(form.get("password", ""))
        console = self.console
        try:
            record = acc.sign_in(console.ledger.storage, name, password, console.now())
        except acc.SignInRefused as exc:
            fresh = secrets.token_urlsafe(24)
            response = self.page(
                request,
                "login.html",
                None,
                status=401,
                title="登录",
                login_csrf=fresh,
                name=name,
                error=str(exc),
            )
            self.cookie(response, LOGIN_COOKIE, fresh, max_age=3600)
            return response
        session = console.signer.open(record.name, record.generation, console.now())
        redirect = RedirectResponse("/", status_code=303)
        self.cookie(redirect, COOKIE, session.sid, max_age=None)
        redirect.delete_cookie(LOGIN_COOKIE, path="/")
        return redirect

    async def logout(self, request: Request) -> Response:
        signed = self.signed(request)
        form = await self.checked_form(request, signed)
        console, session = self.console, signed.session
        if form.get("everywhere"):
            acc.end_sessions(console.ledger.storage, signed.viewer.account)
        else:
            storage = console.ledger.storage
            acc.end_session(storage, session.account, session.nonce, session.ends, console.now())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ pages

    def _col(self, as_of: dt.date) -> dict[str, int]:
        from kernel.assessment.ledger_table import COLUMNS

        return {k: i for i, (k, _, _) in enumerate(COLUMNS)}

    async def home(self, request: Request) -> Response:
        from kernel.web.views import workbench

        signed = self.signed(request)
        as_of = self.console.today()
        wb = workbench(self.console, signed.viewer, as_of)
        return self.page(
            request, "home.html", signed, title="工作台", nav="home", wb=wb, col=self._col(as_of)
        )

    async def ledger(self, request: Request) -> Response:
        from kernel.web.views import ledger_view

        signed = self.signed(request)
        params = dict(request.query_params)
        view = ledger_view(self.console, signed.viewer, params, self.console.today())
        base = {**view.filters, "sort": view.sort, "dir": "desc" if view.desc else "asc"}

        def sort_query(key: str, direction: str) -> str:
            return urlencode({**view.filters, "sort": key, "dir": direction})

        def page_query(page: int) -> str:
            return urlencode({**base, "page": page})

        return self.page(
            request,
            "ledger.html",
            signed,
            title="台账",
            nav="ledger",
            view=view,
            query=urlencode(base),
            sort_query=sort_query,
            page_query=page_query,
        )

    async def ledger_xlsx(self, request: Request) -> Response:
        from kernel.outputs.tables import write_xlsx
        from kernel.web.views import export_table, filtered_rows, ledger_view

        signed = self.signed(request)
        as_of = self.console.today()
        params = dict(request.query_params)
        if params.get("scope") == "page":  # this page, the columns on screen
            view = ledger_view(self.console, signed.viewer, params, as_of)
            sheet = export_table(view.table, view.rows, view.filters, shown_only=True)
        else:  # every page of the filter, every column
            table, rows, filters, _, _ = filtered_rows(self.console, signed.viewer, params, as_of)
            sheet = export_table(table, rows, filters)
        data = _file_bytes(lambda path: write_xlsx([sheet], path))
        return _download(data, XLSX, f"台账-{as_of}.xlsx")

    def _visible_ticket(self, viewer: Viewer, ticket_id: str) -> Any:
        """The problem's state and timeline through the read model (its own events only)."""
        from kernel.ledger.readmodel import ReadModel

        detail = ReadModel(self.console.ledger).ticket(ticket_id)
        if detail is None or not may_see_ticket(viewer, detail.state):
            raise _not_found()
        return detail

    async def ticket(self, request: Request, error: str = "", message: str = "") -> Response:
        from kernel.errors import CalendarError

        signed = self.signed(request)
        ticket_id = request.path_params["ticket_id"]
        detail = self._visible_ticket(signed.viewer, ticket_id)
        state = detail.state
        clocks: list[Any] = []
        clocks_error = ""
        try:
            clocks = list(self.console.evaluator().evaluate(state, self.console.today()).instances)
        except CalendarError as exc:
            clocks_error = f"无法计算期限：{str(exc).splitlines()[0]}"
        timeline = list(detail.timeline)
        status = 409 if error else 200
        return self.page(
            request,
            "ticket.html",
            signed,
            status=status,
            title=f"办理单 {ticket_id}",
            nav="ledger",
            state=state,
            evaluation=self.console.evaluate(state.ticket),
            clocks=clocks,
            clocks_error=clocks_error,
            timeline=timeline,
            actions=next_actions(
                signed.viewer, state, self.console.ruleset.lifecycle, self.console.ruleset.level
            ),
            ratings=RATINGS,
            grades=GRADES,
            units=list(self.console.ruleset.reference.units),
            error=error,
            message=message,
        )

    async def ticket_action(self, request: Request) -> Response:
        signed = self.signed(request)
        ticket_id = request.path_params["ticket_id"]
        self._visible_ticket(signed.viewer, ticket_id)  # 404 before anything else
        form = await self.checked_form(request, signed)
        ruleset = self.console.ruleset
        action = action_named(request.path_params["action"], ruleset.lifecycle, ruleset.level)
        if action is None:
            raise HTTPException(404, "没有这个操作")
        if not signed.viewer.may_write:
            raise HTTPException(403, "审计账号只能查看，不能办理")
        console = self.console
        day = console.today()
        try:
            if action.name == "grade":
                console.grade(ticket_id)
            else:
                fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
                console.record(
                    signed.viewer, [action_event(action, signed.viewer, ticket_id, day, fields)]
                )
        except InputError as exc:
            return await self.ticket(request, error=f"未能{action.label}：{_words(exc)}")
        return RedirectResponse(f"/tickets/{ticket_id}?done={action.name}", status_code=303)

    # ------------------------------------------------------------------ new problem

    def _enterprises(self, viewer: Viewer) -> list[Any]:
        from kernel.web.views import visible_enterprises

        return visible_enterprises(self.console, viewer)

    def _find_enterprise(self, viewer: Viewer, text: str) -> Any:
        from kernel.web.views import visible_enterprises

        text = text.strip()
        found = visible_enterprises(self.console, viewer, named=text)
        if found:
            return found[0]
        raise InputError(f"找不到企业“{text}”：请输入已登记企业的全称或统一社会信用代码")

    def _draft(self, viewer: Viewer, form: FormData, ticket_id: str) -> dict[str, Any]:
        """The ``ticket.collected`` event the form describes."""
        enterprise = self._find_enterprise(viewer, str(form.get("enterprise", "")))
        assessment: dict[str, Any] = {
            "authority_level": str(form.get("authority_level", "")),
            "departments": [str(d) for d in form.getlist("departments")],
        }
        for key, _ in FLAGS:
            assessment[key] = bool(form.get(key))
        day = str(form.get("date") or self.console.today().isoformat())
        return {
            "event_id": new_event_id("collect"),
            "type": "ticket.collected",
            "date": day,
            "actor": viewer.actor,
            "person": viewer.name,
            "enterprise": enterprise.credit_code,
            "ticket_id": ticket_id,
            "payload": {
                "category": str(form.get("category", "")),
                "summary": str(form.get("summary", "")).strip(),
                "assessment": assessment,
            },
        }

    def _new_values(self, viewer: Viewer) -> dict[str, Any]:
        ref = self.console.ruleset.reference
        return {
            "enterprises": self._enterprises(viewer),
            "categories": list(ref.categories.values()),
            "departments": ref.ids("departments"),
            "levels": LEVELS,
            "flags": FLAGS,
        }

    async def new_form(self, request: Request) -> Response:
        signed = self.signed(request)
        if not signed.viewer.may_write:
            raise HTTPException(403, "审计账号只能查看，不能新建办理单")
        return self.page(
            request,
            "new.html",
            signed,
            title="新建办理单",
            nav="new",
            form={},
            form_departments=[],
            **self._new_values(signed.viewer),
        )

    def _preview_html(self, request: Request, viewer: Viewer, form: FormData) -> str:
        from kernel.ledger.events import validate_event
        from kernel.web.views import enterprise_of

        console = self.console
        problems: list[str] = []
        evaluation = None
        try:
            draft = self._draft(viewer, form, "预览")
            event = validate_event(draft, console.ruleset.reference)
            enterprise = enterprise_of(console, str(event.enterprise))
            if enterprise is None:
                raise InputError(f"企业 {event.enterprise} 尚未登记")
            ticket = ticket_from_collection(event, enterprise, console.ruleset.reference)
            evaluation = console.evaluate(ticket)
        except ProblemsError as exc:
            problems = [p.message for p in exc.problems]
        except InputError as exc:
            problems = [_words(exc)]
        template = self.templates.get_template("_preview.html")
        return template.render(problems=problems, evaluation=evaluation)

    async def new_preview(self, request: Request) -> Response:
        signed = self.signed(request)
        form = await self.checked_form(request, signed)
        return HTMLResponse(self._preview_html(request, signed.viewer, form))

    def _next_ticket_id(self, year: int) -> str:
        from kernel.web.views import next_ticket_number

        prefix = f"HZ-{year}-"
        return f"{prefix}{next_ticket_number(self.console, prefix):04d}"

    async def new_save(self, request: Request) -> Response:
        signed = self.signed(request)
        form = await self.checked_form(request, signed)
        viewer = signed.viewer
        if not viewer.may_write:
            raise HTTPException(403, "审计账号只能查看，不能新建办理单")
        console = self.console
        error = ""
        try:
            ticket_id = self._next_ticket_id(console.today().year)
            draft = self._draft(viewer, form, ticket_id)
            report = {
                "event_id": new_event_id("report"),
                "type": "ticket.reported",
                "date": draft["date"],
                "actor": draft["actor"],
                "person": viewer.name,
                "ticket_id": ticket_id,
                "payload": {},
            }
            console.record(viewer, [draft, report])
        except InputError as exc:
            error = f"未能保存：{_words(exc)}"
        if error:
            return self.page(
                request,
                "new.html",
                signed,
                status=422,
                title="新建办理单",
                nav="new",
                error=error,
                form={k: v for k, v in form.items() if isinstance(v, str)},
                form_departments=form.getlist("departments"),
                preview=self._preview_html(request, viewer, form),
                **self._new_values(viewer),
            )
        return RedirectResponse(f"/tickets/{ticket_id}?done=new", status_code=303)

    # ------------------------------------------------------------------ enterprises

    async def enterprises(self, request: Request) -> Response:
        from kernel.web.views import roster

        signed = self.signed(request)
        try:
            year = int(request.query_params.get("year", self.console.today().year))
        except ValueError:
            year = self.console.today().year
        q = request.query_params.get("q", "").strip()
        rows = roster(self.console, signed.viewer, year)
        if q:
            rows = [
                r
                for r in rows
                if q in str(r.enterprise.get("name")) or q in r.enterprise.credit_code
            ]
        return self.page(
            request,
            "enterprises.html",
            signed,
            title="企业",
            nav="enterprises",
            rows=rows,
            year=year,
            q=q,
        )

    def _visible_enterprise(self, viewer: Viewer, code: str) -> Any:
        from kernel.web.views import enterprise_of

        enterprise = enterprise_of(self.console, code)
        if enterprise is None or not may_see_enterprise(viewer, enterprise):
            raise HTTPException(404, "没有这家企业，或您无权查看")
        return enterprise

    async def enterprise(self, request: Request, error: str = "", message: str = "") -> Response:
        from kernel.web.views import enterprise_tickets

        signed = self.signed(request)
        code = request.path_params["code"]
        enterprise = self._visible_enterprise(signed.viewer, code)
        contacts = list(self.console.ledger.events(enterprise=code, types=("contact.recorded",)))
        tickets = enterprise_tickets(self.console, signed.viewer, code)
        if request.query_params.get("done") == "contact":
            message = message or "联系记录已保存"
        return self.page(
            request,
            "enterprise.html",
            signed,
            status=422 if error else 200,
            title=str(enterprise.get("name")),
            nav="enterprises",
            e=enterprise,
            contacts=contacts,
            tickets=tickets,
            by_words=CONTACT_BY,
            methods=CONTACT_METHODS,
            error=error,
            message=message,
        )

    async def contact(self, request: Request) -> Response:
        signed = self.signed(request)
        code = request.path_params["code"]
        self._visible_enterprise(signed.viewer, code)
        form = await self.checked_form(request, signed)
        if not signed.viewer.may_write:
            raise HTTPException(403, "审计账号只能查看，不能记录联系")
        payload: dict[str, Any] = {"by": str(form.get("by", ""))}
        for key in ("person", "method", "summary"):
            value = str(form.get(key, "")).strip()
            if value:
                payload[key] = value
        event = {
            "event_id": new_event_id("contact"),
            "type": "contact.recorded",
            "date": str(form.get("date") or self.console.today().isoformat()),
            "actor": signed.viewer.actor,
            "person": signed.viewer.name,
            "enterprise": code,
            "payload": payload,
        }
        try:
            self.console.record(signed.viewer, [event])
        except InputError as exc:
            return await self.enterprise(request, error=f"未能保存联系记录：{_words(exc)}")
        return RedirectResponse(f"/enterprises/{code}?done=contact", status_code=303)

    # ------------------------------------------------------------------ reports

    def _office_or_auditor(self, signed: Signed) -> None:
        if signed.viewer.role == "unit":
            raise HTTPException(404, "没有这个页面，或您无权查看")

    def _month(self, request: Request) -> str:
        month = request.query_params.get("month") or self.console.today().strftime("%Y-%m")
        try:
            dt.date.fromisoformat(month + "-01")
        except ValueError:
            raise InputError(f"月份 {month!r} 应写作 YYYY-MM，如 2026-09") from None
        return month

    def _monthly_report(self, month: str) -> Any:
        from kernel.assessment.monthly_cache import cached_monthly_report

        console = self.console
        return console.cached(
            f"monthly:{month}",
            lambda: cached_monthly_report(
                console.ledger, console.ruleset, console.evaluator(), month
            ),
        )

    def _closure_chart(self, month: str) -> dict[str, Any] | None:
        """Each territory's on-time closure rate in the month (the demo chart's figures)."""
        from kernel.assessment.facts import ledger_tallies
        from kernel.clocks.monthly import month_bounds
        from kernel.demo.outputs import closure_grid

        console = self.console
        rules = console.ruleset
        if rules.scoring is None or rules.deadlines is None:
            return None
        first, last = month_bounds(month)
        # a month that has ended is read as of its last day (cached under that period end, as
        # the assessment of that month is); the current month as of today, not cached (a row
        # per ticket for every day would pile up)
        as_of = min(last, console.today())
        tallies = console.cached(
            f"tallies:{month}:{as_of}",
            lambda: ledger_tallies(console.collector(), console.ledger, as_of, store=as_of == last),
        )
        grid = closure_grid(tallies, rules.reference.ids("territories"), first.year)
        column = first.month - 1
        bars = []
        for row, unit in enumerate(grid.units):
            rate = grid.rate(row, column)
            if rate is not None:
                on_time, due = grid.on_time[row][column], grid.due[row][column]
                bars.append((unit, rate, f"{rate:.0%}（{on_time}/{due}）"))
        title = f"{first.year} 年 {first.month} 月各县区问题按期办结率（当月到期的办结时限）"
        return {"title": title, "bars": bars} if bars else None

    async def monthly(self, request: Request) -> Response:
        signed = self.signed(request)
        self._office_or_auditor(signed)
        month = self._month(request)
        report = self._monthly_report(month)
        return self.page(
            request,
            "report.html",
            signed,
            title=report.title,
            nav="monthly",
            report=report,
            kind="monthly",
            period=month,
            base="/reports/monthly",
            query=urlencode({"month": month}),
            downloads=(("md", "Markdown"), ("xlsx", "Excel"), ("docx", "Word")),
            chart=self._closure_chart(month),
        )

    async def monthly_file(self, request: Request) -> Response:
        signed = self.signed(request)
        self._office_or_auditor(signed)
        month = self._month(request)
        report = self._monthly_report(month)
        return self._report_file(request.path_params["fmt"], report, "monthly", f"月度通报-{month}")

    def _period(self, request: Request) -> str:
        from kernel.assessment.scoring import period_bounds

        period = request.query_params.get("period") or str(self.console.today().year)
        period_bounds(period)  # refuses a malformed period in Chinese
        return period

    def _assessment(self, period: str) -> Any:
        from kernel.assessment.facts import facts_assess

        console = self.console
        return console.cached(
            f"assessment:{period}",
            lambda: facts_assess(console.collector(), console.ledger, period),
        )

    def _assessment_report(self, signed: Signed, period: str) -> Any:
        from kernel.assessment.reports import assessment_report, unit_report
        from kernel.clocks.view import clock_titles

        assessment = self._assessment(period)
        titles = clock_titles(self.console.ruleset.deadlines)
        if signed.viewer.role == "unit":
            try:
                return assessment, unit_report(assessment, signed.viewer.unit, titles)
            except (KeyError, InputError):
                raise HTTPException(404, "本单位不在该考核期的考核范围内") from None
        return assessment, assessment_report(assessment, titles)

    async def assessment(self, request: Request) -> Response:
        signed = self.signed(request)
        period = self._period(request)
        assessment, report = self._assessment_report(signed, period)
        chart = None
        if signed.viewer.role != "unit":
            bars = []
            for unit in assessment.units:
                for indicator in unit.indicators:
                    if indicator.denominator and "办结" in indicator.title:
                        rate = (indicator.numerator or 0) / indicator.denominator
                        text = f"{rate:.0%}（{indicator.numerator}/{indicator.denominator}）"
                        bars.append((unit.unit, rate, text))
                        break
            if bars:
                chart = {"title": "按期办结率（各单位）", "bars": bars}
        return self.page(
            request,
            "report.html",
            signed,
            title=report.title,
            nav="assessment",
            report=report,
            kind="assessment",
            period=period,
            base="/reports/assessment",
            query=urlencode({"period": period}),
            downloads=(("md", "Markdown"), ("xlsx", "Excel")),
            chart=chart,
        )

    async def assessment_file(self, request: Request) -> Response:
        signed = self.signed(request)
        period = self._period(request)
        _, report = self._assessment_report(signed, period)
        return self._report_file(request.path_params["fmt"], report, "", f"考核-{period}")

    def _report_file(self, fmt: str, report: Any, kind: str, name: str) -> Response:
        from kernel.assessment.reports import render_report
        from kernel.outputs.tables import write_xlsx

        if fmt == "md":
            return _download(render_report(report, "md").encode(), "text/markdown", f"{name}.md")
        if fmt == "xlsx":
            data = _file_bytes(lambda path: write_xlsx(report.workbook_tables(), path))
            return _download(data, XLSX, f"{name}.xlsx")
        if fmt == "docx" and kind:
            from kernel.assessment.documents import write_docx

            directory = self.console.ruleset.directory
            data = _file_bytes(
                lambda path: write_docx(
                    report, kind, directory, path, doc_number="", issued=self.console.today()
                ),
                suffix=".docx",
            )
            return _download(data, DOCX, f"{name}.docx")
        raise HTTPException(404, "没有这种下载格式")

    # ------------------------------------------------------------------ rules

    async def rules(self, request: Request, preview: str = "") -> Response:
        from kernel.web.rulesview import rule_tables

        signed = self.signed(request)
        self._office_or_auditor(signed)
        return self.page(
            request,
            "rules.html",
            signed,
            title="规则",
            nav="rules",
            rules=self.console.ruleset,
            tables=rule_tables(self.console.ruleset),
            preview=preview,
        )

    async def rules_preview(self, request: Request) -> Response:
        from kernel.web.rulesview import preview_candidate

        signed = self.signed(request)
        self._office_or_auditor(signed)
        form = await self.checked_form(request, signed)
        if not signed.viewer.office:
            raise HTTPException(403, "只有助商稳企办可以预览规则变更")
        upload = form.get("archive")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise InputError("请选择候选规则目录的压缩包")
        from kernel.web.rulesview import MAX_ARCHIVE

        data = await upload.read(MAX_ARCHIVE + 1)
        console = self.console
        result = preview_candidate(
            data,
            upload.filename,
            console.ruleset,
            list(console.ledger.events()),
            console.today(),
        )
        token = secrets.token_urlsafe(16)
        if result.markdown:
            console.previews[token] = result.markdown
            while len(console.previews) > 20:
                console.previews.pop(next(iter(console.previews)))
        html = self.templates.get_template("_rulepreview.html").render(
            problems=result.problems,
            findings=result.findings,
            headline=result.headline,
            markdown=result.markdown,
            token=token,
        )
        if request.headers.get("HX-Request"):
            return HTMLResponse(html, status_code=422 if result.problems else 200)
        return await self.rules(request, preview=html)

    async def rules_preview_file(self, request: Request) -> Response:
        signed = self.signed(request)
        self._office_or_auditor(signed)
        text = self.console.previews.get(request.path_params["token"])
        if text is None:
            raise HTTPException(404, "预览已过期，请重新上传")
        return _download(text.encode(), "text/markdown", "规则变更影响.md")


def _words(exc: BaseException) -> str:
    """An error's Chinese message, with every located problem."""
    if isinstance(exc, ProblemsError) and exc.problems:
        return "；".join(p.message for p in exc.problems)
    return str(exc)


def _file_bytes(write: Callable[[Path], Any], suffix: str = ".xlsx") -> bytes:
    with tempfile.TemporaryDirectory(prefix="huhang-web-") as tmp:
        path = Path(tmp) / f"out{suffix}"
        write(path)
        return path.read_bytes()


def _download(data: bytes, media_type: str, filename: str) -> Response:
    from urllib.parse import quote

    return Response(
        data,
        media_type=media_type,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )
