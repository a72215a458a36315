"""Contract tests for every patch of LocalStack's internals (localstack_plugin/patches/).

One parametrized test per patch module, driven by the ``REPLACES`` table the module declares: the
objects it replaces still exist in the installed LocalStack with the signatures it was written against,
its hook is registered, and in the running embedded LocalStack the hook was loaded and the patch applied.
A new patch module is picked up without touching this file.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.config import Settings
from harness.embedded import localstack, stack
from harness.targets.registry import target_for
from tests.support.lambda_zip import deploy
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e

PATCHES_DIR = Path(localstack.PLUGIN_DIR) / "patches"
PATCH_MODULES = sorted(p.stem for p in PATCHES_DIR.glob("*.py") if p.stem not in ("__init__", "contract"))
APPLIED = "localstack_plugin: patch {} applied"


@pytest.fixture(scope="module")
def contract(embedded_cloud: Settings) -> dict[str, Any]:
    """What LocalStack's own interpreter finds for every patch's table (one subprocess for all)."""
    python = localstack.ensure_venv(embedded_cloud)
    done = subprocess.run(
        [str(python), "-m", "localstack_plugin.patches.contract"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # the installed plugin, not the source tree
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_patch_module_is_checked(contract: dict[str, Any]) -> None:
    assert PATCH_MODULES and sorted(contract) == PATCH_MODULES


@pytest.mark.parametrize("patch", PATCH_MODULES)
def test_patched_objects_keep_their_signatures(contract: dict[str, Any], patch: str) -> None:
    rows = contract[patch]["replaces"]
    if not rows:
        pytest.skip(
            f"{patch} declares no REPLACES table yet (it predates the table; its own contract test covers it)"
        )
    for row in rows:
        where = f"{row['module']}.{row['attribute']}"
        assert row["found"] is not None, f"{where} is gone: {row.get('problem')}"
        assert row["found"] == row["expected"], f"{where} changed its signature"


@pytest.mark.parametrize("patch", PATCH_MODULES)
def test_patch_is_registered_and_applied_in_the_running_localstack(
    contract: dict[str, Any], embedded_cloud: Settings, patch: str
) -> None:
    hooks = contract[patch]["hooks"]
    assert hooks, f"no localstack.hooks.on_infra_start entry point points into {patch}"
    if not contract[patch]["replaces"]:
        pytest.skip(f"{patch} declares no REPLACES table yet, so it does not say when it is applied")
    url = target_for(embedded_cloud).endpoint_url("s3")
    plugins = httpx.get(f"{url}/_localstack/plugins", timeout=10).json()
    loaded = {p["name"] for p in plugins.get("localstack.hooks.on_infra_start", []) if p.get("is_loaded")}
    assert set(hooks) <= loaded, f"{patch}: hooks {hooks} not loaded (loaded: {sorted(loaded)})"
    log = _own_log(embedded_cloud)
    wait_until(
        lambda: APPLIED.format(patch) in log.read_text(errors="replace"),
        timeout=10,
        what=f"'{APPLIED.format(patch)}' in {log}",
    )


def test_the_local_executor_is_the_selected_lambda_executor(embedded_cloud: Settings) -> None:
    """LocalStack loads an executor on the first invocation: after one, ours says it was loaded."""
    lam = target_for(embedded_cloud).client("lambda")
    name = deploy(lam, "def handler(event, context):\n    return 'ok'\n", prefix="executor")
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"ok"'
    log = _own_log(embedded_cloud)
    loaded = f"localstack_plugin: Lambda runtime executor {localstack.EXECUTOR_NAME} loaded"
    wait_until(lambda: loaded in log.read_text(errors="replace"), timeout=10, what=f"{loaded!r} in {log}")


def _own_log(settings: Settings) -> Path:
    log = stack.service_dir(settings, "localstack") / "localstack.log"
    if not log.is_file():
        pytest.skip(
            f"no LocalStack log at {log}: the cloud was not started by this session (AWS_ENDPOINT_URL)"
        )
    return log
