"""The namespace's watchdog, as deploy builds it: its package and its desired resources. Only
when some job has ``alerts:``; otherwise nothing (and a deploy prunes a watchdog left over).

- Package (``watchdog_package``): a deterministic zip (``packaging.deterministic_zip``) of the
  runtime, the modules of the check (``ops.watchdog`` and what it imports: the matching engine,
  the schedule engine, ``runs.status``; standard library and boto3 only, which
  ``tests/unit/test_watchdog_build.py`` proves by importing it from the unpacked zip
  with deploy-time libraries blocked), the Lambda entry (``cronplane.watchdog``) and the
  watched jobs as JSON (``cronplane/watchdog/config.json``, ``manifest.watch_config``). The same
  manifest gives the same bytes, so an unchanged deploy uploads nothing.
- Resources (``watchdog_resources``): a role, a log group, the function, the permission that
  lets its rule invoke it, and an EventBridge rule every minute: the kinds every job uses,
  under the names of the pseudo-job ``names.WATCHDOG``, so the planner diffs, records, prunes
  and destroys them like a job's.
- Its role may Query the history table, put alert records (PutItem of the alert records'
  attributes only), publish to the namespace's alert topic and the jobs' ``sns:`` routes, and
  read the jobs' webhook secrets: nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import cronplane
from cronplane.build.arns import Arns
from cronplane.build.iam import LOG_ACTIONS, SECRETS_MANAGER_ACTIONS, SSM_SECRET_ACTIONS, lambda_trust_policy
from cronplane.build.packaging import Entry, JobPackage, code_sha256, deterministic_zip, runtime_files
from cronplane.build.resources import (
    PERMISSION_SID,
    RUNTIME,
    Kind,
    Resource,
    base_tags,
    canonical_json,
)
from cronplane.manifest import names
from cronplane.manifest.watch_config import WATCH_PERIOD, WATCHDOG_HANDLER, WatchConfig, WatchedJob
from cronplane.runtime.alerts import ALERT_TOPIC
from cronplane.runtime.schema import INDEX_NAME

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cronplane.manifest.models import Job, Manifest

HANDLER = WATCHDOG_HANDLER
CONFIG_ENTRY = "cronplane/watchdog/config.json"
TIMEOUT_S = 60
MEMORY_MB = 256
MEMORY_STEPS = ((5000, 1769), (1000, 1024))  # (watched jobs from, MB): ``memory_mb``
ARCHITECTURE = "arm64"
LOG_RETENTION_DAYS = 14
RULE_INPUT = '{"cronplane":{"trigger":"watchdog"}}'
TARGET_ID = "cronplane"
# The modules of the check besides the runtime (which ``runtime_files`` gives): what
# ``cronplane.watchdog.entry`` imports, all the way down.
MODULES = (
    "errors.py",
    "schedule/__init__.py",
    "schedule/cron.py",
    "schedule/describe.py",
    "schedule/expression.py",
    "schedule/moments.py",
    "schedule/search.py",
    "schedule/unix.py",
    "manifest/__init__.py",
    "manifest/watch_config.py",
    "runs/__init__.py",
    "runs/status.py",
    "ops/__init__.py",
    "ops/alert_trial.py",
    "ops/matching.py",
    "ops/watch_findings.py",
    "ops/watch_reads.py",
    "ops/watchdog.py",
    "watchdog/__init__.py",
    "watchdog/entry.py",
)
# Every attribute an alert record or a watch start has (``runtime.schema.control``), and the
# index attribute the watchdog stores them under (``ops.watch_reads.watch_item``): the only ones
# its PutItem may write, so it cannot write a run record.
ALERT_ATTRIBUTES = (
    "gsi_pk",
    "job",
    "run_id",
    "kind",
    "alert",
    "event",
    "sent_at",
    "routes",
    "moment",
    "told",
    "by",
    "note",
    "ttl",
    "since",
    "schedule",
)


def memory_mb(watched: int) -> int:
    """The function's memory for ``watched`` jobs. Lambda gives CPU in proportion to memory
    (1,769 MB is one vCPU), and a pass over thousands of jobs is mostly CPU: parsing the
    index's pages, and, on a first pass or in an outage of many jobs, thousands of partition
    reads and writes (``benchmarks/bench_watchdog.py``)."""
    return next((mb for threshold, mb in MEMORY_STEPS if watched >= threshold), MEMORY_MB)


def watched_jobs(manifest: Manifest) -> list[Job]:
    return [job for job in manifest.jobs if job.alerts is not None]


def watch_config(manifest: Manifest) -> WatchConfig:
    """The watched jobs as the watchdog reads them (also what ``jobctl watch`` checks)."""
    jobs = []
    for job in watched_jobs(manifest):
        policy = job.alerts
        assert policy is not None
        jobs.append(
            WatchedJob(
                name=job.name,
                team=job.team,
                owner=job.owner or "",
                schedule=job.schedule,
                enabled=job.enabled,
                routes=policy.notify,
                on=frozenset(policy.on),
                late_after_s=policy.late_after_s,
                missed_after_s=policy.missed_after_s,
                function=names.function_name(manifest.namespace, job.name),
                start_window_s=job.start_window * 60,
            )
        )
    return WatchConfig(
        manifest.namespace, names.history_table(manifest.namespace), manifest.history.retention_days, tuple(jobs)
    )


def config_json(manifest: Manifest) -> bytes:
    return (canonical_json(watch_config(manifest).to_dict()) + "\n").encode()


def watchdog_package(manifest: Manifest) -> JobPackage | None:
    """The watchdog's zip; None when no job has ``alerts:``."""
    if not watched_jobs(manifest):
        return None
    package_dir = Path(cronplane.__file__).parent
    entries: list[Entry] = runtime_files()
    entries += [(f"cronplane/{module}", (package_dir / module).read_bytes()) for module in MODULES]
    entries.append((CONFIG_ENTRY, config_json(manifest)))
    zip_bytes = deterministic_zip(entries)
    files = tuple(sorted(name for name, _ in entries))
    return JobPackage(zip_bytes, code_sha256(zip_bytes), files, len(zip_bytes))


def watchdog_code(manifest: Manifest, *, build: bool = True) -> dict[str, tuple[str, bytes | None]]:
    """The watchdog's entry of ``resources.desired_state``'s ``code`` map (none without alerts)."""
    if not watched_jobs(manifest):
        return {}
    if not build:
        return {names.WATCHDOG: ("", None)}
    package = watchdog_package(manifest)
    assert package is not None
    return {names.WATCHDOG: (package.sha256, package.zip_bytes)}


# --- desired resources ------------------------------------------------------------------------
def watchdog_resources(manifest: Manifest, arns: Arns, code: Mapping[str, tuple[str, bytes | None]]) -> list[Resource]:
    jobs = watched_jobs(manifest)
    if not jobs:
        return []
    ns, slot_job = manifest.namespace, names.WATCHDOG
    sha, zip_bytes = code.get(slot_job, ("", None))
    tags = base_tags(manifest)
    fn_name = names.watchdog_function(ns)
    fn_arn = arns.function(fn_name)
    path = names.role_path(ns)
    role = names.role_name(ns, slot_job)
    role_arn = arns.role(path, role)
    rule = names.rule_name(ns, slot_job)
    rule_arn = arns.rule(rule)
    log_group = names.log_group_name(ns, slot_job)
    topic_arn = topic(arns, ns)
    policy = {"policy": watchdog_policy(manifest, jobs, arns, topic_arn, log_group)}
    trust = {"path": path, "trust": lambda_trust_policy()}
    settings = {
        "runtime": RUNTIME,
        "handler": HANDLER,
        "role": role_arn,
        "timeout": TIMEOUT_S,
        "memory": memory_mb(len(jobs)),
        "description": f"cronplane watchdog of namespace {ns}: late, missed and lost runs",
        "environment": {ALERT_TOPIC: topic_arn, "CRONPLANE_NAMESPACE": ns},
        "architecture": ARCHITECTURE,
        "vpc": None,
        "kms_key": None,
        "code_sha256": sha,
    }
    grant = {
        "sid": PERMISSION_SID,
        "qualifier": None,
        "principal": "events.amazonaws.com",
        "source_arn": rule_arn,
        "source_account": arns.account,
    }
    every_minute = {"expression": WATCH_PERIOD, "state": "ENABLED", "description": settings["description"]}
    target = {"Id": TARGET_ID, "Arn": fn_arn, "Input": RULE_INPUT}
    return [
        Resource(Kind.ROLE, role, slot_job, "role", role_arn, visible=trust, hidden=policy, tags=tags),
        Resource(
            Kind.LOG_GROUP,
            log_group,
            slot_job,
            "log",
            arns.log_group(log_group),
            visible={"retention": LOG_RETENTION_DAYS},
            tags=tags,
        ),
        Resource(
            Kind.FUNCTION,
            fn_name,
            slot_job,
            "fn",
            fn_arn,
            visible=settings,
            hidden={"reserved_concurrency": None},
            tags=tags,
            code=zip_bytes,
        ),
        Resource(Kind.PERMISSION, fn_name, slot_job, "perm", fn_arn, hidden=grant),
        Resource(
            Kind.RULE, rule, slot_job, "rule", rule_arn, visible=every_minute, hidden={"target": target}, tags=tags
        ),
    ]


def topic(arns: Arns, namespace: str) -> str:
    """The namespace's alert topic (email routes are its subscriptions)."""
    return arns.topic(names.alert_topic(namespace))


def watchdog_policy(manifest: Manifest, jobs: list[Job], arns: Arns, topic_arn: str, log_group: str) -> dict[str, Any]:
    table_arn = arns.table(names.history_table(manifest.namespace))
    routes = [route for job in jobs if job.alerts is not None for route in job.alerts.notify]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": list(LOG_ACTIONS),
            "Resource": [f"{arns.log_group(log_group)}:*"],
        },
        {
            # Every job's partition: its runs, pause events and alert records, and the pause
            # markers; and the by-time index: every job's runs and alert records at once.
            "Sid": "ReadJobHistories",
            "Effect": "Allow",
            "Action": ["dynamodb:Query"],
            "Resource": [table_arn, f"{table_arn}/index/{INDEX_NAME}"],
        },
        {
            "Sid": "RecordAlerts",
            "Effect": "Allow",
            "Action": ["dynamodb:PutItem"],
            "Resource": [table_arn],
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:Attributes": list(ALERT_ATTRIBUTES)}},
        },
        {
            "Sid": "PublishAlerts",
            "Effect": "Allow",
            "Action": ["sns:Publish"],
            "Resource": sorted({topic_arn, *(r.target for r in routes if r.kind == "sns")}),
        },
    ]
    secrets = [r.target for r in routes if r.kind == "webhook"]
    ssm = sorted({_ssm_parameter_arn(arns, ref.partition(":")[2]) for ref in secrets if ref.startswith("ssm:")})
    if ssm:
        statements.append(
            {"Sid": "ReadWebhookUrls", "Effect": "Allow", "Action": list(SSM_SECRET_ACTIONS), "Resource": ssm}
        )
    managed = sorted({_secret_arn(arns, ref.partition(":")[2]) for ref in secrets if ref.startswith("secretsmanager:")})
    if managed:
        statements.append(
            {
                "Sid": "ReadWebhookSecrets",
                "Effect": "Allow",
                "Action": list(SECRETS_MANAGER_ACTIONS),
                "Resource": managed,
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


# The same ARN forms ``build.iam`` grants a job's own secrets with.
def _ssm_parameter_arn(arns: Arns, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{arns.partition}:ssm:{arns.region}:{arns.account}:parameter/{name.lstrip('/')}"


def _secret_arn(arns: Arns, name: str) -> str:
    if name.startswith("arn:"):
        return name
    return f"arn:{arns.partition}:secretsmanager:{arns.region}:{arns.account}:secret:{name}-??????"


__all__ = [
    "CONFIG_ENTRY",
    "HANDLER",
    "config_json",
    "watch_config",
    "watchdog_code",
    "watchdog_package",
    "watchdog_resources",
    "watched_jobs",
]
