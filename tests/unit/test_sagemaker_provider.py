"""Contract of the plugin's SageMaker providers with LocalStack 4.9.2, checked inside LocalStack's own venv.

The providers use LocalStack's provider API (``aws_provider``, ``Service``, ``Skeleton`` with a dispatch
table, ``localstack.http.Response`` as a raw answer) and rely on its router sending ``/endpoints/...``
requests signed for ``sagemaker`` to ``sagemaker-runtime``. This test fails when an upgrade changes any of
that; the e2e tests (tests/e2e/test_notebook_replay_v2.py) show the whole path working.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest

from harness.config import Settings, load_settings
from harness.embedded import localstack

PLUGIN = Path(localstack.PLUGIN_DIR)

CONTRACT = r"""
import inspect
from importlib import metadata

from localstack.aws.protocol.service_router import custom_signing_name_rules
from localstack.aws.skeleton import Skeleton
from localstack.http import Response
from localstack.services.plugins import PLUGIN_NAMESPACE, Service

import localstack_plugin.sagemaker_provider as provider

assert metadata.version("localstack-core") == "4.9.2", metadata.version("localstack-core")
assert PLUGIN_NAMESPACE == "localstack.aws.provider"
names = {ep.name: ep.value for ep in metadata.entry_points(group=PLUGIN_NAMESPACE)}
assert names.get("sagemaker:emulator") == "localstack_plugin.sagemaker_provider:sagemaker", names
assert names.get("sagemaker-runtime:emulator") == "localstack_plugin.sagemaker_provider:sagemaker_runtime"
assert custom_signing_name_rules("sagemaker", "/endpoints/x/invocations").name == "sagemaker-runtime"
control = custom_signing_name_rules("sagemaker", "/")
assert control is None or control.name == "sagemaker", control  # the control plane stays "sagemaker"
for spec, api in ((provider.sagemaker, "sagemaker"), (provider.sagemaker_runtime, "sagemaker-runtime")):
    assert spec.name == f"{api}:emulator", spec.name
    service = spec.factory().create_service()
    assert isinstance(service, Service) and service.name() == api
    table = service.skeleton.dispatch_table
    assert set(table) == set(service.skeleton.service.operation_names), api
assert "InvokeEndpoint" in provider.sagemaker_runtime.factory().create_service().skeleton.dispatch_table
# The Skeleton passes a handler's localstack.http.Response through untouched (the forwarder relies on it).
source = inspect.getsource(Skeleton.dispatch_request)
assert "isinstance(result, Response)" in source, source
print("contract ok")
"""


def test_entry_points_name_the_providers() -> None:
    meta = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    providers = meta["project"]["entry-points"]["localstack.aws.provider"]
    assert {k: v for k, v in providers.items() if k.startswith("sagemaker")} == {
        "sagemaker:emulator": "localstack_plugin.sagemaker_provider:sagemaker",
        "sagemaker-runtime:emulator": "localstack_plugin.sagemaker_provider:sagemaker_runtime",
    }
    assert {"sagemaker", "sagemaker-runtime"} <= set(localstack.SERVICES.split(","))


def test_launch_selects_the_providers_and_names_the_emulator(tmp_path: Path) -> None:
    settings = load_settings().replace(home=tmp_path, localstack_port=4999, sagemaker_port=4998)
    env = localstack.launch_spec(settings, Path("python")).env
    assert env["PROVIDER_OVERRIDE_SAGEMAKER"] == env["PROVIDER_OVERRIDE_SAGEMAKER_RUNTIME"] == "emulator"
    assert env["SAGEMAKER_EMULATOR_URL"] == "http://127.0.0.1:4998"
    assert "sagemaker-runtime" in env["SERVICES"].split(",")


# In the e2e tier, where the session's embedded cloud has built LocalStack's venv: in a fresh CI's unit
# tier it does not exist yet, and the check would skip.
@pytest.mark.e2e
def test_localstack_api_the_providers_use_is_unchanged(embedded_cloud: Settings) -> None:
    python = localstack.venv_python(localstack.venv_dir(embedded_cloud))
    if not python.exists():
        pytest.skip(
            f"the cloud at AWS_ENDPOINT_URL was started elsewhere: no LocalStack venv at {python.parents[1]}"
        )
    result = subprocess.run([str(python), "-c", CONTRACT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "contract ok" in result.stdout
