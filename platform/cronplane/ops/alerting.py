"""``jobctl watch`` / ``jobctl alerts`` / ``jobctl alerts test``: the watchdog's check run from
the command line, through the AWS door. The check is the deployed watchdog's own
(``ops.watchdog.run_pass`` on ``build.watchdog.watch_config``: the very JSON its zip carries);
this module only wires the door's clients into it and words a missing table. ``alerts test``
invokes the deployed watchdog instead (``send_test``): only the platform's functions may publish
to the namespace's topic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, cast

from cronplane.aws.client import AwsCallError
from cronplane.aws.deployer import partition_of
from cronplane.build.arns import Arns
from cronplane.build.watchdog import topic, watch_config
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.manifest.watch_config import WatchConfig
from cronplane.ops.alert_trial import trial_request
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
    """A clearly marked test notification through the job's routes, sent by the namespace's
    watchdog function (a synchronous invoke, after checking the function is this namespace's):
    the topic's policy lets only the platform's functions publish, so the operator's own
    credentials would be refused. The watchdog answers which routes accepted it."""
    config = watched_config(manifest, job_name)
    job = config.job(manifest.job(job_name).name)
    assert job is not None
    function = names.watchdog_function(manifest.namespace)
    lambda_client = aws.lambda_
    try:
        tags = lambda_client.get_function(FunctionName=function).get("Tags", {})
    except AwsCallError as exc:
        if exc.not_found:
            raise AwsError(
                f"watchdog function {function} does not exist: no job had alerts when the namespace was last "
                "deployed; run `jobctl deploy` (or check --region / --endpoint-url)"
            ) from exc
        raise
    names.check_owner(f"Lambda function {function}", manifest.namespace, tags, doing="invoke it")
    response = lambda_client.invoke(
        FunctionName=function,
        InvocationType="RequestResponse",
        Payload=json.dumps(trial_request(job.name)).encode(),
    )
    raw = response["Payload"].read() if "Payload" in response else b""
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if response.get("FunctionError") or not isinstance(answer, dict):
        why = answer.get("errorMessage") if isinstance(answer, dict) else None
        raise AwsError(
            f"watchdog function {function} failed the test: {why or 'no answer'}; "
            f"see its logs (/aws/lambda/{function}) and redeploy with `jobctl deploy`"
        )
    if "refused" in answer:
        raise CronplaneError(
            f"watchdog function {function} refused the test: {answer['refused']}; "
            "redeploy with `jobctl deploy` so it watches the manifest's jobs"
        )
    results = tuple(
        alerts.RouteResult(
            alerts.Route.parse(str(r.get("route", ""))), bool(r.get("accepted")), str(r.get("detail", ""))
        )
        for r in answer.get("routes", [])
        if isinstance(r, dict)
    )
    return AlertTrial(str(answer.get("job", job.name)), results)


def _no_alerts(manifest: Manifest, job: str | None) -> str:
    what = f"job {job} has no alerts" if job else "no job has alerts"
    return (
        f"{manifest.path}: {what}: add `alerts: {{notify: [email:ONCALL@EXAMPLE.COM]}}` to the job "
        f"(or to defaults / its team) and run `jobctl deploy`"
    )


__all__ = ["AlertTrial", "NoAlertsError", "send_test", "watch", "watched_config"]
