"""Building the plugin manager: built-ins, then entry points, then a configured local folder.

Nothing is imported from the current folder on its own: local plugins are loaded only from a
folder that the configuration names (``plugins.dir`` in ``huhang.yaml``, ``local_dir=`` or
``$HUHANG_PLUGINS_DIR``), so running ``huhang`` inside a downloaded folder never runs that
folder's code. The block list is applied *before* anything is imported: a blocked built-in,
entry point or local file is never loaded.

There is no global manager: :func:`get_plugin_manager` builds a fresh one each time, so tests
and tools can have several with different plugins. :class:`PluginHost` is the typed facade the
rest of the kernel uses; nothing else touches pluggy directly.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from kernel import hookspecs
from kernel.errors import InputError
from kernel.inputs.suggest import did_you_mean

if TYPE_CHECKING:
    import argparse

    from kernel.calendar.workdays import WorkCalendar
    from kernel.evaluation.decisions import Evaluation
    from kernel.ledger.events import Event
    from kernel.notify.contract import Notifier, NotifierFactory
    from kernel.storage.contract import Storage, StorageFactory

ENTRY_POINT_GROUP = "huhang"
#: built-in plugins, loaded first: their user-visible names, pinned, and their modules
DEFAULT_PLUGINS: dict[str, str] = {
    "calendar_files": "kernel.calendar.source_files",
    "storage_memory": "kernel.storage.memory",
    "storage_sqlite": "kernel.storage.sqlite",
    "storage_jsonl": "kernel.storage.jsonl",
    "storage_postgres": "kernel.storage.postgres",
    "notify_console": "kernel.notify.console",
    "notify_file": "kernel.notify.file",
    "notify_webhook": "kernel.notify.webhook",
    "notify_smtp": "kernel.notify.smtp",
}
LOCAL_DIR_ENV = "HUHANG_PLUGINS_DIR"
BLOCK_ENV = "HUHANG_BLOCK_PLUGINS"


class PluginError(InputError):
    """A plugin could not be loaded or registered something wrong (exit code 2)."""


@dataclass(frozen=True)
class PluginCommand:
    """A subcommand added by a plugin."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    handler: Callable[[argparse.Namespace], int]
    owner: str


@dataclass(frozen=True)
class PluginInfo:
    """What ``huhang plugins`` shows for one loaded plugin."""

    name: str
    source: str  # builtin | entry point (distribution) | local file
    hooks: tuple[str, ...]


class PluginHost:
    """A typed facade over one pluggy manager, with the registries the hooks filled."""

    def __init__(
        self, pm: pluggy.PluginManager, sources: Mapping[str, str], blocked: Iterable[str]
    ):
        self.pm = pm
        self.sources = dict(sources)
        self.blocked = tuple(blocked)
        self.storage: dict[str, tuple[StorageFactory, str]] = {}
        self.notifiers: dict[str, tuple[NotifierFactory, str]] = {}
        self._collect("huhang_register_storage", self.storage, "存储后端")
        self._collect("huhang_register_notifiers", self.notifiers, "通知方式")

    def _collect(self, hook_name: str, table: dict[str, Any], word: str) -> None:
        hook = getattr(self.pm.hook, hook_name)
        for impl in hook.get_hookimpls():  # in registration order: built-ins first
            owner = self.pm.get_name(impl.plugin) or "?"

            def register(key: str, factory: Any, owner: str = owner) -> None:
                if not isinstance(key, str) or not key or not callable(factory):
                    raise PluginError(f"插件 {owner} 注册的{word} {key!r} 无效")
                if key in table:
                    raise PluginError(f"{word} '{key}' 被插件 {table[key][1]} 和 {owner} 重复注册")
                table[key] = (factory, owner)

            impl.function(register=register)

    # ------------------------------------------------------------------ typed hook calls

    def commands(self, reserved: Collection[str]) -> dict[str, PluginCommand]:
        """The subcommands plugins add (``huhang_register_commands``), checked by name."""
        found: dict[str, PluginCommand] = {}
        for impl in self.pm.hook.huhang_register_commands.get_hookimpls():
            owner = self.pm.get_name(impl.plugin) or "?"

            def register(
                name: str, help: str, configure: Any, handler: Any, owner: str = owner
            ) -> None:
                if not isinstance(name, str) or not name or name.startswith("-"):
                    raise PluginError(f"插件 {owner} 注册的命令名 {name!r} 无效")
                if not callable(configure) or not callable(handler):
                    raise PluginError(f"插件 {owner} 注册的命令 {name} 缺少参数设置或处理函数")
                if name in reserved:
                    raise PluginError(f"插件 {owner} 注册的命令 {name} 与内置命令重名")
                if name in found:
                    raise PluginError(
                        f"命令 '{name}' 被插件 {found[name].owner} 和 {owner} 重复注册"
                    )
                found[name] = PluginCommand(name, str(help), configure, handler, owner)

            impl.function(register=register)
        return found

    def open_storage(self, url: str) -> Storage:
        """Open the ledger store at ``url`` (``sqlite:///x.db``, ``memory:``, a ``.db`` path …)."""
        scheme = storage_scheme(url)
        if scheme not in self.storage:
            hint = did_you_mean(scheme, self.storage)
            raise PluginError(
                f"没有名为 '{scheme}' 的存储后端（可用：{'、'.join(sorted(self.storage))}）{hint}"
            )
        factory, _ = self.storage[scheme]
        return factory(url)

    def open_store(self, url: str, *, create: bool) -> tuple[Storage, bool]:
        """Open the ledger store at ``url``; the flag says whether it was created just now.

        Without ``create`` a ledger that does not exist raises
        :class:`kernel.errors.LedgerMissing` (only ingest, roster import, demo, token create and serve create one).
        A backend says how to open without creating through an ``open_existing(url)``
        attribute of its factory; a backend without one (``memory:``) always opens.
        """
        from kernel.errors import LedgerMissing

        if storage_scheme(url) in self.storage:
            factory, _ = self.storage[storage_scheme(url)]
            opener = getattr(factory, "open_existing", None)
            if opener is not None:
                try:
                    store: Storage = opener(url)
                    return store, False
                except LedgerMissing:
                    if not create:
                        raise
                return self.open_storage(url), True
        return self.open_storage(url), False

    def notifier(self, kind: str, name: str, options: Mapping[str, Any]) -> Notifier:
        """Build a notifier of ``kind`` from one configuration entry."""
        if kind not in self.notifiers:
            hint = did_you_mean(kind, self.notifiers)
            raise PluginError(
                f"没有名为 '{kind}' 的通知方式（可用：{'、'.join(sorted(self.notifiers))}）{hint}"
            )
        factory, _ = self.notifiers[kind]
        return factory(name, options)

    def calendar(self, rules_dir: Path) -> WorkCalendar:
        """The working-day calendar from the first plugin that supplies one."""
        found: WorkCalendar | None = self.pm.hook.huhang_calendar(rules_dir=rules_dir)
        if found is None:
            raise PluginError("没有插件提供工作日历（内置插件 calendar_files 是否被禁用？）")
        return found

    def event_committed(self, event: Event) -> None:
        """Tell every plugin that ``event`` was stored."""
        self.pm.hook.huhang_event_committed(event=event)

    def decision_made(self, ticket_id: str, evaluation: Evaluation) -> None:
        """Tell every plugin that the rules decided a ticket."""
        self.pm.hook.huhang_decision_made(ticket_id=ticket_id, evaluation=evaluation)

    # ------------------------------------------------------------------ introspection

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin with its source and the hooks it implements, in load order."""
        infos = []
        for name, plugin in self.pm.list_name_plugin():
            if plugin is None or name in self.blocked:
                continue
            hooks = tuple(
                sorted(
                    caller.name
                    for caller in self.pm.get_hookcallers(plugin) or []
                    if caller.name.startswith("huhang_")
                )
            )
            infos.append(PluginInfo(name, self.sources.get(name, "?"), hooks))
        return infos


def storage_scheme(url: str) -> str:
    """The backend name of a storage URL.

    ``scheme://…`` and ``scheme:…`` name the backend; a bare path means SQLite, or JSON lines
    when it ends in ``.jsonl``/``.ndjson``.
    """
    match = _SCHEME.match(url)
    if match:
        return match.group(1).split("+", 1)[0]
    if url.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "sqlite"


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")


def local_plugin_files(directory: Path) -> list[Path]:
    """The plugin files of a local folder: ``*.py`` not starting with ``_``, by name."""
    return sorted(p for p in directory.glob("*.py") if not p.name.startswith("_"))


def _load_local(directory: Path, blocked: set[str]) -> list[tuple[str, ModuleType]]:
    modules = []
    for path in local_plugin_files(directory):
        if path.stem in blocked:
            continue  # never imported: its code does not run
        name = f"huhang_local_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise PluginError(f"无法加载本地插件 {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise PluginError(f"本地插件 {path} 加载失败：{type(exc).__name__}: {exc}") from exc
        modules.append((path.stem, module))
    return modules


def local_plugin_dir(configured: Path | None = None) -> Path | None:
    """The local plugin folder in force: ``configured`` or ``$HUHANG_PLUGINS_DIR``, else none."""
    if configured is not None:
        return configured
    from_env = os.environ.get(LOCAL_DIR_ENV)
    return Path(from_env) if from_env else None


def get_plugin_manager(
    *,
    block: Iterable[str] = (),
    local_dir: Path | None = None,
    use_entry_points: bool = True,
    extra: Iterable[tuple[str, object]] = (),
) -> PluginHost:
    """Build a plugin manager.

    Order: the built-ins (``DEFAULT_PLUGINS``), then the ``huhang`` entry-point group, then the
    ``*.py`` files of the local plugin folder (``local_dir`` or ``$HUHANG_PLUGINS_DIR``, when it
    exists; there is no default folder), then ``extra`` (objects registered directly, for tests and embedding).
    Names in ``block`` or ``$HUHANG_BLOCK_PLUGINS`` (comma-separated) are not imported at all.
    """
    blocked = set(block)
    blocked.update(filter(None, (s.strip() for s in os.environ.get(BLOCK_ENV, "").split(","))))
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    sources: dict[str, str] = {}

    def add(name: str, plugin: object, source: str) -> None:
        if name in blocked:
            pm.set_blocked(name)
            return
        if pm.has_plugin(name):
            raise PluginError(f"插件名 '{name}' 重复（{sources.get(name)} 与 {source}）")
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"插件 {name}（{source}）的钩子实现有误：{exc}") from exc
        sources[name] = source

    for plugin_name, module_name in DEFAULT_PLUGINS.items():
        if plugin_name in blocked:
            pm.set_blocked(plugin_name)
            continue
        add(plugin_name, importlib.import_module(module_name), "builtin")
    if use_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in blocked:
                pm.set_blocked(ep.name)
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"插件 {ep.name}（{ep.value}）加载失败：{type(exc).__name__}: {exc}"
                ) from exc
            dist = ep.dist.name if ep.dist is not None else "?"
            add(ep.name, plugin, f"entry point ({dist})")
    folder = local_plugin_dir(local_dir)
    if folder is not None and folder.is_dir():
        for name in blocked:
            if (folder / f"{name}.py").is_file():
                pm.set_blocked(name)
        for name, module in _load_local(folder, blocked):
            add(name, module, f"local ({folder / (name + '.py')})")
    for name, plugin in extra:
        add(name, plugin, "registered")
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"插件实现了不存在的钩子：{exc}") from exc
    return PluginHost(pm, sources, blocked)
