"""The event types AWS Step Functions records for this project's state machine, in order.

For ``arn:aws:states:::lambda:invoke`` tasks AWS records, per attempt, ``TaskScheduled``,
``TaskStarted`` and then ``TaskSucceeded``, ``TaskFailed`` or ``TaskTimedOut``; a state is entered once
(``TaskStateEntered``) however many attempts its Retry makes, and exited (``TaskStateExited``) only when
it succeeds. An uncaught failure goes straight to ``ExecutionFailed`` (no ``TaskStateExited``); a
caught one exits the state and enters the Catch's next state. The legacy ``LambdaFunction*`` events
belong to tasks whose Resource is a function ARN, not to this one.
"""

from __future__ import annotations

ATTEMPT = ["TaskScheduled", "TaskStarted"]
FAILED_ATTEMPT = [*ATTEMPT, "TaskFailed"]


def succeeded_task(failed_attempts: int = 0) -> list[str]:
    """A task that succeeds after ``failed_attempts`` retried failures."""
    return [
        "TaskStateEntered",
        *FAILED_ATTEMPT * failed_attempts,
        *ATTEMPT,
        "TaskSucceeded",
        "TaskStateExited",
    ]


def failed_task(attempts: int = 1, last: str = "TaskFailed") -> list[str]:
    """A task whose every attempt fails (``last`` is the final attempt's event)."""
    return ["TaskStateEntered", *FAILED_ATTEMPT * (attempts - 1), *ATTEMPT, last]


# The four tasks: serialize, classify, filter, write the result.
SUCCEEDED = ["ExecutionStarted", *succeeded_task() * 4, "ExecutionSucceeded"]
# The published 3-task definitions (tests/e2e/definitions/): serialize, classify, filter.
ORIGINAL_SUCCEEDED = ["ExecutionStarted", *succeeded_task() * 3, "ExecutionSucceeded"]
# The filter's ThresholdConfidenceNotMet is caught: the state is exited, the low-confidence result is
# written, and the Fail state ends the execution with the filter's error and cause.
LOW_CONFIDENCE = [
    "ExecutionStarted",
    *succeeded_task() * 2,
    *failed_task(),
    "TaskStateExited",
    *succeeded_task(),
    "FailStateEntered",
    "ExecutionFailed",
]
FAILED_IN_FILTER = ["ExecutionStarted", *succeeded_task() * 2, *failed_task(), "ExecutionFailed"]
FAILED_IN_SERIALIZER = ["ExecutionStarted", *failed_task(), "ExecutionFailed"]
