"""Huhang (护航): a configuration-driven policy kernel for enterprise-assistance programmes.

The public API::

    from kernel import Kernel, load_rules, check_rules, validate_ticket, render_text

    kernel = Kernel.from_dir("rules")           # load, check, compile
    result = kernel.evaluate(ticket_mapping)    # validate, grade, route, with reasons
    print(result.grade.grade, result.route.primary.unit)
    print(render_text(result))                  # the Chinese explanation
    result.to_dict()                            # the stable JSON form
"""

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
