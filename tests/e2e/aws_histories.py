"""The event types AWS Step Functions records for this project's state machine, in order.

For ``arn:aws:states:::lambda:invoke`` tasks AWS records, per attempt, ``TaskScheduled``,
``TaskStarted`` and then ``TaskSucceeded``, ``TaskFailed`` or ``TaskTimedOut``; a state is entered once
(``TaskStateEntered``) however many attempts its Retry makes, and exited (``TaskStateExited``) only when
it succeeds. An uncaught failure goes straight to ``ExecutionFailed`` (no ``TaskStateExited``). The
legacy ``LambdaFunction*`` events belong to tasks whose Resource is a function ARN, not to this one.
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


SUCCEEDED = ["ExecutionStarted", *succeeded_task() * 3, "ExecutionSucceeded"]
FAILED_IN_FILTER = ["ExecutionStarted", *succeeded_task() * 2, *failed_task(), "ExecutionFailed"]
FAILED_IN_SERIALIZER = ["ExecutionStarted", *failed_task(), "ExecutionFailed"]
