"""Monthly duties: contacts per enterprise-month and the office's monthly notice; pauses."""

from __future__ import annotations

from kernel.clocks.monthly import missed_contacts, months_between, office_duties
from kernel.ledger.events import OFFICE
from kernel.rules.model import RuleSet
from tests.timeline import CODE, Timeline, d


def test_missed_contact_months(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset).register("2026-01-05", liaison_cadre="李娜")
    tl.contact("2026-02-10", by="lead_leader")
    tl.contact("2026-03-12", by="other")  # does not count: neither leader nor cadre
    tl.contact("2026-04-01")
    assert ruleset.deadlines is not None
    duty = ruleset.deadlines.duty("M-CONTACT")
    projector = tl.ledger.project()
    missed = missed_contacts(
        duty,
        projector.enterprises.values(),
        tl.ledger.events(),
        months_between("2026-01", "2026-05"),
        d("2026-05-10"),
    )
    # January: registered on the 5th, not owed; May: not over yet.
    assert [(m.month, m.enterprise, m.lead_unit, m.contacts, m.liaison_cadre) for m in missed] == [
        ("2026-03", CODE, "商务局", 0, "李娜")
    ]


def test_office_monthly_notice_by_the_fifth_working_day(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset).register()
    tl.submit("report.published", "2026-04-08", OFFICE, {"month": "2026-03"})
    tl.submit("report.published", "2026-05-12", OFFICE, {"month": "2026-04"})
    assert ruleset.deadlines is not None and ruleset.calendar is not None
    duty = ruleset.deadlines.duty("M-SUMMARY")
    results = office_duties(
        duty,
        tl.ledger.events(),
        months_between("2026-03", "2026-05"),
        ruleset.calendar,
        d("2026-06-20"),
    )
    # April: 1, 2, 3, 7, 8 → the 8th; May: 6, 7, 8, 9 (Saturday, worked), 11 → the 11th;
    # June: 1, 2, 3, 4, 5 → the 5th.
    assert [(r.month, r.due, r.state, r.overdue_workdays) for r in results] == [
        ("2026-03", d("2026-04-08"), "met", 0),
        ("2026-04", d("2026-05-11"), "breached", 1),
        ("2026-05", d("2026-06-05"), "breached", 9),  # 8–12, 15–18 June (端午 19th)
    ]


def test_suspension_pauses_the_resolution_clock(ruleset: RuleSet) -> None:
    tl = Timeline(ruleset).register()
    tl.collect("2026-03-02").report("2026-03-02").grade("2026-03-02", "A").dispatch("2026-03-02")
    tl.submit("ticket.suspended", "2026-03-03", OFFICE, {"reason": "等待企业补充材料"})
    assert tl.state().state == "suspended"
    running = tl.clock("2026-03-04", "T-RESOLVE#1")
    assert (running.paused_workdays, running.due) == (1, d("2026-03-10"))
    tl.submit("ticket.resumed", "2026-03-05", OFFICE)
    item = tl.clock("2026-03-06", "T-RESOLVE#1")
    # suspended from the 3rd to the 5th: two working days added to the five
    assert (item.paused_workdays, item.due) == (2, d("2026-03-11"))
