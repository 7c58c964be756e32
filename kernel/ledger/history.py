"""Read a file of events (JSON lines, YAML or JSON), or replay it into an in-memory ledger."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernel.errors import InputError, Problem, ProblemsError
from kernel.inputs.jsonlines import open_lines, read_lines
from kernel.inputs.sourcefile import PathKey, SourceDoc, parse_text, read_file, read_stdin
from kernel.ledger.events import Event, EventInvalid, validate_event
from kernel.ledger.ledger import EventConflict, Ledger, StepCheck
from kernel.ledger.projection import TransitionRejected
from kernel.rules.reference import Reference
from kernel.storage.memory import MemoryStorage


def read_event_docs(location: str) -> list[tuple[SourceDoc, Any, PathKey]]:
    """Events from a file or ``-``: a list of events, or ``{events: [...]}``."""
    doc = (
        parse_text(read_stdin(), "<stdin>")
        if location == "-"
        else read_file(Path(location), location)
    )
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        return [(doc, item, ("events", i)) for i, item in enumerate(data["events"])]
    if isinstance(data, list):
        return [(doc, item, (i,)) for i, item in enumerate(data)]
    raise ProblemsError(
        [doc.problem((), "HISTORY-FORMAT", "事件文件应为事件列表，或 {events: [...]}")],
        "事件文件格式不正确",
    )


def load_history(location: str, reference: Reference, guard: StepCheck | None = None) -> Ledger:
    """Replay a history file through a fresh in-memory ledger; every problem is reported.

    ``guard`` checks each step against the rules in force (rules/lifecycle.yaml)."""
    ledger = Ledger(MemoryStorage(), reference, guard=guard)
    problems: list[Problem] = []
    for doc, data, prefix in read_event_docs(location):
        try:
            ledger.submit(data, doc=doc, prefix=prefix)
        except EventInvalid as exc:
            problems.extend(exc.problems)
        except (TransitionRejected, EventConflict) as exc:
            reason = exc.reason if isinstance(exc, TransitionRejected) else str(exc)
            problems.append(doc.problem(prefix, "EVENT-REJECTED", reason))
    if problems:
        raise ProblemsError(problems, f"事件文件有 {len(problems)} 个问题")
    return ledger


def read_events(location: str, reference: Reference) -> list[Event]:
    """Every event of a JSON-lines, YAML or JSON file, validated; all problems at once."""
    events: list[Event] = []
    problems: list[str] = []
    if str(location).endswith((".jsonl", ".ndjson")):
        with open_lines(location) as handle:
            for line in read_lines(handle, location):
                if line.problem is not None:
                    problems.append(str(line.problem))
                    continue
                try:
                    doc = SourceDoc(location, line.data)
                    events.append(validate_event(line.data, reference, doc=doc))
                except ProblemsError as exc:
                    problems.extend(
                        f"{location}:{line.number}: {p.code} {p.message}" for p in exc.problems
                    )
    else:
        for doc, data, prefix in read_event_docs(location):
            try:
                events.append(validate_event(data, reference, doc=doc, prefix=prefix))
            except ProblemsError as exc:
                problems.extend(str(p) for p in exc.problems)
    if problems:
        raise InputError("事件文件有问题：\n" + "\n".join(problems))
    return events
