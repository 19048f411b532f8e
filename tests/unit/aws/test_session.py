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


def test_dev_endpoint_uses_the_sessions_key_whatever_the_shell_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A running `jobctl dev` serves only its session key: commands pointed at it (found
    through dev.json, or its endpoint given as --endpoint-url / AWS_ENDPOINT_URL) sign with that
    key, not with the keys or the profile in the shell (maybe absent here, or expired)."""
    import socket

    from cronplane.aws.session import DevCredentials, write_dev_credentials, write_dev_file

    key = DevCredentials.generate()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        write_dev_credentials(tmp_path, endpoint, key)
        write_dev_file(tmp_path, endpoint, "eu-west-1")
        monkeypatch.setenv("AWS_PROFILE", "no-such-profile-here")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALKEY")
        config = AwsConfig().with_defaults("eu-west-1", tmp_path)
        assert config.endpoint_url == endpoint and config.from_dev_file and config.credentials == key
        credentials = config.session().get_credentials()
        assert credentials is not None
        assert (credentials.access_key, credentials.secret_key) == (key.access_key_id, key.secret_access_key)
        for explicit in (AwsConfig(endpoint_url=endpoint), AwsConfig(endpoint_url=endpoint, region="eu-west-2")):
            assert explicit.with_defaults("eu-west-1", tmp_path).credentials == key
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.replace("127.0.0.1", "localhost"))
        assert AwsConfig().with_defaults("eu-west-1", tmp_path).credentials == key
        # Another endpoint never gets the key.
        assert AwsConfig(endpoint_url="http://127.0.0.1:1").with_defaults("eu-west-1", tmp_path).credentials is None
        assert key.secret_access_key not in repr(config)


def test_the_key_file_is_its_owners_alone_from_the_first_byte(tmp_path: Path) -> None:
    import os
    import stat

    from cronplane.aws.session import (
        DEV_CREDENTIALS_FILE,
        DevCredentials,
        read_dev_credentials,
        write_dev_credentials,
    )

    key = DevCredentials.generate()
    previous = os.umask(0)  # the most permissive umask: the file's mode must not depend on it
    try:
        path = write_dev_credentials(tmp_path, "http://127.0.0.1:4566", key)
    finally:
        os.umask(previous)
    assert path == tmp_path / DEV_CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert read_dev_credentials(tmp_path, "http://localhost:4566/") == key
    assert read_dev_credentials(tmp_path, "http://127.0.0.1:4567") is None  # another emulator's key

    # A file left by a killed session is replaced; a link planted in its place is not written
    # through (the next session removes it and creates its own file).
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    path.unlink()
    path.symlink_to(victim)
    second = DevCredentials.generate()
    write_dev_credentials(tmp_path, "http://127.0.0.1:4566", second)
    assert victim.read_text() == "untouched"
    assert not path.is_symlink() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_dev_credentials(tmp_path) == second


def test_the_session_key_is_random_and_shell_safe() -> None:
    import re

    from cronplane.aws.session import DevCredentials

    keys = {DevCredentials.generate() for _ in range(20)}
    assert len(keys) == 20
    for key in keys:
        assert re.fullmatch(r"CPDEV[A-Z2-7]{15}", key.access_key_id)
        assert re.fullmatch(r"[A-Za-z0-9_-]{40}", key.secret_access_key)


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


def test_an_emulator_running_in_this_process_lends_its_key_to_commands_run_here(tmp_path: Path) -> None:
    """`jobctl dev --demo` runs `jobctl history` / `dlq` in its own process, with no dev files."""
    from cronplane.aws.session import DevCredentials, register_emulator

    key = DevCredentials.generate()
    endpoint = "http://127.0.0.1:45999"
    register_emulator(endpoint, key)
    try:
        assert AwsConfig(endpoint_url="http://localhost:45999").with_defaults(None, tmp_path).credentials == key
        assert AwsConfig(endpoint_url="http://127.0.0.1:1").with_defaults(None, tmp_path).credentials is None
    finally:
        register_emulator(endpoint, None)
    assert AwsConfig(endpoint_url=endpoint).with_defaults(None, tmp_path).credentials is None
