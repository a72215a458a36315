"""SageMaker's state-change events, sent to EventBridge as SageMaker sends them.

SageMaker puts ``SageMaker Training Job State Change`` and ``SageMaker Endpoint State Change`` events
on the account's default event bus (source ``aws.sagemaker``), so rules can react to a finished job
(redeploy) or an endpoint going InService. The ``detail`` follows AWS's documented examples: the
training job's description (timestamps in epoch milliseconds, ``Tags``), the endpoint's name, ARN,
config, variants and status. The endpoint example in AWS's documentation spells the status
``IN_SERVICE`` (not DescribeEndpoint's ``InService``); the emulator does the same (docs/parity.md).

Sending never blocks or fails a state change: entries go to a queue that one daemon thread drains with
PutEvents (AWS_ENDPOINT_URL decides where, as for every other call of the emulator); a failed send is
logged and dropped. ``SAGEMAKER_EMULATOR_EVENTS=0`` turns it off.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import re
import threading
from typing import Any

LOG = logging.getLogger(__name__)
SOURCE = "aws.sagemaker"
TRAINING_DETAIL_TYPE = "SageMaker Training Job State Change"
ENDPOINT_DETAIL_TYPE = "SageMaker Endpoint State Change"
TRAINING_FIELDS = (
    "TrainingJobName",
    "TrainingJobArn",
    "TrainingJobStatus",
    "SecondaryStatus",
    "FailureReason",
    "HyperParameters",
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "ModelArtifacts",
    "CreationTime",
    "TrainingStartTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "SecondaryStatusTransitions",
)


def _millis(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: _millis(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_millis(v) for v in value]
    return value


def endpoint_status(status: str) -> str:
    """``InService`` -> ``IN_SERVICE``, as the endpoint event spells it."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", status).upper()


def entry(detail_type: str, arn: str, detail: dict[str, Any]) -> dict[str, Any]:
    """One PutEvents entry; EventBridge adds version, id, account, region and time."""
    return {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Resources": [arn],
        "Detail": json.dumps(_millis(detail)),
    }


def training_entry(description: dict[str, Any]) -> dict[str, Any]:
    """The event of a training job, from its DescribeTrainingJob response."""
    detail = {k: description[k] for k in TRAINING_FIELDS if description.get(k) is not None}
    detail["Tags"] = {}
    return entry(TRAINING_DETAIL_TYPE, description["TrainingJobArn"], detail)


def endpoint_entry(description: dict[str, Any]) -> dict[str, Any]:
    """The event of an endpoint, from its DescribeEndpoint response."""
    detail = {
        "EndpointName": description["EndpointName"],
        "EndpointArn": description["EndpointArn"],
        "EndpointConfigName": description["EndpointConfigName"],
        "ProductionVariants": description.get("ProductionVariants") or [],
        "EndpointStatus": endpoint_status(description["EndpointStatus"]),
        "CreationTime": description.get("CreationTime"),
        "LastModifiedTime": description.get("LastModifiedTime"),
        "Tags": {},
    }
    if description.get("FailureReason"):
        detail["FailureReason"] = description["FailureReason"]
    return entry(ENDPOINT_DETAIL_TYPE, description["EndpointArn"], detail)


class Emitter:
    """A queue drained by one daemon thread into PutEvents, so state changes never wait on EventBridge."""

    def __init__(self) -> None:
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return os.environ.get("SAGEMAKER_EMULATOR_EVENTS", "1") != "0"

    def publish(self, item: dict[str, Any]) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="eventbridge", daemon=True)
                self._thread.start()
        self._queue.put(item)

    def join(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far was sent (tests)."""
        done = threading.Event()
        self._queue.put({"_flush": done})
        done.wait(timeout)

    def _run(self) -> None:
        from sagemaker_emulator import aws  # boto3 only when events are sent

        client = aws.client("events")
        while True:
            item = self._queue.get()
            if "_flush" in item:
                item["_flush"].set()
                continue
            try:
                response = client.put_events(Entries=[item])
                if response.get("FailedEntryCount"):
                    LOG.warning("EventBridge refused %s: %s", item["DetailType"], response.get("Entries"))
                else:
                    self.sent += 1
            except Exception as exc:
                LOG.warning("could not send %s to EventBridge: %s", item["DetailType"], exc)


EMITTER = Emitter()


def training_changed(job: Any) -> None:
    """Called by TrainingJob on every status or secondary-status change."""
    EMITTER.publish(training_entry(job.describe()))


def endpoint_changed(endpoint: Any) -> None:
    """Called by Endpoint on every status change."""
    EMITTER.publish(endpoint_entry(endpoint.describe()))
