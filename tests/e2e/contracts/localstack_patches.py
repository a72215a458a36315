"""Run inside LocalStack's venv: every object the event-driven patches replace still exists as expected.

Exits non-zero (an AssertionError naming the object) when LocalStack changed under a patch.
"""

from __future__ import annotations

import inspect
import json
import sys

sys.path.insert(0, sys.argv[1])  # the repository root, for localstack_plugin

from localstack.services.events.target import StatesTargetSender
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task import (
    state_task,
    state_task_factory,
)
from localstack.services.stepfunctions.asl.component.state.state_execution.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_callback,
)
from localstack.services.stepfunctions.asl.parse.asl_parser import AmazonStateLanguageParser
from localstack.services.stepfunctions.asl.parse.preprocessor import Preprocessor

from localstack_plugin.patches import asl_path_keys, events_sfn_target, sfn_sagemaker


def params(func: object) -> list[str]:
    return list(inspect.signature(func).parameters)  # type: ignore[arg-type]


def bindings(definition: dict) -> dict[str, str]:
    program, _ = AmazonStateLanguageParser.parse(json.dumps(definition))
    state = program.states.states["P"]
    template = next(iter(vars(state.parameters).values()))
    return {b.field: type(b).__name__ for b in template.payload_bindings}


# sfn_sagemaker: the factory it wraps, the aws-sdk client lookup it redirects, the hooks it overrides.
assert params(state_task_factory.state_task_service_for) == ["service_name"]
assert params(state_task_service_aws_sdk.boto_client_for) == ["service", "region", "state_credentials"]
callback = state_task_service_callback.StateTaskServiceCallback
for name, expected in (
    (
        "_build_sync_resolver",
        ["self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"],
    ),
    (
        "_eval_service_task",
        ["self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"],
    ),
    ("_from_error", ["self", "env", "ex"]),
    ("_get_supported_parameters", ["self"]),
):
    assert params(getattr(callback, name)) == expected, name
assert params(state_task.StateTask._eval_parameters) == ["self", "env"]
assert "interrupt_all" in inspect.getsource(callback._eval_integration_pattern)
service_class = sfn_sagemaker.build_service_class()
assert issubclass(service_class, callback)
assert sfn_sagemaker.error_name("ResourceInUse") == "SageMaker.ResourceInUseException"
assert sfn_sagemaker.error_name("ValidationException") == "SageMaker.AmazonSageMakerException"

# asl_path_keys: without the patch the keyword key is a literal; with it, a path.
definition = {
    "StartAt": "P",
    "States": {"P": {"Type": "Pass", "Parameters": {"RoleArn.$": "$.r"}, "End": True}},
}
assert params(Preprocessor.visitPayload_binding_value) == ["self", "ctx"]
before = bindings(definition)
asl_path_keys.keyword_path_keys()
after = bindings(definition)
assert after == {"RoleArn": "PayloadBindingStringExpressionSimple"}, after
print(f"asl_path_keys: before the patch {before}, after {after}")

# events_sfn_target: the method it replaces, and that LocalStack still names executions after event["id"].
assert params(StatesTargetSender.send_event) == ["self", "event", "trace_header"]
assert 'event["id"]' in inspect.getsource(StatesTargetSender.send_event)
assert events_sfn_target.execution_name({"s3_key": "k"}) != events_sfn_target.execution_name({"s3_key": "k"})
print("localstack patches: contract holds")
