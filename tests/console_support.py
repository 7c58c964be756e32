"""A served ledger for the console's tests: the example events, four accounts, a settable clock."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT

PASSWORD = "护航-test-2026"
#: account name -> (principal name, unit, role)
ACCOUNTS = {
    "clerk": ("王芳", "助商稳企办", "office"),
    "yangxian": ("李雷", "洋县", "unit"),
    "nanzheng": ("韩梅", "南郑区", "unit"),
    "audit": ("赵审", "助商稳企办", "auditor"),
}
#: the example ledger: HZ-2026-0003 is 洋县's (primary), HZ-2026-0002 南郑区's
YANGXIAN_TICKET = "HZ-2026-0003"
NANZHENG_TICKET = "HZ-2026-0002"
YANGXIAN_ENTERPRISE = "91610723MA6YQ5C2X2"
NANZHENG_ENTERPRISE = "91610702MA6YK3B1XQ"


@dataclass
class Clock:
    """A clock the tests move."""

    now: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now


def served_context(folder: Path, clock: Clock) -> Any:
    """A service context on a new SQLite ledger holding the example events and the accounts."""
    from kernel.service.context import open_service
    from kernel.web.accounts import add_account

    context = open_service(
        db=str(folder / "console.db"), rules=ROOT / "rules", create=True, clock=clock
    )
    lines = (ROOT / "examples" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    with context.kernel_lock:
        context.ledger.submit_many(
            [(json.loads(line), None, ()) for line in lines if line.strip()],
            kernel=context.kernel(),
        )
    for name, (principal, unit, role) in ACCOUNTS.items():
        add_account(
            context.ledger.storage, name, PASSWORD, principal=principal, unit=unit, role=role
        )
    return context


def csrf_of(html: str) -> str:
    """The CSRF token of the first form of a page."""
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)
