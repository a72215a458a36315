"""Which resources the harness created: a tag on each, checked before ``deploy`` changes or ``down`` deletes.

Functions named ``classifier`` or ``filter`` are common; in a real account one may belong to someone
else. ``harness deploy`` tags every role, function and state machine it creates with
``scones-harness=managed``; a same-named resource without that tag is an :class:`OwnershipError`
(nothing is changed) unless the caller adopts it (``harness deploy --adopt``), which tags it and from
then on treats it as the harness's. ``harness down`` deletes only tagged resources and reports the
others as left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TAG_KEY = "scones-harness"
TAG_VALUE = "managed"

Log = Callable[[str], None]


class OwnershipError(RuntimeError):
    """A resource with one of the harness's names exists but was not created by the harness."""


def iam_tags() -> list[dict[str, str]]:
    return [{"Key": TAG_KEY, "Value": TAG_VALUE}]


def lambda_tags() -> dict[str, str]:
    return {TAG_KEY: TAG_VALUE}


def sfn_tags() -> list[dict[str, str]]:
    return [{"key": TAG_KEY, "value": TAG_VALUE}]


def role_owned(role: dict[str, Any]) -> bool:
    """``role`` as GetRole returns it (its ``Tags`` included)."""
    return any(t.get("Key") == TAG_KEY and t.get("Value") == TAG_VALUE for t in role.get("Tags") or [])


def function_owned(function: dict[str, Any]) -> bool:
    """``function`` as GetFunction returns it (its ``Tags`` included)."""
    return (function.get("Tags") or {}).get(TAG_KEY) == TAG_VALUE


def state_machine_owned(sfn: Any, arn: str) -> bool:
    tags = sfn.list_tags_for_resource(resourceArn=arn).get("tags") or []
    return any(t.get("key") == TAG_KEY and t.get("value") == TAG_VALUE for t in tags)


def claim(kind: str, name: str, owned: bool, adopt: bool, tag: Callable[[], Any], log: Log) -> None:
    """Refuse to touch someone else's ``kind`` ``name``, or tag it as ours when adopting."""
    if owned:
        return
    if not adopt:
        raise OwnershipError(
            f"{kind} {name!r} already exists and was not created by the harness (it has no "
            f"{TAG_KEY}={TAG_VALUE} tag); nothing was changed. Use another name, delete it, or run "
            "'harness deploy --adopt' to let the harness update it (and delete it on 'harness down')"
        )
    tag()
    log(f"adopted {kind} {name} (tagged {TAG_KEY}={TAG_VALUE})")
