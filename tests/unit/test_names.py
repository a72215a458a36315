"""The workflow's names come from one place, and the function list from lambdas/ itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from harness import assets, names
from harness.aws_errors import error_code, is_access_denied, is_not_found

REPO = Path(__file__).resolve().parents[2]


def test_functions_are_the_folders_of_lambdas_in_the_state_machines_order() -> None:
    folders = {p.name for p in (REPO / "lambdas").iterdir() if (p / "lambda_function.py").is_file()}
    assert set(names.FUNCTIONS) == folders
    definition = (assets.statemachine_dir() / names.STATEMACHINE_FILE_NAME).read_text()
    # First appearance: writeResult is referenced by two states (result and low-confidence result).
    order = list(dict.fromkeys(m.group(1) for m in re.finditer(r"\$\{(\w+)\}", definition)))
    assert [names.ARN_PLACEHOLDERS[f] for f in names.FUNCTIONS] == order
    assert names.FUNCTIONS[0] == "serializeImageData" and names.FUNCTIONS[-1] == "writeResult"


def test_placeholder_rule() -> None:
    assert names.arn_placeholder("serializeImageData") == "SerializeImageDataFunctionArn"
    assert names.endpoint_log_group("ep") == "/aws/sagemaker/Endpoints/ep"


def test_no_module_spells_the_workflows_names_itself() -> None:
    """Names live in harness/names.py; any other module of harness/ uses the constant."""
    literals = [
        names.STATE_MACHINE,
        names.LAMBDA_ROLE,
        names.STATES_ROLE,
        names.SAGEMAKER_ROLE,
        names.JOB_PREFIX,
    ]
    offenders = [
        f"{path.relative_to(REPO)}: {literal}"
        for path in (REPO / "harness").rglob("*.py")
        if path.name != "names.py"
        for literal in literals
        if f'"{literal}"' in path.read_text()
    ]
    assert offenders == []


def _error(code: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


@pytest.mark.parametrize(
    "code",
    [
        "404",
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "StateMachineDoesNotExist",
    ],
)
def test_not_found_codes(code: str) -> None:
    assert is_not_found(_error(code)) and error_code(_error(code)) == code


def test_sagemaker_not_found_is_a_validation_exception_that_says_so() -> None:
    assert is_not_found(_error("ValidationException", 'Could not find endpoint "arn:...".'))
    assert is_not_found(_error("ValidationException", "Requested resource not found."))
    # Any other ValidationException is a real error, not an absent resource.
    assert not is_not_found(_error("ValidationException", "1 validation error detected: Value 'x'"))
    assert not is_not_found(_error("ThrottlingException"))


def test_access_denied() -> None:
    assert is_access_denied(_error("403")) and is_access_denied(_error("AccessDeniedException"))
    assert not is_access_denied(_error("NoSuchKey"))


def test_aws_errors_are_read_only_through_aws_errors_py() -> None:
    """No ``exc.response[...]`` and no modeled ``client.exceptions.X`` outside harness/aws_errors.py: one
    reading of "not found" / "access denied" (docs/architecture.md, Errors)."""
    pattern = re.compile(r"\.response\b|\.exceptions\.[A-Z]")
    offenders = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "harness").rglob("*.py"))
        if path.name != "aws_errors.py"
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line.split("#", 1)[0])
    ]
    assert offenders == [], "use harness.aws_errors:\n" + "\n".join(offenders)
    assert pattern.search("except s3.exceptions.NoSuchKey:") and pattern.search('exc.response["Error"]')
