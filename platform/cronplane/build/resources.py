"""Stage 3 of the deploy pipeline: the manifest turned into the AWS resources it needs.

Pure: no I/O. ``desired_state`` returns every resource a manifest needs (per job: roles, DLQ,
log group, function, invoke config, alias, permission, trigger; shared: history table and
Scheduler group) as frozen ``Resource`` values. The planner compares them with what inventory
found; the executor turns the differences into AWS calls.

Each resource splits its settings in two:

- ``visible``: what the cheap list calls return (``list_functions``, ``list_rules``...), so the
  planner compares them field by field against live values;
- ``hidden``: what only per-resource ``get_*`` calls would return (a role's inline policy, a
  rule's target, a queue's attributes...). Their hash is recorded when applied — in the job's
  ``cronplane:config`` tag on its function, or the shared resource's own tag — so an unchanged
  deploy needs no per-resource reads at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from cronplane.build.arns import Arns
from cronplane.build.desired import (
    JOB_ORDER as JOB_ORDER,
)
from cronplane.build.desired import (
    TAGS_VISIBLE as TAGS_VISIBLE,
)
from cronplane.build.desired import (
    DesiredState as DesiredState,
)
from cronplane.build.desired import (  # the data model, re-exported for the stages that import it here
    Kind as Kind,
)
from cronplane.build.desired import (
    KindAndName as KindAndName,
)
from cronplane.build.desired import (
    Resource as Resource,
)
from cronplane.build.desired import (
    canonical_json as canonical_json,
)
from cronplane.build.desired import (
    config_hash as config_hash,
)
from cronplane.build.desired import (
    decode_state as decode_state,
)
from cronplane.build.desired import (
    encode_state as encode_state,
)
from cronplane.manifest import names
from cronplane.manifest.loader import on_scheduler
from cronplane.manifest.models import Job, Manifest

if TYPE_CHECKING:
    from cronplane.build.team_roles import SharedRoles

RUNTIME = "python3.12"
ENTRY_HANDLER = "cronplane.runtime.entry.handler"
POLICY_NAME = "cronplane"
TARGET_ID = "cronplane"
PERMISSION_SID = "cronplane-events"
CONFIG_TAG = "cronplane:config"  # the job's applied-state record (see module docstring)
DLQ_RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum
TARGET_RETRY_ATTEMPTS = 8  # EventBridge delivery retries (0-185); the wrapper retries the job
TARGET_MAX_EVENT_AGE = 3600
TARGET_RETRY = {"MaximumRetryAttempts": TARGET_RETRY_ATTEMPTS, "MaximumEventAgeInSeconds": TARGET_MAX_EVENT_AGE}
# What a trigger hands the function; the runtime reads the firing's id and time from it.
SCHEDULE_INPUT = json.dumps(
    {
        "cronplane": {
            "event_id": "<aws.scheduler.execution-id>",
            "scheduled_for": "<aws.scheduler.scheduled-time>",
            "trigger": "schedule",
        }
    },
    separators=(",", ":"),
    sort_keys=True,  # as canonical_json: the text is part of the schedule's recorded hash
)
RULE_INPUT = {
    "InputPathsMap": {"id": "$.id", "time": "$.time"},
    "InputTemplate": '{"cronplane": {"trigger": "schedule", "event_id": <id>, "scheduled_for": <time>}}',
}
DEFAULT_ACCOUNT = "123456789012"  # moto's account, for local runs that have no STS to ask


# --- helpers other stages use ---------------------------------------------------------------


def is_one_time(job: Job) -> bool:
    kind = getattr(job.schedule, "kind", "")
    return str(getattr(kind, "value", kind)).lower() == "at"


def base_tags(manifest: Manifest, job: Job | None = None) -> dict[str, str]:
    tags: dict[str, str] = {}
    if job is not None:
        tags.update(dict(job.tags))  # the job's own tags first: ours win on a clash
        tags[names.TEAM_TAG] = job.team
        if job.owner:
            tags[names.OWNER_TAG] = job.owner
        tags[names.JOB_TAG] = job.name
    tags[names.MANAGED_BY_TAG] = names.MANAGED_BY_VALUE
    tags[names.NAMESPACE_TAG] = manifest.namespace
    return tags


def queue_url(region: str, account_id: str, name: str) -> str:
    return f"https://sqs.{region}.amazonaws.com/{account_id}/{name}"


def function_environment(
    manifest: Manifest,
    job: Job,
    *,
    account_id: str = DEFAULT_ACCOUNT,
    region: str | None = None,
    partition: str = "aws",
) -> dict[str, str]:
    """The CRONPLANE_* variables of ``runtime/settings.py`` (and, for a job with alerts,
    of ``runtime/alerts.py``) plus the job's own ``env``."""
    from cronplane.runtime import alerts
    from cronplane.runtime import settings as s

    ns = manifest.namespace
    env = dict(job.env)
    secrets = {sec.env: f"{sec.source}:{sec.name}" for sec in job.secrets}
    env.update(
        {
            s.JOB: job.name,
            s.NAMESPACE: ns,
            s.HANDLER: f"{job.handler_module}:{job.handler_function}",
            s.HISTORY_TABLE: names.history_table(ns),
            s.HISTORY_TTL_DAYS: str(manifest.history.retention_days),
            s.DLQ_URL: queue_url(region or manifest.region, account_id, names.dlq_name(ns, job.name)),
            s.PAYLOAD: canonical_json(job.payload),
            s.RETRY: canonical_json(job.retries.to_dict()),
            s.CONCURRENCY: job.concurrency.value,
            s.TIMEOUT: str(job.timeout),
            s.SECRETS: canonical_json(secrets),
        }
    )
    if job.on_history_outage.value != s.RUN_ON_HISTORY_OUTAGE:
        # Only when not the default: existing functions keep their environment unchanged.
        env[s.ON_HISTORY_OUTAGE] = job.on_history_outage.value
    if job.alerts is not None:
        # Only with alerts: a job without them keeps its environment (and its function) as it was.
        topic = f"arn:{partition}:sns:{region or manifest.region}:{account_id}:{names.alert_topic(ns)}"
        env.update(
            {
                alerts.ALERT_ROUTES: canonical_json([str(route) for route in job.alerts.notify]),
                alerts.ALERT_ON: canonical_json(sorted(job.alerts.on)),
                alerts.ALERT_TOPIC: topic,
                alerts.TEAM: job.team,
                alerts.OWNER: job.owner or "",
            }
        )
    return env


# --- the desired state -----------------------------------------------------------------------


def desired_state(
    manifest: Manifest,
    *,
    account_id: str,
    region: str,
    code: Mapping[str, tuple[str, bytes | None]],
    partition: str = "aws",
) -> DesiredState:
    """Every resource ``manifest`` needs. ``code`` maps job name to (CodeSha256, zip bytes),
    and ``names.WATCHDOG`` to the watchdog's (``build.watchdog.watchdog_code``); the bytes
    may be None for a plan-only run that never uploads."""
    from cronplane.runtime.schema import table_definition

    arns = Arns(partition, region, account_id)
    ns = manifest.namespace
    out: list[Resource] = []
    table = names.history_table(ns)
    out.append(
        Resource(
            Kind.TABLE,
            table,
            None,
            "table",
            arns.table(table),
            hidden={"definition": table_definition(table), "ttl": "ttl", "pitr": True},
            tags=base_tags(manifest),
        )
    )
    if any(on_scheduler(manifest, job) for job in manifest.jobs):
        group = names.schedule_group(ns)
        out.append(Resource(Kind.SCHEDULE_GROUP, group, None, "group", arns.group(group), tags=base_tags(manifest)))
    from cronplane.build.alerting import topic_resources

    out.extend(topic_resources(manifest, arns))  # only when some job has alerts
    from cronplane.build.team_roles import shared_roles

    shared = shared_roles(manifest, arns, base_tags(manifest))  # role_mode: per_team only
    out.extend(shared.resources if shared else ())
    for job in manifest.jobs:
        sha, zip_bytes = code[job.name]
        out.extend(job_resources(manifest, job, arns, sha, zip_bytes, shared))
    from cronplane.build.watchdog import watchdog_resources

    out.extend(watchdog_resources(manifest, arns, code))  # only when some job has alerts
    notes = privileged_notes(manifest) + (shared.notes if shared else ())
    return DesiredState(ns, account_id, region, tuple(out), notes)


def privileged_notes(manifest: Manifest) -> tuple[str, ...]:
    """One line per job with an ``allow_privileged`` exception: the job, what the exception
    waives and the reason, so review sees it in every plan."""
    from cronplane.build import iam

    notes = []
    for job in manifest.jobs:
        waived = iam.privileged_grants(manifest, job)
        if job.allow_privileged:
            what = ", ".join(waived) or "nothing"
            notes.append(f"privileged: job {job.name} allow_privileged waives {what} because: {job.allow_privileged}")
    return tuple(notes)


def job_resources(
    manifest: Manifest, job: Job, arns: Arns, sha: str, zip_bytes: bytes | None, shared: SharedRoles | None = None
) -> list[Resource]:
    """The job's own resources; with ``shared`` roles (``role_mode: per_team``) it has no role of
    its own: its function runs with its team's shared role, its schedule with the namespace's."""
    from cronplane.build import iam

    ns, name = manifest.namespace, job.name
    tags = base_tags(manifest, job)
    fn_name = names.function_name(ns, name)
    fn_arn = arns.function(fn_name)
    target_arn = f"{fn_arn}:{names.ALIAS_NAME}" if job.provisioned_concurrency else fn_arn
    qualifier = names.ALIAS_NAME if job.provisioned_concurrency else None
    dlq = names.dlq_name(ns, name)
    dlq_arn = arns.queue(dlq)
    path = names.role_path(ns)
    role = names.role_name(ns, name)
    role_arn = arns.role(path, role)
    scheduler = on_scheduler(manifest, job)
    rule = names.rule_name(ns, name)
    rule_arn = arns.rule(rule)
    log_group = names.log_group_name(ns, name)
    state = "ENABLED" if job.enabled else "DISABLED"
    out: list[Resource] = []

    if shared is None:
        trust = {"path": path, "trust": iam.lambda_trust_policy()}
        policy = {
            "policy": iam.execution_policy(
                manifest, job, account_id=arns.account, region=arns.region, partition=arns.partition
            )
        }
        out.append(Resource(Kind.ROLE, role, name, "role", role_arn, visible=trust, hidden=policy, tags=tags))
    else:
        role_arn = shared.role_of(name)
    queue_attrs = {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
    if not scheduler:
        # EventBridge puts undeliverable firings here only if the queue policy lets the rule.
        queue_attrs["Policy"] = _dead_letter_policy(dlq_arn, rule_arn)
    out.append(Resource(Kind.QUEUE, dlq, name, "dlq", dlq_arn, hidden={"attributes": queue_attrs}, tags=tags))
    retention = {"retention": job.log_retention_days}
    out.append(
        Resource(Kind.LOG_GROUP, log_group, name, "log", arns.log_group(log_group), visible=retention, tags=tags)
    )
    vpc = None
    if job.vpc:
        vpc = {"subnets": sorted(job.vpc.subnets), "security_groups": sorted(job.vpc.security_groups)}
    settings = {
        "runtime": RUNTIME,
        "handler": ENTRY_HANDLER,
        "role": role_arn,
        "timeout": job.timeout,
        "memory": job.memory,
        "description": job.description[:256],
        "environment": function_environment(
            manifest, job, account_id=arns.account, region=arns.region, partition=arns.partition
        ),
        "architecture": job.architecture.value,
        "vpc": vpc,
        "kms_key": job.kms_key,
        "code_sha256": sha,
    }
    reserved = {"reserved_concurrency": job.reserved_concurrency}
    function = Resource(
        Kind.FUNCTION, fn_name, name, "fn", fn_arn, visible=settings, hidden=reserved, tags=tags, code=zip_bytes
    )
    out.append(function)
    # No Lambda retry (the wrapper retries) and no on-failure destination: a run that failed
    # raises after the wrapper sent its one DLQ message (``Wrapper.handle_for_lambda``), and a
    # destination would add a second; a crash the wrapper could not record is `lost` instead.
    invoke_config = {"qualifier": qualifier, "max_retry_attempts": 0}
    out.append(Resource(Kind.INVOKE_CONFIG, fn_name, name, "inv", fn_arn, hidden=invoke_config))
    if job.provisioned_concurrency:
        # The fingerprint makes a code or configuration change publish a new version.
        warm = {"provisioned": job.provisioned_concurrency, "fingerprint": config_hash(function.visible)}
        out.append(Resource(Kind.ALIAS, fn_name, name, "alias", target_arn, hidden=warm))
    if scheduler:
        srole = names.scheduler_role_name(ns, name)
        srole_arn = arns.role(path, srole) if shared is None else str(shared.scheduler)
        if shared is None:
            group_arn = arns.group(names.schedule_group(ns))
            strust = {"path": path, "trust": iam.scheduler_trust_policy(arns.account, group_arn)}
            spolicy = {"policy": iam.scheduler_policy(fn_arn, dlq_arn)}
            out.append(Resource(Kind.ROLE, srole, name, "srole", srole_arn, visible=strust, hidden=spolicy, tags=tags))
        group = names.schedule_group(ns)
        sched = names.schedule_name(ns, name)
        schedule: dict[str, object] = {
            "group": group,
            "expression": job.schedule.expression,
            "timezone": job.timezone or "UTC",
            "description": job.description[:512],
            "action_after_completion": "NONE" if is_one_time(job) else None,
            "role_arn": srole_arn,
            "retry": TARGET_RETRY,
            "dlq": dlq_arn,
            "input": SCHEDULE_INPUT,
        }
        if job.start_window:
            # Only when set: a schedule without one keeps the recorded hash it was deployed
            # with, so adding the setting to cronplane rewrites no existing schedule.
            schedule["start_window"] = job.start_window
        shown = {"state": state, "target_arn": target_arn}
        out.append(
            Resource(Kind.SCHEDULE, sched, name, "sched", arns.schedule(group, sched), visible=shown, hidden=schedule)
        )
    else:
        grant = {
            "sid": PERMISSION_SID,
            "qualifier": qualifier,
            "principal": "events.amazonaws.com",
            "source_arn": rule_arn,
            "source_account": arns.account,
        }
        out.append(Resource(Kind.PERMISSION, fn_name, name, "perm", fn_arn, hidden=grant))
        shown = {"expression": job.schedule.expression, "state": state, "description": job.description[:512]}
        target = {
            "Id": TARGET_ID,
            "Arn": target_arn,
            "RetryPolicy": TARGET_RETRY,
            "DeadLetterConfig": {"Arn": dlq_arn},
            "InputTransformer": RULE_INPUT,
        }
        out.append(
            Resource(Kind.RULE, rule, name, "rule", rule_arn, visible=shown, hidden={"target": target}, tags=tags)
        )
    from cronplane.build.alerting import alarm_resources

    out.extend(alarm_resources(manifest, job, arns))
    return out


def _dead_letter_policy(dlq_arn: str, rule_arn: str) -> str:
    statement = {
        "Sid": "EventBridgeDeadLetters",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": dlq_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
    }
    return canonical_json({"Version": "2012-10-17", "Statement": [statement]})
