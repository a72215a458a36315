"""Fixtures for the tests that run against a real AWS account (marker ``aws``; ``tox -e aws``).

They skip, saying why, when boto3's credential chain (environment, shared files, SSO, container or
instance role) finds no credentials: CI and the project's machines have no account. Settings come
from the usual layers (harness.toml, HARNESS_* variables), with the target forced to ``aws``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from harness.config import Settings, load_settings


@pytest.fixture(scope="session")
def aws_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    settings = load_settings().replace(target="aws")
    session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
    if session.get_credentials() is None:
        pytest.skip(
            "no AWS credentials: boto3's credential chain found none "
            f"(profile {settings.profile or 'default'}); set AWS_PROFILE or AWS_ACCESS_KEY_ID/"
            "AWS_SECRET_ACCESS_KEY to run the aws tests (they create billable resources)"
        )
    home: Path = tmp_path_factory.mktemp("aws-home")
    yield settings.replace(home=home)
