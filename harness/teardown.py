"""Delete what a run left behind: endpoint, endpoint configs, models, state machine, functions, data.

On AWS an InService endpoint bills by the hour whether or not anything calls it, so
``harness down --target aws`` (and ``harness run`` at its end) must be able to remove it,
and everything named after it, without knowing which run created what. Names are the
harness's own: the endpoint from the settings, models and endpoint configs whose names
start with the training-job prefix, the functions and state machine of
:mod:`harness.deploy`. Bucket data goes only when asked (``delete_data``): the staged data
and trained models cost cents and take minutes to recreate. IAM roles are left: they cost
nothing and are reused by the next deploy.

Every deletion tolerates "already gone", so teardown can run twice or after a half-finished
run. It uses only plain boto3 calls, so it works against any target. Functions and the state machine
are deleted only when they carry the harness's tag (:mod:`harness.ownership`): a same-named one of
someone else's is reported as left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from harness import names, ownership
from harness.aws_errors import is_not_found
from harness.config import Settings
from harness.names import JOB_PREFIX, PHOTO_RULE, PHOTO_TARGET_ID, PIPELINE_STATE_MACHINE
from harness.targets.base import Target

# Model and endpoint-config names start with the training job's name (names.model_name), whichever
# pipeline trained it: both name their jobs <JOB_PREFIX>... (names.PIPELINE_JOB_PREFIX).
MODEL_PREFIX = JOB_PREFIX

Log = Callable[[str], None]


@dataclass
class TeardownResult:
    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    not_ours: list[str] = field(default_factory=list)  # same-named, not created by the harness: kept


def gone(call: Callable[[], Any]) -> bool:
    """Run a delete; ``True`` when it deleted, ``False`` when the resource was already gone."""
    try:
        call()
        return True
    except ClientError as exc:
        if is_not_found(exc):
            return False
        raise


def delete_endpoint(sm: Any, name: str) -> bool:
    """Delete the endpoint (the only hourly-billed resource); ``False`` when there was none."""
    return gone(lambda: sm.delete_endpoint(EndpointName=name))


def _names(pages: Iterable[dict[str, Any]], key: str, name_key: str) -> list[str]:
    return [item[name_key] for page in pages for item in page.get(key, [])]


def teardown(target: Target, delete_data: bool = False, log: Log = lambda _m: None) -> TeardownResult:
    """Delete the run's resources on ``target`` (named from its settings); bucket data too when asked."""
    settings = target.settings
    session = target.session()
    sm, lam, sfn, s3 = (
        target.client(s, session=session) for s in ("sagemaker", "lambda", "stepfunctions", "s3")
    )
    result = TeardownResult()

    def record(what: str, deleted: bool) -> None:
        (result.deleted if deleted else result.missing).append(what)
        log(f"{'deleted' if deleted else 'not found'}: {what}")

    # The endpoint first: its config and model cannot be in use once it is gone.
    configs = set(
        _names(
            sm.get_paginator("list_endpoint_configs").paginate(NameContains=MODEL_PREFIX),
            "EndpointConfigs",
            "EndpointConfigName",
        )
    )
    try:
        current = sm.describe_endpoint(EndpointName=settings.endpoint_name)
        configs.add(current["EndpointConfigName"])
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    record(f"endpoint {settings.endpoint_name}", delete_endpoint(sm, settings.endpoint_name))
    models = set(
        _names(sm.get_paginator("list_models").paginate(NameContains=MODEL_PREFIX), "Models", "ModelName")
    )
    for config in sorted(configs):
        record(
            f"endpoint config {config}",
            gone(lambda c=config: sm.delete_endpoint_config(EndpointConfigName=c)),
        )
    for name in sorted(models):
        record(f"model {name}", gone(lambda n=name: sm.delete_model(ModelName=n)))

    def left_alone(what: str) -> None:
        result.not_ours.append(what)
        log(f"left alone: {what} (not created by the harness: no {ownership.TAG_KEY} tag)")

    # The photo rule first, so no upload starts an execution of a state machine about to go.
    ev = target.client("events", session=session)
    if gone(lambda: ev.remove_targets(Rule=PHOTO_RULE, Ids=[PHOTO_TARGET_ID])):
        record(f"rule {PHOTO_RULE}", gone(lambda: ev.delete_rule(Name=PHOTO_RULE)))
    else:
        record(f"rule {PHOTO_RULE}", False)
    for machine in (names.STATE_MACHINE, PIPELINE_STATE_MACHINE):
        machines = [
            m["stateMachineArn"]
            for page in sfn.get_paginator("list_state_machines").paginate()
            for m in page["stateMachines"]
            if m["name"] == machine
        ]
        for arn in machines:
            if not ownership.state_machine_owned(sfn, arn):
                left_alone(f"state machine {machine}")
                continue
            record(
                f"state machine {machine}", gone(lambda a=arn: sfn.delete_state_machine(stateMachineArn=a))
            )
        if not machines:
            record(f"state machine {machine}", False)
    for fn in names.FUNCTIONS:
        try:
            owned = ownership.function_owned(lam.get_function(FunctionName=fn))
        except ClientError as exc:
            if not is_not_found(exc):
                raise
            record(f"function {fn}", False)
            continue
        if not owned:
            left_alone(f"function {fn}")
            continue
        record(f"function {fn}", gone(lambda f=fn: lam.delete_function(FunctionName=f)))

    if delete_data:
        for prefix in data_prefixes(settings):
            count = _delete_prefix(s3, settings.bucket, prefix)
            record(f"s3://{settings.bucket}/{prefix} ({count} objects)", count > 0)
    return result


def data_prefixes(settings: Settings) -> list[str]:
    """What the harness writes to the bucket: staged data, trained models, data capture."""
    data = [settings.data_key(rel) for rel in ("train/", "test/", "train.lst", "test.lst")]
    return [*data, f"{settings.model_prefix}/", f"{settings.capture_prefix}/"]


def _delete_prefix(s3: Any, bucket: str, prefix: str) -> int:
    """Delete every object under ``prefix`` (1000 per request, the API's maximum); returns the count."""
    count = 0
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                count += len(keys)
    except ClientError as exc:
        if not is_not_found(exc):
            raise
    return count
