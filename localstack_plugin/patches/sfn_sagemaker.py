"""Step Functions' optimized SageMaker integrations (``arn:aws:states:::sagemaker:*``) for LocalStack 4.9.2.

LocalStack Community has no SageMaker, so its Step Functions lists ``sagemaker`` among the unsupported
services: a state machine with ``createTrainingJob.sync`` cannot even be created. This patch adds a
``StateTaskService`` for SageMaker, built the way LocalStack builds its Glue and Batch ones, that calls the
project's SageMaker emulator (``SCONES_SAGEMAKER_ENDPOINT``; when unset, LocalStack's own client, for a
gateway that serves SageMaker) with AWS's semantics:

* the APIs AWS optimizes: CreateTrainingJob (request-response and ``.sync``), CreateModel,
  CreateEndpointConfig, CreateEndpoint, UpdateEndpoint; any other action is refused when the state
  machine is created, as AWS refuses it;
* the request shape is the SageMaker API's: a top-level field SageMaker does not know fails the task with
  ``States.Runtime`` and AWS's ``The field "X" is not supported by Step Functions``;
* ``.sync`` polls DescribeTrainingJob until a terminal status; the task's output is the description
  (timestamps as epoch milliseconds, as Step Functions prints them); a Failed or Stopped job fails the task
  with ``States.TaskFailed`` and the description, FailureReason included, as its cause;
* an API error fails the task as ``SageMaker.<ModeledException>`` (``SageMaker.ResourceInUseException``,
  ...) or ``SageMaker.AmazonSageMakerException``, with the Java SDK's cause suffix
  ``(Service: AmazonSageMaker; Status Code: 400; Error Code: ...; Request ID: ...; Proxy: null)``.

``aws-sdk:sagemaker:*`` tasks (DescribeEndpoint in a wait loop) are sent to the emulator too.
LocalStack bug fix: no: LocalStack Community has no SageMaker, so this adds an integration it lacks.
Upstream code it extends: ``state_task_service_for`` in ``localstack/services/stepfunctions/asl/
component/state/state_execution/state_task/state_task_factory.py``.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

ENDPOINT_VARIABLE = "SCONES_SAGEMAKER_ENDPOINT"
# AWS's list (docs: "Create and manage Amazon SageMaker AI jobs with Step Functions"), less the jobs the
# emulator does not run (tuning, labeling, processing, transform). Value: whether .sync is supported.
SUPPORTED_ACTIONS: Final[dict[str, bool]] = {
    "createtrainingjob": True,
    "createmodel": False,
    "createendpointconfig": False,
    "createendpoint": False,
    "updateendpoint": False,
}
# Exceptions SageMaker's model declares; the Java SDK (whose class names Step Functions reports) has a class
# for each. Every other error code surfaces as AmazonSageMakerException.
MODELED_ERRORS: Final[frozenset[str]] = frozenset(
    {"ResourceInUse", "ResourceLimitExceeded", "ResourceNotFound", "ConflictException"}
)
TRAINING_TERMINAL: Final[frozenset[str]] = frozenset({"Completed", "Failed", "Stopped"})
TRAINING_FAILED: Final[frozenset[str]] = frozenset({"Failed", "Stopped"})
CLIENT_TTL_S: Final[float] = 600.0


REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.asl.component.state.state_execution.state_task.state_task_factory",
        "state_task_service_for",
        "(service_name: 'str') -> 'StateTaskService'",
    ),
    Replaces(
        "localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service.state_task_service_aws_sdk",
        "boto_client_for",
        "(service: str, region: str, state_credentials: localstack.services.stepfunctions.asl.component.state.state_execution.state_task.credentials.StateCredentials) -> botocore.client.BaseClient",  # noqa: E501 (a signature, as inspect prints it)
    ),
)


def error_name(code: str) -> str:
    """The error Step Functions reports for a SageMaker error code (``SageMaker.AmazonSageMakerException``)"""
    if code in MODELED_ERRORS:
        return f"SageMaker.{code if code.endswith('Exception') else code + 'Exception'}"
    return "SageMaker.AmazonSageMakerException"


def error_cause(code: str, message: str, status: int, request_id: str) -> str:
    """The cause as Step Functions words it (the Java SDK's exception message)."""
    return (
        f"{message} (Service: AmazonSageMaker; Status Code: {status}; Error Code: {code}; "
        f"Request ID: {request_id}; Proxy: null)"
    )


def to_sfn_json(value: Any) -> Any:
    """Timestamps as epoch milliseconds, as Step Functions' SageMaker integration outputs them."""
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: to_sfn_json(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [to_sfn_json(v) for v in value]
    return value


def unsupported_fields(parameters: dict[str, Any], known: set[str]) -> list[str]:
    """Top-level parameters that are not members of the API's request shape."""
    return sorted(k for k in parameters if k not in known)


class _Clients:
    """SageMaker clients with the state machine role's credentials, kept per role for a few minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def get(self, region: str, role_arn: str | None) -> Any:
        key = (region, role_arn or "")
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < CLIENT_TTL_S:
                return hit[1]
        client = self._build(region, role_arn)
        with self._lock:
            self._cache[key] = (now, client)
        return client

    @staticmethod
    def _build(region: str, role_arn: str | None) -> Any:
        import boto3
        from botocore.config import Config
        from localstack.aws.connect import connect_to
        from localstack.utils.aws.client_types import ServicePrincipal

        credentials = {"AccessKeyId": "test", "SecretAccessKey": "test", "SessionToken": None}
        if role_arn:
            sts = connect_to(region_name=region).sts.request_metadata(
                service_principal=ServicePrincipal.states
            )
            credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="StepFunctionsSageMaker")[
                "Credentials"
            ]
        return boto3.session.Session().client(
            "sagemaker",
            region_name=region,
            endpoint_url=os.environ[ENDPOINT_VARIABLE],
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(retries={"total_max_attempts": 1}, read_timeout=60, parameter_validation=False),
        )


CLIENTS = _Clients()


def sagemaker_client(region: str, state_credentials: Any, fallback: Callable[..., Any]) -> Any:
    """The emulator's client when ``SCONES_SAGEMAKER_ENDPOINT`` is set, else LocalStack's own."""
    if os.environ.get(ENDPOINT_VARIABLE):
        return CLIENTS.get(region, getattr(state_credentials, "role_arn", None))
    return fallback(service="sagemaker", region=region, state_credentials=state_credentials)


def build_service_class() -> type:
    """The StateTaskService subclass; built on demand because its bases exist only inside LocalStack."""
    from importlib import import_module

    from botocore.exceptions import ClientError
    from localstack.aws.api.stepfunctions import HistoryEventType, TaskFailedEventDetails
    from localstack.services.stepfunctions.asl.eval.event.event_detail import EventDetails
    from localstack.services.stepfunctions.asl.utils.boto_client import boto_client_for

    asl = "localstack.services.stepfunctions.asl.component."
    errors = asl + "common.error_name."
    service = asl + "state.state_execution.state_task.service."
    CustomErrorName = import_module(errors + "custom_error_name").CustomErrorName
    failure_event = import_module(errors + "failure_event")
    FailureEvent, FailureEventException = failure_event.FailureEvent, failure_event.FailureEventException
    StatesErrorName = import_module(errors + "states_error_name").StatesErrorName
    StatesErrorNameType = import_module(errors + "states_error_name_type").StatesErrorNameType
    ResourceCondition = import_module(service + "resource").ResourceCondition
    StateTaskServiceCallback = import_module(service + "state_task_service_callback").StateTaskServiceCallback

    class StateTaskServiceSageMaker(StateTaskServiceCallback):
        """``arn:aws:states:::sagemaker:<action>[.sync]`` against the SageMaker emulator."""

        def __init__(self) -> None:
            # WaitForTaskToken is listed only because 4.9.2's _eval_integration_pattern calls
            # interrupt_all() on the callback endpoint unconditionally (None without it); the resource
            # check below still refuses .waitForTaskToken when the state machine is created, as AWS does.
            super().__init__(
                supported_integration_patterns={ResourceCondition.Sync, ResourceCondition.WaitForTaskToken}
            )

        def _input_members(self) -> set[str]:
            model = self._get_boto_operation_model("sagemaker", self._get_boto_service_action())
            return set(model.input_shape.members) if model.input_shape is not None else set()

        def _get_supported_parameters(self) -> set[str] | None:
            action = self.resource.api_action.lower()
            if action not in SUPPORTED_ACTIONS:
                return None
            if self.resource.condition is not None and (
                self.resource.condition != ResourceCondition.Sync or not SUPPORTED_ACTIONS[action]
            ):
                return None
            return self._input_members()

        def _failure(self, env: Any, error: str | Any, cause: str) -> FailureEventException:
            """A TaskFailed event; ``error`` is a custom name or a StatesErrorNameType."""
            if isinstance(error, str):
                name = CustomErrorName(error)
            else:
                name, error = StatesErrorName(typ=error), error.to_name()
            return FailureEventException(
                FailureEvent(
                    env=env,
                    error_name=name,
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(
                            error=error,
                            cause=cause,
                            resource=self._get_sfn_resource(),
                            resourceType=self._get_sfn_resource_type(),
                        )
                    ),
                )
            )

        def _from_error(self, env: Any, ex: Exception) -> Any:
            if isinstance(ex, ClientError):
                err = ex.response.get("Error", {})
                meta = ex.response.get("ResponseMetadata", {})
                code = err.get("Code", "")
                return self._failure(
                    env,
                    error_name(code),
                    error_cause(
                        code,
                        err.get("Message", ""),
                        meta.get("HTTPStatusCode", 400),
                        meta.get("RequestId", ""),
                    ),
                ).failure_event
            return super()._from_error(env=env, ex=ex)

        def _eval_parameters(self, env: Any) -> dict:
            # LocalStack drops parameters the API does not know; AWS refuses the task instead.
            parameters: dict = {}
            if self.parargs is not None:
                self.parargs.eval(env=env)
                parameters = env.stack.pop()
            unknown = unsupported_fields(parameters, self._input_members())
            if unknown:
                raise self._failure(
                    env,
                    StatesErrorNameType.StatesRuntime,
                    f"An error occurred while executing the state '{self.name}'. The Parameters "
                    f"'{json.dumps(parameters, separators=(',', ':'))}' could not be used to "
                    f'start the Task: [The field "{unknown[0]}" is not supported by Step Functions]',
                )
            return parameters

        def _client(self, resource_runtime_part: Any, state_credentials: Any) -> Any:
            return sagemaker_client(resource_runtime_part.region, state_credentials, boto_client_for)

        def _eval_service_task(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> None:
            client = self._client(resource_runtime_part, state_credentials)
            response = getattr(client, self._get_boto_service_action())(**normalised_parameters)
            env.stack.append(to_sfn_json(response))

        def _build_sync_resolver(
            self, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any
        ) -> Callable[[], Any]:
            client = self._client(resource_runtime_part, state_credentials)
            name = normalised_parameters["TrainingJobName"]
            env.stack.pop()  # CreateTrainingJob's own output; the description replaces it

            # LocalStack's _eval_sync calls this every 0.5 s until it returns something.
            def resolve() -> Any:
                description = to_sfn_json(client.describe_training_job(TrainingJobName=name))
                status = description.get("TrainingJobStatus")
                if status not in TRAINING_TERMINAL:
                    return None
                if status in TRAINING_FAILED:
                    raise self._failure(
                        env,
                        StatesErrorNameType.StatesTaskFailed,
                        json.dumps(description, separators=(",", ":")),
                    )
                return description

            return resolve

    return StateTaskServiceSageMaker


@hooks.on_infra_start()
def sagemaker_state_tasks() -> None:
    require_localstack_version("sfn_sagemaker")
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import (
        state_task_factory,
    )
    from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (
        state_task_service_aws_sdk,
    )

    service_class = build_service_class()
    original_factory = state_task_factory.state_task_service_for

    def state_task_service_for(service_name: str) -> Any:
        if service_name == "sagemaker":
            return service_class()
        return original_factory(service_name=service_name)

    # state_task_factory imported the function by name, so patch that reference.
    state_task_factory.state_task_service_for = state_task_service_for

    original_client = state_task_service_aws_sdk.boto_client_for

    def aws_sdk_client_for(service: str, region: str, state_credentials: Any) -> Any:
        if service == "sagemaker":
            return sagemaker_client(region, state_credentials, original_client)
        return original_client(service=service, region=region, state_credentials=state_credentials)

    state_task_service_aws_sdk.boto_client_for = aws_sdk_client_for
    applied("sfn_sagemaker")
