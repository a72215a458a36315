"""The Scones Unlimited notebook on SageMaker Python SDK v3: ModelTrainer, ModelBuilder, Endpoint.invoke.

The same steps as ``scones_v2.py`` in v3's API: the built-in image-classification image, a
ModelTrainer with the four ``application/x-image`` channels, ModelBuilder deploying the artifact with
data capture, the endpoint's own ``invoke`` as the predictor, and the capture read back with the
SDK's S3Downloader and jsonlines. The environment comes from ``harness env`` only; the role is read
from it instead of ``get_execution_role()`` (see the README). Prints one JSON line.
"""

import json
import os
import time
import uuid

import boto3
import jsonlines
from sagemaker.core import image_uris
from sagemaker.core.helper.session_helper import Session
from sagemaker.core.model_monitor.data_capture_config import DataCaptureConfig
from sagemaker.core.s3 import S3Downloader
from sagemaker.serve.model_builder import ModelBuilder
from sagemaker.train.configs import Compute, InputData
from sagemaker.train.model_trainer import ModelTrainer

session = Session()
role = os.environ["SAGEMAKER_ROLE_ARN"]  # instead of get_execution_role()
bucket = session.default_bucket()
region = session.boto_region_name
algo_image = image_uris.retrieve("image-classification", region, version="latest")


def channel(name, key):
    return InputData(
        channel_name=name, data_source=f"s3://{bucket}/{key}", content_type="application/x-image"
    )


trainer = ModelTrainer(
    training_image=algo_image,
    role=role,
    sagemaker_session=session,
    compute=Compute(instance_type="ml.p3.2xlarge", instance_count=1),
    base_job_name="scones-v3",
    hyperparameters={
        "image_shape": "3,32,32",
        "num_classes": 2,
        "num_training_samples": int(os.environ.get("NUM_TRAINING_SAMPLES", "64")),
        "epochs": int(os.environ.get("EPOCHS", "3")),
        "mini_batch_size": 16,
    },
    input_data_config=[
        channel("train", "train/"),
        channel("validation", "test/"),
        channel("train_lst", "train.lst"),
        channel("validation_lst", "test.lst"),
    ],
)
trainer.train(wait=True, logs=False)
job = trainer._latest_training_job
model_data = job.model_artifacts.s3_model_artifacts

builder = ModelBuilder(
    image_uri=algo_image,
    s3_model_data_url=model_data,
    role_arn=role,
    sagemaker_session=session,
    instance_type="ml.m5.xlarge",
)
builder.build(model_name=f"scones-v3-{uuid.uuid4().hex[:8]}")
endpoint = builder.deploy(
    endpoint_name=f"scones-v3-{uuid.uuid4().hex[:8]}",
    initial_instance_count=1,
    instance_type="ml.m5.xlarge",
    data_capture_config=DataCaptureConfig(
        enable_capture=True,
        sampling_percentage=100,
        destination_s3_uri=f"s3://{bucket}/data_capture",
        sagemaker_session=session,
    ),
)

s3 = boto3.client("s3")
test_key = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="test/")["Contents"])[0]
payload = s3.get_object(Bucket=bucket, Key=test_key)["Body"].read()
response = endpoint.invoke(body=payload, content_type="image/png")
body = response.body.read() if hasattr(response.body, "read") else response.body
inference = json.loads(body)

capture_uri = f"s3://{bucket}/data_capture/{endpoint.endpoint_name}"
deadline = time.monotonic() + 120
while (
    not (data_path := S3Downloader.list(capture_uri, sagemaker_session=session))
    and time.monotonic() < deadline
):
    time.sleep(1)
local = "captured_data"
for path in data_path:
    S3Downloader.download(path, local, sagemaker_session=session)
records = []
for root, _dirs, files in os.walk(local):
    for name in files:
        with jsonlines.open(os.path.join(root, name)) as reader:
            records += [
                (
                    json.loads(r["captureData"]["endpointOutput"]["data"]),
                    r["eventMetadata"]["inferenceTime"],
                    r["captureData"]["endpointInput"]["observedContentType"],
                )
                for r in reader
            ]

print(
    json.dumps(
        {
            "endpoint": endpoint.endpoint_name,
            "image": algo_image,
            "job": job.training_job_name,
            "job_status": job.training_job_status,
            "model_data": model_data,
            "test_key": test_key,
            "inference": inference,
            "records": records,
        }
    )
)
