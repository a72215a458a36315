"""``harness doctor``: can this target run the workflow?

Each target's own module says how to check it (:meth:`~harness.targets.base.Target.checks`: the embedded
or compose cloud's health, or on aws the account's credentials, bucket, role and quotas); this adds the
training image the run would use. The cost of a run on a billing target is :mod:`harness.cost`.
"""

from __future__ import annotations

from harness import model
from harness.checks import FAIL, INFO, Check
from harness.targets.base import Target


def run_checks(target: Target, create_role: bool = False) -> list[Check]:
    """The target's own checks, plus the training image it would use (unless the target checked it)."""
    try:
        image_check = Check("training image", INFO, model.image_uri(target.settings))
    except ValueError as exc:
        image_check = Check("training image", FAIL, str(exc), "choose a listed region or algorithm 'image'")
    checks = target.checks(create_role=create_role)
    if not any(c.name == "training image" for c in checks):
        checks.append(image_check)
    return checks
