"""Identity-policy evaluation as AWS does it (same account): explicit Deny > Allow > implicit deny.

moto's evaluator (``moto/iam/access_control.py``) was the first candidate, but it does not know
``NotResource``, it treats a failed condition in an *Allow* statement as an explicit deny, and it
compares actions case-sensitively; AWS does none of that. This module covers the grammar the
workflow's and users' identity policies use: ``Effect``, ``Action``/``NotAction`` (case-insensitive),
``Resource``/``NotResource`` (``*`` and ``?`` wildcards), and the condition operators ``String*``,
``Arn*``, ``Bool``, ``Null``, ``Numeric*`` with ``IfExists`` and the ``ForAnyValue``/``ForAllValues``
set qualifiers. Not evaluated (docs/parity.md): resource-based policies (bucket policies), permission
boundaries, session policies, SCPs, and policy variables such as ``${aws:username}``.

Standard library only, so it is unit-tested without LocalStack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

ALLOW, DENY, IMPLICIT = "allow", "explicit-deny", "implicit-deny"


@dataclass(frozen=True)
class Decision:
    """The outcome and, for a deny, the statement's ``Sid`` (when it has one)."""

    result: str
    sid: str | None = None

    @property
    def allowed(self) -> bool:
        return self.result == ALLOW


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def matches(pattern: str, value: str, ignore_case: bool = False) -> bool:
    return _pattern(pattern, ignore_case).match(value) is not None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def parse(document: str | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The statements of a policy document (a JSON string, URL-decoded, or a dict)."""
    doc = json.loads(document) if isinstance(document, str) else document
    return [s for s in _as_list(doc.get("Statement")) if isinstance(s, Mapping)]


def _action_applies(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(matches(p, action, True) for p in _as_list(statement["NotAction"]))
    return any(matches(p, action, True) for p in _as_list(statement.get("Action")))


def _resource_applies(statement: Mapping[str, Any], resources: Sequence[str]) -> bool:
    if "NotResource" in statement:
        excluded = _as_list(statement["NotResource"])
        return any(not any(matches(p, r) for p in excluded) for r in resources)
    patterns = _as_list(statement.get("Resource"))
    return any(matches(p, r) for p in patterns for r in resources)


def _compare(op: str, wanted: str, actual: str) -> bool:
    if op.startswith("String"):
        ignore = "IgnoreCase" in op
        if "Like" in op:
            return matches(wanted, actual, ignore)
        return wanted.lower() == actual.lower() if ignore else wanted == actual
    if op.startswith("Arn"):
        return matches(wanted, actual)
    if op == "Bool":
        return str(wanted).lower() == str(actual).lower()
    if op.startswith("Numeric"):
        try:
            a, w = float(actual), float(wanted)
        except ValueError:
            return False
        base = op.replace("Numeric", "")
        return {
            "Equals": a == w,
            "NotEquals": a != w,
            "LessThan": a < w,
            "LessThanEquals": a <= w,
            "GreaterThan": a > w,
            "GreaterThanEquals": a >= w,
        }.get(base, False)
    raise ValueError(f"condition operator {op!r} is not supported by the local IAM evaluator")


def _condition_holds(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    qualifier, _, op = operator.partition(":") if ":" in operator else ("", "", operator)
    if_exists = op.endswith("IfExists")
    op = op.removesuffix("IfExists")
    actual = context.get(key)
    if op == "Null":
        return (actual is None) == (str(wanted).lower() == "true")
    if actual is None:
        return if_exists or qualifier == "ForAllValues"
    negated = "Not" in op
    positive = op.replace("Not", "", 1) if negated else op
    values = [str(v) for v in _as_list(actual)]
    wanted_values = [str(w) for w in _as_list(wanted)]

    def one(value: str) -> bool:
        hit = any(_compare(positive, w, value) for w in wanted_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def _conditions_hold(statement: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    for operator, clauses in (statement.get("Condition") or {}).items():
        for key, wanted in clauses.items():
            if not _condition_holds(operator, key, wanted, context):
                return False
    return True


def evaluate(
    policies: Iterable[str | Mapping[str, Any]],
    action: str,
    resources: Sequence[str],
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """Whether identity ``policies`` allow ``action`` on every one of ``resources``.

    A request naming several resources (CopyObject's source and target are separate checks) is
    evaluated per resource by the caller; here ``resources`` are alternatives of one resource.
    """
    context = context or {}
    allowed: Decision | None = None
    for document in policies:
        for statement in parse(document):
            if not _action_applies(statement, action) or not _resource_applies(statement, resources):
                continue
            if not _conditions_hold(statement, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(DENY, statement.get("Sid"))
            if statement.get("Effect") == "Allow" and allowed is None:
                allowed = Decision(ALLOW, statement.get("Sid"))
    return allowed or Decision(IMPLICIT)
