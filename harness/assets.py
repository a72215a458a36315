"""Where the workflow's deployable assets live: ``lambdas/`` and ``statemachine/``.

They stay at the repository's top level, where an AWS user looks for them and from where they deploy
unchanged, and are installed as package data of ``scones_workflow`` (see pyproject.toml), so the same
lookup works from a checkout, an editable install and a wheel.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path


@cache
def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the package data {name!r} is not installed; reinstall scones-harness")
    return Path(next(iter(spec.submodule_search_locations)))


def lambdas_dir() -> Path:
    """The folder holding one sub-folder per Lambda function."""
    return _package_dir("scones_workflow.lambdas")


def statemachine_dir() -> Path:
    """The folder holding the Amazon States Language definitions."""
    return _package_dir("scones_workflow.statemachine")
