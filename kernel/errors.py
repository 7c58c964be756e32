"""Typed errors of the kernel.

Errors caused by bad input (a rule file, a ticket, an event, a CLI argument) derive from
:class:`InputError`; the CLI turns them into a plain message and exit code 2. Anything else is
a bug or an environment failure and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in an input file, printed as ``PATH:LINE:COL: CODE message``."""

    path: str
    line: int = 0
    col: int = 0
    code: str = ""
    message: str = ""

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}: {self.code} {self.message}"

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready form of the problem."""
        return {
            "path": self.path,
            "line": self.line,
            "col": self.col,
            "code": self.code,
            "message": self.message,
        }


class HuhangError(Exception):
    """Base class of every error the kernel raises on purpose."""


class InputError(HuhangError):
    """Bad input from a user: reported as a message, exit code 2, no traceback."""

    exit_code = 2


class ProblemsError(InputError):
    """Input with one or more located problems (rule files, tickets, events)."""

    def __init__(self, problems: list[Problem], summary: str = "") -> None:
        self.problems = sorted(problems)
        self.summary = summary or f"发现 {len(self.problems)} 个问题"
        super().__init__(self.summary)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)


class RuleSetInvalid(ProblemsError):
    """The rule files failed validation."""


class TicketInvalid(ProblemsError):
    """A ticket failed its contract."""


class LedgerMissing(InputError):
    """A command that only reads or extends a ledger was pointed at one that does not exist."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        super().__init__(
            f"{message}；只有 huhang ingest、huhang roster import、huhang demo、huhang token create 和 huhang serve 会新建台账，"
            "其他命令不会（请检查 --db 或配置文件中的 db）"
        )


class CalendarError(InputError):
    """The working-day calendar cannot answer (for example, a year without holiday data)."""


class CalendarYearMissing(CalendarError):
    """The calendar has no data for ``year`` (no official file and no provisional year)."""

    def __init__(self, message: str, year: int) -> None:
        super().__init__(message)
        self.year = year


class CalendarInvalid(ProblemsError, CalendarError):
    """A calendar year file with problems, each located (``file:line:col``).

    ``str()`` gives one line per problem naming the file and the field, as a calendar message
    always has; ``problems`` carry the positions for ``huhang validate``.
    """

    def __init__(self, problems: list[Problem], text: str) -> None:
        super().__init__(problems, f"工作日历文件有 {len(problems)} 个问题")
        self.text = text

    def __str__(self) -> str:
        return self.text


class EngineError(HuhangError):
    """durable-rules answered with an error code the kernel did not expect (a bug, not input)."""

    def __init__(self, code: int, detail: str) -> None:
        self.code = code
        super().__init__(f"durable-rules error code {code}: {detail}")
