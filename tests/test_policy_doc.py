"""docs/policy.md is the page every rule clause cites, and no project file points outside it.

Every ``clause:`` in the default rules cites sections such as ``政策 §5.4``; each section must
exist in docs/policy.md as an explicit heading anchor (``### 5.4 … {#s5-4}``), so that the
依据 printed by explanations, notices and assessments can be looked up in the repository.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe loaders only

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "policy.md"
RULES = ROOT / "rules"

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*\{#([A-Za-z0-9_-]+)\}\s*$")
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")
PAGE_CITATION = re.compile(r"政策\s*§\s*\d")
LINK = re.compile(r"\]\(([^)\s]*)\)")

# Documents that are not in the repository and must not be cited by anything in it.
OUTSIDE = ("POLICY.md", "ENGINEERING.md", "../shared")
PROJECT = ("kernel", "rules", "docs", "tests", "bench", "examples", "plugins", "README.md")


def anchor_of(section: str) -> str:
    """``5.4`` → ``s5-4``: the anchor docs/policy.md gives section §5.4."""
    return "s" + section.replace(".", "-")


def headings() -> list[tuple[int, str, str]]:
    """(line, heading text, anchor) of every heading with an explicit anchor."""
    out = []
    in_code = False
    for number, line in enumerate(PAGE.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else HEADING.match(line)
        if match:
            out.append((number, match.group(2), match.group(3)))
    return out


def anchors() -> set[str]:
    return {anchor for _, _, anchor in headings()}


def _entries(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "clause" in node:
            yield node
        for value in node.values():
            yield from _entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _entries(value)


@cache
def clauses() -> list[tuple[str, str, str]]:
    """(file, rule id, clause) of every entry with a clause in the default rule folder."""
    found = []
    for path in sorted(RULES.rglob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)
        for entry in _entries(data):
            found.append((str(path.relative_to(ROOT)), str(entry.get("id")), str(entry["clause"])))
    return found


def test_the_default_rules_have_clauses() -> None:
    # Guards the tests below against passing on an empty list.
    assert len(clauses()) >= 50, "expected the default rules to carry their clauses"


def test_every_cited_section_has_an_anchor_in_the_policy_page() -> None:
    known = anchors()
    missing = [
        f"{path} {rule}: 依据「{clause}」cites §{section}, "
        f"but docs/policy.md has no heading with {{#{anchor_of(section)}}}"
        for path, rule, clause in clauses()
        for section in SECTION.findall(clause)
        if anchor_of(section) not in known
    ]
    assert not missing, "clauses cite sections the policy page lacks:\n" + "\n".join(missing)


def test_every_clause_cites_the_policy_page() -> None:
    bare = [
        f"{path} {rule}: 依据「{clause}」"
        for path, rule, clause in clauses()
        if not PAGE_CITATION.search(clause)
    ]
    assert not bare, "clauses that cite no 政策 § of docs/policy.md:\n" + "\n".join(bare)


def test_every_rule_is_described_in_the_policy_page() -> None:
    text = PAGE.read_text(encoding="utf-8")
    absent = [
        f"{path} {rule}"
        for path, rule, _ in clauses()
        if not re.search(rf"`{re.escape(rule)}`", text)
    ]
    assert not absent, "rules that docs/policy.md does not mention:\n" + "\n".join(absent)


def test_headings_are_numbered_like_their_anchors() -> None:
    wrong = []
    seen: dict[str, int] = {}
    for line, text, anchor in headings():
        if anchor in seen:
            wrong.append(f"docs/policy.md:{line}: anchor {{#{anchor}}} also on line {seen[anchor]}")
        seen[anchor] = line
        if re.fullmatch(r"s\d+(-\d+)*", anchor):
            number = anchor[1:].replace("-", ".")
            if not re.match(rf"{re.escape(number)}\.?\s", text):
                wrong.append(f"docs/policy.md:{line}: heading 「{text}」 is not numbered {number}")
    assert not wrong, "\n".join(wrong)


def test_links_in_the_policy_page_stay_inside_it() -> None:
    known = anchors()
    bad = []
    for number, line in enumerate(PAGE.read_text(encoding="utf-8").splitlines(), start=1):
        for target in LINK.findall(line):
            if not target.startswith("#"):
                bad.append(f"docs/policy.md:{number}: link to {target} leaves the page")
            elif target[1:] not in known:
                bad.append(f"docs/policy.md:{number}: link to {target} has no anchor")
        if "http://" in line or "https://" in line:
            bad.append(f"docs/policy.md:{number}: mentions an address outside the repository")
    assert not bad, "\n".join(bad)


def project_files() -> Iterator[Path]:
    for name in PROJECT:
        top = ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


@pytest.mark.parametrize("word", OUTSIDE)
def test_no_project_file_cites_a_document_outside_the_repository(word: str) -> None:
    this = Path(__file__).resolve()
    needle = word.encode("ascii")
    hits = [
        str(path.relative_to(ROOT))
        for path in project_files()
        if path.resolve() != this and needle in path.read_bytes()
    ]
    assert not hits, f"these files mention {word}, which is not in the repository: {hits}"
