"""Every folder of Python code ships in the wheel: pyproject.toml lists packages by hand, and a folder
missing there installs as nothing (harness/targets/ once did; the non-editable install then failed with
``No module named 'harness.targets'``, which only the slow tier saw)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("harness", "localstack_plugin", "sagemaker_emulator", "training")


def test_every_code_folder_is_a_listed_package() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(path.parent.relative_to(REPO).parts)
        for top in SHIPPED
        for path in (REPO / top).rglob("*.py")
        if "__pycache__" not in path.parts and "tests" not in path.parts
    }
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
