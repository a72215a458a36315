"""Start Step Functions executions over the staged test images and summarise how they ended.

Executions are started and polled from a small thread pool (``concurrency``
at a time) because each one is a few hundred milliseconds of waiting on the
service; the summary is a pandas DataFrame with one row per execution, so the
figures (success rate, failures by error name, accuracy, latency percentiles)
are one expression each.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.cifar import CLASS_NAMES

Steps = Callable[[int, int], None]
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def list_test_images(s3: Any, bucket: str, data_prefix: str) -> list[str]:
    """Keys of the staged test images: prefix ``test/`` (never ``test``, which also matches test.lst)."""
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{data_prefix}test/"):
        keys += [o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".png")]
    return sorted(keys)


def true_labels(s3: Any, bucket: str, data_prefix: str) -> dict[str, int]:
    """Test image key -> class, from the staged ``test.lst`` (paths there are relative to ``test/``)."""
    try:
        text = s3.get_object(Bucket=bucket, Key=f"{data_prefix}test.lst")["Body"].read().decode()
    except s3.exceptions.NoSuchKey:
        return {}
    labels = {}
    for line in text.splitlines():
        _, label, path = line.split("\t")
        labels[f"{data_prefix}test/{path}"] = int(float(label))
    return labels


@dataclass
class ExecutionResult:
    key: str
    status: str
    error: str | None
    cause: str | None
    inferences: list[float] | None
    latency_ms: float


def run_one(sfn: Any, state_machine_arn: str, bucket: str, key: str, poll_s: float = 0.05) -> ExecutionResult:
    """Start one execution for ``s3://bucket/key`` and wait for it to end."""
    payload = {"image_data": "", "s3_bucket": bucket, "s3_key": key}
    name = f"{key.rsplit('/', 1)[-1].replace('.', '-')[:40]}-{uuid.uuid4().hex[:12]}"
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))[
        "executionArn"
    ]
    while True:
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] in TERMINAL:
            break
        time.sleep(poll_s)
        poll_s = min(poll_s * 1.5, 1.0)
    latency = (desc["stopDate"] - desc["startDate"]).total_seconds() * 1000
    inferences = None
    if desc["status"] == "SUCCEEDED":
        output = json.loads(desc.get("output") or "{}")
        inferences = output.get("body", {}).get("inferences")
    return ExecutionResult(key, desc["status"], desc.get("error"), desc.get("cause"), inferences, latency)


def run_executions(
    sfn: Any,
    state_machine_arn: str,
    bucket: str,
    keys: list[str],
    concurrency: int = 8,
    progress: Steps | None = None,
) -> list[ExecutionResult]:
    results: list[ExecutionResult] = []
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        futures = [pool.submit(run_one, sfn, state_machine_arn, bucket, key) for key in keys]
        for future in futures:
            results.append(future.result())
            if progress:
                progress(len(results), len(keys))
    return results


def summarise(results: list[ExecutionResult], labels: dict[str, int]) -> dict[str, Any]:
    """Counts by outcome and error name, accuracy of the passed predictions, latency percentiles."""
    df = pd.DataFrame([r.__dict__ for r in results])
    if df.empty:
        return {"executions": 0}
    df["label"] = df["key"].map(labels)
    df["predicted"] = df["inferences"].map(
        lambda p: int(max(range(len(p)), key=p.__getitem__)) if p else None
    )
    passed = df[df["status"] == "SUCCEEDED"]
    known = passed.dropna(subset=["label"])
    failed = df[df["status"] != "SUCCEEDED"]
    return {
        "executions": len(df),
        "succeeded": len(passed),
        "failed": len(failed),
        "failed_by_error": {str(k): int(v) for k, v in failed["error"].fillna("?").value_counts().items()},
        "accuracy_of_passed": float((known["predicted"] == known["label"]).mean()) if len(known) else None,
        "predicted": {CLASS_NAMES[int(k)]: int(v) for k, v in passed["predicted"].value_counts().items()},
        "latency_ms_p50": float(df["latency_ms"].quantile(0.5)),
        "latency_ms_p95": float(df["latency_ms"].quantile(0.95)),
    }
