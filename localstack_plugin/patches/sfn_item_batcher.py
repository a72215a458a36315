"""A Map's ``ItemBatcher`` refused with a message that says why, instead of a parser error.

AWS accepts ``ItemBatcher`` (``MaxItemsPerBatch``, ``MaxInputBytesPerBatch``, ``BatchInput``) in a
distributed Map, JSONPath or JSONata (LocalStack's AWS-validated snapshot
``tests/aws/services/stepfunctions/v2/scenarios/test_base_scenarios.snapshot.json``,
``test_map_item_batching_*``). LocalStack 4.9.2 Community's ASL grammar has no ``ItemBatcher`` at all
(batching is not implemented), so CreateStateMachine answered ``InvalidDefinition`` with an ANTLR
"mismatched input" message. The harness cannot batch either; it still refuses such a definition, but
says so: the state, the field, and that AWS accepts it (docs/parity.md lists it). A local failure
where AWS passes is the safe direction; a silent acceptance without batching would not be.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

import json
from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.provider",
        "StepFunctionsProvider._validate_definition",
        "(definition: str, static_analysers: list[localstack.services.stepfunctions.asl.static_analyser."
        "static_analyser.StaticAnalyser]) -> None",
    ),
)


def batched_map_states(definition: Any) -> list[str]:
    """Names of the Map states (at any depth) that have an ``ItemBatcher``."""
    found: list[str] = []

    def visit(states: Any) -> None:
        if not isinstance(states, dict):
            return
        for name, state in states.items():
            if not isinstance(state, dict):
                continue
            if state.get("Type") == "Map" and "ItemBatcher" in state:
                found.append(name)
            for processor in (state.get("ItemProcessor"), state.get("Iterator")):
                if isinstance(processor, dict):
                    visit(processor.get("States"))
            for branch in state.get("Branches") or []:
                if isinstance(branch, dict):
                    visit(branch.get("States"))

    if isinstance(definition, dict):
        visit(definition.get("States"))
    return found


def refusal(definition: str) -> str | None:
    """The InvalidDefinition message for a definition with ItemBatcher, or None."""
    try:
        states = batched_map_states(json.loads(definition))
    except ValueError:
        return None
    if not states:
        return None
    return (
        f"Invalid State Machine Definition: the Map state '{states[0]}' has an ItemBatcher, which the "
        "harness cannot run (LocalStack 4.9.2 Community has no batching). AWS accepts ItemBatcher in a "
        "DISTRIBUTED Map: remove it to test here, or test on AWS (see docs/parity.md)"
    )


def _batcher_refused(original: Any) -> Any:
    def _validate_definition(definition: str, static_analysers: list[Any]) -> None:
        from localstack.aws.api.stepfunctions import InvalidDefinition

        message = refusal(definition)
        if message is not None:
            raise InvalidDefinition(message)
        original(definition=definition, static_analysers=static_analysers)

    _validate_definition.__wrapped__ = original  # type: ignore[attr-defined]
    return staticmethod(_validate_definition)


@hooks.on_infra_start()
def item_batcher_refused_clearly() -> None:
    require_localstack_version("sfn_item_batcher")
    from localstack.services.stepfunctions import provider

    cls = provider.StepFunctionsProvider
    cls._validate_definition = _batcher_refused(cls._validate_definition)
    applied("sfn_item_batcher")
