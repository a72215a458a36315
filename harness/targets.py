"""Targets: where AWS calls go, and how each place is brought up, checked and torn down.

Each target (``local``, ``localstack``, ``aws``) is one class. It knows its endpoints and credentials
(everything else asks it for boto3 sessions, clients and the environment variables a child process
needs), whether it bills, how to bring itself up, how to check its health (``harness doctor``) and how
to tear down (``harness down``). ``workflow.py``, ``doctor.py`` and ``harness/commands`` call these
methods and never compare a target's name; a test greps for that.

boto3 honours ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``, so the handler code that ships to
AWS never branches on where it runs; only this module does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import boto3
import botocore.config

from harness.config import Settings

if TYPE_CHECKING:  # heavy or circular at import time; imported where used
    from rich.console import Console

    from harness.doctor import Check

LOOPBACK = "127.0.0.1"
# LocalStack's well-known dummy credentials and account; never real secrets.
LOCAL_ACCESS_KEY = "test"
LOCAL_SECRET_KEY = "test"
LOCAL_ACCOUNT_ID = "000000000000"

# Services the SageMaker emulator serves; everything else goes to LocalStack.
SAGEMAKER_SERVICES = ("sagemaker", "sagemaker-runtime")

Log = Callable[[str], None]


class TargetError(RuntimeError):
    """The target cannot be used as configured (no credentials, unknown name, not up, ...)."""


def _env_service_name(service: str) -> str:
    """``sagemaker-runtime`` -> ``SAGEMAKER_RUNTIME`` (boto3's per-service endpoint variable suffix)."""
    return service.upper().replace("-", "_").replace(" ", "_")


def _host_urls(settings: Settings) -> dict[str, str]:
    return {
        "localstack_url": f"http://{LOOPBACK}:{settings.localstack_port}",
        "sagemaker_url": f"http://{LOOPBACK}:{settings.sagemaker_port}",
    }


@dataclass(frozen=True)
class Target:
    """Where AWS calls go. Subclasses are the targets; :func:`target_for` picks one from settings."""

    name: ClassVar[str] = ""
    bills: ClassVar[bool] = False  # whether a run creates resources that cost money
    keeps_endpoint: ClassVar[bool] = True  # the default of `harness run --keep-endpoint`
    owns_cloud: ClassVar[bool] = False  # whether the harness starts and stops the cloud itself
    # What to tell a user whose calls cannot reach this target.
    unreachable_hint: ClassVar[str] = ""

    region: str
    profile: str | None = None
    localstack_url: str | None = None
    sagemaker_url: str | None = None
    # Endpoints as seen from *inside* a Lambda function; differ from the host's under docker compose.
    function_localstack_url: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        """The target with the endpoints ``settings`` name (the embedded cloud's ports on 127.0.0.1)."""
        return cls(region=settings.region, **_host_urls(settings))

    @property
    def is_local(self) -> bool:
        """Emulated (LocalStack + the emulator, dummy credentials) rather than AWS itself."""
        return not self.bills

    # --- where calls go (the emulated targets'; AwsTarget overrides) -------------------------------
    def endpoint_url(self, service: str) -> str | None:
        """The endpoint for ``service`` on this target, ``None`` for AWS's own."""
        return self.sagemaker_url if service in SAGEMAKER_SERVICES else self.localstack_url

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
        assert self.localstack_url and self.sagemaker_url
        return {
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.localstack_url,
            **{f"AWS_ENDPOINT_URL_{_env_service_name(s)}": self.sagemaker_url for s in SAGEMAKER_SERVICES},
        }

    def client_env(self) -> dict[str, str]:
        """What a user's shell, notebook or IDE needs to reach this target: ``harness env`` prints it.

        One endpoint locally: LocalStack's main port serves SageMaker too (the plugin's providers forward to
        the emulator), so ``AWS_ENDPOINT_URL`` alone reaches every service.
        """
        assert self.localstack_url
        return {
            "AWS_ENDPOINT_URL": self.localstack_url,
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def function_env(self) -> dict[str, str]:
        """The endpoint variable of deployed Lambda functions; none on AWS.

        Only ``AWS_ENDPOINT_URL``, LocalStack's main port, as a function someone else created has: its
        SageMaker providers forward to the emulator, and that path is where IAM is evaluated (a per-service
        variable pointing at the emulator's own port would skip it, so a call AWS would deny would pass).
        Credentials are not included: LocalStack's Lambda runtime injects the role's, as AWS does.
        """
        ls = self.function_localstack_url or self.localstack_url
        assert ls
        return {"AWS_ENDPOINT_URL": ls}

    # --- lifecycle ---------------------------------------------------------------------------------
    def bring_up(self, settings: Settings, console: Console | None = None) -> None:
        """Make the target ready for a run, or raise :class:`TargetError` saying what is missing."""
        raise NotImplementedError

    def checks(self, settings: Settings, create_role: bool = False) -> list[Check]:
        """``harness doctor``'s checks for this target (health locally; account, quotas, cost on aws)."""
        raise NotImplementedError

    def tear_down(
        self, settings: Settings, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False
    ) -> None:
        """``harness down``: stop or delete what the harness started or created here. ``reset`` (local
        only) also removes the embedded services' logs and temp folders."""
        raise NotImplementedError

    def _no_reset(self, reset: bool) -> None:
        if reset:
            raise TargetError(f"--reset is for the embedded cloud (target local), not {self.name}")


@dataclass(frozen=True)
class LocalTarget(Target):
    """The embedded cloud: LocalStack and the SageMaker emulator as processes this harness starts."""

    name: ClassVar[str] = "local"
    owns_cloud: ClassVar[bool] = True
    unreachable_hint: ClassVar[str] = "is the embedded cloud up? run 'harness up'"

    def bring_up(self, settings: Settings, console: Console | None = None) -> None:
        from harness.embedded import stack  # the embedded cloud is only needed on this target

        for service in stack.up(settings, console=console):
            if not service.healthy:
                raise TargetError(f"embedded {service.name} is not healthy: {service.note or service.url}")

    def checks(self, settings: Settings, create_role: bool = False) -> list[Check]:
        from harness.doctor import embedded_checks

        return embedded_checks(settings)

    def tear_down(
        self, settings: Settings, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False
    ) -> None:
        from harness.embedded import stack

        for name, outcome in stack.down(settings, reset=reset):
            log(f"{name}: {outcome}")


@dataclass(frozen=True)
class LocalStackTarget(Target):
    """``harness compose up``: LocalStack and the emulator in containers; functions reach them by name."""

    name: ClassVar[str] = "localstack"
    unreachable_hint: ClassVar[str] = "is the compose stack up? run 'harness compose up'"

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        # Under docker compose the functions run in containers on the compose network and reach the
        # services by their compose names (see docker-compose.yml).
        return cls(
            region=settings.region,
            **_host_urls(settings),
            function_localstack_url="http://localstack:4566",
        )

    def bring_up(self, settings: Settings, console: Console | None = None) -> None:
        if settings.algorithm == "builtin" or not settings.training_image:
            raise TargetError(
                "target localstack runs training in containers, which cannot pull AWS's built-in image: "
                "set algorithm = 'image', training_image = 'scones-training:latest' "
                "(built by `harness compose up`)"
            )
        try:
            self.client("s3").list_buckets()
        except Exception as exc:
            raise TargetError(
                f"LocalStack is not reachable at {self.localstack_url}: start it with `harness compose up`"
            ) from exc

    def checks(self, settings: Settings, create_role: bool = False) -> list[Check]:
        from harness.doctor import compose_checks

        return compose_checks(settings, self)

    def tear_down(
        self, settings: Settings, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False
    ) -> None:
        self._no_reset(reset)
        from harness.teardown import teardown

        teardown(settings, self, delete_data, log=log)
        log("the containers keep running: `harness compose down` removes them")


@dataclass(frozen=True)
class AwsTarget(Target):
    """Real AWS: the profile/region chain; refuses to start without credentials; bills."""

    name: ClassVar[str] = "aws"
    bills: ClassVar[bool] = True
    keeps_endpoint: ClassVar[bool] = False  # an InService endpoint bills by the hour
    unreachable_hint: ClassVar[str] = "check the network and the region"

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        return cls(region=settings.region, profile=settings.profile)

    def endpoint_url(self, service: str) -> str | None:
        return None

    def session(self) -> boto3.Session:
        session = boto3.Session(profile_name=self.profile, region_name=self.region)
        if session.get_credentials() is None:
            raise TargetError(
                "target 'aws' needs AWS credentials: none were found "
                f"(profile {self.profile or 'default'!r}, region {self.region}). "
                "Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run 'aws configure'."
            )
        return session

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    def process_env(self) -> dict[str, str]:
        return {}

    def function_env(self) -> dict[str, str]:
        return {}

    def client_env(self) -> dict[str, str]:
        """Only the region (and profile): credentials stay in the user's own chain."""
        profile = {"AWS_PROFILE": self.profile} if self.profile else {}
        return {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region, **profile}

    def bring_up(self, settings: Settings, console: Console | None = None) -> None:
        self.session()  # nothing to start; fail early, with the reason, when there are no credentials

    def checks(self, settings: Settings, create_role: bool = False) -> list[Check]:
        from harness.doctor import aws_checks

        return aws_checks(settings, self, create_role)

    def tear_down(
        self, settings: Settings, delete_data: bool = False, log: Log = lambda _m: None, reset: bool = False
    ) -> None:
        self._no_reset(reset)
        from harness.teardown import teardown

        teardown(settings, self, delete_data, log=log)


TARGETS: dict[str, type[Target]] = {cls.name: cls for cls in (LocalTarget, LocalStackTarget, AwsTarget)}


def target_for(settings: Settings) -> Target:
    """Build the :class:`Target` that ``settings.target`` names."""
    cls = TARGETS.get(settings.target)
    if cls is None:
        raise TargetError(f"unknown target {settings.target!r}: one of {', '.join(TARGETS)}")
    return cls.from_settings(settings)
