"""Small modules with one job: no module of the shipped packages over about 450 lines."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LIMIT = 450
PACKAGES = ("harness", "lambdas", "training", "sagemaker_emulator", "localstack_plugin")


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_the_limit(package: str) -> None:
    sizes = {p: len(p.read_text().splitlines()) for p in (REPO / package).rglob("*.py")}
    over = {str(p.relative_to(REPO)): n for p, n in sizes.items() if n > LIMIT}
    assert sizes and over == {}, f"split these by job (limit {LIMIT} lines): {over}"
