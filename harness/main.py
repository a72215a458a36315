"""The ``harness`` console script: the app of :mod:`harness.cli` with every command module registered.

A module of its own so that imports run one way: the command modules import :mod:`harness.cli` (the app,
its errors and console), and only this module imports both.
"""

from __future__ import annotations

from harness import commands  # noqa: F401  (each command module registers itself on app)
from harness.cli import app

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
