"""The bottom layer of a target: where calls go, with which credentials, and what the place can do.

A :class:`Target` holds its settings and its endpoints (``main_url``: the one endpoint every service
answers on, ``sagemaker_url``: SageMaker's own when it is served apart), hands out boto3 sessions and
clients and the environment variables a child process needs, and declares its capabilities
(:class:`Capabilities`: emulated, bills, fault API, Step Functions mocks, containers). Callers ask those,
never the class or the name. The lifecycle (bring-up, health checks, teardown) belongs to each target's
own module above this one (``local.py``, ``compose.py``, ``aws.py``); :mod:`harness.targets.registry`
names them, and :func:`~harness.targets.registry.target_for` is called once, where a command starts.

boto3 honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``, so the handler code that ships to
AWS never branches on where it runs; only the targets do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import botocore.config

from harness.checks import Check
from harness.config import Settings

if TYPE_CHECKING:
    from rich.console import Console

LOOPBACK = "127.0.0.1"
# LocalStack's well-known dummy credentials and account; never real secrets.
LOCAL_ACCESS_KEY = "test"
LOCAL_SECRET_KEY = "test"
LOCAL_ACCOUNT_ID = "000000000000"

# Services the SageMaker endpoint serves when it is apart from the main one.
SAGEMAKER_SERVICES = ("sagemaker", "sagemaker-runtime")

Log = Callable[[str], None]


class TargetError(RuntimeError):
    """The target cannot be used as configured (no credentials, unknown name, not up, ...)."""


@dataclass(frozen=True)
class Capabilities:
    """What a target can do; callers ask these instead of testing the target's class or name."""

    emulated: bool = True  # dummy credentials, nothing real is created
    bills: bool = False  # a run creates resources that cost money
    fault_api: bool = False  # the SageMaker emulator's /_emulator/faults answers on sagemaker_url
    sfn_mocks: bool = False  # Step Functions runs MockConfigFile test cases (harness sfn-test)
    containers: bool = False  # functions and training run in containers (a trainable image is needed)


def env_service_name(service: str) -> str:
    """``sagemaker-runtime`` -> ``SAGEMAKER_RUNTIME`` (boto3's per-service endpoint variable suffix)."""
    return service.upper().replace("-", "_").replace(" ", "_")


def emulated_env(region: str, main_url: str, sagemaker_url: str) -> dict[str, str]:
    """Variables that point a child process's boto3 at an emulated cloud (dummy credentials)."""
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_ENDPOINT_URL": main_url,
        **{f"AWS_ENDPOINT_URL_{env_service_name(s)}": sagemaker_url for s in SAGEMAKER_SERVICES},
    }


def host_urls(settings: Settings) -> dict[str, str]:
    """The embedded cloud's endpoints on 127.0.0.1, from the settings' ports."""
    return {
        "main_url": f"http://{LOOPBACK}:{settings.localstack_port}",
        "sagemaker_url": f"http://{LOOPBACK}:{settings.sagemaker_port}",
    }


@dataclass(frozen=True)
class Target:
    """Where AWS calls go: an emulated cloud by default (dummy credentials, ``main_url``).

    Subclasses set ``name``, ``capabilities`` and the lifecycle; a real cloud overrides the call layer
    (see ``aws.py``).
    """

    name: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities] = Capabilities()
    keeps_endpoint: ClassVar[bool] = True  # the default of `harness run --keep-endpoint`
    owns_cloud: ClassVar[bool] = False  # whether the harness starts and stops the cloud itself
    # What to tell a user whose calls cannot reach this target.
    unreachable_hint: ClassVar[str] = ""

    settings: Settings = field(repr=False, compare=False)
    main_url: str | None = None
    sagemaker_url: str | None = None
    # The main endpoint as seen from *inside* a Lambda function; differs from the host's under compose.
    function_main_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        """The target with the endpoints ``settings`` name (the embedded cloud's ports on 127.0.0.1)."""
        return cls(settings=settings, **host_urls(settings))

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def profile(self) -> str | None:
        return self.settings.profile

    @property
    def bills(self) -> bool:
        return self.capabilities.bills

    # --- where calls go ------------------------------------------------------------------------------
    def endpoint_url(self, service: str) -> str | None:
        """The endpoint for ``service`` on this target, ``None`` for AWS's own."""
        if service in SAGEMAKER_SERVICES and self.sagemaker_url:
            return self.sagemaker_url
        return self.main_url

    def session(self) -> boto3.Session:
        return boto3.Session(
            aws_access_key_id=LOCAL_ACCESS_KEY,
            aws_secret_access_key=LOCAL_SECRET_KEY,
            region_name=self.region,
        )

    def client(self, service: str, session: boto3.Session | None = None, **kwargs: Any) -> Any:
        """A boto3 client for ``service``; retries in 'standard' mode like the AWS CLI."""
        session = session or self.session()
        kwargs.setdefault("config", botocore.config.Config(retries={"mode": "standard", "max_attempts": 5}))
        url = self.endpoint_url(service)
        if url is not None:
            kwargs.setdefault("endpoint_url", url)
        return session.client(service, **kwargs)

    def account_id(self) -> str:
        return LOCAL_ACCOUNT_ID

    def process_env(self) -> dict[str, str]:
        """Variables that point a child process's boto3 at this target (empty for AWS: it inherits)."""
        assert self.main_url
        return emulated_env(self.region, self.main_url, self.sagemaker_url or self.main_url)

    def client_env(self) -> dict[str, str]:
        """What a user's shell, notebook or IDE needs to reach this target: ``harness env`` prints it.

        One endpoint on an emulated cloud: the main endpoint serves SageMaker too (LocalStack's plugin
        providers forward to the emulator), so ``AWS_ENDPOINT_URL`` alone reaches every service.
        """
        assert self.main_url
        return {
            "AWS_ENDPOINT_URL": self.main_url,
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def function_env(self) -> dict[str, str]:
        """The endpoint variable of deployed Lambda functions; none on AWS.

        Only ``AWS_ENDPOINT_URL``, the main endpoint, as a function someone else created has: its
        SageMaker providers forward to the emulator, and that path is where IAM is evaluated (a per-service
        variable pointing at the emulator's own port would skip it, so a call AWS would deny would pass).
        Credentials are not included: LocalStack's Lambda runtime injects the role's, as AWS does.
        """
        url = self.function_main_url or self.main_url
        assert url
        return {"AWS_ENDPOINT_URL": url}

    # --- lifecycle: each target's own module ---------------------------------------------------------
    def bring_up(self, console: Console | None = None) -> None:
        """Make the target ready for a run, or raise :class:`TargetError` saying what is missing."""
        raise NotImplementedError

    def checks(self, create_role: bool = False) -> list[Check]:
        """``harness doctor``'s checks (an emulated cloud's health; on aws the account and quotas)."""
        raise NotImplementedError

    def tear_down(self, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False) -> None:
        """``harness down``: stop or delete what the harness started or created here. ``reset`` (the
        embedded cloud only) also removes the embedded services' logs and temp folders."""
        raise NotImplementedError

    def dead_dependency(self) -> str | None:
        """A service this target started for the run that is no longer running, in words (``None`` when
        everything it started runs, or it starts nothing). Asked when a call could not connect, so a
        run stops at once with "LocalStack (pid N) exited" instead of waiting out its deadlines."""
        return None

    def _no_reset(self, reset: bool) -> None:
        if reset:
            raise TargetError(f"--reset is for the embedded cloud (target local), not {self.name}")
