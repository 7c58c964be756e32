"""Ticket lists from the read model equal the lists that replay every ticket, on the demo ledger.

The API's ticket list (and the console's lists, which use the same queries) used to project
every ticket and evaluate every ticket's clocks; now the filters are SQL on the read model --
a unit's tickets through ``rm_ticket_units``, ``q`` as ``LIKE`` -- and "overdue" is the flag a
sweep stored for the tickets it marked quiet, the clocks evaluated only for the others. Each
answer here is compared byte for byte (its JSON) with the replaying list's, on SQLite and on
PostgreSQL: every combination of the filters, several callers, pages and as-of days before,
on and after sweeps.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest

from kernel.clocks.lists import cached_key
from kernel.clocks.sweep import sweep
from kernel.demo.generate import Simulation, generate
from kernel.ledger.readmodel import ReadModel
from kernel.service.access import Principal, ticket_units
from kernel.service.context import ServiceContext, open_service
from kernel.service.routes_tickets import list_from_read_model, list_query, list_replayed
from kernel.storage.readmodel_sql import TicketQuery, like_pattern

NOW = dt.datetime(2026, 12, 31, 10, 0, tzinfo=dt.UTC)
FILTERS = ("state", "grade", "unit", "category", "territory", "month", "q")
EMPTY: dict[str, Any] = {k: None for k in (*FILTERS, "overdue", "as_of")}
OFFICE = Principal("办公室", "助商稳企办", "office")
AUDITOR = Principal("审计", "市审计局", "auditor")


@pytest.fixture(scope="module")
def demo() -> Simulation:
    return generate()


def _fill(context: ServiceContext, demo: Simulation) -> ServiceContext:
    with context.ledger.storage.transaction() as tx:
        for event in demo.ledger.events():
            tx.insert(event)
    context.ledger.rebuild_read_model()
    assert ReadModel(context.ledger).stored
    return context


@pytest.fixture(scope="module")
def sqlite_context(demo: Simulation, tmp_path_factory: pytest.TempPathFactory) -> ServiceContext:
    db = tmp_path_factory.mktemp("lists") / "demo.db"
    return _fill(open_service(db=str(db), create=True, clock=lambda: NOW), demo)


@pytest.fixture(scope="module")
def postgres_context(demo: Simulation) -> Iterator[ServiceContext]:
    from tests.test_postgres import drop, url_for  # skips the module without a server

    schema = f"huhang_lists_{random.randrange(1 << 40):x}"
    context = open_service(db=url_for(schema), create=True, clock=lambda: NOW)
    try:
        yield _fill(context, demo)
    finally:
        context.close()
        drop(schema)


def _same(
    context: ServiceContext,
    principal: Principal,
    filters: dict[str, Any],
    page: int = 1,
    page_size: int = 50,
) -> dict[str, Any]:
    wanted = {**EMPTY, **filters}
    new = list_from_read_model(context, principal, wanted, page, page_size)
    old = list_replayed(context, principal, wanted, page, page_size)
    assert json.dumps(new, ensure_ascii=False) == json.dumps(old, ensure_ascii=False), (
        principal.unit,
        filters,
        page,
        page_size,
    )
    return new


def _callers(context: ServiceContext) -> list[Principal]:
    """The office, the auditor and units in each role: lead, primary, co-handler, feedback
    owner, coordinator (and one with no part in anything)."""
    states = context.projection().tickets.values()
    picked: dict[str, str] = {}
    for state in sorted(states, key=lambda s: s.ticket_id):
        route = state.route
        for role, unit in (
            ("lead", state.lead_unit),
            ("primary", route.get("primary")),
            ("co", next(iter(route.get("co_handlers") or ()), None)),
            ("feedback", route.get("feedback_owner")),
            ("coordinator", next(iter(route.get("coordinators") or ()), None)),
        ):
            if isinstance(unit, str) and unit not in picked.values():
                picked.setdefault(role, unit)
    assert set(picked) == {"lead", "primary", "co", "feedback", "coordinator"}
    units = [Principal(role, unit, "unit") for role, unit in sorted(picked.items())]
    return [OFFICE, AUDITOR, *units, Principal("无关", "不存在的单位", "unit")]


def _values(context: ServiceContext) -> list[dict[str, str]]:
    """Two sets of filter values, each taken from one ticket (so combinations still match)."""
    states = sorted(context.projection().tickets.values(), key=lambda s: s.ticket_id)
    out = []
    for state in (states[len(states) // 3], states[2 * len(states) // 3]):
        data = state.ticket.data
        out.append(
            {
                "state": state.state,
                "grade": state.grade or "B",
                "unit": str(state.route.get("primary") or state.lead_unit),
                "category": data["category"],
                "territory": data["enterprise"]["territory"],
                "month": state.collected_on.strftime("%Y-%m"),
                "q": str(data["summary"])[1:4],
            }
        )
    return out


def _check_every_combination(context: ServiceContext) -> None:
    callers = _callers(context)
    for values in _values(context):
        for size in range(len(FILTERS) + 1):
            for names in itertools.combinations(FILTERS, size):
                filters = {name: values[name] for name in names}
                for principal in (OFFICE, callers[2], callers[4]):
                    _same(context, principal, filters)
    for principal in callers:
        assert _same(context, principal, {})["total"] == sum(
            1
            for s in context.projection().tickets.values()
            if principal.reads_everything or principal.unit in ticket_units(s)
        )


def _check_text_and_pages(context: ServiceContext) -> None:
    first = min(context.projection().tickets)
    for q in (first.lower(), first[:6].upper(), "%", "_", "\\", "none", "  ", "0%", "局_", "1\x00"):
        for principal in _callers(context)[:3]:
            _same(context, principal, {"q": q})
    for page, size in ((1, 1), (2, 7), (3, 50), (1, 500), (40, 50), (1_000, 10)):
        _same(context, OFFICE, {}, page, size)
        _same(context, OFFICE, {"overdue": True, "as_of": dt.date(2026, 9, 1)}, page, size)


def _check_overdue(context: ServiceContext, days: list[dt.date]) -> None:
    callers = _callers(context)
    values = _values(context)[0]
    for day in days:
        for overdue in (True, False):
            _same(context, OFFICE, {"overdue": overdue, "as_of": day})
            _same(context, callers[3], {"overdue": overdue, "as_of": day, "q": values["q"][:1]})
        _same(context, callers[2], {"overdue": True, "as_of": day, "state": "dispatched"})


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_lists_equal_the_replaying_lists(backend: str, request: pytest.FixtureRequest) -> None:
    context: ServiceContext = request.getfixturevalue(f"{backend}_context")
    _check_every_combination(context)
    _check_text_and_pages(context)
    # never swept: every ticket's clocks are evaluated
    _check_overdue(context, [dt.date(2026, 3, 2), dt.date(2026, 8, 17)])
    storage, evaluator = context.ledger.storage, context.evaluator()
    everything = TicketQuery(limit=None, by_id=True)
    for sweep_day in (dt.date(2026, 5, 6), dt.date(2026, 9, 1), dt.date(2026, 12, 1)):
        sweep(context.ledger, evaluator, sweep_day)
        flags = storage.ticket_overdue(everything, sweep_day, cached_key(evaluator))
        known = [flag for _, flag in flags if flag is not None]
        # tickets without events dated after the sweep are answered from its marks (by
        # December most of the year's), and both answers occur
        assert True in known and False in known
        assert len(known) > len(flags) * (2 if sweep_day.month == 12 else 1) // 10
        # the stored answer holds on the days after the sweep (and before it, evaluated)
        later = [sweep_day + dt.timedelta(days=n) for n in (0, 4, 23)]
        _check_overdue(context, [sweep_day - dt.timedelta(days=3), *later])
    # under other deadline rules or another calendar nothing stored is used
    assert {f for _, f in storage.ticket_overdue(everything, dt.date(2026, 12, 1), "x")} == {None}


def test_query_text_is_a_parameter_and_escaped() -> None:
    assert like_pattern("5%_\\") == "%5\\%\\_\\\\%"
    query = list_query(
        Principal("x", "发改委", "unit"),
        {**EMPTY, "q": "  A'B  ", "unit": "发改委", "month": "2026-02"},
    )
    sql, params = query.page_sql("?")
    assert "A'B" not in sql and "a'b" in params
    # a text with NUL matches nothing; PostgreSQL, which could not take it, is not sent it
    assert TicketQuery(text="1\x00").where("%s") == (" WHERE 1 = 0", [])
    assert TicketQuery(contains="1\x00", units=("x",)).where("?")[0].count("instr") == 3
    assert query.units == ("发改委",)  # the caller's own unit once
    assert (query.collected_from, query.collected_to) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    with pytest.raises(ValueError, match="longer"):
        TicketQuery(text="x" * 401)


def test_ticket_units_rows_follow_the_route(sqlite_context: ServiceContext) -> None:
    storage = sqlite_context.ledger.storage
    states = sqlite_context.projection().tickets
    roles = storage.ticket_roles(sorted(states))
    assert set(roles) == set(states)
    for ticket_id, state in states.items():
        assert {unit for _, _, unit in roles[ticket_id]} == ticket_units(state)
    assert ReadModel(sqlite_context.ledger).differences() == []


def test_sweep_stores_each_clock_instance(sqlite_context: ServiceContext) -> None:
    context = sqlite_context
    evaluator = context.evaluator()
    day = dt.date(2026, 12, 1)
    sweep(context.ledger, evaluator, day)
    storage = context.ledger.storage
    flags = storage.ticket_overdue(TicketQuery(limit=None), day, cached_key(evaluator))
    quiet = [t for t, flag in flags if flag is not None]
    assert quiet
    with_clocks = 0
    for ticket_id in quiet[:200]:
        clocks = evaluator.evaluate(context.projection().tickets[ticket_id], day)
        want = sorted(
            (
                ticket_id,
                i.key,
                i.clock.id,
                i.due.isoformat() if i.due else None,
                i.stop.isoformat() if i.stop else None,
                i.state,
                json.dumps(list(i.owners), ensure_ascii=False),
            )
            for i in clocks.instances
        )
        assert [tuple(r) for r in storage.clock_rows(ticket_id)] == want
        with_clocks += bool(want)
    assert with_clocks > 50


def _console_views(console: Any, viewer: Any, params: dict[str, str], day: dt.date) -> Any:
    from kernel.web.views import filtered_rows, workbench

    table, rows, filters, sort, desc = filtered_rows(console, viewer, params, day)
    bench = workbench(console, viewer, day)
    return (
        table.title,
        table.keys,
        rows,
        filters,
        sort,
        desc,
        bench.overdue,
        bench.due_soon,
        bench.open_rows,
        [s.ticket_id for s in bench.waiting],
        bench.counts,
        [s.ticket_id for s in bench.ungraded + bench.undispatched],
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_console_lists_equal_the_whole_ledger_table(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's 台账 and 工作台 from the read model (each person's tickets, the filters
    in SQL, stored overdue flags) equal those cut from the whole 台账 as before."""
    from kernel.vocabulary import TICKET_STATE_WORDS
    from kernel.web.access import Viewer
    from kernel.web.sessions import SessionSigner
    from kernel.web.state import Console

    context: ServiceContext = request.getfixturevalue(f"{backend}_context")
    viewers = [
        Viewer(p.name, p.name, p.unit, p.role) for p in _callers(context) if p.role != "auditor"
    ]
    values = _values(context)[1]
    sweep(context.ledger, context.evaluator(), dt.date(2026, 11, 2))
    choices: list[dict[str, str]] = [
        {},
        {"state": TICKET_STATE_WORDS[values["state"]]},
        {"state": "不是状态", "grade": values["grade"]},
        {"unit": values["unit"], "sort": "resolve_due", "dir": "asc"},
        {"category": values["category"], "territory": values["territory"]},
        {"month": values["month"]},
        {"month": values["month"][:4], "overdue": "是", "sort": "overdue_workdays"},
        {"month": "2026-1", "overdue": "否"},
        {"q": values["q"]},
        {"q": "HZ-2026-01"},
        {"q": "hz-2026"},
        {"q": "%"},
        {"overdue": "是"},
        {"overdue": "否", "grade": values["grade"], "sort": "primary", "dir": "desc"},
    ]
    new_console, old_console = (
        Console(context, None, signer=SessionSigner(b"k" * 32)) for _ in "ab"
    )
    for day in (dt.date(2026, 11, 2), dt.date(2026, 11, 20), dt.date(2026, 10, 1)):
        for viewer in viewers:
            for params in choices:
                new = _console_views(new_console, viewer, params, day)
                with monkeypatch.context() as patch:
                    patch.setattr(ReadModel, "stored", property(lambda self: False))
                    old = _console_views(old_console, viewer, params, day)
                assert new == old, (viewer.unit, params, day)


def test_cli_ledger_filters_by_unit_text_and_overdue(
    sqlite_context: ServiceContext, capsys: pytest.CaptureFixture[str]
) -> None:
    """``huhang ledger --unit --search --overdue`` lists what the whole 台账 filtered lists."""
    from kernel.cli.main import main

    db = sqlite_context.ledger.storage.url
    caller = _callers(sqlite_context)[3]
    day = "2026-11-20"
    assert main(["ledger", "--db", db, "--as-of", day, "--format", "json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    states = sqlite_context.projection().tickets
    text = "hz-2026-00"
    for overdue in ("是", "否"):
        argv = ["--unit", caller.unit, "--search", text.upper(), "--overdue", overdue]
        assert main(["ledger", "--db", db, "--as-of", day, "--format", "json", *argv]) == 0
        rows = json.loads(capsys.readouterr().out)
        want = [
            r
            for r in whole
            if caller.unit in ticket_units(states[r["ticket_id"]])
            and r["overdue"] in (overdue, overdue == "是")
            and any(
                text in str(v).lower()
                for v in (r["ticket_id"], r["summary"], r["enterprise"], r["primary"])
            )
        ]
        assert rows == want and want


def test_console_enterprise_tickets_equal_the_projection(
    sqlite_context: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kernel.web.access import Viewer
    from kernel.web.sessions import SessionSigner
    from kernel.web.state import Console
    from kernel.web.views import enterprise_tickets

    console = Console(sqlite_context, None, signer=SessionSigner(b"k" * 32))
    codes = sorted({s.enterprise for s in sqlite_context.projection().tickets.values()})
    callers = _callers(sqlite_context)
    seen = 0
    for principal in (OFFICE, *callers[2:]):
        viewer = Viewer(principal.name, principal.name, principal.unit, principal.role)
        for code in codes[::7]:
            new = [s.ticket_id for s in enterprise_tickets(console, viewer, code)]
            with monkeypatch.context() as patch:
                patch.setattr(ReadModel, "stored", property(lambda self: False))
                old = [s.ticket_id for s in enterprise_tickets(console, viewer, code)]
            assert new == old, (principal.unit, code)
            seen += len(new)
    assert seen


def _whole_ledger(db: str, fmt: str, out: Any, capsys: pytest.CaptureFixture[str]) -> Any:
    """``huhang ledger`` (the whole 台账) in one format: what it printed or wrote."""
    from openpyxl import load_workbook

    from kernel.cli.main import main

    target = out / f"台账.{fmt}"
    argv = ["ledger", "--db", db, "--as-of", "2026-11-20", "--format", fmt]
    assert main([*argv, "--output", str(target)] if fmt in ("csv", "xlsx") else argv) == 0
    printed = capsys.readouterr().out
    if fmt == "csv":
        return target.read_bytes()
    if fmt == "xlsx":  # the cells and their formats (the file holds its time of writing)
        sheet = load_workbook(target).active
        assert sheet is not None
        return [[(c.value, c.number_format, c.data_type) for c in row] for row in sheet.rows]
    return printed


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_cli_whole_ledger_from_the_read_model_equals_the_replay(
    backend: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    """``huhang ledger`` without filters reads the ids from the read model and the states a
    batch at a time, never the whole projection; every format is what the replay gave."""
    from kernel.ledger.ledger import Ledger

    context: ServiceContext = request.getfixturevalue(f"{backend}_context")
    db = context.ledger.storage.url
    if backend == "postgres":  # with the password, if any
        from tests.test_postgres import url_for

        db = url_for(context.ledger.storage.schema)
    loaded: list[int] = []
    states = ReadModel.states

    def batches(self: ReadModel, ids: Any, **kw: Any) -> Any:
        for state in states(self, ids, **kw):
            loaded.append(1)
            yield state

    for fmt in ("text", "json", "csv", "xlsx"):
        with monkeypatch.context() as patch:
            patch.setattr(Ledger, "project", lambda *a, **k: pytest.fail("projected"))
            patch.setattr(ReadModel, "states", batches)
            new = _whole_ledger(db, fmt, tmp_path, capsys)
        with monkeypatch.context() as patch:
            patch.setattr(ReadModel, "stored", property(lambda self: False))
            old = _whole_ledger(db, fmt, tmp_path, capsys)
        assert new == old, fmt
        assert len(loaded) == len(context.projection().tickets)
        loaded.clear()
    assert len(old) > 1000  # the demo's rows (xlsx: and the header)


def test_console_ledger_reads_only_tickets_no_selection_computed_yet(
    sqlite_context: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console's 台账 of every ticket (the office's) reads their states from the read
    model, not the whole projection; each ticket's row is computed once per ledger size and
    day and shared by the selections that follow (a unit's, then the office's, then a filter)."""
    from kernel.web.access import Viewer
    from kernel.web.sessions import SessionSigner
    from kernel.web.state import Console
    from kernel.web.views import ledger_rows, prefilter

    total = len(sqlite_context.projection().tickets)
    console = Console(sqlite_context, None, signer=SessionSigner(b"k" * 32))
    monkeypatch.setattr(Console, "projector", lambda self: pytest.fail("projected"))
    read: list[int] = []
    states = ReadModel.states

    def counting(self: ReadModel, ids: Any, **kw: Any) -> Any:
        ids = list(ids)
        read.append(len(ids))
        yield from states(self, ids, **kw)

    monkeypatch.setattr(ReadModel, "states", counting)
    unit = _callers(sqlite_context)[3]
    viewers = [
        Viewer(unit.name, unit.name, unit.unit, "unit"),
        Viewer(OFFICE.name, OFFICE.name, OFFICE.unit, "office"),
    ]
    day = dt.date(2026, 11, 20)
    _, mine, _ = ledger_rows(console, viewers[0], prefilter(viewers[0], {}), day)
    assert read == [len(mine)] and 0 < len(mine) < total
    _, rows, seen = ledger_rows(console, viewers[1], prefilter(viewers[1], {}), day)
    assert len(rows) == len(seen) == total and read == [len(mine), total - len(mine)]
    shared = {id(row) for row in rows}
    assert all(id(row) in shared for row in mine)  # the same row objects, not copies
    _, graded, _ = ledger_rows(console, viewers[1], prefilter(viewers[1], {"grade": "B"}), day)
    assert 0 < len(graded) < total and len(read) == 2
