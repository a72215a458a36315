"""Contract test of localstack_plugin/patches/sfn_jsonata.py, run in LocalStack's own venv.

It fails when LocalStack's functions that the patch replaces move or change their signature (a
LocalStack upgrade), when the hook stops replacing them, or when jsonata-python is missing from the
venv the harness builds. That Step Functions then really runs JSONata offline is proven end to end
by the JSONata workflow test (tests/e2e/test_workflow_e2e.py) and tests/e2e/test_sfn_jsonata.py.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.config import load_settings
from harness.embedded.localstack import ensure_venv

pytestmark = pytest.mark.e2e

CHECK = r"""
import inspect, json, re
from localstack.services.stepfunctions.asl.component.common.string import string_expression
from localstack.services.stepfunctions.asl.component.intrinsic import jsonata as intrinsic
from localstack.services.stepfunctions.asl.jsonata import jsonata as jsonata_module, validations
from localstack.services.stepfunctions.asl.component.common import parargs
from localstack.services.stepfunctions.asl.component.common.jsonata import jsonata_template_value

UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

def params(fn):
    return list(inspect.signature(fn).parameters)

before = {
    "eval_jsonata_expression": params(jsonata_module.eval_jsonata_expression),
    "string_expression.eval_jsonata_expression": params(string_expression.eval_jsonata_expression),
    "validations.eval_jsonata_expression": params(validations.eval_jsonata_expression),
    "get_intrinsic_functions_declarations": params(string_expression.get_intrinsic_functions_declarations),
    "StringJSONata._eval_body": params(string_expression.StringJSONata._eval_body),
    "declared": sorted(intrinsic._DECLARATION_BY_VARIABLE_REFERENCE),
    "bridge": hasattr(jsonata_module, "_JSONataJVMBridge"),
    "template_field_name": params(jsonata_template_value.JSONataTemplateValue._field_name),
    "arguments_field_name": params(parargs.Arguments._field_name),
}

from localstack_plugin.patches import sfn_jsonata
sfn_jsonata.evaluate_jsonata_in_python()

after = {
    "modules": [m.eval_jsonata_expression is sfn_jsonata.evaluate
                for m in (jsonata_module, string_expression, validations)],
    "declarations": (
        string_expression.get_intrinsic_functions_declarations is sfn_jsonata.no_function_declarations
    ),
    "eval_body_wrapped": getattr(string_expression.StringJSONata._eval_body, "__wrapped__", None) is not None,
    "field_names": [jsonata_template_value.JSONataTemplateValue._field_name(None),
                    parargs.Arguments._field_name(None)],
}
ev = jsonata_module.eval_jsonata_expression
results = {
    "partition": ev("$partition([1,2,3,4,5,6,7], 3)"),
    "range": ev("$range(0, 10, 2)"),
    "range_down": ev("$range(5, 1, -2)"),
    "range_one": ev("$range(1, 9, 9)"),
    "range_one_kept": ev("[$range(1, 9, 9)]"),
    "range_undefined_argument": ev("$exists($range($nothing, 3, 1))"),
    "hash": ev("$hash('hello', 'SHA-256')"),
    "md5": ev("$hash('hello', 'MD5')"),
    "seeded": [ev("$random(42)"), ev("$random(42)")],
    "random_in_range": 0 <= ev("$random()") < 1,
    "uuid": bool(re.fullmatch(UUID4, ev("$uuid()"))),
    "parse": ev("$parse('{\"a\": [1, 2]}')"),
    "composed": ev('($states:={"input":{"v":3}};$states.input.v * 2)'),
    "integral": ev("1.5 * 2"),
    "null": ev("null"),
    "undefined": ev("$nothing"),
}
errors = {}
for name, expression in {
    "type": '1 + "a"',
    "signature": "$range('0', 4, 1)",
    "algorithm": "$hash('x', 'SHA-3')",
    "syntax": "(1 + ",
    "parse": "$parse('not json')",
}.items():
    try:
        ev(expression)
        errors[name] = None
    except sfn_jsonata.JSONataEvaluationError as exc:
        errors[name] = str(exc)
print(json.dumps({"before": before, "after": after, "results": results, "errors": errors}))
"""


@pytest.fixture(scope="module")
def contract() -> dict:
    python = ensure_venv(load_settings())
    done = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_replaced_functions_keep_the_signatures_the_patch_expects(contract: dict) -> None:
    before = contract["before"]
    assert before["eval_jsonata_expression"] == ["jsonata_expression"]
    assert before["string_expression.eval_jsonata_expression"] == ["jsonata_expression"]
    assert before["validations.eval_jsonata_expression"] == ["jsonata_expression"]
    assert before["get_intrinsic_functions_declarations"] == ["variable_references"]
    assert before["StringJSONata._eval_body"] == ["self", "env"]
    assert before["template_field_name"] == before["arguments_field_name"] == ["self"]
    assert before["bridge"], "LocalStack's JVM bridge is gone: the patch targets a different LocalStack"
    assert before["declared"] == ["$hash", "$parse", "$partition", "$randomSeeded", "$range", "$uuid"]


def test_the_hook_replaces_the_jvm_bridge(contract: dict) -> None:
    after = contract["after"]
    assert after == {
        "modules": [True, True, True],
        "declarations": True,
        "eval_body_wrapped": True,
        "field_names": [None, "Arguments"],
    }


def test_step_functions_functions(contract: dict) -> None:
    results = contract["results"]
    assert results["partition"] == [[1, 2, 3], [4, 5, 6], [7]]
    assert results["range"] == [0, 2, 4, 6, 8, 10]
    assert results["range_down"] == [5, 3, 1]
    # AWS's recorded test_array_range (LocalStack's test_array_jsonata.snapshot.json): a sequence.
    assert (results["range_one"], results["range_one_kept"]) == (1, [1])
    assert results["range_undefined_argument"] is False
    assert results["hash"] == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    assert results["md5"] == "5d41402abc4b2a76b9719d911017c592"
    assert results["seeded"][0] == results["seeded"][1] and 0 <= results["seeded"][0] < 1
    assert results["random_in_range"] and results["uuid"]
    assert results["parse"] == {"a": [1, 2]}
    assert results["composed"] == 6
    assert results["integral"] == 3 and isinstance(results["integral"], int)
    assert results["null"] is None and results["undefined"] is None


def test_errors_carry_jsonata_codes(contract: dict) -> None:
    errors = contract["errors"]
    assert errors["type"].startswith("T2001") or errors["type"].startswith("T2002"), errors["type"]
    assert errors["signature"].startswith("T0410: "), errors["signature"]
    assert errors["algorithm"].startswith("D3137: Unsupported hashing algorithm 'SHA-3'"), errors["algorithm"]
    assert errors["syntax"].startswith("S0"), errors["syntax"]
    assert errors["parse"].startswith("D3137: $parse could not parse"), errors["parse"]
