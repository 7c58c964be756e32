"""A pytest plugin: scenario files become test items, in projects that ask for it.

Installed with the package (entry point ``pytest11``), but it collects nothing until the project
names its scenario folders in its pytest configuration::

    [tool.pytest.ini_options]
    huhang_scenarios = ["tests/scenarios"]

Then every ``*.yaml`` below those folders is run with
:func:`kernel.tools.scenarios.run_scenario`, and the mismatches are reported as the failure.
Other projects that merely have Huhang installed see no change in what pytest collects.
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


INI_NAME = "huhang_scenarios"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the opt-in: the folders whose YAML files are scenarios."""
    parser.addini(
        INI_NAME,
        type="paths",
        default=[],
        help="Huhang scenario folders (relative to the configuration file); none: collect nothing",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """Collect the YAML files below the configured scenario folders."""
    if file_path.suffix != ".yaml":
        return None
    folders = [Path(p).resolve() for p in parent.config.getini(INI_NAME)]
    path = file_path.resolve()
    if any(path.is_relative_to(folder) for folder in folders):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None
