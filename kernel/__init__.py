"""Huhang (护航): a configuration-driven policy kernel for enterprise-assistance programmes.

The public API::

    from kernel import Kernel, load_rules, check_rules, validate_ticket, render_text

    kernel = Kernel.from_dir("rules")           # load, check, compile
    result = kernel.evaluate(ticket_mapping)    # validate, grade, route, with reasons
    print(result.grade.grade, result.route.primary.unit)
    print(render_text(result))                  # the Chinese explanation
    result.to_dict()                            # the stable JSON form
"""

from typing import TYPE_CHECKING, Any

# The public names are imported on first use (PEP 562), so that light commands such as
# `huhang validate` do not load the engine, the ledger and the reports.
_PUBLIC = {
    "Evaluation": "kernel.decisions",
    "GradeResult": "kernel.decisions",
    "RouteResult": "kernel.decisions",
    "CalendarError": "kernel.errors",
    "EngineError": "kernel.errors",
    "HuhangError": "kernel.errors",
    "InputError": "kernel.errors",
    "Problem": "kernel.errors",
    "ProblemsError": "kernel.errors",
    "RuleSetInvalid": "kernel.errors",
    "TicketInvalid": "kernel.errors",
    "Kernel": "kernel.evaluate",
    "render_text": "kernel.explain",
    "check_rules": "kernel.rules.load",
    "load_rules": "kernel.rules.load",
    "RuleSet": "kernel.rules.model",
    "Ticket": "kernel.ticket",
    "validate_ticket": "kernel.ticket",
}

if TYPE_CHECKING:
    from kernel.decisions import Evaluation, GradeResult, RouteResult
    from kernel.errors import (
        CalendarError,
        EngineError,
        HuhangError,
        InputError,
        Problem,
        ProblemsError,
        RuleSetInvalid,
        TicketInvalid,
    )
    from kernel.evaluate import Kernel
    from kernel.explain import render_text
    from kernel.rules.load import check_rules, load_rules
    from kernel.rules.model import RuleSet
    from kernel.ticket import Ticket, validate_ticket


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kernel' has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    "CalendarError",
    "EngineError",
    "Evaluation",
    "GradeResult",
    "HuhangError",
    "InputError",
    "Kernel",
    "Problem",
    "ProblemsError",
    "RouteResult",
    "RuleSet",
    "RuleSetInvalid",
    "Ticket",
    "TicketInvalid",
    "__version__",
    "check_rules",
    "load_rules",
    "render_text",
    "validate_ticket",
]
