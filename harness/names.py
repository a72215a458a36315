"""The workflow's names, in one place: functions, ARN placeholders, roles, classes, prefixes, log groups.

Every module that creates, finds or deletes a resource of the workflow takes its name from here, so a
rename is one edit and teardown can never miss what deploy created. The function list is not written
down at all: it is the folders of ``lambdas/`` that hold a ``lambda_function.py``, in the order the
state machine calls them (the order of their ``${...FunctionArn}`` placeholders in the ASL file).
"""

from __future__ import annotations

import re
from functools import cache

from harness import assets

STATEMACHINE_FILE_NAME = "scones.asl.json"
STATE_MACHINE = "scones-image-classification"
LAMBDA_ROLE = "scones-lambda-role"
STATES_ROLE = "scones-states-role"
SAGEMAKER_ROLE = "scones-sagemaker-role"
EVENTS_ROLE = "scones-events-role"
PIPELINE_ROLE = "scones-pipeline-states-role"
# The event path (harness/events.py): the rule photo uploads match, and its target's id.
PHOTO_RULE = "scones-photo-uploaded"
PHOTO_TARGET_ID = "classify-photo"
# The training pipeline's state machine (statemachine/pipeline.asl.json, harness/pipeline.py).
PIPELINE_STATE_MACHINE = "scones-training-pipeline"
# Training jobs are named <prefix><digest>; their models and endpoint configs start with the job's name,
# which is how teardown finds them without knowing which run created what.
# The pipeline's jobs (a fresh one per run) carry the same prefix, so `harness down` finds what either
# pipeline created.
JOB_PREFIX = "scones-ic-"
PIPELINE_JOB_PREFIX = f"{JOB_PREFIX}sfn-"
# The model's output order (DESIGN.md: class 0 bicycle, 1 motorcycle).
CLASS_NAMES: tuple[str, ...] = ("bicycle", "motorcycle")
# Log groups SageMaker writes to (AWS's names; the emulator writes the same).
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
ENDPOINT_LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
HANDLER_FILE = "lambda_function.py"


def endpoint_log_group(endpoint: str) -> str:
    """``/aws/sagemaker/Endpoints/<endpoint>``: where an endpoint's containers log."""
    return f"{ENDPOINT_LOG_GROUP_PREFIX}{endpoint}"


def model_name(job_name: str) -> str:
    """The model of a training job: ``<job>-model`` (63 characters at most, SageMaker's limit)."""
    return f"{job_name}-model"[:63]


def endpoint_config_name(job_name: str, variant: str = "") -> str:
    """The endpoint config of a training job's model: ``<job>-config`` (63 characters at most), or
    ``<job>-config-<variant>`` when the same model is served with other settings (another capture
    destination, another instance type): a config is immutable on AWS, so other settings need another."""
    suffix = f"-{variant}" if variant else ""
    return f"{job_name[: 63 - len('-config') - len(suffix)]}-config{suffix}"


def arn_placeholder(function: str) -> str:
    """The ASL placeholder of a function ARN: ``filter`` -> ``FilterFunctionArn``."""
    return f"{function[:1].upper()}{function[1:]}FunctionArn"


@cache
def functions() -> tuple[str, ...]:
    """The functions in ``lambdas/``, in the order the state machine refers to them.

    A folder the definition does not mention still deploys (after the others, by name): it may be
    called by another function, and leaving it out silently would be worse.
    """
    folders = sorted(p.name for p in assets.lambdas_dir().iterdir() if (p / HANDLER_FILE).is_file())
    if not folders:
        raise RuntimeError(f"no functions found: no {assets.lambdas_dir()}/*/{HANDLER_FILE}")
    definition = (assets.statemachine_dir() / STATEMACHINE_FILE_NAME).read_text()
    placeholders = [m.group(1) for m in re.finditer(r"\$\{(\w+)\}", definition)]

    def position(name: str) -> tuple[int, str]:
        wanted = arn_placeholder(name)
        return (placeholders.index(wanted) if wanted in placeholders else len(placeholders), name)

    return tuple(sorted(folders, key=position))


FUNCTIONS: tuple[str, ...] = functions()
ARN_PLACEHOLDERS: dict[str, str] = {name: arn_placeholder(name) for name in FUNCTIONS}
