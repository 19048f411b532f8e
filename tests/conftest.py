"""Shared fixtures. Unit tests use moto in-process (``aws`` fixture); end-to-end tests use a
real moto server process on 127.0.0.1 (``moto_server`` fixture), the same HTTP path boto3 takes
to AWS."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.motoserver import running_moto_server

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach real AWS or read the developer's credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    # botocore falls back to the EC2/ECS metadata endpoints when no credentials are set; tests
    # only ever talk to 127.0.0.1.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto in-process stands behind clients configured for real AWS, which cronplane paces at
    # AWS's API rates; the tests of pacing itself set or drop this.
    monkeypatch.setenv("CRONPLANE_PACING", "off")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process: every boto3 client created inside the test talks to it."""
    from moto import mock_aws

    with mock_aws():
        yield


@pytest.fixture
def moto_server() -> Iterator[str]:
    """A fresh moto server process on a free 127.0.0.1 port; yields its endpoint URL."""
    with running_moto_server() as url:
        yield url
