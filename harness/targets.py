"""The only module that knows endpoints and credentials.

Everything else asks a :class:`Target` for boto3 sessions, clients and the
environment variables a child process (a Lambda function, the SageMaker
emulator, a training job) needs. boto3 itself honours ``AWS_ENDPOINT_URL`` and
``AWS_ENDPOINT_URL_<SERVICE>``, so the handler code that ships to AWS never
branches on where it runs; only this module does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config

from harness.config import Settings

LOOPBACK = "127.0.0.1"
# LocalStack's well-known dummy credentials and account; never real secrets.
LOCAL_ACCESS_KEY = "test"
LOCAL_SECRET_KEY = "test"
LOCAL_ACCOUNT_ID = "000000000000"

# Services the SageMaker emulator serves; everything else goes to LocalStack.
SAGEMAKER_SERVICES = ("sagemaker", "sagemaker-runtime")


class TargetError(RuntimeError):
    """The target cannot be used as configured (no credentials, unknown name, ...)."""


def _env_service_name(service: str) -> str:
    """``sagemaker-runtime`` -> ``SAGEMAKER_RUNTIME`` (boto3's per-service endpoint variable suffix)."""
    return service.upper().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True)
class Target:
    """Where AWS calls go: ``local`` (embedded), ``localstack`` (docker compose) or ``aws``."""

    name: str
    region: str
    profile: str | None = None
    localstack_url: str | None = None
    sagemaker_url: str | None = None
    # Endpoints as seen from *inside* a Lambda function; differ from the host's under docker compose.
    function_localstack_url: str | None = None
    function_sagemaker_url: str | None = None

    @property
    def is_local(self) -> bool:
        return self.name != "aws"

    def endpoint_url(self, service: str) -> str | None:
        """The endpoint for ``service`` on this target, ``None`` for AWS's own."""
        if not self.is_local:
            return None
        return self.sagemaker_url if service in SAGEMAKER_SERVICES else self.localstack_url

    def session(self) -> boto3.Session:
        if self.is_local:
            return boto3.Session(
                aws_access_key_id=LOCAL_ACCESS_KEY,
                aws_secret_access_key=LOCAL_SECRET_KEY,
                region_name=self.region,
            )
        session = boto3.Session(profile_name=self.profile, region_name=self.region)
        if session.get_credentials() is None:
            raise TargetError(
                "target 'aws' needs AWS credentials: none were found "
                f"(profile {self.profile or 'default'!r}, region {self.region}). "
                "Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run 'aws configure'."
            )
        return session

    def client(self, service: str, session: boto3.Session | None = None, **kwargs: Any) -> Any:
        """A boto3 client for ``service``; retries in 'standard' mode like the AWS CLI."""
        session = session or self.session()
        kwargs.setdefault("config", botocore.config.Config(retries={"mode": "standard", "max_attempts": 5}))
        url = self.endpoint_url(service)
        if url is not None:
            kwargs.setdefault("endpoint_url", url)
        return session.client(service, **kwargs)

    def account_id(self) -> str:
        if self.is_local:
            return LOCAL_ACCOUNT_ID
        return self.client("sts").get_caller_identity()["Account"]

    def process_env(self) -> dict[str, str]:
        """Variables that point a child process's boto3 at this target (empty for AWS: it inherits)."""
        if not self.is_local:
            return {}
        assert self.localstack_url and self.sagemaker_url
        return {
            "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.localstack_url,
            **{f"AWS_ENDPOINT_URL_{_env_service_name(s)}": self.sagemaker_url for s in SAGEMAKER_SERVICES},
        }

    def function_env(self) -> dict[str, str]:
        """Per-service endpoint variables for deployed Lambda functions; none on AWS.

        Credentials are not included: LocalStack's Lambda runtime injects its own, as AWS does.
        """
        if not self.is_local:
            return {}
        ls = self.function_localstack_url or self.localstack_url
        sm = self.function_sagemaker_url or self.sagemaker_url
        assert ls and sm
        return {
            "AWS_ENDPOINT_URL": ls,
            **{f"AWS_ENDPOINT_URL_{_env_service_name(s)}": sm for s in SAGEMAKER_SERVICES},
        }


def target_for(settings: Settings) -> Target:
    """Build the :class:`Target` that ``settings.target`` names."""
    if settings.target == "aws":
        return Target(name="aws", region=settings.region, profile=settings.profile)
    ls = f"http://{LOOPBACK}:{settings.localstack_port}"
    sm = f"http://{LOOPBACK}:{settings.sagemaker_port}"
    if settings.target == "local":
        return Target(name="local", region=settings.region, localstack_url=ls, sagemaker_url=sm)
    if settings.target == "localstack":
        # Under docker compose the functions run in containers on the compose network and reach the
        # services by their compose names (see docker-compose.yml).
        return Target(
            name="localstack",
            region=settings.region,
            localstack_url=ls,
            sagemaker_url=sm,
            function_localstack_url="http://localstack:4566",
            function_sagemaker_url=f"http://sagemaker-emulator:{settings.sagemaker_port}",
        )
    raise TargetError(f"unknown target {settings.target!r}")
