"""Every hook of Huhang, in one place.

Plugins implement these with ``@kernel.hookimpl``. Hooks only ever gain arguments, never lose
them; an implementation may accept fewer arguments than the spec offers (pluggy passes only the
ones it names).

Lifecycle:

1. **start-up** -- :func:`kernel.plugins.get_plugin_manager` builds a manager, loads built-in,
   entry-point and local plugins, then calls the ``register`` hooks once:
   ``huhang_register_storage`` and ``huhang_register_notifiers``.
2. **calendar** -- the first time a working-day calendar is needed, ``huhang_calendar`` is
   asked for one.
3. **evaluation** -- after the rules grade and route a ticket for the ledger,
   ``huhang_decision_made`` is called.
4. **ledger** -- after each event is committed, ``huhang_event_committed`` is called.
5. **command line** -- when ``huhang`` meets a command it does not know (or is asked for its
   help), ``huhang_register_commands`` lets plugins add subcommands.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import argparse

    from kernel.calendar.workdays import WorkCalendar
    from kernel.evaluation.decisions import Evaluation
    from kernel.ledger.events import Event
    from kernel.notify.contract import NotifierFactory
    from kernel.storage.contract import StorageFactory

PROJECT = "huhang"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def huhang_register_storage(register: Callable[[str, StorageFactory], None]) -> None:
    """Register ledger storage backends.

    Called once, when the plugin manager is built. Call ``register(scheme, factory)`` for each
    backend: ``scheme`` is the URL scheme users select it with (``sqlite`` for
    ``sqlite:///path/huhang.db``); ``factory(url)`` opens the store and returns a
    :class:`kernel.storage.contract.Storage`. A scheme registered twice is an error naming both plugins.

    :param register: the callback that records a backend.
    """


@hookspec
def huhang_register_notifiers(register: Callable[[str, NotifierFactory], None]) -> None:
    """Register notification backends.

    Called once, when the plugin manager is built. Call ``register(type, factory)`` for each
    notifier type (``console``, ``webhook``, ``smtp``, …); ``factory(name, options)`` builds a
    :class:`kernel.notify.contract.Notifier` from the options of one ``notifiers:`` entry in the
    configuration.

    :param register: the callback that records a notifier type.
    """


@hookspec(firstresult=True)
def huhang_calendar(rules_dir: Path) -> WorkCalendar | None:
    """Supply the working-day calendar.

    Called the first time a calendar is needed. Stops at the first non-None result. The
    built-in plugin reads ``rules_dir/calendar/*.yaml``; a plugin may serve holiday data from
    another source instead (implement it with ``tryfirst=True`` to take precedence).

    :param rules_dir: the rule folder in use.
    :return: a :class:`kernel.calendar.workdays.WorkCalendar`, or None to let the next plugin answer.
    """


@hookspec
def huhang_event_committed(event: Event) -> None:
    """An event was durably stored in the ledger.

    Called after the transaction that stored ``event`` committed, once per event, in ledger
    order; never for a duplicate or a rejected event. An exception raised here is reported but
    does not undo the event.

    :param event: the stored event, with its ``seq``.
    """


@hookspec
def huhang_decision_made(ticket_id: str, evaluation: Evaluation) -> None:
    """The rules graded and routed a ticket for the ledger.

    Called when the ledger grades a reported ticket, before the ``ticket.graded`` event is
    submitted. ``evaluation`` carries the reasons (rule ids, clauses, condition values).

    :param ticket_id: the ticket that was evaluated.
    :param evaluation: the full result, as ``huhang explain`` shows it.
    """


#: ``register(name, help, configure, handler)``, the callback of ``huhang_register_commands``
CommandRegistrar = Callable[
    [
        str,
        str,
        "Callable[[argparse.ArgumentParser], None]",
        "Callable[[argparse.Namespace], int]",
    ],
    None,
]


@hookspec
def huhang_register_commands(register: CommandRegistrar) -> None:
    """Add subcommands to ``huhang``.

    Called when the command line meets a command that is not built in, and for ``huhang --help``.
    Call ``register(name, help, configure, handler)`` for each command: ``name`` is the word
    after ``huhang``; ``help`` its one-line Chinese description; ``configure(parser)`` adds its
    arguments to an :class:`argparse.ArgumentParser` that already speaks Chinese; ``handler(args)``
    runs it and returns the exit code (0 done, 1 incomplete, 2 bad input). A name that is already
    a command is an error naming the plugin. Raise :class:`kernel.errors.InputError` for bad input:
    the command line prints it in one line and exits 2.

    :param register: the callback that records a command.
    """
