"""The fast evaluator gives exactly the old one's decisions and explanations.

The old evaluator (tests/evaluation_oracle.py, eager reasons, mapping-built messages) runs in
the test on the same inputs: every example ticket, the demo year's tickets, and tickets drawn
at random; the JSON form and the Chinese text must be identical.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel import render_text
from kernel.demo.generate import generate
from kernel.evaluation.consequences import consequences_json, consequences_text
from kernel.evaluation.kernel import Kernel
from kernel.evaluation.ticket import Ticket, read_ticket_docs, ticket_from_doc
from kernel.rules.model import RuleSet
from tests.conftest import ROOT, make_ticket
from tests.evaluation_oracle import EagerKernel

EXAMPLES = sorted((ROOT / "examples" / "tickets").glob("*.yaml"))


@pytest.fixture(scope="module")
def kernels() -> Iterator[tuple[Kernel, EagerKernel]]:
    fast, eager = Kernel.from_dir(), EagerKernel.from_dir()
    yield fast, eager
    fast.close()
    eager.close()


def _same(fast: Kernel, eager: EagerKernel, ticket: Ticket | dict[str, object]) -> None:
    """The same JSON and text as ``huhang explain`` writes them (with the consequences)."""
    if not isinstance(ticket, Ticket):
        ticket = fast.validate(ticket)
    old = eager.evaluate(ticket)
    new = fast.evaluate(ticket)
    assert json.dumps(
        new.to_dict() | consequences_json(fast, ticket, new), ensure_ascii=False
    ) == json.dumps(old.to_dict() | consequences_json(eager, ticket, old), ensure_ascii=False)
    assert render_text(new) == render_text(old)
    assert consequences_text(fast, ticket, new) == consequences_text(eager, ticket, old)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_ticket_explains_as_before(
    kernels: tuple[Kernel, EagerKernel], path: Path
) -> None:
    fast, eager = kernels
    items = read_ticket_docs(str(path))
    assert items
    for doc, data, prefix in items:
        _same(fast, eager, ticket_from_doc(doc, fast.ruleset.reference, data=data, prefix=prefix))


def test_the_demo_years_tickets_and_gradings_as_before(
    kernels: tuple[Kernel, EagerKernel],
) -> None:
    fast, eager = kernels
    simulation = generate(problems=300, enterprises=60)
    states = list(simulation.projector.tickets.values())
    assert len(states) >= 200
    for state in states:
        _same(fast, eager, state.ticket)
    # what the demo ledger recorded when it graded (with the fast kernel) is the old answer
    graded = [e for e in simulation.ledger.events() if e.type == "ticket.graded"]
    assert len(graded) >= 200
    tickets = simulation.projector.tickets
    for event in graded:
        assert event.ticket_id is not None
        old = eager.evaluate(tickets[event.ticket_id].ticket)
        route = old.route
        assert event.payload["grade"] == old.grade.grade
        assert event.payload["grade_rule"] == (old.grade.decision and old.grade.decision.rule.id)
        assert event.payload["route_rules"] == [d.rule.id for d in route.matched]
        assert event.payload["route"]["primary"] == (route.primary and route.primary.unit)
        assert event.payload["route"]["co_handlers"] == [a.unit for a in route.co_handlers]


def test_random_tickets_and_repeated_evaluations(
    kernels: tuple[Kernel, EagerKernel], ruleset: RuleSet
) -> None:
    fast, eager = kernels
    rng = random.Random(16)
    reference = ruleset.reference
    categories = sorted(reference.categories)
    territories = sorted(u for u, unit in reference.units.items() if unit.kind == "territories")
    units = sorted(u for u, unit in reference.units.items() if unit.kind == "departments")
    for _ in range(3):  # a second pass reuses the kernel's per-rule-set templates
        for n in range(150):
            ticket = make_ticket(
                ticket_id=f"T-{n}",
                category=rng.choice(categories),
                enterprise__territory=rng.choice(territories),
                assessment__departments=rng.sample(units, rng.randint(0, 5)),
                assessment__authority_level=rng.choice(["本单位", "市级", "省级", "中央"]),
                assessment__municipal_funds=rng.random() < 0.3,
                assessment__needs_leader_decision=rng.random() < 0.2,
            )
            _same(fast, eager, ticket)


def test_merges_with_overrides_and_shared_units_as_before(rules_copy: Path) -> None:
    """Routing rules that override one another and name a unit twice, by value and by field.

    The kernel keeps single slots per resolved unit references and list slots per rule and
    unit: the second and third passes read those tables, and must still give the old merge.
    """
    routing = rules_copy / "routing.yaml"
    routing.write_text(
        routing.read_text(encoding="utf-8")
        + """
  - id: R-TEST-LEAD-PRIMARY
    title: 政策咨询由包抓单位主办，覆盖属地
    clause: test
    precedence: 5
    when: {field: category, eq: 政策咨询}
    then:
      primary: {ref: enterprise.lead_unit}
      feedback_owner: 助商稳企办
      co_handlers: [{ref: enterprise.territory}, {ref: enterprise.lead_unit}, 发改委]
  - id: R-TEST-DEPARTMENTS-COORDINATE
    title: 研判列明的部门也协调
    clause: test
    when: {field: assessment.departments, count: {ge: 2}}
    then:
      coordinators: [{ref: assessment.departments}, 助商稳企办]
      co_handlers: [发改委, {ref: assessment.departments}]
""",
        encoding="utf-8",
    )
    fast, eager = Kernel.from_dir(rules_copy), EagerKernel.from_dir(rules_copy)
    reference = fast.ruleset.reference
    territories = sorted(u for u, unit in reference.units.items() if unit.kind == "territories")
    units = sorted(u for u, unit in reference.units.items() if unit.kind == "departments")
    rng = random.Random(160)
    overridden = 0
    for _ in range(3):
        for n in range(60):
            lead = rng.choice(units + territories)
            ticket = fast.validate(
                make_ticket(
                    ticket_id=f"T-{n}",
                    category=rng.choice(["政策咨询", "用电", "审批手续"]),
                    enterprise__territory=rng.choice(territories),
                    enterprise__lead_unit=lead,
                    assessment__departments=rng.sample(units, rng.randint(0, 4)),
                    assessment__authority_level=rng.choice(["本单位", "市级"]),
                )
            )
            _same(fast, eager, ticket)
            overridden += bool(fast.evaluate(ticket).route.overridden)
    assert overridden  # the override path was taken
    fast.close()
    eager.close()


def test_pending_results_copy_pickle_and_compare_like_read_ones(
    kernels: tuple[Kernel, EagerKernel],
) -> None:
    """An evaluation whose objects and reasons are not built yet behaves as a built one."""
    fast, eager = kernels
    ticket = fast.validate(make_ticket(category="政策咨询", assessment__departments=["发改委"]))
    read = fast.evaluate(ticket)
    expected = json.dumps(read.to_dict(), ensure_ascii=False)
    assert expected == json.dumps(eager.evaluate(ticket).to_dict(), ensure_ascii=False)
    for copied in (
        pickle.loads(pickle.dumps(fast.evaluate(ticket))),
        copy.deepcopy(fast.evaluate(ticket)),
        copy.copy(fast.evaluate(ticket)),
    ):
        assert json.dumps(copied.to_dict(), ensure_ascii=False) == expected
    assert fast.evaluate(ticket) == read
    assert dataclasses.asdict(fast.evaluate(ticket)) == dataclasses.asdict(read)
    pending = fast.evaluate(ticket)
    assert not hasattr(pending, "no_such_field")
    assert pending.grade.decision is pending.grade.decision  # built once, then kept


def test_priority_grading_explains_as_before(rules_copy: Path) -> None:
    """Under the priority hit policy every other rule is a reason; the same as the old one's."""
    grading = rules_copy / "grading.yaml"
    text = grading.read_text(encoding="utf-8").replace("hit_policy: first", "hit_policy: priority")
    grading.write_text(text.replace("then: {grade: A}", "then: {grade: A}\n    precedence: 5"))
    fast, eager = Kernel.from_dir(rules_copy), EagerKernel.from_dir(rules_copy)
    assert fast.ruleset.grading.hit_policy == "priority"
    rng = random.Random(5)
    reference = fast.ruleset.reference
    units = sorted(u for u, unit in reference.units.items() if unit.kind == "departments")
    for n in range(80):
        _same(
            fast,
            eager,
            make_ticket(
                ticket_id=f"T-{n}",
                category=rng.choice(["政策咨询", "用电", "审批手续"]),
                assessment__departments=rng.sample(units, rng.randint(0, 4)),
                assessment__authority_level=rng.choice(["本单位", "市级", "省级"]),
                assessment__needs_leader_decision=rng.random() < 0.3,
            ),
        )
    fast.close()
    eager.close()
