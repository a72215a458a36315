"""Load a function from lambdas/<name>/lambda_function.py the way the Lambda runtime does: by file."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from harness.names import FUNCTIONS  # noqa: F401 - the tests' list is the deployed one

LAMBDAS = Path(__file__).resolve().parents[2] / "lambdas"


def load_function(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"lambda_{name}", LAMBDAS / name / "lambda_function.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
