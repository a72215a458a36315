"""The S3 provider override (localstack_plugin/s3_provider.py) that keeps S3's spill folder in the harness
home: selected at launch, declared as an entry point, and built on LocalStack 4.9.2's provider API.

The e2e check that objects really spill into the home (and not into ``/tmp/localstack-s3-storage``) is
tests/e2e/test_restart_consistency.py.
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
import os, tempfile
from importlib import metadata
from localstack.services.plugins import PLUGIN_NAMESPACE, Service
from localstack.services.s3.provider import S3Provider
from localstack.services.s3.storage.ephemeral import EphemeralS3ObjectStore

names = {ep.name: ep.value for ep in metadata.entry_points(group=PLUGIN_NAMESPACE)}
assert names.get("s3:harness") == "localstack_plugin.s3_provider:s3", names
import localstack_plugin.s3_provider as provider
folder = os.path.join(tempfile.mkdtemp(), "s3-storage")
os.environ[provider.ENV] = folder
assert provider.s3.name == "s3:harness", provider.s3.name
service = provider.s3.factory().create_service()
assert isinstance(service, Service) and service.name() == "s3"
assert isinstance(service._provider, S3Provider), service._provider
store = service._provider._storage_backend
assert isinstance(store, EphemeralS3ObjectStore) and store.root_directory == folder, vars(store)
assert os.path.isdir(folder)
print("contract ok")
"""


def test_entry_point_and_launch_select_the_s3_provider(tmp_path: Path) -> None:
    meta = tomllib.loads((PLUGIN / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["localstack.aws.provider"]["s3:harness"] == (
        "localstack_plugin.s3_provider:s3"
    )
    hooks = meta["project"]["entry-points"]["localstack.hooks.on_infra_start"]
    assert not any("s3_storage" in value for value in hooks.values()), "the old patch is still registered"
    settings = load_settings().replace(home=tmp_path, localstack_port=4999, sagemaker_port=4998)
    env = localstack.launch_spec(settings, Path("python")).env
    assert env["PROVIDER_OVERRIDE_S3"] == "harness"
    assert env[localstack.S3_STORAGE_ENV] == str(tmp_path.resolve() / "localstack" / "s3-storage")


@pytest.mark.e2e
def test_the_provider_builds_localstacks_s3_on_the_harness_folder(embedded_cloud: Settings) -> None:
    python = localstack.venv_python(localstack.venv_dir(embedded_cloud))
    if not python.exists():
        pytest.skip(
            f"the cloud at AWS_ENDPOINT_URL was started elsewhere: no LocalStack venv at {python.parents[1]}"
        )
    result = subprocess.run(
        [str(python), "-c", CONTRACT], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "contract ok" in result.stdout
