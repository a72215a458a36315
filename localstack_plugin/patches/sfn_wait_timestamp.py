"""A JSONata Wait's ``Timestamp`` read as AWS reads it: an ISO-8601 extended offset date-time.

LocalStack 4.9.2 checks a Wait's timestamp against ``YYYY-MM-DDTHH:MM:SS(.f)Z`` only and, when the
value (a JSONata expression's result) does not match, ends the execution straight away with
``States.Runtime`` and its JSONPath wording ("The Timestamp parameter does not reference a valid ...").
AWS (recorded in LocalStack's AWS-validated snapshot ``test_base_scenarios.snapshot.json``,
``test_wait_timestamp_jsonata[NO_T|NO_Z|INVALID_DATE|INVALID_TIME|INVALID_ISO]``) records an
``EvaluationFailed`` event (``States.QueryEvaluationError``, location ``Timestamp``) and then
``ExecutionFailed``, both caused "The Timestamp field cannot be parsed as an ISO-8601 extended offset
date-time format string: <value>". AWS also accepts what Java's ``ISO_OFFSET_DATE_TIME`` accepts:
any offset (``+09:00``), no seconds (``21:29Z``), up to nine fraction digits, lower-case ``t``/``z``.

This hook wraps ``Timestamp._get_wait_seconds`` for JSONata timestamps only (JSONPath ones keep
LocalStack's behaviour). Registered as a ``localstack.hooks.on_infra_start`` hook in this package's
pyproject.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version
from localstack_plugin.patches.sfn_jsonata import query_evaluation_failure

REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.asl.component.state.state_wait.wait_function.timestamp",
        "Timestamp._get_wait_seconds",
        "(self, env: localstack.services.stepfunctions.asl.eval.environment.Environment) -> int",
    ),
)

_OFFSET_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2})(?::(\d{2}))?)"
)
CAUSE = "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: "


def parse_offset_date_time(value: Any) -> datetime.datetime | None:
    """``value`` as an aware datetime, or None where Java's ``ISO_OFFSET_DATE_TIME`` would refuse it."""
    if not isinstance(value, str):
        return None
    match = _OFFSET_DATE_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m, off_s = match.groups()
    try:
        offset = datetime.timedelta(0)
        if not zulu:
            offset = datetime.timedelta(hours=int(off_h), minutes=int(off_m), seconds=int(off_s or 0))
            if offset > datetime.timedelta(hours=18) or int(off_m) > 59 or int(off_s or 0) > 59:
                return None
            offset = -offset if sign == "-" else offset
        micros = int((fraction or "0").ljust(9, "0")[:6])
        return datetime.datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            micros,
            tzinfo=datetime.timezone(offset),
        )
    except ValueError:  # month 13, day 30 of February, hour 25, ...
        return None


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _jsonata_wait_seconds(original: Any) -> Any:
    from localstack.services.stepfunctions.asl.component.common.string.string_expression import (
        StringJSONata,
    )

    def _get_wait_seconds(self: Any, env: Any) -> int:
        if not isinstance(self.string, StringJSONata):
            return original(self, env)
        self.string.eval(env=env)
        value = env.stack.pop()
        moment = parse_offset_date_time(value)
        if moment is None:
            raise query_evaluation_failure(env, CAUSE + _shown(value), location="Timestamp")
        now = datetime.datetime.now(datetime.UTC)
        return int((moment - now).total_seconds())

    _get_wait_seconds.__wrapped__ = original  # type: ignore[attr-defined]
    return _get_wait_seconds


@hooks.on_infra_start()
def jsonata_wait_timestamps() -> None:
    require_localstack_version("sfn_wait_timestamp")
    from localstack.services.stepfunctions.asl.component.state.state_wait.wait_function import timestamp

    timestamp.Timestamp._get_wait_seconds = _jsonata_wait_seconds(timestamp.Timestamp._get_wait_seconds)
    applied("sfn_wait_timestamp")
