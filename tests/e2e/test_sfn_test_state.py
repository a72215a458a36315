"""``states:TestState`` on single states of the workflow's own definition, as LocalStack 4.9.2 has it.

TestState in 4.9.2 takes one state as a standalone definition (``definition``, ``roleArn``,
``input``, ``inspectionLevel``, ``variables``) and runs it for real; what AWS added in 2025
(``stateName`` in a whole state machine, ``mock``, ``context``, ``stateConfiguration``) is not there:
see docs/parity.md. The filter state runs the real filter function.
"""

from __future__ import annotations

import json
from typing import Any

import botocore.config
import pytest

from harness import deploy
from harness.config import Settings
from harness.staging import ensure_bucket
from harness.targets.registry import target_for

pytestmark = pytest.mark.e2e

THRESHOLD = 0.93
FILTER_STATE = "Filter low-confidence inferences"


def single_state(definition: str, name: str) -> str:
    """State ``name`` of a state machine definition as TestState's standalone definition."""
    state = dict(json.loads(definition)["States"][name])
    # Alone, it has no next state for Next or a Catch to go to (LocalStack 4.9.2 then never ends it).
    state.pop("Next", None)
    state.pop("Catch", None)
    state["End"] = True
    return json.dumps(state)


@pytest.fixture(scope="module")
def tested(embedded_cloud: Settings) -> tuple[Any, str, str]:
    settings = embedded_cloud.replace(threshold=THRESHOLD)
    target = target_for(settings)
    ensure_bucket(target.client("s3"), settings.bucket, settings.region)  # deploy wires its events
    deployed = deploy.deploy(settings, target)
    # botocore sends TestState to the host "sync-<endpoint host>" (AWS's sync-states.<region>...):
    # against a local endpoint the prefix must be off, or the name does not resolve.
    sfn = target.client("stepfunctions", config=botocore.config.Config(inject_host_prefix=False))
    definition = sfn.describe_state_machine(stateMachineArn=deployed.state_machine_arn)["definition"]
    return sfn, single_state(definition, FILTER_STATE), deployed.states_role_arn


def _body(inferences: list[float]) -> str:
    return json.dumps({"statusCode": 200, "body": {"s3_key": "test/x.png", "inferences": inferences}})


def test_filter_state_passes_a_confident_inference(tested: tuple[Any, str, str]) -> None:
    sfn, state, role = tested
    result = sfn.test_state(
        definition=state, roleArn=role, input=_body([0.96, 0.04]), inspectionLevel="DEBUG"
    )

    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {
        "statusCode": 200,
        "body": {"s3_key": "test/x.png", "inferences": [0.96, 0.04]},
    }
    inspection = result["inspectionData"]
    assert json.loads(inspection["afterParameters"])["Payload"]["body"]["inferences"] == [0.96, 0.04]
    assert json.loads(inspection["result"])["StatusCode"] == 200


def test_filter_state_fails_below_the_threshold(tested: tuple[Any, str, str]) -> None:
    sfn, state, role = tested
    result = sfn.test_state(definition=state, roleArn=role, input=_body([0.51, 0.49]))

    assert result["status"] == "FAILED", result
    assert result["error"] == "ThresholdConfidenceNotMet"
    cause = json.loads(result["cause"])
    assert cause["errorMessage"] == f"top confidence 0.5100 (class 0) is below the threshold {THRESHOLD}"
    assert cause["stackTrace"][0].startswith('  File "/var/task/lambda_function.py"')
