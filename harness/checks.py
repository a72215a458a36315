"""One line of ``harness doctor``'s report; every target's health checks return these."""

from __future__ import annotations

from dataclasses import dataclass

OK, WARN, FAIL, INFO = "ok", "warn", "fail", "info"


@dataclass
class Check:
    """One check; ``hint`` says what to do when it is not ``ok``."""

    name: str
    status: str
    detail: str
    hint: str = ""
