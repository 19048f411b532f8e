"""End to end against a moto server process on 127.0.0.1: deploy the example manifest and check
every resource through plain boto3; redeploy = zero writes; one schedule change = one write;
prune with look-alikes kept; destroy; interrupted deploys converge.

One server serves the whole module (starting one costs ~2 s); each test deploys into a
namespace of its own, which is exactly the isolation cronplane promises between namespaces."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest

from cronplane import names
from cronplane.aws.client import AwsClient, Call
from cronplane.aws.session import AwsConfig
from cronplane.deployer import Deployer
from cronplane.errors import AwsError, CronplaneError, DeployLockedError
from cronplane.manifest import load_manifest
from cronplane.models import Manifest
from cronplane.packaging import build_job_package

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
LOCK_OPS = {"dynamodb.put_item", "dynamodb.delete_item"}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """Module-wide variant of the ``moto_server`` fixture of tests/conftest.py."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/moto-api/")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - loopback only
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@pytest.fixture
def manifest(tmp_path: Path, request: pytest.FixtureRequest) -> Manifest:
    """The example manifest and jobs, in a namespace named after the test."""
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    loaded = load_manifest(str(tmp_path / "jobs.yaml"))
    short = request.node.name.removeprefix("test_").split("_")
    return replace(loaded, namespace="e2e-" + "-".join(w[:4] for w in short[:3]))


@pytest.fixture
def aws(moto_server: str) -> Iterator[Any]:
    session = boto3.session.Session(region_name=REGION)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=moto_server)

    yield client


def deployer(endpoint: str, **kw: Any) -> tuple[Deployer, AwsClient]:
    client = AwsClient(AwsConfig(region=REGION, endpoint_url=endpoint), before_write=kw.pop("before_write", None))
    return Deployer(client, **kw), client


def resource_writes(client: AwsClient) -> list[str]:
    return [w for w in client.write_calls() if w not in LOCK_OPS]


def tags_of(items: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in items}


def assert_deployed(aws: Any, manifest: Manifest) -> None:
    """Every resource of every job, and its settings, as plain boto3 sees them."""
    ns = manifest.namespace
    lam, iam, sqs, logs, events, sched, ddb = (aws(s) for s in
                                               ("lambda", "iam", "sqs", "logs", "events", "scheduler", "dynamodb"))
    account = aws("sts").get_caller_identity()["Account"]
    table = ddb.describe_table(TableName=names.history_table(ns))["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"job", "run_id"}
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == names.HISTORY_INDEX
    assert table["SSEDescription"]["Status"] in ("ENABLED", "ENABLING")
    ttl = ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    pitr = ddb.describe_continuous_backups(TableName=table["TableName"])["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert tags_of(ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"])[names.NAMESPACE_TAG] == ns

    for job in manifest.jobs:
        fn_name = names.function_name(ns, job.name)
        want_tags = {names.MANAGED_BY_TAG: "cronplane", names.NAMESPACE_TAG: ns, names.JOB_TAG: job.name,
                     names.TEAM_TAG: job.team, names.OWNER_TAG: job.owner}
        fn = lam.get_function(FunctionName=fn_name)
        cfg = fn["Configuration"]
        assert cfg["Runtime"] == "python3.12"
        assert cfg["Handler"] == "cronplane.runtime.entry.handler"
        assert (cfg["Timeout"], cfg["MemorySize"], cfg["Architectures"]) == (job.timeout, job.memory, ["arm64"])
        assert cfg["CodeSha256"] == build_job_package(manifest, job).sha256
        env = cfg["Environment"]["Variables"]
        assert env["CRONPLANE_JOB"] == job.name and env["CRONPLANE_HISTORY_TABLE"] == f"{ns}-history"
        assert json.loads(env["CRONPLANE_RETRY"])["max_attempts"] == job.retries.max_attempts
        assert env["CRONPLANE_HANDLER"] == f"{job.handler_module}:{job.handler_function}"
        assert want_tags.items() <= fn["Tags"].items()
        role_name = names.role_name(ns, job.name)
        role = iam.get_role(RoleName=role_name)["Role"]
        assert cfg["Role"] == role["Arn"] and role["Path"] == names.role_path(ns)
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert want_tags.items() <= tags_of(iam.list_role_tags(RoleName=role_name)["Tags"]).items()
        policy = iam.get_role_policy(RoleName=role_name, PolicyName="cronplane")["PolicyDocument"]
        assert all("*" != a for s in policy["Statement"] for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
        dlq_url = sqs.get_queue_url(QueueName=names.dlq_name(ns, job.name))["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        assert attrs["SqsManagedSseEnabled"] == "true" and attrs["MessageRetentionPeriod"] == "1209600"
        dlq_arn = attrs["QueueArn"]
        assert want_tags.items() <= sqs.list_queue_tags(QueueUrl=dlq_url)["Tags"].items()
        invoke = lam.get_function_event_invoke_config(FunctionName=fn_name)
        assert invoke["MaximumRetryAttempts"] == 0
        assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == dlq_arn
        group = logs.describe_log_groups(logGroupNamePrefix=names.log_group_name(ns, job.name))["logGroups"][0]
        assert group["retentionInDays"] == job.log_retention_days
        assert want_tags.items() <= logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"].items()
        if job.schedule.needs_scheduler:
            s = sched.get_schedule(Name=names.schedule_name(ns, job.name), GroupName=names.schedule_group(ns))
            assert s["ScheduleExpression"] == job.schedule.expression
            assert s["ScheduleExpressionTimezone"] == job.timezone
            assert s["FlexibleTimeWindow"] == {"Mode": "OFF"}
            assert s["State"] == ("ENABLED" if job.enabled else "DISABLED")
            target = s["Target"]
            assert target["Arn"] == cfg["FunctionArn"]
            assert target["RoleArn"] == iam.get_role(RoleName=names.scheduler_role_name(ns, job.name))["Role"]["Arn"]
            assert target["DeadLetterConfig"]["Arn"] == dlq_arn
            assert json.loads(target["Input"])["cronplane"]["event_id"] == "<aws.scheduler.execution-id>"
            grp = sched.get_schedule_group(Name=ns)
            assert tags_of(sched.list_tags_for_resource(ResourceArn=grp["Arn"])["Tags"])[names.NAMESPACE_TAG] == ns
        else:
            rule = events.describe_rule(Name=names.rule_name(ns, job.name))
            assert rule["ScheduleExpression"] == job.schedule.expression
            assert rule["State"] == ("ENABLED" if job.enabled else "DISABLED")
            assert want_tags.items() <= tags_of(events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]).items()
            (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            assert target["Arn"] == cfg["FunctionArn"]
            assert target["DeadLetterConfig"]["Arn"] == dlq_arn
            assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == 3600
            assert target["InputTransformer"]["InputPathsMap"] == {"id": "$.id", "time": "$.time"}
            statement = json.loads(lam.get_policy(FunctionName=fn_name)["Policy"])["Statement"][0]
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
            assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == account


def namespace_left(aws: Any, ns: str) -> list[str]:
    """Everything of the namespace still in the account (by the names cronplane uses)."""
    left = [f["FunctionName"] for f in aws("lambda").list_functions()["Functions"] if f["FunctionName"].startswith(f"{ns}-")]
    left += [r["RoleName"] for r in aws("iam").list_roles(PathPrefix=names.role_path(ns))["Roles"]]
    left += aws("sqs").list_queues(QueueNamePrefix=f"{ns}-").get("QueueUrls", [])
    left += [r["Name"] for r in aws("events").list_rules(NamePrefix=f"{ns}-")["Rules"]]
    left += [g["logGroupName"] for g in aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{ns}-")["logGroups"]]
    left += [g["Name"] for g in aws("scheduler").list_schedule_groups()["ScheduleGroups"] if g["Name"] == ns]
    return left


def test_deploy_creates_everything_then_redeploy_writes_nothing(moto_server: str, aws: Any, manifest: Manifest) -> None:
    dep, client = deployer(moto_server)
    result = dep.deploy(manifest)
    assert result.applied is not None and result.applied.applied == result.applied.total
    assert_deployed(aws, manifest)

    again, client2 = deployer(moto_server)
    result2 = again.deploy(manifest)
    assert result2.applied is None and not result2.plan.has_changes
    assert client2.writes == 0
    assert client2.reads <= 30


def test_one_schedule_change_is_one_write(moto_server: str, aws: Any, manifest: Manifest) -> None:
    ns = manifest.namespace
    deployer(moto_server)[0].deploy(manifest)
    from cronplane.schedule import parse_schedule

    changed = replace(manifest, jobs=tuple(
        replace(j, schedule=parse_schedule("cron(15 4 * * ? *)")) if j.name == "tmp-cleanup" else j
        for j in manifest.jobs))
    dep, client = deployer(moto_server)
    result = dep.deploy(changed)
    assert [(a.op.value, a.name) for a in result.plan.changes] == [("update", f"{ns}-tmp-cleanup")]
    assert resource_writes(client) == ["events.put_rule"]
    assert aws("events").describe_rule(Name=f"{ns}-tmp-cleanup")["ScheduleExpression"] == "cron(15 4 * * ? *)"
    dep3, client3 = deployer(moto_server)
    assert not dep3.deploy(changed).plan.has_changes and client3.writes == 0


def test_new_code_is_one_code_update(moto_server: str, aws: Any, manifest: Manifest) -> None:
    deployer(moto_server)[0].deploy(manifest)
    handler = Path(manifest.jobs_dir) / "infra" / "tmp_cleanup.py"
    handler.write_text(handler.read_text() + "\n# a change\n")
    dep, client = deployer(moto_server)
    result = dep.deploy(manifest)
    # both infra jobs ship the infra folder, so both get new code — and nothing else
    assert sorted(resource_writes(client)) == ["lambda.update_function_code"] * 2
    assert {a.job for a in result.plan.changes} == {"tmp-cleanup", "search-reindex"}


def test_removed_job_is_pruned_and_look_alikes_are_kept(moto_server: str, aws: Any, manifest: Manifest) -> None:
    ns = manifest.namespace
    deployer(moto_server)[0].deploy(manifest)
    aws("sqs").create_queue(QueueName=f"{ns}-legacy-dlq")
    aws("events").put_rule(Name=f"{ns}-legacy", ScheduleExpression="rate(1 day)")
    aws("logs").create_log_group(logGroupName=f"/aws/lambda/{ns}-legacy")
    smaller = replace(manifest, jobs=tuple(j for j in manifest.jobs if j.name != "invoice-sync"))
    dep, client = deployer(moto_server)
    result = dep.deploy(smaller)
    assert {a.op.value for a in result.plan.changes} == {"delete"}
    assert [n for n in namespace_left(aws, ns) if "invoice-sync" in n] == []
    left = namespace_left(aws, ns)
    assert f"{ns}-legacy" in left and f"/aws/lambda/{ns}-legacy" in left
    assert any(u.endswith(f"/{ns}-legacy-dlq") for u in left)
    assert any(n.startswith(f"not managed: sqs queue {ns}-legacy-dlq") for n in result.plan.notes)
    assert_deployed(aws, smaller)


def test_destroy_removes_the_namespace_and_keeps_history_unless_asked(
    moto_server: str, aws: Any, manifest: Manifest
) -> None:
    ns = manifest.namespace
    deployer(moto_server)[0].deploy(manifest)
    aws("sqs").create_queue(QueueName=f"{ns}-legacy-dlq")
    deployer(moto_server)[0].deploy(manifest, destroy=True)
    assert [n for n in namespace_left(aws, ns) if "legacy" not in n] == []
    assert aws("dynamodb").describe_table(TableName=f"{ns}-history")["Table"]["TableStatus"] == "ACTIVE"
    deployer(moto_server)[0].deploy(manifest, destroy=True, include_history=True)
    assert f"{ns}-history" not in aws("dynamodb").list_tables()["TableNames"]
    assert any("legacy" in n for n in namespace_left(aws, ns))


class Kill:
    """Fail the deploy at its k-th resource write, and every write after it, like a process
    that died there. The lock's own item is left alone so the next deploy is not blocked."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.seen = 0

    def __call__(self, call: Call) -> None:
        if f"{call.service}.{call.operation}" in LOCK_OPS:
            return
        self.seen += 1
        if self.seen >= self.k:
            raise AwsError(f"injected failure at write {self.seen}")


def test_interrupted_deploy_converges_on_rerun(moto_server: str, aws: Any, manifest: Manifest) -> None:
    """Killed at the k-th write (inside the table setup, the roles, the functions, the triggers,
    the state records), each time in a namespace of its own on the same server."""
    for k in (1, 3, 9, 17, 30, 44):
        m = replace(manifest, namespace=f"cut{k}")
        dep, client = deployer(moto_server, before_write=Kill(k))
        with pytest.raises(CronplaneError, match="injected failure"):
            dep.deploy(m)
        assert len(resource_writes(client)) == k - 1
        deployer(moto_server)[0].deploy(m)
        assert_deployed(aws, m)
        dep3, client3 = deployer(moto_server)
        assert not dep3.deploy(m).plan.has_changes and client3.writes == 0, k


def test_second_deploy_waits_then_stops_on_the_lock(moto_server: str, aws: Any, manifest: Manifest) -> None:
    ns = manifest.namespace
    from cronplane.aws.lock import DeployLock

    deployer(moto_server)[0].deploy(manifest)
    holder_client = AwsClient(AwsConfig(region=REGION, endpoint_url=moto_server))
    held = DeployLock(holder_client, f"{ns}-history", holder="ana@laptop pid 42")
    held.acquire()
    changed = replace(manifest, jobs=manifest.jobs[:-1])
    waits: list[float] = []
    client = AwsClient(AwsConfig(region=REGION, endpoint_url=moto_server), sleep=waits.append)
    with pytest.raises(DeployLockedError, match=r"deploy in progress by ana@laptop pid 42, since 20\d\d-"):
        Deployer(client, lock_wait=2.0).deploy(changed)
    assert sum(waits) >= 2.0  # it waited (polling) before giving up
    assert resource_writes(client) == []
    held.release()
    dep, _ = deployer(moto_server)
    assert dep.deploy(changed).applied is not None
