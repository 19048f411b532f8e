"""How ``run-now --local`` makes the job's credentials (issue 10, item 10), against moto
in-process with IAM authorization on, so AWS's answers are real refusals: a role whose trust
policy does not let the caller in is refused, an identity without STS rights is refused.

The operator holds deployer rights; the job must get temporary credentials that can do no more
than its execution policy (STS is asked with that policy as session policy: read here off the
calls the door sends), or the run is refused with the flag that runs it with the caller's rights
on purpose. The last test runs a job under a real ``jobctl dev`` emulator, where the same path
runs and the child signs with the emulator's session key."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.session import AwsConfig
from cronplane.build.iam import execution_policy
from cronplane.local.job_credentials import Caller, ScopingError, scoped_credentials
from cronplane.local.run_now import probe_backend
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest
from cronplane.runtime.schema import table_definition
from testkit import jobctl

ACCOUNT = "123456789012"
REGION = "eu-west-1"
JOB_ROLE = f"arn:aws:iam::{ACCOUNT}:role/cronplane/qa-jobs/qa-jobs--spy-job-exec"
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
TABLE_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}
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
    permissions:
      - actions: [s3:GetObject]
        resources: [RESOURCES]
"""
TASKS = """\
import json, os

def spy(event, context):
    with open(os.environ["MARKER"], "w") as handle:
        handle.write("ran")
    return {"environ": dict(os.environ)}
"""


def write_project(root: Path, resources: int = 1) -> Manifest:
    (root / "jobs" / "qa").mkdir(parents=True, exist_ok=True)
    arns = ", ".join(f'"arn:aws:s3:::qa-reports-bucket/exports/{n:04d}.csv"' for n in range(resources))
    (root / "jobs.yaml").write_text(MANIFEST.replace("RESOURCES", arns))
    (root / "jobs" / "qa" / "tasks.py").write_text(TASKS)
    return load_manifest(str(root / "jobs.yaml"))


def lambda_trust(*extra_principals: str) -> str:
    """The job role's trust as deploy writes it (Lambda), plus ``extra_principals``. moto cannot
    evaluate a trust with a Service principal alone (a TypeError in its IAM check), so a
    principal that is never the caller stands in beside Lambda."""
    principals = list(extra_principals) or [f"arn:aws:iam::{ACCOUNT}:role/someone-else"]
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com", "AWS": principals},
        "Action": "sts:AssumeRole",
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


@pytest.fixture
def world(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """An account with the deployed job role, the history table and a deployer user, seen with
    IAM authorization on (set up before it is turned on)."""
    from moto.core import enable_iam_authentication

    iam = boto3.client("iam", region_name=REGION)
    iam.create_role(
        RoleName="qa-jobs--spy-job-exec", Path="/cronplane/qa-jobs/", AssumeRolePolicyDocument=lambda_trust()
    )
    boto3.client("dynamodb", region_name=REGION).create_table(**table_definition("qa-jobs-history"))
    iam.create_user(UserName="deployer")
    user_arn = iam.get_user(UserName="deployer")["User"]["Arn"]
    key = iam.create_access_key(UserName="deployer")["AccessKey"]
    # The test's own hand in the account once IAM is checked: an administrator.
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(ADMIN))
    admin_key = iam.create_access_key(UserName="admin")["AccessKey"]
    admin = boto3.client(
        "iam",
        region_name=REGION,
        aws_access_key_id=admin_key["AccessKeyId"],
        aws_secret_access_key=admin_key["SecretAccessKey"],
    )
    monkeypatch.chdir(tmp_path)
    manifest = write_project(tmp_path)
    with enable_iam_authentication():
        yield {"iam": admin, "user_arn": user_arn, "key": key, "manifest": manifest, "root": tmp_path}


def act_as(monkeypatch: pytest.MonkeyPatch, key_id: str, secret: str, token: str | None = None) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    for name in ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        if token:
            monkeypatch.setenv(name, token)
        else:
            monkeypatch.delenv(name, raising=False)


def deployer_client(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, policy: dict[str, Any]) -> AwsClient:
    world["iam"].put_user_policy(UserName="deployer", PolicyName="rights", PolicyDocument=json.dumps(policy))
    act_as(monkeypatch, world["key"]["AccessKeyId"], world["key"]["SecretAccessKey"])
    return AwsClient(AwsConfig(region=REGION))


def sts_calls(client: AwsClient) -> list[tuple[str, dict[str, Any]]]:
    """The STS calls ``client`` sends from now on, with their parameters (a botocore hook)."""
    sent: list[tuple[str, dict[str, Any]]] = []

    def hook(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent.append((model.name, dict(params)))

    client.sts.meta.events.register("before-parameter-build.sts", hook)
    return sent


def job_policy(manifest: Manifest) -> dict[str, Any]:
    return execution_policy(manifest, manifest.job("spy-job"), account_id=ACCOUNT, region=REGION)


def test_a_role_trusting_lambda_only_is_refused_so_the_caller_is_narrowed_to_the_job_policy(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = deployer_client(world, monkeypatch, ADMIN)  # the deployer can do anything
    sent = sts_calls(client)
    manifest = world["manifest"]
    creds = scoped_credentials(client, manifest, manifest.job("spy-job"), world["user_arn"], REGION)
    assert [name for name, _ in sent] == ["AssumeRole", "GetFederationToken"]
    assert sent[0][1]["RoleArn"] == JOB_ROLE  # refused by its trust policy (Lambda's alone)
    federation = sent[1][1]
    assert json.loads(federation["Policy"]) == job_policy(manifest)  # the session can do no more than this
    assert federation["Name"] == "cp-local-spy-job" and federation["DurationSeconds"] == 900
    assert creds.scoped and creds.access_key_id != world["key"]["AccessKeyId"] and creds.session_token
    assert creds.source == f"a federation token of {world['user_arn']}, limited to the job's execution policy"


def test_a_job_role_whose_trust_lets_the_caller_in_is_assumed_and_narrowed(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    world["iam"].update_assume_role_policy(
        RoleName="qa-jobs--spy-job-exec", PolicyDocument=lambda_trust(world["user_arn"])
    )
    client = deployer_client(world, monkeypatch, ADMIN)
    sent = sts_calls(client)
    manifest = world["manifest"]
    creds = scoped_credentials(client, manifest, manifest.job("spy-job"), world["user_arn"], REGION)
    assert [name for name, _ in sent] == ["AssumeRole"]
    assert sent[0][1]["RoleArn"] == JOB_ROLE and json.loads(sent[0][1]["Policy"]) == job_policy(manifest)
    assert creds.access_key_id.startswith("ASIA")
    assert creds.source == f"the job's role {JOB_ROLE}, limited to the job's execution policy"


def test_a_role_session_narrows_itself_by_assuming_its_own_role(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = world["iam"]
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer-role/ci"
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            # moto matches the session's ARN where AWS would match the role's
            {"Effect": "Allow", "Principal": {"AWS": [world["user_arn"], session_arn]}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="deployer-role", Path="/ops/", AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName="deployer-role", PolicyName="rights", PolicyDocument=json.dumps(ADMIN))
    admin = deployer_client(world, monkeypatch, ADMIN)
    ci = admin.sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="ci")["Credentials"]
    act_as(monkeypatch, ci["AccessKeyId"], ci["SecretAccessKey"], ci["SessionToken"])
    client = AwsClient(AwsConfig(region=REGION))
    sent = sts_calls(client)
    manifest = world["manifest"]
    creds = scoped_credentials(client, manifest, manifest.job("spy-job"), session_arn, REGION)
    assert [(name, params["RoleArn"]) for name, params in sent] == [
        ("AssumeRole", JOB_ROLE),
        ("AssumeRole", role["Role"]["Arn"]),  # path and all, from iam:GetRole
    ]
    assert json.loads(sent[1][1]["Policy"]) == job_policy(manifest)
    assert creds.access_key_id.startswith("ASIA") and creds.access_key_id != ci["AccessKeyId"]


def test_without_sts_rights_the_run_is_refused_naming_the_flag(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = deployer_client(world, monkeypatch, TABLE_ONLY)
    manifest = world["manifest"]
    with pytest.raises(ScopingError) as refused:
        scoped_credentials(client, manifest, manifest.job("spy-job"), world["user_arn"], REGION)
    assert str(refused.value) == (
        "run-now --local spy-job: cannot give the job credentials limited to its execution role (assuming the "
        "job's role: AccessDenied; narrowing your own credentials: AccessDenied). Run it on AWS (jobctl run-now "
        "spy-job), or with your own AWS rights on purpose: jobctl run-now spy-job --local --caller-credentials"
    )


def test_the_refusal_is_one_line_and_nothing_runs(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deployer_client(world, monkeypatch, TABLE_ONLY)
    marker = world["root"] / "ran"
    monkeypatch.setenv("MARKER", str(marker))
    code, out, err = jobctl(capsys, "run-now", "spy-job", "--local")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("Error: run-now --local spy-job: cannot give the job credentials")
    assert err.rstrip().endswith("jobctl run-now spy-job --local --caller-credentials") and "Traceback" not in err
    assert not marker.exists()
    items = AwsClient(AwsConfig(region=REGION)).dynamodb.scan(TableName="qa-jobs-history")["Items"]
    assert items == []  # no record either: the wrapper never started


def test_a_policy_too_large_for_a_session_policy_is_refused(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = write_project(world["root"], resources=30)
    client = deployer_client(world, monkeypatch, ADMIN)
    sent = sts_calls(client)
    size = len(json.dumps(job_policy(manifest), separators=(",", ":")))
    assert size > 2048
    with pytest.raises(ScopingError, match=f"its execution policy is {size} characters and STS takes 2048"):
        scoped_credentials(client, manifest, manifest.job("spy-job"), world["user_arn"], REGION)
    # The job's own role was tried without the policy (it alone would scope the run); nothing else.
    assert [name for name, _ in sent] == ["AssumeRole"] and "Policy" not in sent[0][1]


def test_an_identity_that_can_do_neither_is_refused(world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    client = deployer_client(world, monkeypatch, ADMIN)
    manifest = world["manifest"]
    federated = f"arn:aws:sts::{ACCOUNT}:federated-user/bob"
    with pytest.raises(ScopingError, match=f"{federated} can neither assume the job's role nor narrow"):
        scoped_credentials(client, manifest, manifest.job("spy-job"), federated, REGION)


def test_callers_are_read_from_their_arns() -> None:
    assert Caller.parse(f"arn:aws:iam::{ACCOUNT}:user/teams/ana") == Caller("aws", ACCOUNT, "user", "ana")
    assert Caller.parse(f"arn:aws:iam::{ACCOUNT}:root") == Caller("aws", ACCOUNT, "root", "")
    assert Caller.parse(f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/Deployer/ci-42") == Caller(
        "aws-cn", ACCOUNT, "assumed-role", "Deployer"
    )
    assert Caller.parse("not an arn") is None


# -- under `jobctl dev` -----------------------------------------------------------------------
DUMP = textwrap.dedent(
    """
    import os

    def spy(event, context):
        return {"environ": dict(os.environ)}
    """
)


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from cronplane.local.emulator import Emulator
    from support.signing import send_signed

    emu = Emulator(port=0, async_retry_delay_s=0.0, work_dir=tmp_path / "emu")
    emu.start()
    key = emu.credentials
    try:
        send_signed(f"{emu.endpoint_url}/moto-api/reset", key.access_key_id, key.secret_access_key)
        boto3.client(
            "dynamodb",
            region_name=REGION,
            endpoint_url=emu.endpoint_url,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
        ).create_table(**table_definition("qa-jobs-history"))
        yield emu
    finally:
        send_signed(f"{emu.endpoint_url}/moto-api/reset", key.access_key_id, key.secret_access_key)
        emu.stop()


def test_under_jobctl_dev_the_same_path_runs_and_the_child_signs_with_the_session_key(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    write_project(tmp_path)
    (tmp_path / "jobs" / "qa" / "tasks.py").write_text(DUMP)
    act_as(monkeypatch, "AKIADEPLOYER00000001", "deployer/Secret+Key/0123456789abcdefghijklmn")
    manifest = load_manifest("jobs.yaml")
    config = AwsConfig(endpoint_url=emulator.endpoint_url).with_defaults(REGION, tmp_path)
    assert config.credentials == emulator.credentials  # the key of this jobctl dev session
    backend = probe_backend(manifest, manifest.job("spy-job"), config)
    assert backend.env["AWS_ACCESS_KEY_ID"] == emulator.credentials.access_key_id
    assert backend.credentials.startswith(f"the job's role {JOB_ROLE}, limited to the job's execution policy; ")

    code, out, err = jobctl(
        capsys, "run-now", "spy-job", "--local", "--endpoint-url", emulator.endpoint_url, "-o", "json"
    )
    assert code == 0, err
    shown = json.loads(out)
    assert shown["history_table"] == "qa-jobs-history"  # the record went into the emulator
    environ = shown["record"]["result"]["environ"]
    assert environ["AWS_ACCESS_KEY_ID"] == emulator.credentials.access_key_id
    assert "deployer/Secret+Key" not in out + err
