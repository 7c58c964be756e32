"""Enterprise reads from the read model equal the reads that replay every event, on the demo ledger.

The API's roster (``GET /api/v1/enterprises``) and an enterprise's page
(``/enterprises/{code}``), a unit's event submission (its authority over the tickets and
enterprises a batch names) and the console's enterprise pages used to project the whole
ledger; now they read ``rm_enterprises`` (the "四个一" as JSON, a search column),
``rm_enterprise_units`` and the enterprise's own events. Each answer is compared byte for byte
(its JSON, or the objects) with the replaying answer, on SQLite and PostgreSQL, for the office,
the auditor and units in every role, before and after changes of lead unit, name and working
group. The demo ledger and its contexts are ``tests/test_lists.py``'s fixtures.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kernel.ledger.readmodel import EnterpriseQuery, ReadModel
from kernel.service.access import Principal
from kernel.service.context import ServiceContext
from kernel.service.problems import ApiProblem
from kernel.service.routes_enterprises import (
    detail_replayed,
    enterprise_detail,
    list_from_read_model,
    list_replayed,
)
from kernel.service.routes_events import _unit_refusal, known_states
from kernel.storage.enterprise_sql import id_range
from tests.test_lists import (  # noqa: F401 - fixtures
    AUDITOR,
    OFFICE,
    _callers,
    demo,
    postgres_context,
    sqlite_context,
)

PAGES = ((1, 1), (2, 7), (3, 50), (1, 500), (40, 50), (1_000, 10))


@contextmanager
def replaying() -> Iterator[None]:
    """Answer every read as if there were no current read model (the old path)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ReadModel, "stored", property(lambda self: False))
        yield


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _roster_callers(context: ServiceContext) -> list[Principal]:
    """The office, the auditor, units with a part in tickets (each role), a lead unit, a unit
    only in working groups, and a unit with no part in anything."""
    enterprises = context.projection().enterprises.values()
    leads = {str(e.get("lead_unit")) for e in enterprises}
    groups = {u for e in enterprises for u in e.get("working_group") or ()}
    assert leads and groups - leads, "the demo has units only in working groups"
    units = [
        Principal("包抓", min(leads), "unit"),
        Principal("专班", min(groups - leads), "unit"),
    ]
    return [*_callers(context), *units]


def _same_list(
    context: ServiceContext,
    principal: Principal,
    filters: dict[str, str | None],
    page: int = 1,
    page_size: int = 50,
) -> dict[str, Any]:
    args = (filters.get("territory"), filters.get("lead_unit"), filters.get("q"), page, page_size)
    new = list_from_read_model(context, principal, *args)
    old = list_replayed(context, principal, *args)
    assert _json(new) == _json(old), (principal.unit, filters, page, page_size)
    return new


def _detail(context: ServiceContext, principal: Principal, code: str, *, old: bool) -> str:
    read = detail_replayed if old else enterprise_detail
    try:
        return _json(read(context, principal, code))
    except ApiProblem as exc:
        return f"{exc.status} {exc.code} {exc.detail}"


def _check_lists(context: ServiceContext) -> None:
    callers = _roster_callers(context)
    enterprises = sorted(context.projection().enterprises.values(), key=lambda e: e.credit_code)
    some = enterprises[len(enterprises) // 3]
    code, name = some.credit_code, str(some.get("name"))
    values = [
        {},
        {"territory": some.get("territory")},
        {"lead_unit": some.get("lead_unit")},
        {"territory": some.get("territory"), "lead_unit": some.get("lead_unit")},
        {"territory": "不存在的县区"},
        {"territory": "", "lead_unit": ""},
    ]
    texts = [
        code.lower(),
        code[:4],
        name[:2],
        f"{code[-3:]} {name[:1]}".upper(),  # across the code and the name, as before
        f"  {name[1:3]}  ",
        "%",
        "_",
        "\\",
        "none",
        "  ",
        "0%",
        "局_",
        "x\x00",
    ]
    for principal in callers:
        for filters in values:
            _same_list(context, principal, filters)
        for q in texts:
            _same_list(context, principal, {"q": q})
            _same_list(context, principal, {"q": q, "territory": some.get("territory")})
    for page, size in PAGES:
        for principal in (OFFICE, callers[-2], callers[-1]):
            _same_list(context, principal, {}, page, size)
            _same_list(context, principal, {"q": code[:2]}, page, size)
    assert _same_list(context, OFFICE, {}, 1, 500)["total"] == len(enterprises)
    assert _same_list(context, callers[-2], {})["total"] > 0  # a unit of working groups only


def _check_details(context: ServiceContext) -> None:
    codes = sorted(context.projection().enterprises)
    missing = [NEW_CODE, "91610700MA6YT2A0X4", "", "x\x00", "%", codes[0].lower()]
    seen = 0
    for principal in _roster_callers(context):
        for code in [*codes, *missing]:
            new = _detail(context, principal, code, old=False)
            assert new == _detail(context, principal, code, old=True), (principal.unit, code)
            seen += not new.startswith("404")
    assert seen > len(codes) * 2


def _check_unit_refusals(context: ServiceContext) -> None:
    """A unit's batch is judged on the named tickets' and enterprises' states only, with the
    same refusals as on the projection of every event."""
    from kernel.service.routes_events import NamedStates

    projector = context.projection()
    tickets = sorted(projector.tickets.values(), key=lambda s: s.ticket_id)
    codes = sorted(projector.enterprises)
    items: list[Any] = []
    for state in tickets[:: max(1, len(tickets) // 40)]:
        for kind in ("ticket.collected", "ticket.progress_reported", "ticket.resolved"):
            items.append({"type": kind, "ticket_id": state.ticket_id, "enterprise": codes[0]})
    for code in codes[:: max(1, len(codes) // 20)]:
        for kind in ("ticket.collected", "contact.recorded", "enterprise.changed"):
            items.append({"type": kind, "ticket_id": "HZ-NEW-1", "enterprise": code})
            items.append({"type": kind, "enterprise": code})
    items += [
        {"type": "ticket.resolved", "ticket_id": "HZ-NONE"},
        {"type": "contact.recorded", "enterprise": "x\x00", "ticket_id": "y\x00"},
        {"type": "contact.recorded", "enterprise": "\ud800", "ticket_id": ["a"]},
        {"type": 5, "ticket_id": {"a": 1}, "enterprise": None},
        "not an event",
    ]
    refused = 0
    for principal in (OFFICE, AUDITOR, *_roster_callers(context)):
        new = known_states(context, principal, items)
        if principal.reads_everything:
            assert new is None
            continue
        assert isinstance(new, NamedStates)
        assert 0 < len(new.tickets) < len(projector.tickets)
        with replaying():
            old = known_states(context, principal, items)
        assert old is projector
        for item in items:
            if isinstance(item, dict):
                want = _unit_refusal(old, principal, item)
                assert _unit_refusal(new, principal, item) == want, (principal.unit, item)
                refused += want is not None
    assert 0 < refused < len(items) * len(_roster_callers(context))


def _check_console(context: ServiceContext) -> None:
    from kernel.web.access import Viewer
    from kernel.web.sessions import SessionSigner
    from kernel.web.state import Console
    from kernel.web.views import enterprise_of, next_ticket_number, roster, visible_enterprises

    console = Console(context, None, signer=SessionSigner(b"k" * 32))
    projector = context.projection()
    some = sorted(projector.enterprises.values(), key=lambda e: e.credit_code)[5]

    def shown(found: list[Any]) -> list[tuple[str, str]]:
        return [(e.credit_code, _json(e.assignment)) for e in found]

    for principal in _roster_callers(context):
        viewer = Viewer(principal.name, principal.name, principal.unit, principal.role)
        for named in (None, some.credit_code, str(some.get("name")), "没有这家", ""):
            new = shown(visible_enterprises(console, viewer, named))
            with replaying():
                assert new == shown(visible_enterprises(console, viewer, named)), named
        for year in (2025, 2026):
            new_rows = [
                (r.enterprise.credit_code, r.months, r.problems)
                for r in roster(console, viewer, year)
            ]
            with replaying():
                old_rows = roster(console, viewer, year)
            assert new_rows == [(r.enterprise.credit_code, r.months, r.problems) for r in old_rows]
    for code in [*sorted(projector.enterprises)[::5], "91610700MA6YT2A0X4"]:
        new_enterprise = enterprise_of(console, code)
        with replaying():
            assert new_enterprise == enterprise_of(console, code), code
    first = min(projector.tickets)
    for prefix in ("HZ-2026-", "HZ-2025-", "HZ-", "", first, first[:-1], "X", "\U0010ffff"):
        new_number = next_ticket_number(console, prefix)
        with replaying():
            assert new_number == next_ticket_number(console, prefix), prefix
    assert next_ticket_number(console, "HZ-2026-") > 1


def _spare_unit(context: ServiceContext) -> str:
    """A unit of the rules that leads no enterprise and is in no working group."""
    enterprises = context.projection().enterprises.values()
    taken = {str(e.get("lead_unit")) for e in enterprises}
    taken |= {u for e in enterprises for u in e.get("working_group") or ()}
    return min(set(context.ruleset.reference.units) - taken)


#: an enterprise registered by the test (its payload's fields out of order, as a client may send)
NEW_CODE = "91610700MA6YT2A0Y7"


def _change_assignments(context: ServiceContext) -> tuple[str, str]:
    """Change a lead unit, a name and a working group (adding a unit that had no enterprise)
    through the ledger, and register an enterprise whose fields come out of order and get two
    new ones in the same batch; the unit that joined and the enterprise it joined."""
    projector = context.projection()
    firms = sorted(projector.enterprises.values(), key=lambda e: e.credit_code)
    units = sorted({str(e.get("lead_unit")) for e in firms})
    spare = _spare_unit(context)
    day = max(e.registered_on for e in firms[1:4]).isoformat()
    registered = {
        "working_group": [units[1]],
        "lead_unit": units[0],
        "territory": firms[0].get("territory"),
        "name": "新登记企业",
        "lead_leader": "王五",
    }
    steps = [
        (firms[1].credit_code, "enterprise.changed", {"lead_unit": units[-1]}),
        (
            firms[2].credit_code,
            "enterprise.changed",
            {"plan": "新方案", "name": "改名后的%企业_Ab"},
        ),
        (firms[3].credit_code, "enterprise.changed", {"working_group": [units[0], spare]}),
        (NEW_CODE, "enterprise.registered", registered),
        (NEW_CODE, "enterprise.changed", {"plan": "新方案", "industry": "制造业"}),
    ]
    found = context.ledger.submit_many(
        [
            (
                {
                    "event_id": f"step-{number}",
                    "type": kind,
                    "date": day,
                    "actor": "助商稳企办",
                    "enterprise": code,
                    "payload": payload,
                },
                None,
                (),
            )
            for number, (code, kind, payload) in enumerate(steps)
        ]
    )
    assert all(getattr(r, "accepted", False) for r in found), found
    return spare, firms[3].credit_code


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_enterprise_reads_equal_the_replaying_reads(
    backend: str, request: pytest.FixtureRequest
) -> None:
    context: ServiceContext = request.getfixturevalue(f"{backend}_context")
    model = ReadModel(context.ledger)
    assert model.ticket("HZ\x00") is None and model.enterprise("9\x00") is None
    spare, joined = _spare_unit(context), ""
    assert model.enterprises(EnterpriseQuery(unit=spare)).total == 0
    for changed in (False, True):
        if changed:
            spare, joined = _change_assignments(context)
        assert model.stored and model.differences() == []
        _check_lists(context)
        _check_details(context)
        _check_unit_refusals(context)
        _check_console(context)
    stored = model.enterprises(EnterpriseQuery(limit=None)).items
    projected = context.projection().enterprises
    # the "四个一" comes back as the same dict, its fields in the same order
    assert [(e.credit_code, list(e.assignment.items())) for e in stored] == [
        (code, list(projected[code].assignment.items())) for code in sorted(projected)
    ]
    renamed = model.enterprises(EnterpriseQuery(text="%企业_a", limit=None))
    assert [e.get("name") for e in renamed.items] == ["改名后的%企业_Ab"]
    assert [e.credit_code for e in model.enterprises(EnterpriseQuery(unit=spare)).items] == [joined]


def test_the_roster_query_is_parameters_only() -> None:
    query = EnterpriseQuery(territory="汉台区", unit="发改委", text="a'b%", named="x", codes=("c",))
    sql, params = query.page_sql("?")
    assert "a'b" not in sql and "汉台区" not in sql and "发改委" not in sql
    assert params == ["汉台区", "发改委", "a'b%", "x", "x", "c", 50, 0]
    assert query.where("?")[0].count("?") == len(params) - 2
    assert "1 = 0" in EnterpriseQuery(codes=()).where("?")[0]
    # PostgreSQL's text cannot hold NUL: such a query is answered without sending it
    assert EnterpriseQuery(text="a\x00", unit="x").where("%s") == (" WHERE 1 = 0", [])
    assert EnterpriseQuery(codes=("a\x00", "b")).where("%s")[1] == ["b"]
    with pytest.raises(ValueError, match="longer"):
        EnterpriseQuery(text="x" * 401)
    assert id_range("HZ-2026-") == ("HZ-2026-", "HZ-2026.")
    assert id_range("a\U0010ffff") == ("a\U0010ffff", "b")
    assert id_range("\U0010ffff") == ("\U0010ffff", None)


def test_a_ledger_of_schema_6_gets_the_roster_columns_and_catches_up(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """SQLite schema 7 adds the roster's columns and units to a version-6 ledger: reads replay
    until a writer (or ``huhang ledger rebuild``) fills them, then answer from the rows."""
    from kernel.ledger.ledger import Ledger
    from kernel.storage.sqlite import SCHEMA_VERSION, SqliteStorage

    context: ServiceContext = request.getfixturevalue("sqlite_context")
    assert SCHEMA_VERSION >= 7
    source = context.ledger.storage
    assert isinstance(source, SqliteStorage)
    db = tmp_path / "v6.db"
    src, dst = sqlite3.connect(source.path), sqlite3.connect(db)
    src.backup(dst)
    src.close()
    dst.close()
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE rm_enterprise_units")
    for index in ("rm_enterprises_territory", "rm_enterprises_lead_unit", "rm_tickets_enterprise"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE rm_enterprises DROP COLUMN assignment")
    conn.execute("ALTER TABLE rm_enterprises DROP COLUMN search")
    conn.execute("UPDATE meta SET value = 6 WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    storage = SqliteStorage.open_existing(str(db))
    try:
        model = ReadModel(Ledger(storage, context.ledger.reference))
        assert not model.stored
        query = EnterpriseQuery(text="9161", offset=3, limit=40)
        replayed = model.enterprises(query)
        assert model.rebuild()[1] == len(context.projection().enterprises)
        assert model.stored and model.differences() == []
        assert model.enterprises(query) == replayed and replayed.items
    finally:
        storage.close()
