"""The SageMaker Python SDK v2, unmodified, against the emulator: what an existing notebook does.

The Session is built from the emulator's clients; S3 and CloudWatch Logs come from moto's server
through ``AWS_ENDPOINT_URL``, exactly as a notebook would be pointed at the embedded cloud.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from tests.unit.emulator.support import REGION, ROLE, TEST_IMAGE, unique

sagemaker = pytest.importorskip("sagemaker", reason="the SageMaker Python SDK v2 is a dev dependency")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch, moto_url: str, sm: Any, smr: Any, bucket: str) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    boto_session = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    # The SDK's telemetry would call an AWS bucket over the internet; a notebook can opt out the same way.
    config = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=sm,
        sagemaker_runtime_client=smr,
        default_bucket=bucket,
        sagemaker_config=config,
    )


def test_fit_deploy_predict_with_the_sdk(session, s3, sm, bucket, emulator):
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.model_monitor import DataCaptureConfig
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer

    s3.put_object(Bucket=bucket, Key="sdk/train/a.png", Body=b"png")
    s3.put_object(Bucket=bucket, Key="sdk/train.lst", Body=b"0\t0\ttrain/a.png\n")
    estimator = Estimator(
        image_uri=TEST_IMAGE,
        role=ROLE,
        instance_count=1,
        instance_type="ml.m5.large",
        output_path=f"s3://{bucket}/sdk-output",
        sagemaker_session=session,
        hyperparameters={"epochs": 1, "mode": "ok"},
    )
    job_name = unique("sdk-job")
    started = time.monotonic()
    estimator.fit(
        {"train": f"s3://{bucket}/sdk/train/", "train_lst": f"s3://{bucket}/sdk/train.lst"},
        job_name=job_name,
        wait=True,
        logs="All",
    )
    assert time.monotonic() - started < 60
    assert estimator.model_data == f"s3://{bucket}/sdk-output/{job_name}/output/model.tar.gz"
    attached = Estimator.attach(job_name, sagemaker_session=session)
    assert attached.model_data == estimator.model_data
    assert attached.hyperparameters()["mode"] == "ok"

    endpoint = unique("sdk-ep")
    estimator.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        endpoint_name=endpoint,
        wait=False,
        data_capture_config=DataCaptureConfig(
            enable_capture=True,
            sampling_percentage=100,
            destination_s3_uri=f"s3://{bucket}/sdk-capture",
            sagemaker_session=session,
        ),
    )
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    predictor = Predictor(
        endpoint, sagemaker_session=session, serializer=JSONSerializer(), deserializer=JSONDeserializer()
    )
    answer = predictor.predict({"pixels": [1, 2, 3]})
    assert answer["model"] is None  # the trained test model has no version.txt; the server says so
    assert json.loads(answer["echo"]) == {"pixels": [1, 2, 3]}
    assert answer["content_type"] == "application/json"
    emulator.flush_capture()
    (capture,) = s3.list_objects_v2(Bucket=bucket, Prefix=f"sdk-capture/{endpoint}/AllTraffic/")["Contents"]
    record = json.loads(s3.get_object(Bucket=bucket, Key=capture["Key"])["Body"].read())
    assert record["captureData"]["endpointInput"] == {
        "observedContentType": "application/json",
        "mode": "INPUT",
        "data": '{"pixels": [1, 2, 3]}',
        "encoding": "JSON",  # the SDK's DataCaptureConfig lists application/json as a JSON type
    }
    predictor.delete_endpoint(delete_endpoint_config=True)
    sm.get_waiter("endpoint_deleted").wait(
        EndpointName=endpoint, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
