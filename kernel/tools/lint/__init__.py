"""``huhang lint``: find what is wrong with a rule set that ``huhang validate`` accepts.

:mod:`~kernel.tools.lint.findings` (codes, severities, the report),
:mod:`~kernel.tools.lint.valuespace` (the exact search over the fields' value classes) and
:mod:`~kernel.tools.lint.checks` (the seven checks and :func:`lint`).
"""

from kernel.tools.lint.checks import lint
from kernel.tools.lint.findings import CODES, Finding, exit_code, render_findings

__all__ = ["CODES", "Finding", "exit_code", "lint", "render_findings"]
