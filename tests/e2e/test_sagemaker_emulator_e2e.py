"""The SageMaker emulator inside the embedded cloud: real LocalStack S3 and Logs, the project's real
trainer and model server behind the built-in image-classification image URI, plain boto3."""

from __future__ import annotations

import base64
import io
import json
import urllib.request
import uuid

import pytest
from PIL import Image

from harness.targets.registry import target_for

pytestmark = pytest.mark.e2e

IMAGE_URI = "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
WAIT = {"Delay": 0.5, "MaxAttempts": 600}


def png(rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), rgb).save(out, format="PNG")
    return out.getvalue()


def test_train_deploy_invoke_capture_on_the_embedded_cloud(embedded_cloud):
    target = target_for(embedded_cloud)
    s3, sm, smr = target.client("s3"), target.client("sagemaker"), target.client("sagemaker-runtime")
    logs = target.client("logs")
    bucket = f"sm-e2e-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    for split, count in (("train", 8), ("test", 4)):
        lines = []
        for i in range(count):
            label = i % 2
            s3.put_object(
                Bucket=bucket, Key=f"{split}/img_{i}.png", Body=png((200, 20, 20) if label else (20, 20, 200))
            )
            lines.append(f"{i}\t{label}\t{split}/img_{i}.png\n")
        s3.put_object(Bucket=bucket, Key=f"{split}.lst", Body="".join(lines).encode())

    def channel(name: str, key: str) -> dict:
        return {
            "ChannelName": name,
            "ContentType": "application/x-image",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{key}"}},
        }

    job = f"e2e-job-{uuid.uuid4().hex[:8]}"
    sm.create_training_job(
        TrainingJobName=job,
        RoleArn="arn:aws:iam::000000000000:role/sagemaker",
        AlgorithmSpecification={"TrainingImage": IMAGE_URI, "TrainingInputMode": "File"},
        HyperParameters={
            "num_classes": "2",
            "num_training_samples": "8",
            "image_shape": "3,32,32",
            "epochs": "1",
            "mini_batch_size": "4",
        },
        InputDataConfig=[
            channel("train", "train/"),
            channel("validation", "test/"),
            channel("train_lst", "train.lst"),
            channel("validation_lst", "test.lst"),
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    sm.get_waiter("training_job_completed_or_stopped").wait(TrainingJobName=job, WaiterConfig=WAIT)
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{bucket}/models/{job}/output/model.tar.gz"
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=job)
    assert streams["logStreams"], "the trainer's output should be in CloudWatch Logs"
    # The built-in's metrics (AWS: "Tune an Image Classification Model"), read from the trainer's log.
    final = {m["MetricName"] for m in described["FinalMetricDataList"]}
    assert final == {"train:accuracy", "validation:accuracy"}

    endpoint = f"e2e-ep-{uuid.uuid4().hex[:8]}"
    sm.create_model(
        ModelName=endpoint,
        PrimaryContainer={"Image": IMAGE_URI, "ModelDataUrl": artifact},
        ExecutionRoleArn="arn:aws:iam::000000000000:role/sagemaker",
    )
    sm.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": endpoint,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.xlarge",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{bucket}/data_capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    try:
        sm.get_waiter("endpoint_in_service").wait(EndpointName=endpoint, WaiterConfig=WAIT)
        body = png((200, 20, 20))
        resp = smr.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="image/png")
        probs = json.loads(resp["Body"].read())
        assert len(probs) == 2 and abs(sum(probs) - 1) < 1e-3

        flush = urllib.request.Request(
            target.endpoint_url("sagemaker") + "/_emulator/capture/flush", method="POST"
        )
        urllib.request.urlopen(flush, timeout=60).read()
        keys = [
            o["Key"]
            for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"data_capture/{endpoint}/AllTraffic/").get(
                "Contents", []
            )
        ]
        assert len(keys) == 1
        record = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
        assert base64.b64decode(record["captureData"]["endpointInput"]["data"]) == body
        assert record["captureData"]["endpointInput"]["encoding"] == "BASE64"
        assert json.loads(record["captureData"]["endpointOutput"]["data"]) == probs
        assert record["captureData"]["endpointOutput"]["encoding"] == "JSON"

        # Batch transform of the test images with the same model ("Use batch transform": one
        # <name>.out per input object): each prediction is the endpoint's for the same image.
        transform = f"e2e-tf-{uuid.uuid4().hex[:8]}"
        sm.create_transform_job(
            TransformJobName=transform,
            ModelName=endpoint,
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/test/"}},
                "ContentType": "image/png",
            },
            TransformOutput={"S3OutputPath": f"s3://{bucket}/transform", "Accept": "application/json"},
            TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        )
        sm.get_waiter("transform_job_completed_or_stopped").wait(
            TransformJobName=transform, WaiterConfig=WAIT
        )
        done = sm.describe_transform_job(TransformJobName=transform)
        assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
        outs = s3.list_objects_v2(Bucket=bucket, Prefix="transform/")["Contents"]
        assert sorted(o["Key"] for o in outs) == [f"transform/img_{i}.png.out" for i in range(4)]
        for i in range(4):
            image = s3.get_object(Bucket=bucket, Key=f"test/img_{i}.png")["Body"].read()
            answer = smr.invoke_endpoint(EndpointName=endpoint, Body=image, ContentType="image/png")
            expected = json.loads(answer["Body"].read())
            got = json.loads(s3.get_object(Bucket=bucket, Key=f"transform/img_{i}.png.out")["Body"].read())
            assert got == pytest.approx(expected, abs=1e-6)
    finally:
        sm.delete_endpoint(EndpointName=endpoint)
        sm.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig=WAIT)
