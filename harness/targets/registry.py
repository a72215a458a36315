"""The targets by name: adding a target is its own module plus one line in :data:`TARGETS`.

:func:`target_for` is called once per command, where it starts (``harness/commands``, the pytest plugin,
tests and benchmarks); everything below takes the target it is handed.
"""

from __future__ import annotations

from harness.config import Settings
from harness.targets.aws import AwsTarget
from harness.targets.base import Target, TargetError
from harness.targets.compose import LocalStackTarget
from harness.targets.local import LocalTarget

TARGETS: dict[str, type[Target]] = {
    LocalTarget.name: LocalTarget,
    LocalStackTarget.name: LocalStackTarget,
    AwsTarget.name: AwsTarget,
}


def target_for(settings: Settings) -> Target:
    """Build the :class:`~harness.targets.base.Target` that ``settings.target`` names."""
    cls = TARGETS.get(settings.target)
    if cls is None:
        raise TargetError(f"unknown target {settings.target!r}: one of {', '.join(TARGETS)}")
    return cls.from_settings(settings)
