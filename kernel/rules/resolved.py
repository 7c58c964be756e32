"""One rule file resolved over its levels: the upper file with the lower level's changes.

A lower level's file may add items (rules, clocks, deductions, units, categories) by id,
replace one with ``override: true`` (``before: ID`` places a new one), and drop ids listed under
``remove:``. An upper item marked ``locked: true`` can be neither replaced nor removed. The
result is a :class:`LayeredDoc`: the merged data, and for every value the file, line and level
it came from, so every later check reports where the value is written.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kernel.errors import Problem
from kernel.inputs.sourcefile import PathKey, SourceDoc, field_name
from kernel.inputs.suggest import did_you_mean
from kernel.rules.levels import Level

#: keys of a lower-level item that steer the merge and are not part of the item
OVERLAY_KEYS = ("override", "before")
REMOVE_KEY = "remove"

Origin = tuple[SourceDoc, PathKey, str]


@dataclass
class LayeredDoc(SourceDoc):
    """A document merged from several levels; positions point into the file of each value."""

    origins: dict[PathKey, Origin] = field(default_factory=dict)
    sources: list[SourceDoc] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    #: ids a level replaced, with the upper item it replaced (``file:line``, level)
    replaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: ids each level removed, by level name
    removed: dict[str, list[str]] = field(default_factory=dict)

    def origin(self, path: PathKey) -> tuple[SourceDoc, PathKey, str]:
        """The source document, the path in it and the level name of the value at ``path``."""
        probe = tuple(path)
        while True:
            found = self.origins.get(probe)
            if found is not None:
                doc, src, level = found
                return doc, (*src, *path[len(probe) :]), level
            if not probe:
                return self.sources[-1], tuple(path), ""
            probe = probe[:-1]

    @property
    def problems(self) -> list[Problem]:
        """The reading problems of every level's file."""
        return [problem for doc in self.sources for problem in doc.problems]

    def has_issue(self, path: PathKey) -> bool:
        doc, src, _ = self.origin(path)
        return doc.has_issue(src)

    def problems_under(self, prefix: PathKey) -> list[Problem]:
        doc, src, _ = self.origin(prefix)
        return doc.problems_under(src)

    def where(self, path: PathKey, *, key: bool = False) -> tuple[int, int]:
        doc, src, _ = self.origin(path)
        return doc.where(src, key=key)

    def problem(self, path: PathKey, code: str, message: str, *, key: bool = False) -> Problem:
        doc, src, _ = self.origin(path)
        line, col = doc.where(src, key=key)
        return Problem(doc.path, line, col, code, message)

    def file_of(self, path: PathKey) -> str:
        return self.origin(path)[0].path

    def level_of(self, path: PathKey) -> str:
        return self.origin(path)[2]


def _id_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(item, dict) and isinstance(item.get("id"), str) for item in value)
    )


class _Merger:
    def __init__(self, first: SourceDoc, level: Level) -> None:
        self.data: dict[str, Any] = copy.deepcopy(first.data)
        self.origins: dict[PathKey, Origin] = {(): (first, (), level.name)}
        self.problems: list[Problem] = []
        self.lookup = LayeredDoc(first.path, None, origins=self.origins, sources=[first])
        self.replaced: dict[str, tuple[str, str]] = {}
        self.removed: dict[str, list[str]] = {}

    def layer(self, doc: SourceDoc, level: Level) -> None:
        removed = self._removals(doc)
        self._mapping(self.data, doc.data, (), doc, (), level, removed)
        if any(not used for _, used in removed.values()):  # ids of lists the level leaves as is
            for key, value in list(self.data.items()):
                if key in doc.data or not (isinstance(value, list) and _id_list(value)):
                    continue
                header = self.lookup.origin((key,))
                self.data[key] = self._list(value, [], (key,), doc, (key,), level, removed)
                self.origins[(key,)] = header
        for name, (index, used) in removed.items():
            if not used:
                self.problems.append(
                    doc.problem(
                        (REMOVE_KEY, index),
                        "LEVEL-UNKNOWN-ID",
                        f"remove 中的 '{name}' 在上级文件中不存在{did_you_mean(name, self._ids())}",
                    )
                )
        self.lookup.sources.append(doc)

    def _ids(self) -> list[str]:
        return [item["id"] for value in self.data.values() if _id_list(value) for item in value]

    def _removals(self, doc: SourceDoc) -> dict[str, tuple[int, bool]]:
        raw = doc.data.get(REMOVE_KEY)
        if raw is None:
            return {}
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            self.problems.append(
                doc.problem((REMOVE_KEY,), "LEVEL-OVERLAY", "remove 应为 id 列表，如 [R-CO-LAND]")
            )
            return {}
        return {name: (index, False) for index, name in enumerate(raw)}

    def _mapping(
        self,
        current: dict[str, Any],
        lower: dict[str, Any],
        path: PathKey,
        doc: SourceDoc,
        src: PathKey,
        level: Level,
        removed: dict[str, tuple[int, bool]],
    ) -> None:
        for key, value in lower.items():
            if not path and key == REMOVE_KEY:
                continue
            here, there = (*path, key), (*src, key)
            upper = current.get(key)
            if isinstance(upper, list) and _id_list(upper) and isinstance(value, list):
                current[key] = self._list(upper, value, here, doc, there, level, removed)
            elif isinstance(upper, dict) and isinstance(value, dict) and path == ():
                self._mapping(upper, value, here, doc, there, level, removed)
            else:
                self._forget(here)
                current[key] = copy.deepcopy(value)
                self.origins[here] = (doc, there, level.name)

    def _forget(self, prefix: PathKey) -> None:
        size = len(prefix)
        for key in [k for k in self.origins if k[:size] == prefix]:
            del self.origins[key]

    def _list(
        self,
        upper: list[Any],
        lower: list[Any],
        path: PathKey,
        doc: SourceDoc,
        src: PathKey,
        level: Level,
        removed: dict[str, tuple[int, bool]],
    ) -> list[Any]:
        rows: list[tuple[Any, Origin]] = [
            (item, self.lookup.origin((*path, i))) for i, item in enumerate(upper)
        ]
        kept: list[tuple[Any, Origin]] = []
        for item, origin in rows:
            name = item["id"]
            if name in removed:
                index, _ = removed[name]
                removed[name] = (index, True)
                if item.get("locked") is True:
                    self._locked(doc, (REMOVE_KEY, index), name, origin, "删除")
                    kept.append((item, origin))
                else:
                    self.removed.setdefault(level.name, []).append(name)
                continue
            kept.append((item, origin))
        for j, raw in enumerate(lower):
            at = (*src, j)
            if not isinstance(raw, dict):
                kept.append((raw, (doc, at, level.name)))
                continue
            item = {k: v for k, v in raw.items() if k not in OVERLAY_KEYS}
            override, before = raw.get("override"), raw.get("before")
            if "override" in raw and override is not True:
                self.problems.append(
                    doc.problem((*at, "override"), "LEVEL-OVERLAY", "override 只能写 true")
                )
                continue
            if before is not None and not isinstance(before, str):
                self.problems.append(
                    doc.problem((*at, "before"), "LEVEL-OVERLAY", "before 应为上级某一项的 id")
                )
                continue
            name = item.get("id")
            ids = [row[0].get("id") if isinstance(row[0], dict) else None for row in kept]
            if name in ids:
                pos = ids.index(name)
                old, origin = kept[pos]
                if override is not True:
                    self.problems.append(
                        doc.problem(
                            (*at, "id"),
                            "LEVEL-DUPLICATE",
                            f"'{name}' 已在{origin[2]} {_where(origin)} 定义；"
                            "要在本级替换它，请加 override: true",
                        )
                    )
                elif old.get("locked") is True:
                    self._locked(doc, (*at, "override"), str(name), origin, "修改")
                else:
                    kept[pos] = (item, (doc, at, level.name))
                    self.replaced[str(name)] = (_where(origin, "id"), origin[2])
                continue
            if override is True:
                hint = did_you_mean(str(name), [str(i) for i in ids if i]) or ""
                self.problems.append(
                    doc.problem(
                        (*at, "override"),
                        "LEVEL-UNKNOWN-ID",
                        f"override 的 '{name}' 在上级的 {field_name(path)} 中不存在{hint}",
                    )
                )
                continue
            if before is not None:
                if before not in ids:
                    hint = did_you_mean(before, [str(i) for i in ids if i]) or ""
                    self.problems.append(
                        doc.problem(
                            (*at, "before"),
                            "LEVEL-UNKNOWN-ID",
                            f"before 的 '{before}' 在上级的 {field_name(path)} 中不存在{hint}",
                        )
                    )
                    continue
                kept.insert(ids.index(before), (item, (doc, at, level.name)))
            else:
                kept.append((item, (doc, at, level.name)))
        self._forget(path)
        self.origins[path] = (doc, src, level.name)
        for i, (_, origin) in enumerate(kept):
            self.origins[(*path, i)] = origin
        return [item for item, _ in kept]

    def _locked(self, doc: SourceDoc, at: PathKey, name: str, origin: Origin, verb: str) -> None:
        self.problems.append(
            doc.problem(
                at,
                "LEVEL-LOCKED",
                f"'{name}' 由{origin[2]}锁定（locked: true，{_where(origin, 'locked')}），"
                f"本级不能{verb}",
            )
        )


def _where(origin: Origin, key: str | None = None) -> str:
    doc, src, _ = origin
    return f"{doc.path}:{doc.where((*src, key) if key else src)[0]}"


def merge_docs(
    layers: list[tuple[Level, SourceDoc, Path]], *, layered: bool = True
) -> tuple[SourceDoc, list[Problem]]:
    """The document of one file over the levels that have it (top first), and the merge's
    problems. Outside a chain of levels (``layered`` false) the one file is returned as read."""
    level, first, _ = layers[0]
    if len(layers) == 1 and not layered:
        return first, []
    merger = _Merger(first, level)
    for level, doc, _ in layers[1:]:
        if isinstance(doc.data, dict):
            merger.layer(doc, level)
    last = layers[-1][1]
    merged = LayeredDoc(
        last.path,
        merger.data,
        origins=merger.origins,
        sources=merger.lookup.sources,
        files=[p for _, _, p in layers],
        replaced=merger.replaced,
        removed=merger.removed,
    )
    return merged, merger.problems


def level_counts(sources: dict[str, SourceDoc], level: str) -> tuple[int, int, int]:
    """How many items a level added, replaced and removed over all the files."""
    added = replaced = removed = 0
    for doc in sources.values():
        if not isinstance(doc, LayeredDoc):
            continue
        removed += len(doc.removed.get(level, ()))
        for _, ident, _, item_level, _ in resolved_items(doc):
            if item_level == level:
                if ident in doc.replaced:
                    replaced += 1
                else:
                    added += 1
    return added, replaced, removed


def resolved_items(doc: SourceDoc) -> list[tuple[str, str, str, str, str]]:
    """Every item with an id of a (resolved) file: list key, id, title, level, ``file:line``."""
    out = []
    data = doc.data if isinstance(doc.data, dict) else {}
    for key, value in data.items():
        if not _id_list(value):
            continue
        for i, item in enumerate(value):
            if isinstance(doc, LayeredDoc):
                where_doc, src, level = doc.origin((key, i))
            else:
                where_doc, src, level = doc, (key, i), ""
            title = str(item.get("title") or item.get("name") or "")
            line = where_doc.where((*src, "id"))[0]
            out.append((key, str(item["id"]), title, level, f"{where_doc.path}:{line}"))
    return out
