"""Where AWS calls go: region, profile and endpoint with the AWS CLI's precedence
(option > environment > profile config), the manifest's region last."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cronplane.aws.session import AwsConfig

MANIFEST_REGION = "eu-west-1"


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "config"
    config.write_text(
        "[default]\nregion = us-west-2\n\n[profile other]\nregion = ap-southeast-2\n\n"
        "[profile noregion]\noutput = json\n"
    )
    credentials = tmp_path / "credentials"
    credentials.write_text("[other]\naws_access_key_id = OTHERKEY\naws_secret_access_key = othersecret\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def region(tmp_path: Path, **options: str) -> str | None:
    return AwsConfig(**options).with_defaults(MANIFEST_REGION, tmp_path).region  # type: ignore[arg-type]


def test_region_option_beats_environment_beats_profile_config_beats_manifest(
    aws_files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert region(aws_files) == "us-west-2"  # the default profile's region
    assert region(aws_files, profile="other") == "ap-southeast-2"
    monkeypatch.setenv("AWS_PROFILE", "other")
    assert region(aws_files) == "ap-southeast-2"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    assert region(aws_files) == "ca-central-1"
    monkeypatch.setenv("AWS_REGION", "eu-north-1")  # AWS_REGION before AWS_DEFAULT_REGION, as the CLI reads them
    assert region(aws_files) == "eu-north-1"
    assert region(aws_files, region="sa-east-1") == "sa-east-1"


def test_manifest_region_when_no_aws_setting_names_one(aws_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert region(aws_files, profile="noregion") == MANIFEST_REGION
    assert region(aws_files, profile="missing") == MANIFEST_REGION  # the session reports the bad profile later
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_files / "nothing-here"))
    assert region(aws_files) == MANIFEST_REGION


def test_endpoint_option_beats_environment(aws_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    assert AwsConfig().with_defaults(None, aws_files).endpoint_url == "http://127.0.0.1:1"
    assert (
        AwsConfig(endpoint_url="http://127.0.0.1:2").with_defaults(None, aws_files).endpoint_url == "http://127.0.0.1:2"
    )


def test_profile_option_beats_environment_credentials(aws_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    assert AwsConfig(region="eu-west-1").session().get_credentials().access_key == "ENVKEY"
    # an explicit --profile wins over the environment's keys, as with `aws --profile`
    assert AwsConfig(region="eu-west-1", profile="other").session().get_credentials().access_key == "OTHERKEY"
    # also against a local endpoint: --profile is not replaced by the emulator's dummy keys
    local = AwsConfig(region="eu-west-1", profile="other", endpoint_url="http://127.0.0.1:1")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert local.session().get_credentials().access_key == "OTHERKEY"


def test_unknown_profile_is_one_clear_message(aws_files: Path) -> None:
    from cronplane.aws.client import AwsClient
    from cronplane.errors import AwsError

    with pytest.raises(AwsError, match="AWS settings: The config profile \\(missing\\) could not be found"):
        AwsClient(AwsConfig(region="eu-west-1", profile="missing")).account_id()


def test_dev_endpoint_uses_emulator_credentials_even_with_a_profile_in_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running `jobctl dev` takes any credentials: a profile exported in the shell that does
    not exist here (or has expired) must not break commands pointed at it."""
    import socket

    from cronplane.aws.session import write_dev_file

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        write_dev_file(tmp_path, endpoint, "eu-west-1")
        monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
        monkeypatch.setenv("AWS_PROFILE", "no-such-profile-here")
        config = AwsConfig().with_defaults("eu-west-1", tmp_path)
        assert config.endpoint_url == endpoint and config.from_dev_file
        credentials = config.session().get_credentials()
        assert credentials is not None and credentials.access_key == "testing"
        # An endpoint given explicitly with a profile exported still honours the profile.
        explicit = AwsConfig(endpoint_url=endpoint).with_defaults("eu-west-1", tmp_path)
        assert not explicit.from_dev_file and not explicit._emulator_credentials()


@pytest.fixture
def running_dev(tmp_path: Path) -> Iterator[str]:
    """A `.cronplane/dev.json` of a live `jobctl dev` (this process, a listening port) that
    deployed into eu-central-1."""
    import socket

    from cronplane.aws.session import write_dev_file

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        write_dev_file(tmp_path, endpoint, "eu-central-1")
        yield endpoint


def test_the_dev_emulators_region_beats_the_shells_unless_region_is_given(
    tmp_path: Path, running_dev: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CloudShell and many setups export a region for real AWS; the emulator deployed the jobs
    into the manifest's region (kept in dev.json), so that is where commands must look."""
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    found = AwsConfig().with_defaults("eu-west-1", tmp_path)
    assert (found.endpoint_url, found.region) == (running_dev, "eu-central-1")
    # The banner's advice: the same endpoint exported (spelt with localhost and a slash).
    monkeypatch.setenv("AWS_ENDPOINT_URL", running_dev.replace("127.0.0.1", "localhost") + "/")
    assert AwsConfig().with_defaults("eu-west-1", tmp_path).region == "eu-central-1"
    assert AwsConfig(endpoint_url=running_dev).with_defaults("eu-west-1", tmp_path).region == "eu-central-1"
    # --region still wins, as everywhere.
    assert AwsConfig(region="ap-south-1").with_defaults("eu-west-1", tmp_path).region == "ap-south-1"


def test_another_endpoint_keeps_the_shells_region(
    tmp_path: Path, running_dev: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    other = AwsConfig(endpoint_url="http://127.0.0.1:1").with_defaults("eu-west-1", tmp_path)
    assert (other.endpoint_url, other.region) == ("http://127.0.0.1:1", "us-east-1")
