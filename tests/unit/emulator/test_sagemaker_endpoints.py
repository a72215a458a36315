"""Models, endpoint configs, endpoints and InvokeEndpoint through the emulator with plain boto3."""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, WaiterError

from tests.unit.emulator.support import ROLE, TEST_IMAGE, deploy, put_model, unique

FAST = {"Delay": 0.1, "MaxAttempts": 300}


def error_of(info: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    return info.value.response["Error"]


def server_pids(state_dir, endpoint: str) -> list[int]:
    record = json.loads((state_dir / "resources" / "endpoints" / f"{endpoint}.json").read_text())
    return [s["pid"] for s in record["servers"]]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def test_endpoint_lifecycle_and_invoke(sm, smr, s3, bucket, emulator):
    name = unique("ep")
    model_url = put_model(s3, bucket, "v1")
    config = deploy(sm, name, model_url)

    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointStatus"] == "InService"
    assert ep["EndpointConfigName"] == config
    assert ep["EndpointArn"] == f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name}"
    (variant,) = ep["ProductionVariants"]
    assert variant["VariantName"] == "AllTraffic"
    assert variant["DeployedImages"][0]["SpecifiedImage"] == TEST_IMAGE
    assert variant["CurrentInstanceCount"] == 1
    assert "DataCaptureConfig" not in ep

    resp = smr.invoke_endpoint(
        EndpointName=name,
        Body=b'{"x": 1}',
        ContentType="application/json",
        Accept="application/json",
        CustomAttributes="trace=abc",
        InferenceId="inference-1",
    )
    assert resp["ContentType"] == "application/json"
    assert resp["InvokedProductionVariant"] == "AllTraffic"
    assert resp["CustomAttributes"] == "echo:trace=abc"
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    body = json.loads(resp["Body"].read())
    assert body == {
        "model": "v1",
        "echo": '{"x": 1}',
        "content_type": "application/json",
        "accept": "application/json",
    }

    csv = smr.invoke_endpoint(EndpointName=name, Body=b"1,2", ContentType="text/csv", Accept="text/csv")
    assert csv["ContentType"].startswith("text/csv")
    assert csv["Body"].read() == b"0.25,0.75"

    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError) as info:
        sm.describe_endpoint(EndpointName=name)
    assert error_of(info)["Code"] == "ValidationException"
    assert error_of(info)["Message"] == f'Could not find endpoint "{ep["EndpointArn"]}".'
    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(EndpointName=name, Body=b"{}")
    assert error_of(info) == {
        "Code": "ValidationError",
        "Message": f"Endpoint {name} of account 000000000000 not found.",
    }


def test_delete_endpoint_stops_the_model_server(sm, smr, s3, bucket, emulator):
    name = unique("ep-del")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    (pid,) = server_pids(emulator.state_dir, name)
    assert pid_alive(pid)
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST)
    assert not pid_alive(pid)
    assert not (emulator.state_dir / "endpoints" / name).exists()


def test_model_errors_and_payload_limit(sm, smr, s3, bucket):
    name = unique("ep-err")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(EndpointName=name, Body=b"boom", ContentType="application/json")
    err = info.value.response
    assert err["Error"]["Code"] == "ModelError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert err["OriginalStatusCode"] == 500
    assert err["OriginalMessage"] == "the model exploded"
    assert err["Error"]["Message"].startswith(
        'Received server error (500) from primary with message "the model'
    )
    assert err["LogStreamArn"].endswith(f":log-group:/aws/sagemaker/Endpoints/{name}")

    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(EndpointName=name, Body=b"bad", ContentType="application/json")
    assert info.value.response["OriginalStatusCode"] == 400
    assert "Received client error (400)" in error_of(info)["Message"]

    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(
            EndpointName=name, Body=b"x" * (6 * 1024 * 1024 + 1), ContentType="application/json"
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert error_of(info)["Message"] == "HTTP content length exceeded 6291456 bytes."

    # the emulator and the endpoint keep serving after all of that
    ok = smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    assert json.loads(ok["Body"].read())["model"] == "v1"
    sm.delete_endpoint(EndpointName=name)


def test_model_data_gone_after_create_model_fails_the_endpoint(sm, smr, s3, bucket, monkeypatch):
    # CreateModel checks that the data is there (test_create_time_validation.py); data deleted after
    # that fails the endpoint when it is downloaded, as on AWS.
    name = unique("ep-nodata")
    url = put_model(s3, bucket, "gone")
    create_model = sm.create_model

    def create_then_delete(**kwargs: Any) -> Any:
        answer = create_model(**kwargs)
        s3.delete_object(Bucket=bucket, Key=url.split("/", 3)[3])
        return answer

    monkeypatch.setattr(sm, "create_model", create_then_delete)
    with pytest.raises(WaiterError) as info:
        deploy(sm, name, url)
    assert "Failed" in str(info.value)
    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointStatus"] == "Failed"
    assert "Failed to download model data" in ep["FailureReason"]
    assert url.split("/", 3)[3] in ep["FailureReason"]
    with pytest.raises(ClientError) as err:
        smr.invoke_endpoint(EndpointName=name, Body=b"{}")
    assert error_of(err)["Code"] == "ValidationError"
    assert "not in service (status Failed)" in error_of(err)["Message"]
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("exit", "exited with code 3"), ("noping", "no 200 from /ping within 5 s")],
)
def test_a_server_that_never_gets_healthy_fails_the_endpoint(sm, s3, bucket, mode, expected):
    name = unique(f"ep-{mode}")
    with pytest.raises(WaiterError):
        deploy(sm, name, put_model(s3, bucket, "v1"), env={"SERVER_MODE": mode})
    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointStatus"] == "Failed"
    assert "did not pass the ping health check" in ep["FailureReason"]
    assert expected in ep["FailureReason"]
    if mode == "exit":
        assert "SERVER_MODE=exit" in ep["FailureReason"]  # the server's last log line
    sm.delete_endpoint(EndpointName=name)


def test_update_endpoint_swaps_models_without_a_failed_request(sm, smr, s3, bucket, emulator):
    name = unique("ep-upd")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    (old_pid,) = server_pids(emulator.state_dir, name)
    new_config = unique("cfg-v2")
    model = unique("model-v2")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": TEST_IMAGE, "ModelDataUrl": put_model(s3, bucket, "v2")},
        ExecutionRoleArn=ROLE,
    )
    sm.create_endpoint_config(
        EndpointConfigName=new_config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )

    stop = threading.Event()
    seen: list[str] = []
    failures: list[Exception] = []

    def hammer() -> None:
        while not stop.is_set():
            try:
                resp = smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
                seen.append(json.loads(resp["Body"].read())["model"])
            except Exception as exc:
                failures.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        sm.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
        assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
        with pytest.raises(ClientError) as info:
            sm.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
        assert "Cannot update in-progress endpoint" in error_of(info)["Message"]
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    assert seen[0] == "v1" and seen[-1] == "v2"
    assert set(seen) == {"v1", "v2"}
    assert seen.index("v2") > 0 and "v1" not in seen[seen.index("v2") + 8 :]  # no flapping back (4 threads)
    assert sm.describe_endpoint(EndpointName=name)["EndpointConfigName"] == new_config
    deadline = time.monotonic() + 10
    while pid_alive(old_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not pid_alive(old_pid)
    sm.delete_endpoint(EndpointName=name)


def test_a_failed_update_keeps_the_old_deployment_serving(sm, smr, s3, bucket):
    name = unique("ep-updfail")
    deploy(sm, name, put_model(s3, bucket, "v1"))
    model = unique("model-broken")
    broken = f"broken/{model}/model.tar.gz"  # there (CreateModel checks that), but not an archive
    s3.put_object(Bucket=bucket, Key=broken, Body=b"not a tar.gz")
    sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": TEST_IMAGE, "ModelDataUrl": f"s3://{bucket}/{broken}"},
        ExecutionRoleArn=ROLE,
    )
    config = unique("cfg-broken")
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
    sm.update_endpoint(EndpointName=name, EndpointConfigName=config)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    ep = sm.describe_endpoint(EndpointName=name)
    assert ep["EndpointConfigName"] != config
    assert "Failed to extract model data archive" in ep["FailureReason"]
    resp = smr.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    assert json.loads(resp["Body"].read())["model"] == "v1"
    sm.delete_endpoint(EndpointName=name)


def test_target_variant_routes_between_production_variants(sm, smr, s3, bucket):
    name = unique("ep-2var")
    deploy(sm, name, put_model(s3, bucket, "v1"), variants=[("Blue", 1.0), ("Green", 1.0)])
    for variant in ("Blue", "Green"):
        resp = smr.invoke_endpoint(EndpointName=name, Body=b"{}", TargetVariant=variant)
        assert resp["InvokedProductionVariant"] == variant
    assert {
        smr.invoke_endpoint(EndpointName=name, Body=b"{}")["InvokedProductionVariant"] for _ in range(40)
    } == {
        "Blue",
        "Green",
    }
    with pytest.raises(ClientError) as info:
        smr.invoke_endpoint(EndpointName=name, Body=b"{}", TargetVariant="Purple")
    assert error_of(info)["Code"] == "ValidationError"
    sm.delete_endpoint(EndpointName=name)


def test_model_and_endpoint_config_operations(sm, s3, bucket):
    model = unique("model")
    arn = sm.create_model(
        ModelName=model,
        PrimaryContainer={"Image": TEST_IMAGE, "Environment": {"A": "1"}},
        ExecutionRoleArn=ROLE,
    )["ModelArn"]
    described = sm.describe_model(ModelName=model)
    assert described["ModelArn"] == arn
    assert described["PrimaryContainer"] == {"Image": TEST_IMAGE, "Environment": {"A": "1"}}
    with pytest.raises(ClientError) as info:
        sm.create_model(ModelName=model, PrimaryContainer={"Image": TEST_IMAGE}, ExecutionRoleArn=ROLE)
    assert error_of(info) == {
        "Code": "ValidationException",
        "Message": f'Cannot create already existing model "{arn}".',
    }

    config = unique("config")
    with pytest.raises(ClientError) as info:
        sm.create_endpoint_config(
            EndpointConfigName=config,
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "no-such-model"}],
        )
    assert error_of(info)["Message"].startswith('Could not find model "arn:aws:sagemaker:')
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 50,
        "DestinationS3Uri": f"s3://{bucket}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }
    sm.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ],
        DataCaptureConfig=capture,
    )
    described = sm.describe_endpoint_config(EndpointConfigName=config)
    assert described["DataCaptureConfig"] == capture
    assert described["ProductionVariants"][0]["ModelName"] == model

    with pytest.raises(ClientError) as info:
        sm.create_endpoint(EndpointName=unique("ep"), EndpointConfigName="no-such-config")
    assert error_of(info)["Message"].startswith('Could not find endpoint configuration "arn:aws:sagemaker:')
    with pytest.raises(ClientError) as info:
        sm.create_endpoint(EndpointName="not_valid", EndpointConfigName=config)
    assert "Member must satisfy regular expression pattern" in error_of(info)["Message"]
    with pytest.raises(ClientError) as info:
        sm.create_endpoint_config(
            EndpointConfigName=unique("cfg"),
            ProductionVariants=[{"VariantName": "A", "ModelName": model}],
            DataCaptureConfig={**capture, "InitialSamplingPercentage": 101},
        )
    assert "Member must have value less than or equal to 100" in error_of(info)["Message"]

    sm.delete_endpoint_config(EndpointConfigName=config)
    with pytest.raises(ClientError):
        sm.describe_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName=model)
    with pytest.raises(ClientError) as info:
        sm.delete_model(ModelName=model)
    assert error_of(info)["Code"] == "ValidationException"


def test_list_endpoints_and_tags(sm, s3, bucket):
    tag = unique("lst")
    names = [f"{tag}-{i}" for i in range(3)]
    url = put_model(s3, bucket, "v1")
    for n in names:
        deploy(sm, n, url, wait=False)
    for n in names:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=n, WaiterConfig=FAST)
    listed = sm.list_endpoints(NameContains=tag, SortBy="Name", SortOrder="Ascending")["Endpoints"]
    assert [e["EndpointName"] for e in listed] == names
    assert {e["EndpointStatus"] for e in listed} == {"InService"}
    pages = list(
        sm.get_paginator("list_endpoints").paginate(NameContains=tag, PaginationConfig={"PageSize": 2})
    )
    assert [len(p["Endpoints"]) for p in pages] == [2, 1]
    arn = listed[0]["EndpointArn"]
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "team", "Value": "ml"}])
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    for n in names:
        sm.delete_endpoint(EndpointName=n)
    for n in names:
        sm.get_waiter("endpoint_deleted").wait(EndpointName=n, WaiterConfig=FAST)
    assert sm.list_endpoints(NameContains=tag)["Endpoints"] == []


def test_concurrent_invocations(sm, smr, s3, bucket):
    name = unique("ep-conc")
    deploy(sm, name, put_model(s3, bucket, "v1"))

    def call(i: int) -> str:
        resp = smr.invoke_endpoint(EndpointName=name, Body=str(i).encode(), ContentType="text/plain")
        return json.loads(resp["Body"].read())["echo"]

    with ThreadPoolExecutor(16) as pool:
        assert sorted(pool.map(call, range(200)), key=int) == [str(i) for i in range(200)]
    sm.delete_endpoint(EndpointName=name)


def test_endpoint_limit_is_resource_limit_exceeded(emulator_factory, s3, bucket):
    emu = emulator_factory("--max-endpoints", "1")
    client = emu.client("sagemaker")
    deploy(client, unique("only"), put_model(s3, bucket, "v1"), wait=False)
    with pytest.raises(ClientError) as info:
        deploy(client, unique("second"), put_model(s3, bucket, "v1"), wait=False)
    assert error_of(info)["Code"] == "ResourceLimitExceeded"


def test_state_survives_a_restart_and_endpoints_come_back(emulator_factory, s3, bucket):
    emu = emulator_factory("--capture-flush-seconds", "0.2")
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    name = unique("ep-restart")
    deploy(client, name, put_model(s3, bucket, "v7"))
    (pid,) = server_pids(emu.state_dir, name)
    model_names = [m["ModelName"] for m in client.list_models()["Models"]]

    emu.restart()
    assert not pid_alive(pid)  # the old server went down with the emulator
    client, runtime = emu.client("sagemaker"), emu.client("sagemaker-runtime")
    assert client.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    resp = runtime.invoke_endpoint(EndpointName=name, Body=b"{}", ContentType="application/json")
    assert json.loads(resp["Body"].read())["model"] == "v7"
    assert [m["ModelName"] for m in client.list_models()["Models"]] == model_names
    (new_pid,) = server_pids(emu.state_dir, name)
    assert new_pid != pid and pid_alive(new_pid)

    emu.stop()
    assert not pid_alive(new_pid)
