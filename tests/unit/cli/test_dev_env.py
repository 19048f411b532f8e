"""`jobctl dev env`: the lines that point boto3, the AWS CLI and Terraform at the running
`jobctl dev` of the project, for `eval "$(jobctl dev env)"`, read from its files."""

from __future__ import annotations

import shlex
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from cronplane.aws.session import DevCredentials, write_dev_credentials, write_dev_file
from cronplane.cli.main import main


@pytest.fixture
def listening() -> Iterator[str]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def exports(text: str) -> dict[str, str]:
    """What `eval` of the output sets, and the names it unsets (value None)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if words[0] == "export":
            values.update(word.split("=", 1) for word in words[1:])
        elif words[0] == "unset":
            values.update((name, "<unset>") for name in words[1:])
    return values


def test_prints_endpoint_key_and_region_of_the_running_dev(
    tmp_path: Path, listening: str, capsys: pytest.CaptureFixture[str]
) -> None:
    key = DevCredentials.generate()
    write_dev_credentials(tmp_path, listening, key)
    write_dev_file(tmp_path, listening, "eu-central-1")
    assert main(["dev", "env", "-f", str(tmp_path / "jobs.yaml")]) is None
    assert exports(capsys.readouterr().out) == {
        "AWS_ENDPOINT_URL": listening,
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_REGION": "eu-central-1",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_PROFILE": "<unset>",
        "AWS_SESSION_TOKEN": "<unset>",
        "AWS_SECURITY_TOKEN": "<unset>",
    }


def test_no_running_dev_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["dev", "env", "-f", str(tmp_path / "jobs.yaml")])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "no `jobctl dev` is running for this project" in captured.err and str(tmp_path) in captured.err


def test_a_dev_whose_key_this_user_cannot_read_is_one_clear_error(
    tmp_path: Path, listening: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_dev_file(tmp_path, listening, "eu-west-1")  # and no key file this user can read
    with pytest.raises(SystemExit) as exit_info:
        main(["dev", "env", "-f", str(tmp_path / "jobs.yaml")])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "dev-credentials: cannot read the session key" in err and err.count("\n") == 1
