"""docker-compose.yml, checked without a Docker engine: a real parser, then the things the harness relies on.

The schema is the Compose Specification's JSON schema, vendored as tests/data/compose-spec.json
(taken from the npm package dclint@3.1.0, schemas/compose.schema.json, which ships the compose-spec
project's schema; sha256 46b7d35f...d496) so the tests never download. When Debian's
``docker-compose`` (1.29, `apt-get install docker-compose`) is installed, its own ``config`` parser
must accept the file too; it needs no daemon for that.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml

from harness.config import Settings
from harness.targets.registry import target_for
from sagemaker_emulator.executors import DockerExecutor, RunSpec

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
EMULATOR_DOCKERFILE = ROOT / "docker" / "sagemaker-emulator.Dockerfile"
LONG_RUNNING = ("localstack", "sagemaker-emulator")
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str] | None = None) -> Any:
    """Compose's ``${NAME:-default}`` interpolation, enough for this file (tests use the defaults)."""
    env = env or {}
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)
    return value


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw)


def test_the_file_is_valid_against_the_compose_spec_schema(raw: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    validator.validate(raw)
    broken = json.loads(json.dumps(raw))
    broken["services"]["localstack"]["healthcheck"]["intervall"] = "5s"  # a typo the schema must catch
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validator.validate(broken)


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="Debian's docker-compose is not installed (apt-get install docker-compose); the schema test ran",
)
def test_debian_docker_compose_parses_it() -> None:
    out = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)
    assert resolved["services"]["localstack"]["ports"] == ["127.0.0.1:4566:4566/tcp"]
    assert resolved["services"]["sagemaker-emulator"]["ports"] == ["127.0.0.1:4577:4577/tcp"]


def test_localstack_is_pinned_and_runs_functions_in_the_projects_runtime_containers(
    compose: dict[str, Any], raw: dict[str, Any]
) -> None:
    ls = compose["services"]["localstack"]
    dockerfile = (ROOT / ls["build"]["context"] / ls["build"]["dockerfile"]).read_text()
    assert re.search(r"^FROM localstack/localstack:4\.9\.2$", dockerfile, re.M)
    env = ls["environment"]
    assert env["LAMBDA_RUNTIME_EXECUTOR"] == "container"  # the project's container executor by default
    assert raw["services"]["localstack"]["environment"]["LAMBDA_RUNTIME_EXECUTOR"] == (
        "${HARNESS_LAMBDA_EXECUTOR:-container}"  # LocalStack's own `docker` executor stays selectable
    )
    assert env["LAMBDA_CONTAINER_IMAGE"] == compose["services"]["lambda-runtime"]["image"]
    # Function containers join the stack's network, where the services resolve by name.
    assert (
        env["LAMBDA_CONTAINER_NETWORK"]
        == compose["networks"]["scones"]["name"]
        == env["LAMBDA_DOCKER_NETWORK"]
    )
    assert env["LAMBDA_CONTAINER_RUNTIME_HOST"] == "localstack"
    assert ls["depends_on"] == {"lambda-runtime": {"condition": "service_completed_successfully"}}
    assert set(env["SERVICES"].split(",")) >= {"s3", "lambda", "stepfunctions", "iam", "logs"}


def raw_volume(service: str, target: str) -> str:
    volumes = yaml.safe_load(COMPOSE.read_text())["services"][service]["volumes"]
    return next(v for v in volumes if v.endswith(":" + target))


def test_every_published_port_is_on_loopback(compose: dict[str, Any]) -> None:
    published = [p for svc in compose["services"].values() for p in svc.get("ports", [])]
    assert published, "the services must be reachable from the host"
    assert all(str(p).startswith("127.0.0.1:") for p in published), published


def test_long_running_services_have_healthchecks_and_the_docker_socket(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        svc = compose["services"][name]
        assert svc["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert "/var/run/docker.sock:/var/run/docker.sock" in svc["volumes"], name
        socket = interpolate(
            raw_volume(name, "/var/run/docker.sock"), {"DOCKER_SOCKET": "/tmp/x/docker.sock"}
        )
        assert socket == "/tmp/x/docker.sock:/var/run/docker.sock", "the socket path is a variable"
        assert svc["networks"] == ["scones"], name
    health = " ".join(compose["services"]["sagemaker-emulator"]["healthcheck"]["test"])
    assert "http://127.0.0.1:4577/_emulator/health" in health
    assert "/_localstack/health" in " ".join(compose["services"]["localstack"]["healthcheck"]["test"])


def test_function_endpoints_of_the_localstack_target_match_the_services(compose: dict[str, Any]) -> None:
    """harness/targets.py hands functions compose names and ports: they must exist in the file, and the
    compose LocalStack must forward SageMaker to the emulator (functions get only AWS_ENDPOINT_URL)."""
    target = target_for(Settings(target="localstack"))
    ls = urlparse(target.function_main_url)
    assert ls.hostname == "localstack" and ls.hostname in compose["services"]
    assert "127.0.0.1:4566:4566" in compose["services"]["localstack"]["ports"]
    env = compose["services"]["localstack"]["environment"]
    assert {"sagemaker", "sagemaker-runtime"} <= set(env["SERVICES"].split(","))
    assert env["PROVIDER_OVERRIDE_SAGEMAKER"] == env["PROVIDER_OVERRIDE_SAGEMAKER_RUNTIME"] == "emulator"
    sm = urlparse(env["SAGEMAKER_EMULATOR_URL"])
    assert env["SCONES_SAGEMAKER_ENDPOINT"] == env["SAGEMAKER_EMULATOR_URL"]
    emulator = compose["services"][sm.hostname]
    command = emulator["command"]
    assert command[command.index("--port") + 1] == str(sm.port) == "4577"
    assert command[command.index("--host") + 1] == "0.0.0.0"  # inside its container; published on loopback
    assert f"127.0.0.1:{sm.port}:{sm.port}" in emulator["ports"]
    # Host-side URLs of the same target go to the published ports.
    assert target.main_url == "http://127.0.0.1:4566" and target.sagemaker_url == "http://127.0.0.1:4577"


def test_emulator_runs_the_training_image_with_docker_and_shared_paths(compose: dict[str, Any]) -> None:
    emulator = compose["services"]["sagemaker-emulator"]
    command = emulator["command"]
    assert command[command.index("--executor") + 1] == "docker"
    state_dir = command[command.index("--state-dir") + 1]
    mounts = [v.split(":") for v in emulator["volumes"]]
    # The containers the emulator starts bind-mount /opt/ml from the HOST: same path on both sides.
    assert any(src == dst and state_dir.startswith(src + "/") for src, dst, *_ in mounts), mounts
    mode = emulator["environment"]["SAGEMAKER_EMULATOR_DOCKER_NETWORK_MODE"]
    assert mode == f"container:{emulator['container_name']}"
    assert emulator["depends_on"] == {
        "localstack": {"condition": "service_healthy"},
        "training-image": {"condition": "service_completed_successfully"},
    }
    assert emulator["environment"]["AWS_ENDPOINT_URL"] == "http://localstack:4566"
    image = compose["services"]["training-image"]
    assert image["image"] == "scones-training:latest"
    assert (ROOT / image["build"]["context"] / image["build"]["dockerfile"]).is_file()
    assert (ROOT / emulator["build"]["dockerfile"]).resolve() == EMULATOR_DOCKERFILE


def _third_party_imports(folder: Path) -> set[str]:
    names: set[str] = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {
        n for n in names if n not in sys.stdlib_module_names and n not in ("sagemaker_emulator", "__future__")
    }


def test_emulator_image_installs_everything_the_emulator_imports() -> None:
    text = EMULATOR_DOCKERFILE.read_text()
    installed = set(re.findall(r'"([a-zA-Z0-9_-]+)[<>=]', text))
    provided_by = {"botocore": "boto3"}
    needed = {provided_by.get(n, n) for n in _third_party_imports(ROOT / "sagemaker_emulator")}
    assert needed - installed == set(), f"add to {EMULATOR_DOCKERFILE.name}: {sorted(needed - installed)}"
    assert "docker" in installed  # the docker executor's SDK
    for src in ("sagemaker_emulator/",):
        assert f"COPY {src}" in text
        assert f"!{src}" in (ROOT / ".dockerignore").read_text()  # let into the build context


class _FakeContainers:
    def __init__(self) -> None:
        self.runs: list[tuple[str, dict[str, Any]]] = []

    def run(self, image: str, **kwargs: Any) -> object:
        self.runs.append((image, kwargs))
        return object()


class _FakeDocker:
    def __init__(self) -> None:
        self.containers = _FakeContainers()


def test_docker_executor_shares_the_emulator_network_namespace_under_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAGEMAKER_EMULATOR_DOCKER_NETWORK_MODE", raising=False)
    spec = RunSpec(image="scones-training:latest", mode="serve", opt_ml=tmp_path, name="sm-x", port=41234)
    client = _FakeDocker()
    DockerExecutor(client, network_mode="container:scones-sagemaker-emulator").start(spec)
    _, shared = client.containers.runs[0]
    assert shared["network_mode"] == "container:scones-sagemaker-emulator" and "ports" not in shared
    assert shared["environment"]["SAGEMAKER_BIND_TO_PORT"] == "41234"
    assert shared["environment"]["SAGEMAKER_BIND_TO_HOST"] == "127.0.0.1"
    # Without it (emulator on the host), the port is published on the host's loopback instead.
    client = _FakeDocker()
    DockerExecutor(client, network_mode=None).start(spec)
    _, published = client.containers.runs[0]
    assert published["ports"] == {"8080/tcp": ("127.0.0.1", 41234)} and "network_mode" not in published
