"""End to end against a moto server process on 127.0.0.1: deploy the example manifest and check
every resource through plain boto3; redeploy = zero writes; one schedule change = one write;
prune with look-alikes kept; destroy; interrupted deploys converge.

One server serves the whole module (starting one costs ~2 s); each test deploys into a
namespace of its own, which is exactly the isolation cronplane promises between namespaces."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient, Call
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.build.packaging import build_job_package
from cronplane.errors import AwsError, CronplaneError, DeployLockedError
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest
from cronplane.runtime.schema import INDEX_NAME
from support.motoserver import running_moto_server

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
LOCK_OPS = {"dynamodb.put_item", "dynamodb.delete_item"}


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """Module-wide variant of the ``moto_server`` fixture of tests/conftest.py."""
    with running_moto_server() as url:
        yield url


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


def want_tags(manifest: Manifest, job: Any = None) -> dict[str, str]:
    """The exact tags a resource must carry, spelled out here (not taken from the code under test)."""
    tags = {names.MANAGED_BY_TAG: "cronplane", names.NAMESPACE_TAG: manifest.namespace}
    if job is not None:
        tags.update(dict(job.tags))
        tags.update({names.JOB_TAG: job.name, names.TEAM_TAG: job.team})
        if job.owner:
            tags[names.OWNER_TAG] = job.owner
    return tags


def without_record(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != "cronplane:config"}


def on_scheduler(manifest: Manifest, job: Any) -> bool:
    return manifest.trigger_mode.value == "scheduler" or job.schedule.needs_scheduler


def assert_deployed(aws: Any, manifest: Manifest) -> None:
    """Every resource of every job, its settings and its exact tags, as plain boto3 sees them."""
    ns = manifest.namespace
    lam, iam, sqs, logs, events, sched, ddb = (
        aws(s) for s in ("lambda", "iam", "sqs", "logs", "events", "scheduler", "dynamodb")
    )
    account = aws("sts").get_caller_identity()["Account"]
    table = ddb.describe_table(TableName=names.history_table(ns))["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"] for k in table["KeySchema"]} == {"job", "run_id"}
    assert table["GlobalSecondaryIndexes"][0]["IndexName"] == INDEX_NAME
    assert table["SSEDescription"]["Status"] in ("ENABLED", "ENABLING")
    ttl = ddb.describe_time_to_live(TableName=table["TableName"])["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")
    pitr = ddb.describe_continuous_backups(TableName=table["TableName"])["ContinuousBackupsDescription"]
    assert pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert without_record(tags_of(ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"])) == want_tags(
        manifest
    )
    if any(on_scheduler(manifest, j) for j in manifest.jobs):
        grp = sched.get_schedule_group(Name=names.schedule_group(ns))
        assert without_record(tags_of(sched.list_tags_for_resource(ResourceArn=grp["Arn"])["Tags"])) == want_tags(
            manifest
        )

    for job in manifest.jobs:
        fn_name = names.function_name(ns, job.name)
        tags = want_tags(manifest, job)
        fn = lam.get_function(FunctionName=fn_name)
        cfg = fn["Configuration"]
        assert cfg["Runtime"] == "python3.12"
        assert cfg["Handler"] == "cronplane.runtime.entry.handler"
        assert (cfg["Timeout"], cfg["MemorySize"]) == (job.timeout, job.memory)
        assert cfg["Architectures"] == [job.architecture.value]
        assert cfg.get("KMSKeyArn") == job.kms_key
        if job.vpc:
            assert sorted(cfg["VpcConfig"]["SubnetIds"]) == sorted(job.vpc.subnets)
            assert sorted(cfg["VpcConfig"]["SecurityGroupIds"]) == sorted(job.vpc.security_groups)
        else:
            assert not (cfg.get("VpcConfig") or {}).get("SubnetIds")
        assert fn.get("Concurrency", {}).get("ReservedConcurrentExecutions") == job.reserved_concurrency
        assert cfg["CodeSha256"] == build_job_package(manifest, job).sha256
        env = cfg["Environment"]["Variables"]
        assert env["CRONPLANE_JOB"] == job.name and env["CRONPLANE_HISTORY_TABLE"] == f"{ns}-history"
        assert json.loads(env["CRONPLANE_RETRY"])["max_attempts"] == job.retries.max_attempts
        assert env["CRONPLANE_HANDLER"] == f"{job.handler_module}:{job.handler_function}"
        assert without_record(fn["Tags"]) == tags
        role_name = names.role_name(ns, job.name)
        role = iam.get_role(RoleName=role_name)["Role"]
        assert cfg["Role"] == role["Arn"] and role["Path"] == names.role_path(ns)
        assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
        assert tags_of(iam.list_role_tags(RoleName=role_name)["Tags"]) == tags
        policy = iam.get_role_policy(RoleName=role_name, PolicyName="cronplane")["PolicyDocument"]
        assert all(
            a != "*"
            for s in policy["Statement"]
            for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )
        dlq_url = sqs.get_queue_url(QueueName=names.dlq_name(ns, job.name))["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"]
        assert attrs["SqsManagedSseEnabled"] == "true" and attrs["MessageRetentionPeriod"] == "1209600"
        dlq_arn = attrs["QueueArn"]
        assert sqs.list_queue_tags(QueueUrl=dlq_url)["Tags"] == tags
        invoke = lam.get_function_event_invoke_config(FunctionName=fn_name)
        assert invoke["MaximumRetryAttempts"] == 0
        # No on-failure destination: a failed run's one DLQ message is the wrapper's own.
        assert not invoke.get("DestinationConfig", {}).get("OnFailure")
        group = logs.describe_log_groups(logGroupNamePrefix=names.log_group_name(ns, job.name))["logGroups"][0]
        assert group["retentionInDays"] == job.log_retention_days
        assert logs.list_tags_for_resource(resourceArn=group["arn"].removesuffix(":*"))["tags"] == tags
        state = "ENABLED" if job.enabled else "DISABLED"
        if on_scheduler(manifest, job):
            s = sched.get_schedule(Name=names.schedule_name(ns, job.name), GroupName=names.schedule_group(ns))
            assert s["ScheduleExpression"] == job.schedule.expression
            assert s["ScheduleExpressionTimezone"] == (job.timezone or "UTC")
            assert s["FlexibleTimeWindow"] == {"Mode": "OFF"}
            assert s["State"] == state
            target = s["Target"]
            assert target["Arn"] == cfg["FunctionArn"]
            srole_name = names.scheduler_role_name(ns, job.name)
            srole = iam.get_role(RoleName=srole_name)["Role"]
            assert target["RoleArn"] == srole["Arn"]
            assert srole["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
                "Service": "scheduler.amazonaws.com"
            }
            spolicy = json.dumps(iam.get_role_policy(RoleName=srole_name, PolicyName="cronplane")["PolicyDocument"])
            assert "lambda:InvokeFunction" in spolicy and cfg["FunctionArn"] in spolicy and dlq_arn in spolicy
            assert tags_of(iam.list_role_tags(RoleName=srole_name)["Tags"]) == tags
            assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}
            assert target["DeadLetterConfig"]["Arn"] == dlq_arn
            assert json.loads(target["Input"]) == {
                "cronplane": {
                    "trigger": "schedule",
                    "event_id": "<aws.scheduler.execution-id>",
                    "scheduled_for": "<aws.scheduler.scheduled-time>",
                }
            }
            assert events.list_rules(NamePrefix=names.rule_name(ns, job.name))["Rules"] == []
        else:
            rule = events.describe_rule(Name=names.rule_name(ns, job.name))
            assert rule["ScheduleExpression"] == job.schedule.expression
            assert rule["State"] == state
            assert tags_of(events.list_tags_for_resource(ResourceARN=rule["Arn"])["Tags"]) == tags
            (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            assert target["Arn"] == cfg["FunctionArn"]
            assert target["DeadLetterConfig"]["Arn"] == dlq_arn
            assert target["RetryPolicy"] == {"MaximumRetryAttempts": 8, "MaximumEventAgeInSeconds": 3600}
            transformer = target["InputTransformer"]
            assert transformer["InputPathsMap"] == {"id": "$.id", "time": "$.time"}
            # what EventBridge would deliver for one firing: its id and time, told apart per firing
            delivered = (
                transformer["InputTemplate"]
                .replace("<id>", '"7bf73129-1428-4cd3-a780-95db273d1602"')
                .replace("<time>", '"2026-11-27T09:00:00Z"')
            )
            assert json.loads(delivered) == {
                "cronplane": {
                    "trigger": "schedule",
                    "event_id": "7bf73129-1428-4cd3-a780-95db273d1602",
                    "scheduled_for": "2026-11-27T09:00:00Z",
                }
            }
            (statement,) = json.loads(lam.get_policy(FunctionName=fn_name)["Policy"])["Statement"]
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Action"] == "lambda:InvokeFunction"
            assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]
            assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == account


def namespace_left(aws: Any, ns: str) -> list[str]:
    """Everything of the namespace still in the account (by the names cronplane uses)."""
    left = [
        f["FunctionName"] for f in aws("lambda").list_functions()["Functions"] if f["FunctionName"].startswith(f"{ns}-")
    ]
    left += [r["RoleName"] for r in aws("iam").list_roles(PathPrefix=names.role_path(ns))["Roles"]]
    left += aws("sqs").list_queues(QueueNamePrefix=f"{ns}-").get("QueueUrls", [])
    left += [r["Name"] for r in aws("events").list_rules(NamePrefix=f"{ns}-")["Rules"]]
    left += [
        g["logGroupName"] for g in aws("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{ns}-")["logGroups"]
    ]
    left += [g["Name"] for g in aws("scheduler").list_schedule_groups()["ScheduleGroups"] if g["Name"] == ns]
    return left


def test_deploy_creates_everything_then_redeploy_writes_nothing(moto_server: str, aws: Any, manifest: Manifest) -> None:
    dep, _client = deployer(moto_server)
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
    from cronplane.schedule.expression import parse_schedule

    changed = replace(
        manifest,
        jobs=tuple(
            replace(j, schedule=parse_schedule("cron(15 4 * * ? *)")) if j.name == "tmp-cleanup" else j
            for j in manifest.jobs
        ),
    )
    dep, client = deployer(moto_server)
    result = dep.deploy(changed)
    assert [(a.op.value, a.name) for a in result.plan.changes] == [("update", f"{ns}--tmp-cleanup")]
    assert resource_writes(client) == ["events.put_rule"]
    assert aws("events").describe_rule(Name=f"{ns}--tmp-cleanup")["ScheduleExpression"] == "cron(15 4 * * ? *)"
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
    dep, _client = deployer(moto_server)
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


# A `jobctl` process that signals itself at its k-th resource write: a deploy killed (SIGKILL),
# interrupted (Ctrl-C = SIGINT) or terminated (SIGTERM) part-way, for real.
SIGNALLING_JOBCTL = """
import itertools, os, signal, sys
from cronplane.aws import client as aws_client

k, sig = int(sys.argv[1]), getattr(signal, sys.argv[2])
# As a terminal starts jobctl: a suite run in the background of a non-interactive shell has
# SIGINT ignored, which its children inherit (and then Ctrl-C could not reach this one).
signal.signal(signal.SIGINT, signal.default_int_handler)
# The deploy's workers write at once: next() on a count is one step under the GIL, where
# "n += 1" then "n == k" let two threads step past k together and nobody signal.
writes = itertools.count(1)

def hook(call):
    if call.service == "dynamodb":  # the history table and the lock item
        return
    if next(writes) == k:
        os.kill(os.getpid(), sig)  # to the process, as Ctrl-C or `kill` send it

original = aws_client.AwsClient.__init__

def init(self, *args, **kwargs):
    kwargs.setdefault("before_write", hook)
    original(self, *args, **kwargs)

aws_client.AwsClient.__init__ = init
from cronplane.cli.main import main
main(sys.argv[3:])
"""


def run_signalling_jobctl(
    tmp_path: Path, endpoint: str, manifest_path: Path, k: int, sig: str
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "signalling_jobctl.py"
    script.write_text(SIGNALLING_JOBCTL)
    return subprocess.run(
        [
            sys.executable,
            str(script),
            str(k),
            sig,
            "deploy",
            "-f",
            str(manifest_path),
            "--yes",
            "--endpoint-url",
            endpoint,
            "--region",
            REGION,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def lock_item(aws: Any, ns: str) -> dict[str, Any]:
    return (
        aws("dynamodb")
        .get_item(TableName=f"{ns}-history", Key={"job": {"S": "~deploy"}, "run_id": {"S": "~lock"}})
        .get("Item", {})
    )


def namespaced_manifest_file(tmp_path: Path, ns: str) -> Path:
    path = tmp_path / "jobs.yaml"
    path.write_text(path.read_text().replace("namespace: acme-jobs", f"namespace: {ns}"))
    return path


def test_deploy_killed_with_sigkill_leaves_a_lock_the_next_deploy_takes_over(
    moto_server: str, aws: Any, manifest: Manifest, tmp_path: Path
) -> None:
    ns = "e2e-sigkill"
    path = namespaced_manifest_file(tmp_path, ns)
    killed = run_signalling_jobctl(tmp_path, moto_server, path, 6, "SIGKILL")
    assert killed.returncode == -9, killed.stderr
    pid = int(lock_item(aws, ns)["holder"]["S"].rsplit(" ", 1)[1])  # the dead deploy's lock is still there
    lines: list[str] = []
    m = load_manifest(str(path))
    dep, _ = deployer(moto_server, progress=lines.append, lock_wait=0)  # no waiting: it must not be needed
    dep.deploy(m)
    assert any(line.startswith(f"taking over the lock of dead process {pid} (") for line in lines), lines
    assert lock_item(aws, ns) == {}
    assert_deployed(aws, m)
    dep, client = deployer(moto_server)
    assert not dep.deploy(m).plan.has_changes and client.writes == 0


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupted_or_terminated_deploy_releases_the_lock(
    moto_server: str, aws: Any, manifest: Manifest, tmp_path: Path, sig: str
) -> None:
    ns = f"e2e-{sig.lower()}"
    path = namespaced_manifest_file(tmp_path, ns)
    stopped = run_signalling_jobctl(tmp_path, moto_server, path, 6, sig)
    assert stopped.returncode == 130, stopped.stderr
    assert stopped.stderr.strip().endswith("Interrupted.") and "Traceback" not in stopped.stderr
    # It stopped part-way, not after finishing the deploy. Steps already handed to the 8 workers
    # may still start before the main thread acts on the signal (on a busy 2-core machine that can
    # be the last one), so the proof is the missing summary plus the convergence below.
    assert "[6/30]" in stopped.stdout and "Deploy complete" not in stopped.stdout
    assert lock_item(aws, ns) == {}
    m = load_manifest(str(path))
    dep, _ = deployer(moto_server, lock_wait=0)
    dep.deploy(m)
    assert_deployed(aws, m)
    dep, client = deployer(moto_server)
    assert not dep.deploy(m).plan.has_changes and client.writes == 0


def test_job_tags_disabled_triggers_and_a_removed_tag(moto_server: str, aws: Any, manifest: Manifest) -> None:
    """Job tags reach every resource; `enabled: false` deploys the rule and the schedule
    disabled; a tag deleted from the manifest is removed from every resource that had it."""
    from cronplane.manifest.models import Architecture, Vpc

    ec2 = aws("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = tuple(ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"] for i in (1, 2))
    group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc_id)["GroupId"]
    key = aws("kms").create_key()["KeyMetadata"]["Arn"]
    # and the Lambda settings: architecture, reserved concurrency, VPC, KMS key
    settings = {
        "tmp-cleanup": dict(
            architecture=Architecture.X86_64, reserved_concurrency=2, vpc=Vpc(subnets, (group,)), kms_key=key
        )
    }
    tagged = replace(
        manifest,
        jobs=tuple(
            replace(
                j,
                tags=(("cost-center", "42"), ("tier", "gold")),
                enabled=j.name not in ("invoice-sync", "nightly-report"),  # a rule job and a Scheduler job
                **settings.get(j.name, {}),
            )
            for j in manifest.jobs
        ),
    )
    deployer(moto_server)[0].deploy(tagged)
    assert_deployed(aws, tagged)
    dep, client = deployer(moto_server)
    assert not dep.deploy(tagged).plan.has_changes and client.writes == 0  # VPC, KMS, arch read back equal
    assert aws("events").describe_rule(Name=f"{manifest.namespace}--invoice-sync")["State"] == "DISABLED"

    untiered = replace(tagged, jobs=tuple(replace(j, tags=(("cost-center", "42"),)) for j in tagged.jobs))
    dep, client = deployer(moto_server)
    plan = dep.plan(untiered)
    assert {a.op.value for a in plan.changes} == {"update"}
    assert {f.describe() for a in plan.changes for f in a.fields} == {"tags: tier: gold → (none)"}
    assert len(plan.changes) == 4 * 5  # per job: role, dlq, log group, function, and its rule or Scheduler role
    dep.deploy(untiered)
    writes = resource_writes(client)
    assert {w for w in writes if "untag" in w} == {
        "iam.untag_role",
        "sqs.untag_queue",
        "logs.untag_resource",
        "lambda.untag_resource",
        "events.untag_resource",
    }
    assert not [
        w
        for w in writes
        if w.split(".")[1]
        in ("put_role_policy", "set_queue_attributes", "put_targets", "update_function_configuration", "put_rule")
    ]
    assert_deployed(aws, untiered)  # exact tags: "tier" is gone everywhere
    dep, client = deployer(moto_server)
    assert not dep.deploy(untiered).plan.has_changes and client.writes == 0


def test_manifest_trigger_mode_scheduler_puts_every_job_on_scheduler(
    moto_server: str, aws: Any, manifest: Manifest, tmp_path: Path
) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(path.read_text().replace("namespace: acme-jobs", "namespace: e2e-sched\ntrigger_mode: scheduler"))
    m = load_manifest(str(path))
    assert m.trigger_mode.value == "scheduler"
    deployer(moto_server)[0].deploy(m)
    assert_deployed(aws, m)  # every job: a schedule with its role, retry policy, DLQ and scheduled time
    assert aws("events").list_rules(NamePrefix="e2e-sched-")["Rules"] == []
    schedules = aws("scheduler").list_schedules(GroupName="e2e-sched")["Schedules"]
    assert sorted(s["Name"] for s in schedules) == sorted(f"e2e-sched--{j.name}" for j in m.jobs)
    # no rule, so no EventBridge permission on the functions either
    from botocore.exceptions import ClientError

    for job in m.jobs:
        with pytest.raises(ClientError, match="ResourceNotFound"):
            aws("lambda").get_policy(FunctionName=f"e2e-sched--{job.name}")
    dep, client = deployer(moto_server)
    assert not dep.deploy(m).plan.has_changes and client.writes == 0
