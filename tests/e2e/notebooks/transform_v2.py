"""Batch transform as SageMaker SDK v2 users write it: fit the built-in, then ``estimator.transformer()``.

Nothing here knows about the harness: the environment comes from ``harness env`` only (the role is
read from the environment, as in scones_v2.py). The test images were staged to the default bucket
beforehand (``harness stage``). After the transform job, the same model is deployed and each test
image is sent to the endpoint, so the test can compare the two. Prints one JSON line.
"""

import json
import os

import boto3
import sagemaker
from sagemaker import image_uris
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.predictor import Predictor
from sagemaker.serializers import IdentitySerializer

session = sagemaker.Session()
role = os.environ["SAGEMAKER_ROLE_ARN"]
bucket = session.default_bucket()
region = session.boto_region_name

estimator = Estimator(
    image_uri=image_uris.retrieve("image-classification", region, "latest"),
    role=role,
    instance_count=1,
    instance_type="ml.p3.2xlarge",
    output_path=f"s3://{bucket}/models/batch_model",
    sagemaker_session=session,
)
estimator.set_hyperparameters(
    image_shape="3,32,32",
    num_classes=2,
    num_training_samples=int(os.environ.get("NUM_TRAINING_SAMPLES", "64")),
    epochs=int(os.environ.get("EPOCHS", "1")),
    mini_batch_size=16,
)
estimator.fit(
    {
        "train": TrainingInput(f"s3://{bucket}/train/", content_type="application/x-image"),
        "validation": TrainingInput(f"s3://{bucket}/test/", content_type="application/x-image"),
        "train_lst": TrainingInput(f"s3://{bucket}/train.lst", content_type="application/x-image"),
        "validation_lst": TrainingInput(f"s3://{bucket}/test.lst", content_type="application/x-image"),
    }
)
metrics = session.describe_training_job(estimator.latest_training_job.name).get("FinalMetricDataList", [])

transformer = estimator.transformer(
    instance_count=1, instance_type="ml.m5.xlarge", output_path=f"s3://{bucket}/batch_out"
)
transformer.transform(data=f"s3://{bucket}/test/", content_type="image/png", wait=True)

s3 = boto3.client("s3")
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="test/")["Contents"])
outputs = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="batch_out/")["Contents"])

predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")
predictor = Predictor(predictor.endpoint_name, serializer=IdentitySerializer("image/png"))
pairs = []
for key in keys:
    image = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    online = json.loads(predictor.predict(image))
    name = key.split("/", 1)[1]
    batch = json.loads(s3.get_object(Bucket=bucket, Key=f"batch_out/{name}.out")["Body"].read())
    pairs.append((key, online, batch))
predictor.delete_endpoint()

print(
    json.dumps(
        {
            "inputs": keys,
            "outputs": outputs,
            "pairs": pairs,
            "metrics": [m["MetricName"] for m in metrics],
            "transform_job": transformer.latest_transform_job.name,
        }
    )
)
