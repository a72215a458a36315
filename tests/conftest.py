"""Shared fixtures: small CIFAR tarballs and the path of the real mini dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cifar_fixtures import write_tarball

REPO_ROOT = Path(__file__).resolve().parent.parent
MINI_DATASET = REPO_ROOT.parent / "shared" / "data" / "cifar-100-mini.tar.gz"


@pytest.fixture
def small_tarball(tmp_path: Path) -> Path:
    """4 bicycles + 4 motorcycles (train), 2 + 2 (test), with distractor classes in between."""
    return write_tarball(tmp_path / "cifar-100-python.tar.gz")


@pytest.fixture
def mini_dataset() -> Path:
    if not MINI_DATASET.is_file():
        pytest.skip(
            f"real mini dataset not found at {MINI_DATASET} (it lives in the project's shared/ folder)"
        )
    return MINI_DATASET
