"""What a running service holds open: configuration, plugins, rules, the ledger, the kernel.

One :class:`ServiceContext` per worker process, shared by the request threads. The rules
engine and the deadline evaluator are built on first use and guarded by a lock (durable-rules
is not re-entrant); the projection of the ledger is kept in memory and brought up to date by
feeding it only the events stored since its last refresh (the ledger is append-only, so that is
the same state a full replay gives).
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kernel.errors import InputError
from kernel.service.clock import wall_clock

if TYPE_CHECKING:
    from kernel.calendar.workdays import WorkCalendar
    from kernel.clocks.compute import ClockEvaluator
    from kernel.config import Config
    from kernel.evaluation.kernel import Kernel
    from kernel.ledger.ledger import Ledger, Projector
    from kernel.plugins import PluginHost
    from kernel.rules.model import RuleSet


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request may send."""

    #: bytes of a JSON request body
    body_bytes: int = 8 * 1024 * 1024
    #: nesting of a JSON request body (an event needs about 6)
    json_depth: int = 32
    #: events in one POST /api/v1/events
    batch_events: int = 5_000
    #: bytes of an uploaded rule archive, and of all its files unpacked
    archive_bytes: int = 5 * 1024 * 1024
    unpacked_bytes: int = 20 * 1024 * 1024
    #: files in an uploaded rule archive
    archive_files: int = 200
    #: tickets in one page of GET /api/v1/tickets
    page_max: int = 500


@dataclass
class Snapshot:
    """The ledger's projection up to ``seq`` (every event with a smaller or equal seq)."""

    projector: Projector
    seq: int = 0


@dataclass
class ServiceContext:
    """Everything the routes use, opened once per worker process."""

    config: Config
    plugins: PluginHost
    ruleset: RuleSet
    ledger: Ledger
    clock: Callable[[], dt.datetime] = wall_clock
    limits: Limits = field(default_factory=Limits)
    kernel_lock: threading.RLock = field(default_factory=threading.RLock)
    _kernel: Kernel | None = None
    _evaluator: ClockEvaluator | None = None
    _snapshot: Snapshot | None = None
    _snapshot_lock: threading.Lock = field(default_factory=threading.Lock)

    def today(self) -> dt.date:
        """The service's date (the clock's, in its time zone)."""
        return self.clock().date()

    def kernel(self) -> Kernel:
        """The compiled rules (call with :attr:`kernel_lock` held while evaluating)."""
        with self.kernel_lock:
            if self._kernel is None:
                from kernel.evaluation.kernel import Kernel

                self._kernel = Kernel(self.ruleset)
            return self._kernel

    def calendar(self) -> WorkCalendar:
        """The plugins' calendar under huhang.yaml's ``calendar.missing_year`` (a county's rule
        folder without a calendar of its own uses its upper level's, as the CLI does)."""
        from kernel.calendar.provisional import apply_policy

        home = self.ruleset.home("calendar")
        return apply_policy(self.plugins.calendar(home), self.config.missing_year)

    def evaluator(self) -> ClockEvaluator:
        """The deadline clocks of the rules on the calendar."""
        if self._evaluator is None:
            from kernel.clocks.compute import ClockEvaluator

            assert self.ruleset.deadlines is not None
            self._evaluator = ClockEvaluator(self.ruleset.deadlines, self.calendar())
        return self._evaluator

    def projection(self) -> Projector:
        """The projection of every committed event, refreshed with the events since last time.

        The returned projector must only be read; it is replaced, not changed, by later calls.
        """
        from kernel.ledger.ledger import Projector, paused_gc

        with self._snapshot_lock:
            snap = self._snapshot
            if snap is None:
                snap = Snapshot(Projector(self.ledger.reference))
            new = list(self.ledger.events(after_seq=snap.seq))
            if new or self._snapshot is None:
                projector = Projector(self.ledger.reference)
                projector.enterprises = dict(snap.projector.enterprises)
                projector.tickets = dict(snap.projector.tickets)
                with paused_gc():
                    for event in new:
                        projector.feed(event)
                last = new[-1].seq if new else snap.seq
                snap = Snapshot(projector, int(last or 0))
                self._snapshot = snap
            return snap.projector

    def close(self) -> None:
        """Release the engine and the storage."""
        with self.kernel_lock:
            if self._kernel is not None:
                self._kernel.close()
                self._kernel = None
        self.ledger.storage.close()


def open_service(
    *,
    db: str | None = None,
    rules: Path | str | None = None,
    config: Path | None = None,
    create: bool = False,
    clock: Callable[[], dt.datetime] = wall_clock,
    limits: Limits | None = None,
) -> ServiceContext:
    """Open configuration (``config`` or ./huhang.yaml), plugins, rules and the ledger.

    Only with ``create`` is a missing ledger made (``huhang serve`` and ``huhang token create``
    do; the new ledger is announced on stderr).
    """
    from kernel.config import load_config
    from kernel.ledger.ledger import Ledger
    from kernel.plugins import get_plugin_manager
    from kernel.rules.load import load_rules

    cfg = load_config(config)
    if cfg.plugin_dir is not None and not cfg.plugin_dir.is_dir():
        raise InputError(f"配置的本地插件目录 {cfg.plugin_dir} 不存在（{cfg.source}）")
    plugins = get_plugin_manager(block=cfg.block, local_dir=cfg.plugin_dir)
    ruleset = load_rules(rules or cfg.rules)
    storage, created = plugins.open_store(db or cfg.db, create=create)
    if created:
        print(f"新建台账：{storage.url}", file=sys.stderr)
    notifiers = [str(n["name"]) for n in cfg.notifiers]
    ledger = Ledger(storage, ruleset.reference, plugins=plugins, notifiers=notifiers)
    context = ServiceContext(cfg, plugins, ruleset, ledger, clock=clock, limits=limits or Limits())
    if ruleset.lifecycle is not None:
        from kernel.clocks.steps import step_guard

        # the same step guard as the CLI's: rules/lifecycle.yaml checks every new event
        ledger.guard = step_guard(ruleset, context.calendar())
    return context
