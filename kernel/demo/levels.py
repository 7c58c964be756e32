"""The demo's second level: a county (汉台区) over the city, with problems going up and down.

:func:`simulate_county` gives the county's enterprises a year in the county's own ledger under
the county's rules; the problems the county grades as needing the city's authority are referred
up (政策 §9.4), carried to the city's ledger with :mod:`kernel.linkage.links`, dispatched and
resolved (or some declined) there, and the answers carried back down before the county gives
feedback. Both ledgers are then checked against each other and the county assessed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.assessment.scoring import Assessment, FactCollector, assess
from kernel.calendar.workdays import WorkCalendar
from kernel.evaluation.kernel import Kernel
from kernel.inputs.creditcode import complete
from kernel.ledger.events import OFFICE
from kernel.ledger.ledger import Ledger
from kernel.linkage.links import (
    LinkFinding,
    carry_dispatched_down,
    carry_down,
    carry_up,
    check_links,
    upper_ticket_id,
)
from kernel.plugins import PluginHost
from kernel.rules.levels import Level
from kernel.rules.load import load_rules
from kernel.rules.model import RuleSet

CATEGORIES = ("用地", "用工", "审批手续", "融资", "用电", "政策咨询")
#: authority levels of the county's problems: 市级 ones are referred up (HT-C-CITY-AUTHORITY)
AUTHORITY = (("本单位", 5), ("县区", 3), ("市级", 2))
#: working days the county's units take to resolve (some past an A or B limit of 5 or 10)
RESOLUTION_WORKDAYS = (2, 3, 4, 6, 8, 12)
CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@dataclass
class CountyDemo:
    """What the county's year produced."""

    level: Level
    ruleset: RuleSet
    db: Path
    problems: int = 0
    referred: int = 0
    resolved_above: int = 0
    declined_above: int = 0
    findings: list[LinkFinding] = field(default_factory=list)
    assessment: Assessment | None = None


class _County:
    def __init__(
        self, rules: RuleSet, ledger: Ledger, calendar: WorkCalendar, rng: random.Random
    ) -> None:
        self.rules, self.ledger, self.calendar, self.rng = rules, ledger, calendar, rng
        own = rules.reference.own_level
        units = [u for u in rules.reference.units.values() if u.level == own]
        self.towns = [u.id for u in units if u.kind == "territories"]
        self.departments = [u.id for u in units if u.kind == "departments"]
        self.serial = 0

    def day(self, start: dt.date, workdays: int) -> dt.date:
        return self.calendar.add_workdays(start, workdays)

    def submit(self, kind: str, day: dt.date, actor: str, **fields: Any) -> None:
        self.serial += 1
        event = {
            "event_id": f"{self.rules.level.code}-demo-{self.serial:05d}",  # type: ignore[union-attr]
            "type": kind,
            "date": day.isoformat(),
            "actor": actor,
            "payload": fields.pop("payload", {}),
            **fields,
        }
        result = self.ledger.submit(event)
        assert result.accepted, event

    def enterprises(self, year: int, count: int) -> list[tuple[str, str, str]]:
        out = []
        for n in range(count):
            code = complete("91610702MA" + "".join(self.rng.choices(CODE_CHARS, k=7)))
            town, lead = self.rng.choice(self.towns), self.rng.choice(self.departments)
            self.submit(
                "enterprise.registered",
                dt.date(year, 1, 5),
                OFFICE,
                enterprise=code,
                payload={
                    "name": f"汉台区演示企业{n + 1:02d}有限公司",
                    "territory": town,
                    "lead_unit": lead,
                    "lead_leader": "区级包抓领导",
                    "liaison_cadre": "区级服务干部",
                },
            )
            for month in range(1, 13):
                self.submit(
                    "contact.recorded",
                    dt.date(year, month, 10),
                    lead,
                    enterprise=code,
                    payload={"by": "liaison_cadre", "method": "走访"},
                )
            out.append((code, town, lead))
        return out


def simulate_county(
    county_dir: Path,
    city: Ledger,
    city_rules: RuleSet,
    out_dir: Path,
    plugins: PluginHost,
    *,
    seed: int,
    year: int,
    enterprises: int = 12,
    problems: int = 30,
) -> CountyDemo:
    """The county's year in ``out_dir/<code>.db``, linked with the city's ledger ``city``."""
    rules = load_rules(county_dir)
    level = rules.level
    if level is None or level.upper is None:
        raise ValueError(f"{county_dir} does not extend another rule folder")
    calendar = plugins.calendar(rules.home("calendar"))
    db = out_dir / f"{level.code}.db"
    storage = plugins.open_storage(str(db))
    ledger = Ledger(storage, rules.reference, plugins=plugins)
    result = CountyDemo(level, rules, db)
    county = _County(rules, ledger, calendar, random.Random(seed))
    county_kernel, city_kernel = Kernel(rules), Kernel(city_rules)
    try:
        firms = county.enterprises(year, enterprises)
        referred: list[tuple[str, dt.date]] = []
        for n in range(problems):
            ticket = f"HT-{year}-{n + 1:04d}"
            code, _, lead = county.rng.choice(firms)
            collected = county.day(dt.date(year, 2, 1), n * 6)
            authority = county.rng.choices(
                [a for a, _ in AUTHORITY], weights=[w for _, w in AUTHORITY]
            )[0]
            departments = county.rng.sample(county.departments, county.rng.randint(0, 2))
            payload = {
                "category": county.rng.choice(CATEGORIES),
                "summary": f"汉台区演示问题 {n + 1}",
                "assessment": {"authority_level": authority, "departments": departments},
            }
            events = [
                ({"event_id": f"{ticket}:collected", "type": "ticket.collected",
                  "date": collected.isoformat(), "actor": lead, "enterprise": code,
                  "ticket_id": ticket, "payload": payload}, None, ()),
                ({"event_id": f"{ticket}:reported", "type": "ticket.reported",
                  "date": collected.isoformat(), "actor": lead, "ticket_id": ticket,
                  "payload": {}}, None, ()),
            ]  # fmt: skip
            ledger.submit_many(events, kernel=county_kernel)
            dispatched = county.day(collected, 1)
            county.submit("ticket.dispatched", dispatched, OFFICE, ticket_id=ticket)
            state = ledger.ticket(ticket)
            assert state is not None
            result.problems += 1
            if authority == "市级":
                day = county.day(dispatched, 1)
                county.submit(
                    "ticket.referred_up", day, OFFICE, ticket_id=ticket,
                    payload={"upper": level.upper, "summary": "需市级事权，报市级协调"},
                )  # fmt: skip
                referred.append((ticket, day))
                continue
            took = county.rng.choice(RESOLUTION_WORKDAYS)
            _finish(county, ticket, county.day(dispatched, took), state.route, state.lead_unit)
        as_of = dt.date(year, 12, 31)
        carry_up(ledger, level, city, city_kernel, as_of)
        _city_answers(city, level, referred, calendar, result)
        carry_down(ledger, level, city, as_of)
        for ticket, _ in referred:
            state = ledger.ticket(ticket)
            assert state is not None
            answered = state.events[-1]
            if state.state == "resolved":
                _finish(county, ticket, answered.date, state.route, state.lead_unit, done=True)
            else:  # declined: the county handles it after all
                _finish(county, ticket, county.day(answered.date, 5), state.route, state.lead_unit)
        # the city's problems still being handled by the county's unit come down to the county
        carry_dispatched_down(ledger, level, city, county_kernel, as_of)
        result.findings = check_links(ledger, level, city)
        collector = FactCollector(rules.scoring, rules.deadlines, calendar, rules.reference)  # type: ignore[arg-type]
        result.assessment = assess(collector, ledger.project(), list(ledger.events()), str(year))
    finally:
        county_kernel.close()
        city_kernel.close()
        storage.close()
    return result


def _finish(
    county: _County,
    ticket: str,
    day: dt.date,
    route: dict[str, Any],
    lead: str,
    *,
    done: bool = False,
) -> None:
    """Resolve (unless ``done``), give feedback and rate a county ticket."""
    if not done:
        county.submit("ticket.resolved", day, str(route["primary"]), ticket_id=ticket,
                      payload={"summary": "已解决"})  # fmt: skip
    feedback = county.day(day, 1)
    owner = str(route.get("feedback_owner") or lead)
    county.submit("ticket.feedback_given", feedback, owner, ticket_id=ticket,
                  payload={"summary": "已向企业反馈"})  # fmt: skip
    county.submit("ticket.rated", county.day(feedback, 1), OFFICE, ticket_id=ticket,
                  payload={"rating": "满意"})  # fmt: skip


def _city_answers(
    city: Ledger,
    level: Level,
    referred: list[tuple[str, dt.date]],
    calendar: WorkCalendar,
    result: CountyDemo,
) -> None:
    """The city dispatches and resolves what was referred up, and declines one in four."""
    for index, (ticket, day) in enumerate(referred):
        upper = upper_ticket_id(level, ticket, 1)
        state = city.ticket(upper)
        assert state is not None
        result.referred += 1
        next_day = calendar.add_workdays(day, 1)
        base = {"ticket_id": upper, "actor": OFFICE}
        if index % 4 == 3:
            city.submit({**base, "event_id": f"{upper}:declined", "type": "ticket.upper_declined",
                         "date": next_day.isoformat(), "payload": {"summary": "属区级事权，退回办理"}})  # fmt: skip
            result.declined_above += 1
            continue
        city.submit({**base, "event_id": f"{upper}:dispatched", "type": "ticket.dispatched",
                     "date": next_day.isoformat(), "payload": {}})  # fmt: skip
        resolved = calendar.add_workdays(next_day, 6)
        primary = str(state.route["primary"])
        city.submit({"event_id": f"{upper}:resolved", "type": "ticket.resolved", "ticket_id": upper,
                     "actor": primary, "date": resolved.isoformat(),
                     "payload": {"summary": "市级协调解决"}})  # fmt: skip
        result.resolved_above += 1
