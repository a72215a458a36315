"""Parameters keys such as ``"RoleArn.$"`` are paths, as in AWS, not literal field names.

LocalStack 4.9.2's ASL lexer has keyword tokens for words of the language (``RoleArn`` belongs to a
task's ``Credentials``), so inside ``Parameters`` the key ``"RoleArn.$"`` is not read as a path
binding: it becomes a literal field named ``RoleArn.$`` whose value is the path text. SageMaker's
CreateTrainingJob then gets no ``RoleArn`` (the pipeline's ``"RoleArn.$": "$.TrainingJob.RoleArn"``
failed with ``Missing required parameter in input: "RoleArn"``). AWS reads any key ending in ``.$`` as a
path. This patch turns such literal bindings back into path bindings when the preprocessor builds them.

LocalStack bug fix: yes (parity). Upstream code: ``Preprocessor.visitPayload_binding_value`` in
``localstack/services/stepfunctions/asl/parse/preprocessor.py`` and the keyword tokens of its ASL lexer;
no upstream issue found, and the archived repository (2026-03) still has the behaviour.

Registered as a ``localstack.hooks.on_infra_start`` hook in this package's pyproject.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks

from localstack_plugin.patches import Replaces, applied, require_localstack_version

REPLACES = (
    Replaces(
        "localstack.services.stepfunctions.asl.parse.preprocessor",
        "Preprocessor.visitPayload_binding_value",
        "(self, ctx: localstack.services.stepfunctions.asl.antlr.runtime.ASLParser.ASLParser.Payload_binding_valueContext) -> localstack.services.stepfunctions.asl.component.common.payload.payloadvalue.payloadbinding.payload_binding.PayloadBindingValue",  # noqa: E501 (a signature, as inspect prints it)
    ),
)


def path_binding_for(field: str, value: Any, classes: dict[str, Any]) -> Any | None:
    """The path binding AWS would build for ``"<field>.$": value``, or ``None`` to keep the literal."""
    if not field.endswith(".$") or not isinstance(value, classes["PayloadValueStr"]):
        return None
    path = value.val
    if path.startswith("$$"):
        expression = classes["StringContextPath"](context_object_path=path)
    elif path == "$" or path.startswith("$.") or path.startswith("$["):
        expression = classes["StringJsonPath"](json_path=path)
    else:  # intrinsic functions and variables: not seen with keyword keys; leave LocalStack's reading
        return None
    return classes["PayloadBindingStringExpressionSimple"](
        field=field[:-2], string_expression_simple=expression
    )


@hooks.on_infra_start()
def keyword_path_keys() -> None:
    require_localstack_version("asl_path_keys")
    from localstack.services.stepfunctions.asl.component.common.payload.payloadvalue.payloadbinding import (
        payload_binding,
    )
    from localstack.services.stepfunctions.asl.component.common.payload.payloadvalue.payloadvaluelit import (
        payload_value_str,
    )
    from localstack.services.stepfunctions.asl.component.common.string import string_expression
    from localstack.services.stepfunctions.asl.parse.preprocessor import Preprocessor

    classes = {
        "PayloadValueStr": payload_value_str.PayloadValueStr,
        "StringContextPath": string_expression.StringContextPath,
        "StringJsonPath": string_expression.StringJsonPath,
        "PayloadBindingStringExpressionSimple": payload_binding.PayloadBindingStringExpressionSimple,
    }
    original = Preprocessor.visitPayload_binding_value

    def visit_payload_binding_value(self: Any, ctx: Any) -> Any:
        binding = original(self, ctx)
        replacement = path_binding_for(binding.field, binding.payload_value, classes)
        return binding if replacement is None else replacement

    Preprocessor.visitPayload_binding_value = visit_payload_binding_value
    applied("asl_path_keys")
