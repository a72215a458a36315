"""Batch transform against the running emulator, with plain boto3 and the SageMaker Python SDK v2.

AWS behaviour asserted here comes from the SageMaker Developer Guide, "Use batch transform to run
inference with Amazon SageMaker AI" (output object ``<input name>.out`` under S3OutputPath, SplitType,
BatchStrategy, AssembleWith) and "Associate prediction results with input records" (InputFilter,
JoinSource, OutputFilter), and the API reference of CreateTransformJob / DescribeTransformJob.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError
from botocore.validate import ParamValidator

from tests.unit.emulator.support import REGION, ROLE, TEST_IMAGE, put_model, unique

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(40))


def make_model(sm: Any, s3: Any, bucket: str, env: dict[str, str] | None = None) -> str:
    name = unique("tf-model")
    container = {
        "Image": TEST_IMAGE,
        "ModelDataUrl": put_model(s3, bucket, "v-batch"),
        "Environment": env or {},
    }
    sm.create_model(ModelName=name, PrimaryContainer=container, ExecutionRoleArn=ROLE)
    return name


def transform(sm: Any, model: str, src: str, out: str, wait: bool = True, **extra: Any) -> dict[str, Any]:
    name = unique("tf-job")
    inputs = {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": src}}}
    inputs.update(extra.pop("TransformInput", {}))
    sm.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        TransformInput=inputs,
        TransformOutput={"S3OutputPath": out, **extra.pop("TransformOutput", {})},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        **extra,
    )
    if wait:
        with contextlib.suppress(WaiterError):  # the waiter fails on Failed; callers check the status
            sm.get_waiter("transform_job_completed_or_stopped").wait(
                TransformJobName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
            )
    return sm.describe_transform_job(TransformJobName=name)


def read(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_one_out_object_per_input_equal_to_the_endpoints_answer(sm, smr, s3, bucket):
    # "Use batch transform": each input object's results are stored as <name>.out under S3OutputPath,
    # keeping the key's path below the input prefix.
    prefix = unique("tf-png")
    images = {f"{prefix}/in/img-{i}.png": PNG + bytes([i]) for i in range(3)}
    images[f"{prefix}/in/sub/deep.png"] = PNG + b"deep"
    for key, body in images.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    model = make_model(sm, s3, bucket)
    job = transform(
        sm,
        model,
        f"s3://{bucket}/{prefix}/in/",
        f"s3://{bucket}/{prefix}/out",
        TransformInput={"ContentType": "image/png"},
        TransformOutput={"Accept": "application/json"},
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformInput"]["SplitType"] == "None"  # the documented default, filled in
    for op, response in (("DescribeTransformJob", job), ("ListTransformJobs", sm.list_transform_jobs())):
        shape = sm.meta.service_model.operation_model(op).output_shape
        body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        report = ParamValidator().validate(body, shape)  # botocore's own output shape, required members too
        assert not report.has_errors(), report.generate_report()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/out/")["Contents"])
    assert keys == sorted(k.replace("/in/", "/out/") + ".out" for k in images)

    endpoint = unique("tf-ep")
    config = unique("tf-cfg")
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    try:
        for key, body in images.items():
            answer = smr.invoke_endpoint(
                EndpointName=endpoint, Body=body, ContentType="image/png", Accept="application/json"
            )["Body"].read()
            assert read(s3, bucket, key.replace("/in/", "/out/") + ".out") == answer
            assert json.loads(answer)["content_type"] == "image/png"
    finally:
        sm.delete_endpoint(EndpointName=endpoint)


def test_line_split_single_and_multi_record_and_assemble_with(sm, s3, bucket):
    prefix = unique("tf-lines")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/in/data.txt", Body=b"aa\nbbb\n\ncccc\n")
    model = make_model(sm, s3, bucket)
    src, echo = f"s3://{bucket}/{prefix}/in/", {"Accept": "application/octet-stream"}
    single = transform(
        sm,
        model,
        src,
        f"s3://{bucket}/{prefix}/single",
        BatchStrategy="SingleRecord",
        TransformInput={"SplitType": "Line", "ContentType": "text/plain"},
        TransformOutput={**echo, "AssembleWith": "Line"},
    )
    assert single["TransformJobStatus"] == "Completed", single.get("FailureReason")
    # SingleRecord: one request per line; AssembleWith Line ends each output with a newline.
    assert read(s3, bucket, f"{prefix}/single/data.txt.out") == b"aa\nbbb\ncccc\n"
    multi = transform(
        sm,
        model,
        src,
        f"s3://{bucket}/{prefix}/multi",
        BatchStrategy="MultiRecord",
        MaxPayloadInMB=1,
        TransformInput={"SplitType": "Line", "ContentType": "text/plain"},
        TransformOutput=echo,
    )
    assert multi["TransformJobStatus"] == "Completed", multi.get("FailureReason")
    # MultiRecord: the records of one request are sent together (one echo of all three lines).
    assert read(s3, bucket, f"{prefix}/multi/data.txt.out") == b"aa\nbbb\ncccc"
    transform(sm, model, src, f"s3://{bucket}/{prefix}/none", TransformOutput=echo)
    assert read(s3, bucket, f"{prefix}/none/data.txt.out") == b"aa\nbbb\n\ncccc\n"  # SplitType None: whole


def test_data_processing_filters_and_join(sm, s3, bucket):
    # "Associate prediction results with input records": InputFilter selects what the model gets,
    # JoinSource=Input adds the output to a JSON object as SageMakerOutput, OutputFilter picks the result.
    prefix = unique("tf-join")
    rows = [{"id": 1, "features": "xyz"}, {"id": 2, "features": "pq"}]
    s3.put_object(
        Bucket=bucket, Key=f"{prefix}/in/rows.jsonl", Body="\n".join(json.dumps(r) for r in rows).encode()
    )
    model = make_model(sm, s3, bucket)
    job = transform(
        sm,
        model,
        f"s3://{bucket}/{prefix}/in/",
        f"s3://{bucket}/{prefix}/out",
        BatchStrategy="MultiRecord",
        TransformInput={"SplitType": "Line", "ContentType": "application/jsonlines"},
        TransformOutput={"Accept": "application/jsonlines", "AssembleWith": "Line"},
        DataProcessing={"InputFilter": "$..features"},
    )
    assert (
        job["TransformJobStatus"] == "Failed"
    )  # recursive descent is outside the emulator's JSONPath subset
    assert "JSONPath expression '$..features' is not supported" in job["FailureReason"]
    job = transform(
        sm,
        model,
        f"s3://{bucket}/{prefix}/in/",
        f"s3://{bucket}/{prefix}/out",
        BatchStrategy="MultiRecord",
        TransformInput={"SplitType": "Line", "ContentType": "application/jsonlines"},
        TransformOutput={"Accept": "application/jsonlines", "AssembleWith": "Line"},
        DataProcessing={"InputFilter": "$.features", "JoinSource": "Input"},
    )
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    lines = read(s3, bucket, f"{prefix}/out/rows.jsonl.out").decode().splitlines()
    # The model saw only the features ('"xyz"' is 5 characters as JSON), the output keeps the whole input.
    assert [json.loads(line) for line in lines] == [
        {"id": 1, "features": "xyz", "SageMakerOutput": {"length": 5}},
        {"id": 2, "features": "pq", "SageMakerOutput": {"length": 4}},
    ]
    picked = transform(
        sm,
        model,
        f"s3://{bucket}/{prefix}/in/",
        f"s3://{bucket}/{prefix}/picked",
        BatchStrategy="SingleRecord",
        TransformInput={"SplitType": "Line", "ContentType": "application/jsonlines"},
        TransformOutput={"Accept": "application/jsonlines", "AssembleWith": "Line"},
        DataProcessing={"JoinSource": "Input", "OutputFilter": "$['id','SageMakerOutput']"},
    )
    assert picked["TransformJobStatus"] == "Completed", picked.get("FailureReason")
    lines = read(s3, bucket, f"{prefix}/picked/rows.jsonl.out").decode().splitlines()
    assert [json.loads(line) for line in lines] == [
        [1, {"length": 28}],
        [2, {"length": 27}],
    ]  # whole input lines


def test_failures_name_their_cause(sm, s3, bucket):
    prefix = unique("tf-fail")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/in/a.bin", Body=b"boom")
    s3.put_object(Bucket=bucket, Key=f"{prefix}/big/a.txt", Body=b"x" * (1024 * 1024 + 10))
    model = make_model(sm, s3, bucket)
    failed = transform(sm, model, f"s3://{bucket}/{prefix}/in/", f"s3://{bucket}/{prefix}/out")
    assert failed["TransformJobStatus"] == "Failed"
    assert failed["FailureReason"].startswith("AlgorithmError: Bad HTTP status received from algorithm: 500")
    big = transform(
        sm, model, f"s3://{bucket}/{prefix}/big/", f"s3://{bucket}/{prefix}/out2", MaxPayloadInMB=1
    )
    assert big["TransformJobStatus"] == "Failed"
    assert "Too much data for max payload size" in big["FailureReason"]
    empty = transform(sm, model, f"s3://{bucket}/{prefix}/nothing/", f"s3://{bucket}/{prefix}/out3")
    assert empty["FailureReason"].startswith("ClientError: No S3 objects found under S3 URL")

    with pytest.raises(ClientError) as missing:
        transform(sm, "no-such-model", f"s3://{bucket}/{prefix}/in/", f"s3://{bucket}/x", wait=False)
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    # botocore's model: BatchStrategy is an enum (SingleRecord | MultiRecord)
    with pytest.raises(ClientError) as bad:
        sm.create_transform_job(
            TransformJobName=unique("tf-bad"),
            ModelName=model,
            BatchStrategy="Everything",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://b/x"}}},
            TransformOutput={"S3OutputPath": "s3://b/y"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    assert (
        "Member must satisfy enum value set: [MultiRecord, SingleRecord]"
        in bad.value.response["Error"]["Message"]
    )


def test_stop_describe_and_list(sm, s3, bucket):
    prefix = unique("tf-stop")
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/in/{i}.txt", Body=b"slow")
    model = make_model(sm, s3, bucket, env={"SERVER_DELAY": "1"})
    job = transform(sm, model, f"s3://{bucket}/{prefix}/in/", f"s3://{bucket}/{prefix}/out", wait=False)
    name = job["TransformJobName"]
    assert job["TransformJobStatus"] == "InProgress"
    sm.stop_transform_job(TransformJobName=name)
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] in ("Stopping", "Stopped")
    sm.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 200}
    )
    assert sm.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "Stopped"
    with pytest.raises(ClientError) as again:
        sm.stop_transform_job(TransformJobName=name)
    assert "status Stopped" in again.value.response["Error"]["Message"]
    listed = sm.list_transform_jobs(NameContains=name)["TransformJobSummaries"]
    assert [(s["TransformJobName"], s["TransformJobStatus"]) for s in listed] == [(name, "Stopped")]
    assert sm.list_transform_jobs(StatusEquals="Stopped", NameContains=name)["TransformJobSummaries"]


def test_a_job_running_when_the_emulator_is_killed_fails_and_its_server_is_stopped(
    emulator_factory, s3, bucket
):
    emu = emulator_factory("--ping-timeout", "5")
    sm = emu.client("sagemaker")
    prefix = unique("tf-kill")
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/in/{i}.txt", Body=b"slow")
    model = make_model(sm, s3, bucket, env={"SERVER_DELAY": "5"})
    name = transform(sm, model, f"s3://{bucket}/{prefix}/in/", f"s3://{bucket}/{prefix}/out", wait=False)[
        "TransformJobName"
    ]
    record = emu.state_dir / "resources" / "transform-jobs" / f"{name}.json"
    deadline = time.monotonic() + 30
    while not (record.exists() and json.loads(record.read_text()).get("pid")) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = json.loads(record.read_text())["pid"]["pid"]
    emu.stop(signal.SIGKILL)
    emu.start()
    job = sm.describe_transform_job(TransformJobName=name)
    assert job["TransformJobStatus"] == "Failed"
    assert "the emulator stopped while this job ran" in job["FailureReason"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker Python SDK v2 is a dev dependency")


def test_sdk_v2_transformer(monkeypatch, moto_url, sm, smr, s3, bucket):
    from sagemaker.transformer import Transformer

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    boto_session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    session = sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=sm,
        sagemaker_runtime_client=smr,
        default_bucket=bucket,
        sagemaker_config=config,
    )
    prefix = unique("tf-sdk")
    for i in range(2):
        s3.put_object(Bucket=bucket, Key=f"{prefix}/in/{i}.png", Body=PNG + bytes([i]))
    model = make_model(sm, s3, bucket)
    transformer = Transformer(
        model_name=model,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/{prefix}/out",
        accept="application/json",
        sagemaker_session=session,
    )
    started = time.monotonic()
    transformer.transform(data=f"s3://{bucket}/{prefix}/in/", content_type="image/png", wait=True)
    assert time.monotonic() - started < 60
    described = sm.describe_transform_job(TransformJobName=transformer.latest_transform_job.name)
    assert described["TransformJobStatus"] == "Completed"
    for i in range(2):
        answer = json.loads(read(s3, bucket, f"{prefix}/out/{i}.png.out"))
        assert answer["content_type"] == "image/png" and answer["model"] == "v-batch"
