"""``jobctl watch`` / ``jobctl alerts`` / ``jobctl alerts test``: the watchdog's check run from
the command line, through the AWS door. The check is the deployed watchdog's own
(``ops.watchdog.run_pass`` on ``build.watchdog.watch_config``: the very JSON its zip carries);
this module only wires the door's clients into it and words a missing table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from cronplane.aws.client import AwsCallError
from cronplane.aws.deployer import partition_of
from cronplane.build.arns import Arns
from cronplane.build.watchdog import topic, watch_config
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest.watch_config import WatchConfig
from cronplane.ops.watchdog import PassReport, WatchClients, run_pass, secret_reader
from cronplane.runtime import alerts

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from cronplane.aws.client import AwsClient
    from cronplane.manifest.models import Manifest


class NoAlertsError(CronplaneError):
    """The manifest (or the named job) has no ``alerts:``: there is nothing to watch or test."""


@dataclass(frozen=True)
class AlertTrial:
    job: str
    results: tuple[alerts.RouteResult, ...]

    @property
    def all_accepted(self) -> bool:
        return all(r.ok for r in self.results)


def watched_config(manifest: Manifest, job_name: str | None = None) -> WatchConfig:
    """What the deployed watchdog watches (``job_name``: that job only, which must have alerts)."""
    config = watch_config(manifest)
    if job_name is not None:
        job = manifest.job(job_name)  # an unknown name is the usual one-line error
        if config.job(job.name) is None:
            raise NoAlertsError(_no_alerts(manifest, job.name))
    elif not config.jobs:
        raise NoAlertsError(_no_alerts(manifest, None))
    return config


def door_clients(aws: AwsClient, manifest: Manifest) -> WatchClients:
    region = aws.region
    arns = Arns(partition_of(region), region, aws.account_id())
    return WatchClients(
        dynamodb=aws.dynamodb,
        sns=cast("SNSClient", aws.service("sns")),
        read_secret=secret_reader(aws.service),
        topic_arn=topic(arns, manifest.namespace),
        region=region,
    )


def watch(
    aws: AwsClient, manifest: Manifest, now: datetime, *, job_name: str | None = None, act: bool = True
) -> PassReport:
    """One watchdog pass (``act``: record and send what is new, as the deployed one does;
    without it, only look: ``jobctl alerts``)."""
    config = watched_config(manifest, job_name)
    clients = door_clients(aws, manifest)
    try:
        return run_pass(config, clients, now, jobs=[job_name] if job_name else None, act=act)
    except AwsCallError as exc:
        if exc.not_found:  # the pause markers' Query runs first: the table is not there at all
            raise AwsError(
                f"history table {config.table} does not exist: deploy the manifest first (`jobctl deploy`), "
                "or check --region / --endpoint-url"
            ) from exc
        raise


def send_test(aws: AwsClient, manifest: Manifest, job_name: str) -> AlertTrial:
    """A clearly marked test notification through the job's routes, exactly as an alert goes."""
    config = watched_config(manifest, job_name)
    job = config.job(manifest.job(job_name).name)
    assert job is not None
    clients = door_clients(aws, manifest)
    alert = alerts.Alert(
        job=job.name,
        team=job.team,
        owner=job.owner,
        kind="test",
        fire_times=(),
        namespace=manifest.namespace,
        region=clients.region,
        next_steps=(f"jobctl alerts {job.name}",),
    )
    results = alerts.deliver(
        alert,
        job.routes,
        sns_client=clients.sns,
        secrets_resolver=clients.read_secret,
        namespace_topic_arn=clients.topic_arn,
    )
    return AlertTrial(job.name, tuple(results))


def _no_alerts(manifest: Manifest, job: str | None) -> str:
    what = f"job {job} has no alerts" if job else "no job has alerts"
    return (
        f"{manifest.path}: {what}: add `alerts: {{notify: [email:ONCALL@EXAMPLE.COM]}}` to the job "
        f"(or to defaults / its team) and run `jobctl deploy`"
    )


__all__ = ["AlertTrial", "NoAlertsError", "send_test", "watch", "watched_config"]
