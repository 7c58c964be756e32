"""Exit codes of every ``huhang`` command, in one place."""

#: success
EXIT_OK = 0
#: done, but something is left undecided or failed (an incomplete grade, failed deliveries,
#: a failing scenario, an ``is-workday`` answer of "no", stuck tickets found by ``ledger
#: check``, a PostgreSQL sweep that stopped waiting for claims a dead worker still holds)
EXIT_INCOMPLETE = 1
#: bad input: a rule file, a ticket, an event, an argument; nothing was stored
EXIT_INPUT = 2
#: ``huhang sweep`` finished every ticket it could, but left some undecided because a clock
#: needs a year the working-day calendar has no data for (the summary names them)
EXIT_UNDECIDED = 3
