"""Monthly duties: contacts per enterprise (每月联系不少于1次) and the office's monthly notice.

A month counts once it has ended by ``as_of`` (the end of that day). An enterprise owes contacts
for the months that begin on or after its registration date.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kernel.calendar.workdays import WorkCalendar
from kernel.ledger.events import Event
from kernel.ledger.projection import Enterprise
from kernel.rules.deadlines import MonthlyDuty


def month_label(day: dt.date) -> str:
    """``YYYY-MM`` of a date."""
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(label: str) -> tuple[dt.date, dt.date]:
    """First and last day of a ``YYYY-MM`` month."""
    year, month = (int(x) for x in label.split("-"))
    first = dt.date(year, month, 1)
    following = dt.date(year + 1, 1, 1) if month == 12 else dt.date(year, month + 1, 1)
    return first, following - dt.timedelta(days=1)


def months_between(first: str, last: str) -> list[str]:
    """Every month label from ``first`` to ``last`` inclusive."""
    out = []
    year, month = (int(x) for x in first.split("-"))
    end = tuple(int(x) for x in last.split("-"))
    while (year, month) <= end:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def _bounds(months: list[str]) -> list[tuple[str, tuple[dt.date, dt.date]]]:
    return [(month, month_bounds(month)) for month in months]


@dataclass(frozen=True)
class MissedContact:
    """An enterprise-month without the required contact."""

    duty: str
    enterprise: str
    name: str
    month: str
    lead_unit: str
    lead_leader: str | None
    liaison_cadre: str | None
    contacts: int
    required: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return dict(self.__dict__)


def missed_contacts(
    duty: MonthlyDuty,
    enterprises: Iterable[Enterprise],
    events: Iterable[Event],
    months: list[str],
    as_of: dt.date,
) -> list[MissedContact]:
    """Enterprise-months in ``months`` (ended by ``as_of``) with too few contacts."""
    counts: Counter[tuple[str, str]] = Counter()
    for event in events:
        if event.type not in duty.event or event.date > as_of:
            continue
        if duty.by and event.payload.get("by") not in duty.by:
            continue
        counts[(str(event.enterprise), month_label(event.date))] += 1
    missed = []
    # the months ended by as_of, with their first days (bounds computed once, not per enterprise)
    ended = [(month, first) for month, (first, last) in _bounds(months) if last <= as_of]
    for enterprise in sorted(enterprises, key=lambda e: e.credit_code):
        if enterprise.linked:  # a lower level's enterprise: the contacts are owed there
            continue
        for month, first in ended:
            if first < enterprise.registered_on:
                continue
            got = counts[(enterprise.credit_code, month)]
            if got < duty.at_least:
                missed.append(
                    MissedContact(
                        duty=duty.id,
                        enterprise=enterprise.credit_code,
                        name=str(enterprise.get("name")),
                        month=month,
                        lead_unit=str(enterprise.get("lead_unit")),
                        lead_leader=enterprise.get("lead_leader"),
                        liaison_cadre=enterprise.get("liaison_cadre"),
                        contacts=got,
                        required=duty.at_least,
                    )
                )
    return missed


@dataclass(frozen=True)
class OfficeDuty:
    """The office's monthly duty for one month (e.g. the notice by the 5th working day)."""

    duty: str
    month: str
    due: dt.date
    done_on: dt.date | None
    state: str  # met | breached | running
    overdue_workdays: int

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "duty": self.duty,
            "month": self.month,
            "due": self.due.isoformat(),
            "done_on": self.done_on.isoformat() if self.done_on else None,
            "state": self.state,
            "overdue_workdays": self.overdue_workdays,
        }


def office_duties(
    duty: MonthlyDuty,
    events: Iterable[Event],
    months: list[str],
    calendar: WorkCalendar,
    as_of: dt.date,
) -> list[OfficeDuty]:
    """For each ended month: when the office's monthly event (e.g. the 通报) was due and done."""
    done: dict[str, dt.date] = {}
    for event in events:
        if event.type in duty.event and event.date <= as_of:
            month = str(event.payload.get("month", month_label(event.date)))
            done.setdefault(month, event.date)
    out = []
    for month in months:
        _, last = month_bounds(month)
        if last >= as_of:
            continue
        following = last + dt.timedelta(days=1)
        due = (
            calendar.nth_workday_of_month(following.year, following.month, duty.due_workday)
            if duty.due_workday
            else calendar.last_workday_of_month(*(int(x) for x in month.split("-")))
        )
        finished = done.get(month)
        end = finished or as_of
        if finished is not None:
            state = "met" if finished <= due else "breached"
        else:
            state = "breached" if as_of > due else "running"
        overdue = calendar.workdays_between(due, end) if state == "breached" else 0
        out.append(OfficeDuty(duty.id, month, due, finished, state, overdue))
    return out
