"""Reference data named by the rules: units (块, 条, offices) and problem categories."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel.inputs.contracts import describe_value
from kernel.inputs.suggest import did_you_mean

UNIT_KINDS = {
    "territories": "县区/开发区",
    "departments": "市级部门",
    "offices": "协调机构",
    "others": "其他单位",
}

REF_WORDS = {
    "categories": ("UNKNOWN-CATEGORY", "问题类别"),
    "territories": ("UNKNOWN-TERRITORY", "县区"),
    "departments": ("UNKNOWN-DEPARTMENT", "市级部门"),
    "units": ("UNKNOWN-UNIT", "单位"),
}


@dataclass(frozen=True)
class Unit:
    """A participating unit."""

    id: str
    name: str
    kind: str  # territories | departments | offices | others
    #: the level whose units.yaml defines it ('' in a folder without levels)
    level: str = ""


@dataclass(frozen=True)
class Category:
    """A problem category."""

    id: str
    title: str


@dataclass(frozen=True)
class Reference:
    """Units and categories, as loaded from units.yaml and categories.yaml."""

    units: dict[str, Unit] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    # Which files were read: a reference into a file that could not be read is not checked,
    # so a missing units.yaml is one problem, not one per unit named elsewhere.
    loaded: frozenset[str] = frozenset({"units", "categories"})
    #: in a folder that extends another: its own level, whose units it assesses ('' otherwise)
    own_level: str = ""

    def assessed(self, unit: Unit) -> bool:
        """Whether this level assesses ``unit``: its own units (every unit without levels)."""
        return not self.own_level or unit.level == self.own_level

    def ids(self, ref: str) -> list[str]:
        """The ids that a reference list ``ref`` allows."""
        if ref == "categories":
            return list(self.categories)
        if ref == "units":
            return list(self.units)
        return [u.id for u in self.units.values() if u.kind == ref]

    def _known(self, ref: str, value: str) -> bool:
        """``value in self.ids(ref)`` by one dict look-up (ingest checks every event's units)."""
        if ref == "categories":
            return value in self.categories
        unit = self.units.get(value)
        return unit is not None and (ref == "units" or unit.kind == ref)

    def check(self, ref: str, value: str) -> tuple[str, str] | None:
        """None when ``value`` is a valid id of ``ref``; else an error code and Chinese text."""
        if ("categories" if ref == "categories" else "units") not in self.loaded:
            return None
        if self._known(ref, value):
            return None
        allowed = self.ids(ref)
        code, word = REF_WORDS[ref]
        hint = did_you_mean(value, allowed)
        if ref != "units" and value in self.units:
            kind = UNIT_KINDS[self.units[value].kind]
            return code, f" {describe_value(value)} 是{kind}，不是{word}"
        return code, f" {describe_value(value)} 不是已登记的{word}{hint}"

    def unit_name(self, unit_id: str) -> str:
        """The full name of a unit, or the id itself when unknown."""
        unit = self.units.get(unit_id)
        return unit.name if unit else unit_id
