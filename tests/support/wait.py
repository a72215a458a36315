"""Wait for a readiness signal instead of sleeping a fixed time.

A fixed sleep is either too short on a loaded machine (a flaky test) or too long everywhere (a slow
one). :func:`wait_until` polls a condition with a deadline and says what it waited for when it fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """The condition did not hold before the deadline."""


def wait_until(condition: Callable[[], T], *, timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``condition`` until it returns something truthy (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def file_contains(path: object, text: str) -> Callable[[], bool]:
    """A condition: ``path`` exists and contains ``text``."""
    from pathlib import Path

    target = Path(str(path))
    return lambda: target.is_file() and text in target.read_text(errors="replace")
