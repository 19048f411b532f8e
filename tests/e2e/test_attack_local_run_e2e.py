"""Attack (issue 10, item 10): ``jobctl run-now JOB --local`` used to hand the operator's own
AWS credentials to team code, so a job ran with deployer rights instead of its role's.

The attacker writes a job that dumps ``os.environ``, reads ``~/.aws/credentials`` and asks the
SDK which keys it got; the operator runs it with ``--local`` against a moto server on 127.0.0.1,
holding long-term deployer keys in the environment and in ``~/.aws/credentials`` plus some other
tokens. Nothing of that may appear in the job's output or its run record: the job gets moto's
temporary STS credentials (``ASIA...``), asked for with the job's execution policy as session
policy (checked on the STS call the command sends). ``--caller-credentials`` hands over the
caller's keys on purpose, and says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.build.iam import execution_policy
from cronplane.manifest.loader import load_manifest
from cronplane.runtime.schema import table_definition
from testkit import jobctl

pytestmark = pytest.mark.e2e

TABLE = "qa-jobs-history"
ACCOUNT = "123456789012"  # moto's
DEPLOYER_KEY_ID = "AKIADEPLOYER00000001"
DEPLOYER_SECRET = "deployer/Secret+Key/0123456789abcdefghijklmn"
PROFILE_SECRET = "profile/Secret+Key/zyxwvutsrqponmlkjihgfedcb"
OTHER_SECRETS = {
    "GITHUB_TOKEN": "ghp_thisisthegithubtokenofthedeployer01",
    "NPM_TOKEN": "npm_thisisthenpmtoken0001",
    "DB_PASSWORD": "hunter2-the-db-password",
    "STRIPE_API_SECRET_KEY": "sk_live_stripesecret0001",
}
MANIFEST = """\
namespace: qa-jobs
region: eu-west-1
jobs:
  spy-job:
    handler: qa/tasks.py:spy
    schedule: rate(1 hour)
    team: qa
    timeout: 30
    retries: {max_attempts: 1}
"""
TASKS = """\
import json, os

def spy(event, context):
    import boto3

    try:
        with open(os.path.expanduser("~/.aws/credentials")) as handle:
            home_file = handle.read()
    except OSError as exc:
        home_file = f"unreadable: {exc.strerror}"
    session = boto3.Session()
    frozen = session.get_credentials().get_frozen_credentials()
    identity = session.client("sts").get_caller_identity()["Arn"]
    print("environ", json.dumps(dict(os.environ)))
    return {
        "environ": dict(os.environ),
        "home_file": home_file,
        "sdk_key_id": frozen.access_key,
        "sdk_secret": frozen.secret_key,
        "sdk_token": frozen.token,
        "identity": identity,
    }
"""


@pytest.fixture
def attack(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "project" / "jobs" / "qa").mkdir(parents=True)
    (tmp_path / "project" / "jobs.yaml").write_text(MANIFEST)
    (tmp_path / "project" / "jobs" / "qa" / "tasks.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path / "project")
    boto3.client("dynamodb", endpoint_url=moto_server, region_name="eu-west-1").create_table(**table_definition(TABLE))
    # The operator's shell: long-term deployer keys, a credentials file in HOME, other tokens.
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    credentials_file = home / ".aws" / "credentials"
    credentials_file.write_text(
        f"[default]\naws_access_key_id = {DEPLOYER_KEY_ID}\naws_secret_access_key = {DEPLOYER_SECRET}\n"
        f"[prod]\naws_access_key_id = AKIAPRODPROFILE00001\naws_secret_access_key = {PROFILE_SECRET}\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials_file))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", DEPLOYER_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", DEPLOYER_SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    for name, value in OTHER_SECRETS.items():
        monkeypatch.setenv(name, value)
    yield moto_server


def spy_sts(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every STS call the command sends, with its parameters (a botocore hook on its clients)."""
    sent: list[tuple[str, dict[str, Any]]] = []
    original = AwsClient.boto3_client
    hooked: list[Any] = []

    def client(self: AwsClient, service: str) -> Any:
        made = original(self, service)
        if service == "sts" and not any(known is made for known in hooked):
            hooked.append(made)

            def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
                sent.append((model.name, dict(params)))

            made.meta.events.register("before-parameter-build.sts", hook)
        return made

    monkeypatch.setattr(AwsClient, "boto3_client", client)
    return sent


def stored_records(endpoint: str) -> str:
    items = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1").scan(TableName=TABLE)["Items"]
    return json.dumps(items)


def secrets_in(text: str) -> list[str]:
    return [s for s in (DEPLOYER_SECRET, PROFILE_SECRET, *OTHER_SECRETS.values()) if s in text]


def test_the_job_gets_session_credentials_for_its_policy_and_none_of_the_deployers(
    attack: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls = spy_sts(monkeypatch)
    code, out, err = jobctl(capsys, "run-now", "spy-job", "--local", "--endpoint-url", attack, "-o", "json")
    assert code == 0, err
    records = stored_records(attack)
    # Nothing of the operator's secrets anywhere: the job's output, its log lines, its record.
    assert secrets_in(out) == [] and secrets_in(err) == [] and secrets_in(records) == []
    assert DEPLOYER_KEY_ID not in out + err + records

    result = json.loads(out)["record"]["result"]
    environ = result["environ"]
    assert environ["AWS_ACCESS_KEY_ID"].startswith("ASIA") and environ["AWS_SESSION_TOKEN"]
    assert result["sdk_key_id"] == environ["AWS_ACCESS_KEY_ID"] and result["sdk_token"]
    assert result["identity"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/qa-jobs--spy-job-exec/cronplane-local-spy-job"
    assert result["home_file"].startswith("unreadable")  # ~ is an empty home of the run's own
    assert environ["HOME"] != str(Path.home()) and environ["AWS_SHARED_CREDENTIALS_FILE"] == "/dev/null"
    assert environ["AWS_CONFIG_FILE"] == "/dev/null" and environ["AWS_EC2_METADATA_DISABLED"] == "true"
    assert not set(OTHER_SECRETS) & set(environ) and "AWS_PROFILE" not in environ
    assert {"PATH", "TZ", "AWS_REGION", "AWS_ENDPOINT_URL"} <= set(environ)

    # What STS was asked for: the job's deployed role, narrowed to the job's execution policy.
    assume = [params for name, params in sts_calls if name == "AssumeRole"]
    assert len(assume) == 1
    manifest = load_manifest("jobs.yaml")
    policy = execution_policy(manifest, manifest.job("spy-job"), account_id=ACCOUNT, region="eu-west-1")
    assert json.loads(assume[0]["Policy"]) == policy
    assert assume[0]["RoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/cronplane/qa-jobs/qa-jobs--spy-job-exec"
    assert 900 <= assume[0]["DurationSeconds"] <= 3600


def test_caller_credentials_hands_over_the_callers_keys_on_purpose_and_warns(
    attack: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sts_calls = spy_sts(monkeypatch)
    code, out, err = jobctl(
        capsys, "run-now", "spy-job", "--local", "--caller-credentials", "--endpoint-url", attack, "-o", "json"
    )
    assert code == 0, err
    assert err.splitlines()[0] == (
        "warning: spy-job runs with your own credentials (arn:aws:sts::123456789012:user/moto), not limited to its "
        "execution role: its code can do whatever you can in AWS"
    )
    environ = json.loads(out)["record"]["result"]["environ"]
    assert environ["AWS_ACCESS_KEY_ID"] == DEPLOYER_KEY_ID and environ["AWS_SECRET_ACCESS_KEY"] == DEPLOYER_SECRET
    assert [name for name, _ in sts_calls] == ["GetCallerIdentity"]  # no narrowing asked for
    # Only those keys, as asked: still no profile file, home file or other token.
    result = json.loads(out)["record"]["result"]
    assert result["home_file"].startswith("unreadable") and PROFILE_SECRET not in out
    assert not set(OTHER_SECRETS) & set(environ)


def test_caller_credentials_is_for_local_runs_only(attack: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "run-now", "spy-job", "--caller-credentials", "--endpoint-url", attack)
    assert code == 2 and "--caller-credentials applies to --local runs only" in err
