"""``harness env``: everything a shell, a notebook or an IDE needs to use a target, as variables.

``eval "$(harness env)"`` before ``import sagemaker`` is the whole set-up of an existing notebook:

* the target's endpoint, credentials and region (:meth:`harness.targets.Target.client_env`; locally
  one ``AWS_ENDPOINT_URL`` reaches every service, SageMaker included);
* an execution role that exists (the configured one, else the harness's least-privilege SageMaker role,
  created or updated) and the bucket (created when missing), as ``SAGEMAKER_ROLE_ARN`` and
  ``SAGEMAKER_DEFAULT_BUCKET``;
* ``SAGEMAKER_VALIDATE_ROLE=false`` (SDK v3's client-side role check; see :func:`environment`);
* a SageMaker Python SDK config file (``SAGEMAKER_USER_CONFIG_OVERRIDE``, the SDK's own schema, read by
  v2 and v3 alike) that opts out of telemetry (which calls an AWS-hosted bucket) and sets the default
  bucket and the role of training jobs, models and processing jobs, so ``Session().default_bucket()``
  and an ``Estimator``/``ModelTrainer`` without ``role=`` never ask STS.

What the SDK cannot be redirected to (``get_execution_role()`` asks STS at
``https://sts.<region>.amazonaws.com`` whatever the environment says) is in the README, with its
one-line replacement.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from harness.config import Settings
from harness.files import write_atomic
from harness.targets.base import Target

FORMATS = ("sh", "fish", "dotenv", "json")
SDK_CONFIG_NAME = "sagemaker-sdk-config.yaml"
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def sdk_config(bucket: str, role_arn: str) -> dict[str, Any]:
    """The SDK config document (schema ``sagemaker.config.config_schema``, SchemaVersion 1.0)."""
    return {
        "SchemaVersion": "1.0",
        "SageMaker": {
            "PythonSDK": {
                "Modules": {
                    "TelemetryOptOut": True,
                    "Session": {"DefaultS3Bucket": bucket},
                }
            },
            "TrainingJob": {"RoleArn": role_arn},
            "Model": {"ExecutionRoleArn": role_arn},
            "ProcessingJob": {"RoleArn": role_arn},
        },
    }


def write_sdk_config(settings: Settings, role_arn: str) -> Path:
    """Write the SDK config under the harness home (temp name, then rename) and return its absolute path."""
    path = settings.home.expanduser().resolve() / SDK_CONFIG_NAME
    text = "# Written by `harness env`; SAGEMAKER_USER_CONFIG_OVERRIDE points the SageMaker SDK here.\n"
    text += yaml.safe_dump(sdk_config(settings.bucket, role_arn), sort_keys=False)
    write_atomic(path, text.encode())
    return path


def environment(settings: Settings, target: Target, role_arn: str) -> dict[str, str]:
    """All variables, in the order they are printed."""
    return {
        **target.client_env(),
        "SAGEMAKER_ROLE_ARN": role_arn,
        "SAGEMAKER_DEFAULT_BUCKET": settings.bucket,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(write_sdk_config(settings, role_arn)),
        # SDK v3 checks the role client-side with iam:SimulatePrincipalPolicy against its own list of
        # actions (VPC network interfaces among them, which this least-privilege role does not grant), so
        # on AWS it would refuse the role before SageMaker ever sees it, and LocalStack's simulator fails
        # on that call. Off on every target, so both behave alike; SageMaker itself still uses the role.
        "SAGEMAKER_VALIDATE_ROLE": "false",
    }


def render(env: dict[str, str], fmt: str) -> str:
    """``env`` as ``fmt``: ``sh`` (export), ``fish`` (set -gx), ``dotenv`` (KEY="value") or ``json``."""
    for name in env:
        if not _NAME.match(name):
            raise ValueError(f"not an environment variable name: {name!r}")
    if fmt == "json":
        return json.dumps(env, indent=2) + "\n"
    if fmt == "sh":
        lines = [f"export {k}={shlex.quote(v)}" for k, v in env.items()]
    elif fmt == "fish":
        lines = [f"set -gx {k} {_fish_quote(v)};" for k, v in env.items()]
    elif fmt == "dotenv":
        lines = [f"{k}={_dotenv_quote(v)}" for k, v in env.items()]
    else:
        raise ValueError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return "\n".join(lines) + "\n"


def _fish_quote(value: str) -> str:
    """fish single quotes: only backslash and the quote itself are special inside them."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _dotenv_quote(value: str) -> str:
    """Double quotes with backslash escapes, as python-dotenv and docker compose read them."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
