"""The Scones Unlimited notebook as public solutions write it, on SageMaker Python SDK v2.

Nothing here knows about the harness: the environment comes from ``harness env`` only. The one
change from the published notebooks is the role (``get_execution_role()`` asks STS at AWS's public
URL, which no environment variable redirects; see the README). The data was staged to the default
bucket beforehand (``harness stage``), as the notebooks' own ETL cells would have uploaded it.
Prints one JSON line of what it observed.
"""

import json
import os
import time

import boto3
import jsonlines
import sagemaker
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model_monitor import DataCaptureConfig
from sagemaker.predictor import Predictor
from sagemaker.s3 import S3Downloader
from sagemaker.serializers import IdentitySerializer

session = sagemaker.Session()
role = os.environ["SAGEMAKER_ROLE_ARN"]  # instead of sagemaker.get_execution_role()
bucket = session.default_bucket()
region = session.boto_region_name

algo_image = image_uris.retrieve("image-classification", region, "latest")
s3_output_location = f"s3://{bucket}/models/image_model"

img_classifier_model = Estimator(
    image_uri=algo_image,
    role=role,
    instance_count=1,
    instance_type="ml.p3.2xlarge",
    output_path=s3_output_location,
    sagemaker_session=session,
)
img_classifier_model.set_hyperparameters(
    image_shape="3,32,32",
    num_classes=2,
    num_training_samples=int(os.environ.get("NUM_TRAINING_SAMPLES", "64")),
    epochs=int(os.environ.get("EPOCHS", "3")),
    mini_batch_size=16,
)

model_inputs = {
    "train": TrainingInput(f"s3://{bucket}/train/", content_type="application/x-image"),
    "validation": TrainingInput(f"s3://{bucket}/test/", content_type="application/x-image"),
    "train_lst": TrainingInput(f"s3://{bucket}/train.lst", content_type="application/x-image"),
    "validation_lst": TrainingInput(f"s3://{bucket}/test.lst", content_type="application/x-image"),
}
img_classifier_model.fit(model_inputs)

data_capture_config = DataCaptureConfig(
    enable_capture=True, sampling_percentage=100, destination_s3_uri=f"s3://{bucket}/data_capture"
)
deployment = img_classifier_model.deploy(
    initial_instance_count=1, instance_type="ml.m5.xlarge", data_capture_config=data_capture_config
)
endpoint = deployment.endpoint_name

predictor = Predictor(endpoint)
predictor.serializer = IdentitySerializer("image/png")
s3 = boto3.client("s3")
test_key = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="test/")["Contents"])[0]
payload = s3.get_object(Bucket=bucket, Key=test_key)["Body"].read()
inference = json.loads(predictor.predict(payload))

# Captures arrive in batches: wait for the first file, as the notebooks do (they sleep and re-list).
capture_uri = f"s3://{bucket}/data_capture/{endpoint}"
deadline = time.monotonic() + 120
while not (data_path := S3Downloader.list(capture_uri)) and time.monotonic() < deadline:
    time.sleep(1)
local = "captured_data"
for path in data_path:
    S3Downloader.download(path, local)
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
            "endpoint": endpoint,
            "image": algo_image,
            "model_data": img_classifier_model.model_data,
            "test_key": test_key,
            "inference": inference,
            "records": records,
            "capture_files": data_path,
        }
    )
)
