"""The harness as a pytest plugin: test your own functions, state machines and models on the embedded cloud.

Installed with the package (entry point ``pytest11``), so every pytest run in an environment that has
``scones-harness`` gets these fixtures; none starts anything until a test asks for it:

- ``embedded_cloud`` (session): the :class:`~harness.config.Settings` of a running cloud. On target
  ``local`` (the default) it starts LocalStack and the SageMaker emulator once per session on free
  ports and stops them at the end; when ``AWS_ENDPOINT_URL`` names a running cloud it reuses that one
  and starts nothing; ``--harness-target localstack`` uses the compose cloud, ``aws`` real AWS (skipped
  without credentials).
- ``harness_target``: the :class:`~harness.targets.Target` object of that cloud.
- ``aws_client``: ``aws_client("s3")`` is a boto3 client bound to the cloud (cached per service).
- ``deploy_function``: ``deploy_function(source)`` creates a python3.11 zip function whose handler is
  ``app.handler`` and returns its name; deleted at the end of the test.
- ``deployed_workflow`` (session): the workflow's roles, three functions and state machine, deployed
  as ``harness deploy`` does (a :class:`~harness.deploy.DeployResult`).
- ``model_endpoint``: ``model_endpoint("model.tar.gz")`` hosts a model with data capture on an
  endpoint (InService) and returns its name; deleted at the end of the test.
- ``endpoint_captures``: ``endpoint_captures(endpoint, wait_for=3)`` returns the endpoint's capture
  records (:class:`~harness.report.capture.CaptureRecord`), waiting until that many arrived.

Choose the target with ``--harness-target local|localstack|aws`` (default: ``HARNESS_TARGET``, else local).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pytest

if TYPE_CHECKING:
    from harness.config import Settings
    from harness.deploy import DeployResult
    from harness.report.capture import CaptureRecord
    from harness.targets.base import Target

OPTION = "--harness-target"
SESSION_HOMES = Path(".harness") / "e2e"  # under pytest's rootdir; `.ci/run` sweeps it if a run is killed


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("scones-harness", "the Scones harness's cloud fixtures")
    group.addoption(
        OPTION,
        default=None,
        help="Target of the cloud fixtures, a name of harness.targets.registry: local (embedded, started "
        "per session), localstack (docker compose), aws (default: HARNESS_TARGET, else local).",
    )


def _port_of(url: str, name: str) -> int:
    parsed = urlparse(url)
    if parsed.hostname not in ("127.0.0.1", "localhost") or parsed.port is None:
        pytest.fail(f"{name}={url!r}: the cloud fixtures expect http://127.0.0.1:<port> (or localhost)")
    return parsed.port


def _external(settings: Settings, url: str) -> Settings:
    """Settings that reach the cloud ``AWS_ENDPOINT_URL`` (and ``..._SAGEMAKER``) name; nothing started."""
    from harness.embedded.process import is_healthy
    from harness.targets.local import LocalTarget
    from harness.targets.registry import target_for

    settings = settings.replace(localstack_port=_port_of(url, "AWS_ENDPOINT_URL"))
    sagemaker = os.environ.get("AWS_ENDPOINT_URL_SAGEMAKER")
    if sagemaker:
        settings = settings.replace(sagemaker_port=_port_of(sagemaker, "AWS_ENDPOINT_URL_SAGEMAKER"))
    if target_for(settings).bills:  # an endpoint URL means an emulated cloud, whatever the default says
        settings = settings.replace(target=LocalTarget.name)
    if not is_healthy(f"{url.rstrip('/')}/_localstack/health", timeout=5):
        pytest.fail(f"AWS_ENDPOINT_URL={url} is set but LocalStack does not answer its health check")
    return settings


@pytest.fixture(scope="session")
def embedded_cloud(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """Settings whose ``target_for(settings)`` reaches a running cloud (see the module's docstring)."""
    from harness.config import load_settings
    from harness.embedded.process import free_ports
    from harness.targets.base import TargetError
    from harness.targets.registry import target_for

    chosen = request.config.getoption(OPTION)
    settings = load_settings(target=chosen)
    external = os.environ.get("AWS_ENDPOINT_URL")
    if external:
        yield _external(settings, external)
        return
    target = target_for(settings)
    if not target.owns_cloud:
        # aws or compose: a cloud this session does not own; it only has to be reachable.
        try:
            target.bring_up()
        except TargetError as exc:
            if target.bills:
                pytest.skip(f"target {target.name}: {exc}")
            pytest.fail(f"target {target.name}: {exc}")
        yield settings
        return
    localstack_port, sagemaker_port = free_ports(2)
    home = request.config.rootpath / SESSION_HOMES / f"session-{os.getpid()}"
    settings = settings.replace(home=home, localstack_port=localstack_port, sagemaker_port=sagemaker_port)
    target = target.from_settings(settings)
    target.bring_up()
    try:
        yield settings
    finally:
        target.tear_down()
    shutil.rmtree(home, ignore_errors=True)  # kept (with its logs) only when stopping failed


@pytest.fixture(scope="session")
def harness_target(embedded_cloud: Settings) -> Target:
    from harness.targets.registry import target_for

    return target_for(embedded_cloud)


@pytest.fixture(scope="session")
def aws_client(harness_target: Target) -> Callable[[str], Any]:
    """``aws_client("lambda")``: a boto3 client of the cloud, one per service for the session."""
    clients: dict[str, Any] = {}
    session = harness_target.session()

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = harness_target.client(service, session=session)
        return clients[service]

    return client


@pytest.fixture
def deploy_function(aws_client: Callable[[str], Any], harness_target: Target) -> Iterator[Callable[..., str]]:
    """``deploy_function(source, env=None, timeout=5)``: a zip function from source; returns its name."""
    from harness.pytest_plugin import functions

    created: list[str] = []
    lam = aws_client("lambda")

    def deploy(source: str, **kwargs: Any) -> str:
        kwargs.setdefault("role_arn", functions.function_role(aws_client("iam")))
        name = functions.deploy(lam, source, **kwargs)
        created.append(name)
        return name

    yield deploy
    for name in created:
        lam.delete_function(FunctionName=name)


@pytest.fixture(scope="session")
def deployed_workflow(embedded_cloud: Settings, harness_target: Target) -> DeployResult:
    """The workflow's functions and state machine, deployed (idempotently) as ``harness deploy`` does."""
    from harness.deploy import deploy
    from harness.pytest_plugin.endpoints import ensure_bucket

    # The workflow's photo rule is a notification of the data bucket: deploy needs the bucket to exist.
    ensure_bucket(harness_target.client("s3"), embedded_cloud.bucket, embedded_cloud.region)
    return deploy(embedded_cloud, harness_target)


@pytest.fixture
def model_endpoint(embedded_cloud: Settings, harness_target: Target) -> Iterator[Callable[..., str]]:
    """``model_endpoint(path_or_s3_uri, name=None)``: an InService endpoint with data capture."""
    from harness.pytest_plugin import endpoints

    hosted: list[str] = []

    def host(model_tar: Path | str, *, name: str | None = None) -> str:
        endpoint, _ = endpoints.host_model(embedded_cloud, harness_target, model_tar, name=name)
        hosted.append(endpoint)
        return endpoint

    yield host
    for endpoint in hosted:
        endpoints.delete_hosted(harness_target, endpoint)


@pytest.fixture
def endpoint_captures(embedded_cloud: Settings, harness_target: Target) -> Callable[..., list[CaptureRecord]]:
    """``endpoint_captures(endpoint, wait_for=0, timeout=30)``: the endpoint's capture records."""
    from harness.pytest_plugin import endpoints

    def read(endpoint: str, *, wait_for: int = 0, timeout: float = 30.0) -> list[CaptureRecord]:
        return endpoints.captured(
            embedded_cloud, harness_target, endpoint, wait_for=wait_for, timeout=timeout
        )

    return read
