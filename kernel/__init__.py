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
    "Evaluation": "kernel.evaluation.decisions",
    "GradeResult": "kernel.evaluation.decisions",
    "RouteResult": "kernel.evaluation.decisions",
    "CalendarError": "kernel.errors",
    "EngineError": "kernel.errors",
    "HuhangError": "kernel.errors",
    "InputError": "kernel.errors",
    "Problem": "kernel.errors",
    "ProblemsError": "kernel.errors",
    "RuleSetInvalid": "kernel.errors",
    "TicketInvalid": "kernel.errors",
    "Kernel": "kernel.evaluation.kernel",
    "render_text": "kernel.evaluation.explain",
    "check_rules": "kernel.rules.load",
    "load_rules": "kernel.rules.load",
    "RuleSet": "kernel.rules.model",
    "Ticket": "kernel.evaluation.ticket",
    "validate_ticket": "kernel.evaluation.ticket",
}

if TYPE_CHECKING:
    __version__: str
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
    from kernel.evaluation.decisions import Evaluation, GradeResult, RouteResult
    from kernel.evaluation.explain import render_text
    from kernel.evaluation.kernel import Kernel
    from kernel.evaluation.ticket import Ticket, validate_ticket
    from kernel.rules.load import check_rules, load_rules
    from kernel.rules.model import RuleSet


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("huhang")
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _installed_version()
        return value
    if name in _PUBLIC:
        import importlib

        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kernel' has no attribute {name!r}")


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
