"""The SageMaker requests of training and hosting: CreateTrainingJob, CreateModel, CreateEndpointConfig.

Pure functions (``*_request``), so the aws target's requests can be compared with the local target's,
field by field, and the pipeline state machine (:mod:`harness.pipeline`) sends the very same ones as the
Python path (:mod:`harness.jobs`, which runs them and waits).

The training job's name is a digest of everything that determines its result (image, hyperparameters,
the staged manifests, instance type), so a second run with the same inputs finds the Completed job.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from harness.config import Settings
from harness.layout import CHANNELS
from harness.names import JOB_PREFIX

# The built-in image-classification algorithm's registry per region (the SageMaker Python SDK's
# image_uri_config/image-classification.json, version 1); tests compare it with the SDK.
BUILTIN_REGISTRIES = {
    "ap-east-1": "286214385809",
    "ap-northeast-1": "501404015308",
    "ap-northeast-2": "306986355934",
    "ap-south-1": "991648021394",
    "ap-southeast-1": "475088953585",
    "ap-southeast-2": "544295431143",
    "ca-central-1": "469771592824",
    "cn-north-1": "390948362332",
    "cn-northwest-1": "387376663083",
    "eu-central-1": "813361260812",
    "eu-north-1": "669576153137",
    "eu-west-1": "685385470294",
    "eu-west-2": "644912444149",
    "eu-west-3": "749696950732",
    "me-south-1": "249704162688",
    "sa-east-1": "855470959533",
    "us-east-1": "811284229777",
    "us-east-2": "825641698319",
    "us-gov-west-1": "226302683700",
    "us-west-1": "632365934929",
    "us-west-2": "433757028032",
}


def builtin_image_uri(region: str) -> str:
    """The built-in image-classification algorithm's image for ``region``."""
    if region not in BUILTIN_REGISTRIES:
        raise ValueError(f"the built-in image-classification algorithm is not listed for region {region!r}")
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{BUILTIN_REGISTRIES[region]}.dkr.ecr.{region}.{domain}/image-classification:1"


def image_uri(settings: Settings) -> str:
    """The training/serving image: the built-in one, or the project's own (``algorithm`` image)."""
    if settings.algorithm == "builtin":
        return builtin_image_uri(settings.region)
    return settings.training_image or builtin_image_uri(settings.region)


def hyperparameters(settings: Settings, num_training_samples: int) -> dict[str, str]:
    """The built-in algorithm's hyperparameters (all strings, as the API requires)."""
    values: dict[str, Any] = {
        "num_classes": 2,
        "num_training_samples": num_training_samples,
        "image_shape": "3,32,32",
        "epochs": settings.epochs,
        "mini_batch_size": settings.mini_batch_size,
        "learning_rate": settings.learning_rate,
        "num_layers": settings.num_layers,
    }
    return {k: str(v) for k, v in values.items() if v is not None}


def _channel(name: str, uri: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": uri,
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "application/x-image",
        "CompressionType": "None",
        "InputMode": "File",
    }


def training_job_request(
    settings: Settings, job_name: str, role_arn: str, num_training_samples: int
) -> dict[str, Any]:
    """CreateTrainingJob with the built-in contract: four channels, AWS hyperparameter names."""
    data = f"s3://{settings.bucket}/{settings.data_prefix}"
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {"TrainingImage": image_uri(settings), "TrainingInputMode": "File"},
        "RoleArn": role_arn,
        "HyperParameters": hyperparameters(settings, num_training_samples),
        "InputDataConfig": [_channel(name, data + rel) for name, rel in CHANNELS.items()],
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.bucket}/{settings.model_prefix}"},
        "ResourceConfig": {
            "InstanceType": settings.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 5,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }


def job_name_for(request: dict[str, Any], manifests_etag: str) -> str:
    """A name that is the same exactly when the job would compute the same model."""
    fingerprint = json.dumps(
        {
            "image": request["AlgorithmSpecification"]["TrainingImage"],
            "hp": request["HyperParameters"],
            "data": manifests_etag,
            "instance": request["ResourceConfig"]["InstanceType"],
        },
        sort_keys=True,
    )
    return JOB_PREFIX + hashlib.sha256(fingerprint.encode()).hexdigest()[:16]


def model_request(model_name: str, image: str, model_data_url: str, role_arn: str) -> dict[str, Any]:
    return {
        "ModelName": model_name,
        "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data_url},
        "ExecutionRoleArn": role_arn,
    }


def endpoint_config_request(settings: Settings, config_name: str, model_name: str) -> dict[str, Any]:
    """One variant, and Model Monitor data capture of every request and response."""
    return {
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InitialInstanceCount": 1,
                "InstanceType": settings.inference_instance_type,
                "InitialVariantWeight": 1.0,
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": settings.capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    }
