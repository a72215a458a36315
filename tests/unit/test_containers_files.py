"""The container target's files and helpers, checked without an engine (with one: tests/containers/)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness.config import Settings
from harness.containers import engine, offline, stack
from harness.embedded.localstack import LOCALSTACK_PINS

ROOT = Path(__file__).resolve().parents[2]
BASE_ARG_DOCKERFILES = (
    "docker/lambda-python.Dockerfile",
    "docker/localstack-pypi.Dockerfile",
    "docker/sagemaker-emulator.Dockerfile",
    "training/Dockerfile",
)


def test_offline_localstack_image_installs_exactly_the_embedded_targets_pins() -> None:
    lines = (ROOT / "docker" / "localstack-requirements.txt").read_text().splitlines()
    pins = tuple(line for line in lines if line and not line.startswith("#"))
    assert pins == LOCALSTACK_PINS


@pytest.mark.parametrize("dockerfile", BASE_ARG_DOCKERFILES)
def test_images_build_from_the_official_python_image_unless_told_otherwise(dockerfile: str) -> None:
    text = (ROOT / dockerfile).read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim\nFROM ${BASE_IMAGE}" in text
    # pip settings are build-time only: an ARG, never an ENV that stays in the image.
    assert "ARG PIP_CONFIG_FILE=/opt/offline/pip.conf" in text
    assert not re.search(r"^ENV .*PIP_", text, re.M)
    assert "rm -rf /opt/offline" in text


def test_the_offline_override_builds_localstack_from_pypi() -> None:
    override = yaml.safe_load((ROOT / "docker-compose.offline.yml").read_text())
    build = override["services"]["localstack"]["build"]
    assert build["dockerfile"] == "docker/localstack-pypi.Dockerfile"
    assert "localstack-requirements.txt" in (ROOT / build["dockerfile"]).read_text()
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("lambda-runtime", "training-image", "sagemaker-emulator"):
        assert (
            base["services"][name]["build"]["args"]["BASE_IMAGE"] == "${HARNESS_BASE_IMAGE:-python:3.11-slim}"
        )


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_compose_v1_merges_the_override(tmp_path: Path) -> None:
    env = stack.compose_env(Settings(home=tmp_path, localstack_port=4999), offline_mode=True)
    env.pop("DOCKER_HOST", None)
    argv = stack.compose_argv(engine.Compose(("docker-compose",), "1.29"), offline_mode=True)
    out = subprocess.run([*argv, "config"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    resolved = yaml.safe_load(out.stdout)
    assert resolved["services"]["localstack"]["build"]["dockerfile"] == "docker/localstack-pypi.Dockerfile"
    assert resolved["services"]["training-image"]["build"]["args"]["BASE_IMAGE"] == offline.BASE_TAG
    assert resolved["networks"]["scones"]["name"] == "scones4999-net"
    assert resolved["services"]["localstack"]["ports"] == ["127.0.0.1:4999:4566/tcp"]


def test_the_docker_socket_comes_from_docker_host() -> None:
    assert engine.docker_socket({}) == "/var/run/docker.sock"
    assert engine.docker_socket({"DOCKER_HOST": "unix:///tmp/ci/docker.sock"}) == "/tmp/ci/docker.sock"
    with pytest.raises(engine.EngineError, match="not a unix socket"):
        engine.docker_socket({"DOCKER_HOST": "tcp://10.0.0.1:2375"})


def test_apt_mirror_is_read_from_deb822_and_one_line_sources(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_DEBIAN_MIRROR", raising=False)
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n"
    )
    assert offline.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.example/debian bookworm main\n")
    assert offline.apt_mirror(tmp_path) == "http://other.example/debian"
    empty = tmp_path / "none"
    empty.mkdir()
    assert offline.apt_mirror(empty) == offline.DEFAULT_MIRROR


def test_offline_build_files_are_never_committed() -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in ("docker/offline/ca.pem", "docker/offline/pip.conf", "docker/offline/wheels/torch.whl"):
        probe = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert probe.returncode == 0, f"{path} must be git-ignored"
    probe = subprocess.run(["git", "check-ignore", "-q", "docker/offline/README.md"], cwd=ROOT, check=False)
    assert probe.returncode == 1


def test_each_harness_home_gets_its_own_stack(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("HARNESS_COMPOSE_PROJECT", raising=False)
    a = stack.compose_env(Settings(home=tmp_path / "a", localstack_port=4566), offline_mode=False)
    b = stack.compose_env(Settings(home=tmp_path / "b", localstack_port=4666), offline_mode=False)
    assert a["COMPOSE_PROJECT_NAME"] != b["COMPOSE_PROJECT_NAME"]
    assert a["SCONES_COMPOSE_STATE"] != b["SCONES_COMPOSE_STATE"]
    assert "HARNESS_BASE_IMAGE" not in a  # official images unless offline


class _Container:
    def __init__(self, service: str, status: str, health: str | None = None, code: int = 0) -> None:
        self.name = f"p_{service}_1"
        self.labels = {"com.docker.compose.service": service}
        state: dict = {"Status": status, "ExitCode": code}
        if health:
            state["Health"] = {"Status": health}
        self.attrs = {"State": state}

    def logs(self, tail: int) -> bytes:
        return b"boom: the last line\n"


class _Client:
    def __init__(self, *rounds: list[_Container]) -> None:
        self.rounds = list(rounds)
        self.containers = self

    def list(self, all: bool, filters: dict) -> list[_Container]:
        return self.rounds.pop(0) if len(self.rounds) > 1 else self.rounds[0]


def test_wait_healthy_waits_for_health_and_one_shot_builders(monkeypatch) -> None:
    starting = [_Container("localstack", "running", "starting"), _Container("lambda-runtime", "exited")]
    healthy = [_Container("localstack", "running", "healthy"), _Container("lambda-runtime", "exited")]
    monkeypatch.setattr(engine, "client", lambda: _Client(starting, healthy))
    monkeypatch.setattr(stack.time, "sleep", lambda _s: None)
    assert stack.wait_healthy("p", timeout=30) == {"localstack": "healthy", "lambda-runtime": "completed"}


@pytest.mark.parametrize(
    "container, message",
    [
        (_Container("localstack", "running", "unhealthy"), "localstack is unhealthy"),
        (_Container("training-image", "exited", code=1), "training-image exited with 1"),
    ],
)
def test_wait_healthy_fails_with_the_failing_services_logs(monkeypatch, container, message) -> None:
    monkeypatch.setattr(engine, "client", lambda: _Client([container]))
    with pytest.raises(stack.StackError, match=message) as failure:
        stack.wait_healthy("p", timeout=30)
    assert "boom: the last line" in str(failure.value)
