"""A pytest plugin: scenario files become test items.

Installed with the package (entry point ``pytest11``), so ``pytest`` collects every ``*.yaml``
under a folder named ``scenarios`` and every ``*.scenario.yaml`` file, runs it with
:func:`kernel.tools.scenarios.run_scenario`, and reports the mismatches as the failure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernel.tools.scenarios import ScenarioInvalid, run_scenario


class ScenarioFailed(Exception):
    """A scenario's expectations were not met."""


class ScenarioItem(pytest.Item):
    """One scenario file."""

    def runtest(self) -> None:
        try:
            result = run_scenario(self.path)
        except ScenarioInvalid as exc:
            raise ScenarioFailed(
                "场景文件无效：\n" + "\n".join(str(p) for p in exc.problems)
            ) from None
        if not result.passed:
            raise ScenarioFailed(f"{result.note}\n{result.diff()}")

    def repr_failure(self, excinfo: Any, style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"scenario: {self.path.name}"


class ScenarioFile(pytest.File):
    """A YAML scenario file."""

    def collect(self) -> list[pytest.Item]:
        return [ScenarioItem.from_parent(self, name=self.path.stem)]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect scenario files."""
    if file_path.suffix != ".yaml":
        return None
    if file_path.name.endswith(".scenario.yaml") or file_path.parent.name == "scenarios":
        return ScenarioFile.from_parent(parent, path=file_path)
    return None
