"""A deterministic mix of realistic tickets, drawn from the units and categories in rules/.

The mix aims at the shape of a year's work in a city programme rather than at uniform noise:
most problems are A or B (one unit can solve them, or the territory with a department or two),
fewer are C (three or more departments, or a leader's decision) and a few are D (provincial
authority, a change of policy, money beyond the city's budget). Every category, territory and
department of ``units.yaml``/``categories.yaml`` appears, optional fields are sometimes left
empty, and the same seed always gives the same tickets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from kernel.inputs.creditcode import ALPHABET, complete
from kernel.rules.reference import Reference

SEED = 20260101

# Relative frequency of each category id (ids missing here get weight 1).
CATEGORY_WEIGHTS = {
    "用工": 9,
    "用地": 6,
    "审批手续": 8,
    "融资": 7,
    "政策咨询": 8,
    "用电": 4,
    "环境": 4,
    "交通": 3,
    "其他": 4,
}
AUTHORITY = (("本单位", 32), ("县区", 28), ("市级", 30), ("省级", 7), ("中央", 3))
DEPARTMENT_COUNTS = ((0, 28), (1, 32), (2, 20), (3, 12), (4, 6), (5, 2))
INDUSTRIES = ("装备制造", "现代材料", "食品医药", "冷链物流", "文旅", "电子信息", "建筑", "商贸")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂"
TAGS = ("项目建设", "重点企业", "专精特新", "外资", "个体工商户", "招商引资")


def weighted(rng: random.Random, table: Sequence[tuple[Any, int]]) -> Any:
    """One value of ``table`` ((value, weight), ...) drawn with its weight."""
    values = [v for v, _ in table]
    weights = [w for _, w in table]
    return rng.choices(values, weights)[0]


def person(rng: random.Random) -> str:
    """A plausible Chinese name."""
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2))))


def credit_code(rng: random.Random) -> str:
    """A valid 统一社会信用代码 (the check character is computed)."""
    body = "9161" + "".join(rng.choices("0123456789", k=4))
    body += "".join(rng.choices(ALPHABET, k=9))
    return complete(body)


class TicketMaker:
    """Draws enterprises and tickets from the reference data with a seeded generator."""

    def __init__(self, reference: Reference, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.territories = reference.ids("territories")
        self.departments = reference.ids("departments")
        self.units = reference.ids("units")
        categories = reference.ids("categories")
        self.categories = [(c, CATEGORY_WEIGHTS.get(c, 1)) for c in categories]

    def enterprise(self, number: int) -> dict[str, Any]:
        """An enterprise's "四个一" assignment, as a registration payload plus its code."""
        rng = self.rng
        data: dict[str, Any] = {
            "credit_code": credit_code(rng),
            "name": f"汉中{rng.choice(INDUSTRIES)}企业{number:06d}有限公司",
            "territory": rng.choice(self.territories),
            # Lead units are mostly municipal departments, sometimes a territory's government.
            "lead_unit": rng.choice(self.departments if rng.random() < 0.85 else self.territories),
            "lead_leader": person(rng),
        }
        if rng.random() < 0.7:
            data["industry"] = rng.choice(INDUSTRIES)
        if rng.random() < 0.6:
            data["employees"] = rng.randrange(5, 3000)
        if rng.random() < 0.8:
            data["liaison_cadre"] = person(rng)
        return data

    def problem(self) -> dict[str, Any]:
        """A ``ticket.collected`` payload: category, summary, assessment (+ tags, amount)."""
        rng = self.rng
        category = weighted(rng, self.categories)
        authority = weighted(rng, AUTHORITY)
        count = weighted(rng, DEPARTMENT_COUNTS)
        assessment: dict[str, Any] = {"authority_level": authority}
        if count or rng.random() < 0.5:  # departments: [] is also the default
            assessment["departments"] = rng.sample(self.departments, count)
        for name, chance in (
            ("needs_territory", 0.45),
            ("needs_policy_change", 0.03),
            ("beyond_city_budget", 0.02),
            ("needs_leader_decision", 0.05),
            ("municipal_funds", 0.5 if category == "融资" else 0.02),
        ):
            if rng.random() < chance:
                assessment[name] = True
            elif rng.random() < 0.3:
                assessment[name] = False  # sometimes written out, sometimes left to the default
        payload: dict[str, Any] = {
            "category": category,
            "summary": f"{category}问题：{rng.choice(INDUSTRIES)}项目第{rng.randrange(1, 99)}号",
            "assessment": assessment,
        }
        if rng.random() < 0.4:
            payload["tags"] = rng.sample(TAGS, rng.choice((1, 2)))
        if rng.random() < 0.5:
            payload["amount"] = round(rng.uniform(0, 5000), 1) if rng.random() < 0.7 else 800
        return payload


def ticket_data(
    ticket_id: str, collected_on: str, enterprise: dict[str, Any], problem: dict[str, Any]
) -> dict[str, Any]:
    """The ticket contract's mapping for a problem of an enterprise (as the ledger builds it)."""
    info = {
        k: enterprise[k]
        for k in (
            "credit_code",
            "name",
            "territory",
            "industry",
            "employees",
            "lead_unit",
            "lead_leader",
            "liaison_cadre",
        )
        if k in enterprise
    }
    data: dict[str, Any] = {
        "ticket_id": ticket_id,
        "collected_on": collected_on,
        "category": problem["category"],
        "summary": problem["summary"],
        "enterprise": info,
        "assessment": dict(problem["assessment"]),
    }
    for name in ("tags", "amount"):
        if name in problem:
            data[name] = problem[name]
    return data


def make_tickets(reference: Reference, count: int, seed: int = SEED) -> list[dict[str, Any]]:
    """``count`` distinct ticket mappings (one enterprise per three tickets on average)."""
    maker = TicketMaker(reference, seed)
    enterprises = [maker.enterprise(i) for i in range(max(1, count // 3))]
    rng = random.Random(seed + 1)
    out = []
    for i in range(count):
        day = f"{2026}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        out.append(
            ticket_data(f"HZ-2026-{i + 1:05d}", day, rng.choice(enterprises), maker.problem())
        )
    return out
