"""Shared fixtures: small CIFAR tarballs and the path of the real mini dataset."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from tests.support.cifar import write_tarball

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


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's in-process AWS with dummy credentials (and no profile that could point elsewhere)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield
