"""Lambda on the embedded cloud: real LocalStack, the local executor plugin, real boto3 calls."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.config
import pytest

from harness.config import Settings
from harness.targets.registry import target_for
from tests.support.lambda_zip import deploy

pytestmark = pytest.mark.e2e

ECHO = """
import os

INIT_PID = os.urandom(8).hex()  # one per environment (in its own PID namespace every runtime is PID 1)
CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    print("echo handler got", event.get("n"))
    return {
        "n": event.get("n"),
        "calls": CALLS,
        "pid": INIT_PID,
        "greeting": os.environ["GREETING"],
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "log_group": context.log_group_name,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
"""

FAILING = """
class InventoryMissing(Exception):
    pass

def handler(event, context):
    print("about to fail")
    raise InventoryMissing(f"no scones left for {event['who']}")
"""

SLOW = """
import time

CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    print("sleeping", event["sleep"])
    time.sleep(event["sleep"])
    return {"calls": CALLS}
"""

RAW_BYTES = """
def handler(event, context):
    return b'"raw body"'
"""

S3_COPY = """
import boto3

def handler(event, context):
    s3 = boto3.client("s3")  # no endpoint here: AWS_ENDPOINT_URL is injected by the runtime
    body = s3.get_object(Bucket=event["bucket"], Key=event["source"])["Body"].read()
    s3.put_object(Bucket=event["bucket"], Key=event["target"], Body=body.upper())
    return {"copied": len(body)}
"""

SQUARE = """
import time

def handler(event, context):
    time.sleep(0.2)  # keeps invocations overlapping, so LocalStack runs several environments at once
    return {"n": event["n"], "square": event["n"] ** 2, "request_id": context.aws_request_id}
"""


def _invoke(lam: Any, name: str, event: dict[str, Any], **kwargs: Any) -> tuple[dict[str, Any], Any]:
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), **kwargs)
    return response, json.loads(response["Payload"].read())


@pytest.fixture(scope="module")
def lam(embedded_cloud: Settings) -> Any:
    return target_for(embedded_cloud).client("lambda")


def test_success_with_env_context_and_warm_reuse(lam: Any) -> None:
    name = deploy(lam, ECHO, prefix="echo", timeout=7, env={"GREETING": "hello scones"})

    first, body = _invoke(lam, name, {"n": 1})
    second, again = _invoke(lam, name, {"n": 2}, LogType="Tail")

    assert "FunctionError" not in first and first["StatusCode"] == 200
    assert body["n"] == 1 and body["greeting"] == "hello scones"
    assert body["function_name"] == name and body["memory"] == "128"
    assert body["arn"].endswith(f":function:{name}")
    assert body["log_group"] == f"/aws/lambda/{name}"
    assert 0 < body["remaining_ms"] <= 7000
    assert again["calls"] == 2 and again["pid"] == body["pid"], "the warm invocation reused the process"
    assert again["request_id"] != body["request_id"]
    tail = base64.b64decode(second["LogResult"]).decode()
    assert f"START RequestId: {again['request_id']}" in tail
    assert "echo handler got 2" in tail
    assert f"END RequestId: {again['request_id']}" in tail


def test_unhandled_error_reports_exception_class(lam: Any) -> None:
    name = deploy(lam, FAILING, prefix="failing")

    response, body = _invoke(lam, name, {"who": "Ada"}, LogType="Tail")

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "InventoryMissing"
    assert body["errorMessage"] == "no scones left for Ada"
    assert any("raise InventoryMissing" in frame for frame in body["stackTrace"])
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "about to fail" in tail and "InventoryMissing" in tail


def test_timeout_kills_the_process_and_the_next_call_starts_fresh(lam: Any) -> None:
    name = deploy(lam, SLOW, prefix="slow", timeout=1)

    started = time.monotonic()
    response, body = _invoke(lam, name, {"sleep": 5}, LogType="Tail")
    elapsed = time.monotonic() - started

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in base64.b64decode(response["LogResult"]).decode()
    assert elapsed < 4.5, "the invocation ended at the timeout, not when the handler would have"
    _, after = _invoke(lam, name, {"sleep": 0})
    assert after == {"calls": 1}, "a timed-out environment is re-initialised"


def test_bytes_result_is_returned_as_is(lam: Any) -> None:
    name = deploy(lam, RAW_BYTES, prefix="raw")

    response = lam.invoke(FunctionName=name, Payload=b"{}")

    assert "FunctionError" not in response
    assert response["Payload"].read() == b'"raw body"'


def test_logs_reach_cloudwatch(embedded_cloud: Settings, lam: Any) -> None:
    name = deploy(lam, ECHO, prefix="logged", env={"GREETING": "hi"})
    _, body = _invoke(lam, name, {"n": 42})
    logs = target_for(embedded_cloud).client("logs")

    messages: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("echo handler got 42" in m for m in messages):
        time.sleep(0.2)
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            continue
        messages = [event["message"] for event in events]

    assert any("echo handler got 42" in m for m in messages)
    assert any(m.startswith(f"REPORT RequestId: {body['request_id']}") for m in messages)


def test_handler_uses_s3_through_the_injected_endpoint(embedded_cloud: Settings, lam: Any) -> None:
    s3 = target_for(embedded_cloud).client("s3")
    bucket = "e2e-lambda-s3"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in/scone.txt", Body=b"clotted cream")
    name = deploy(lam, S3_COPY, prefix="s3copy")

    response, body = _invoke(
        lam, name, {"bucket": bucket, "source": "in/scone.txt", "target": "out/scone.txt"}
    )

    assert "FunctionError" not in response, body
    assert body == {"copied": 13}
    assert s3.get_object(Bucket=bucket, Key="out/scone.txt")["Body"].read() == b"CLOTTED CREAM"


def test_fifty_concurrent_invocations_each_get_their_own_result(embedded_cloud: Settings) -> None:
    config = botocore.config.Config(max_pool_connections=50, read_timeout=120, retries={"max_attempts": 0})
    lam = target_for(embedded_cloud).client("lambda", config=config)
    name = deploy(lam, SQUARE, prefix="square")

    def call(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
        return _invoke(lam, name, {"n": n})

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, range(50)))

    assert all("FunctionError" not in response for response, _ in results), [b for _, b in results]
    assert [body["n"] for _, body in results] == list(range(50))
    assert [body["square"] for _, body in results] == [n * n for n in range(50)]
    assert len({body["request_id"] for _, body in results}) == 50


PID = """
import os, time

ENVIRONMENT = os.urandom(8).hex()  # one per environment: every runtime is PID 1 of its own namespace

def handler(event, context):
    time.sleep(0.5)  # every invocation overlaps every other: uncapped, each would get its own environment
    return {"pid": ENVIRONMENT, "n": event["n"]}
"""


def test_invocations_beyond_the_environment_cap_wait_and_all_succeed(embedded_cloud: Settings) -> None:
    """HARNESS_LAMBDA_MAX_ENVIRONMENTS (localstack_plugin/patches/lambda_environment_cap.py): 3 x cap
    invocations at once get at most cap environments (a soft cap: a race may start one or two more),
    and every one of them succeeds."""
    cap = embedded_cloud.lambda_max_environments
    if cap == 0 or cap > 8:
        pytest.skip(f"lambda_max_environments={cap}; this test needs a cap of 1-8 (tox sets 4)")
    calls = 3 * cap
    config = botocore.config.Config(max_pool_connections=calls, read_timeout=120, retries={"max_attempts": 0})
    lam = target_for(embedded_cloud).client("lambda", config=config)
    name = deploy(lam, PID, prefix="capped")
    with ThreadPoolExecutor(max_workers=calls) as pool:
        results = list(pool.map(lambda n: _invoke(lam, name, {"n": n}), range(calls)))
    assert all("FunctionError" not in response for response, _ in results), [b for _, b in results]
    assert [body["n"] for _, body in results] == list(range(calls))
    environments = {body["pid"] for _, body in results}
    assert len(environments) <= cap + 2, f"{len(environments)} environments for a cap of {cap}"
