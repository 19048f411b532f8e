"""The wrapper's own alert: one notification when a run ends ``failed`` or ``timed_out`` (and the
job's ``alerts.on`` names that status), sent after the run's record and DLQ message, within the
time left before Lambda's hard kill. Nothing is sent, read or created for a run that succeeds.

The alert goes through ``alerts.deliver`` (one Publish for the SNS and email routes together,
one POST per webhook, whose URL is read from its secret only now). Everything in it is masked
with the run's ``Scrubber``, the webhook URL included once read. A route that fails is logged;
it never changes the run's record, its DLQ message or its outcome.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from cronplane.runtime import alerts
from cronplane.runtime.budget import FINAL_RESERVE_MS, call_within
from cronplane.runtime.runlog import RunLog, describe
from cronplane.runtime.schema import RunRecord
from cronplane.runtime.secrets import Scrubber, resolve_secrets

WEBHOOK_SECRET = "CRONPLANE_ALERT_WEBHOOK"  # the name a webhook's secret is read under (messages)


class AlertConfig(NamedTuple):
    """A job's alert settings as its function's environment carries them."""

    routes: tuple[alerts.Route, ...]
    on: frozenset[str]
    topic_arn: str
    team: str
    owner: str

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AlertConfig | None:
        """None when the job has no alerts (no ``CRONPLANE_ALERT_ROUTES``)."""
        env = os.environ if environ is None else environ
        routes = alerts.parse_routes(env.get(alerts.ALERT_ROUTES))
        if not routes:
            return None
        on = frozenset(json.loads(env[alerts.ALERT_ON])) if env.get(alerts.ALERT_ON) else frozenset(alerts.ON_KINDS)
        return cls(routes, on, env.get(alerts.ALERT_TOPIC, ""), env.get(alerts.TEAM, ""), env.get(alerts.OWNER, ""))


class FailureAlerts:
    def __init__(
        self,
        config: AlertConfig,
        *,
        job: str,
        namespace: str,
        clients: Callable[[str], Any],
        scrubber: Scrubber,
        log: RunLog,
    ) -> None:
        self.config = config
        self.job = job
        self.namespace = namespace
        self.clients = clients
        self.scrubber = scrubber
        self.log = log

    def wants(self, status: str) -> bool:
        return status in alerts.WRAPPER_KINDS and status in self.config.on

    def alert(self, record: RunRecord, lambda_context: Any) -> alerts.Alert:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or ""
        group = str(getattr(lambda_context, "log_group_name", "") or os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""))
        stream = str(getattr(lambda_context, "log_stream_name", "") or os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""))
        url = alerts.log_url(region, group, stream, record.run_id)
        return alerts.Alert(
            job=self.job,
            team=self.config.team,
            owner=self.config.owner,
            kind=record.status,
            fire_times=tuple(t for t in (record.scheduled_for or record.started_at,) if t),
            run_id=record.run_id,
            attempts=len(record.attempts),
            error=self.scrubber.scrub(record.error or ""),
            namespace=self.namespace,
            region=region,
            log_url=url,
            # A refused event ran nothing and left no DLQ message to replay.
            next_steps=alerts.next_steps(self.job, record.run_id, url, dead_letter=bool(record.attempts)),
        )

    def send(self, record: RunRecord, lambda_context: Any) -> None:
        """Send the run's alert; log what each route answered. Never raises."""
        try:
            seconds = (int(lambda_context.get_remaining_time_in_millis()) - FINAL_RESERVE_MS) / 1000
            alert = self.alert(record, lambda_context)
            if seconds <= 0:
                self.log.line("error", "no time left to send the alert", run_id=record.run_id, alert=alert._asdict())
                return
            results = call_within(lambda: self._deliver(alert), seconds, name=f"cronplane-{record.run_id}-alert")
        except Exception as exc:
            self.log.line("error", "could not send the alert", run_id=record.run_id, error=describe(exc))
            return
        for result in results:
            self.log.line(
                "info" if result.ok else "error",
                "alert sent" if result.ok else "alert not sent",
                run_id=record.run_id,
                route=str(result.route),
                detail=result.detail,
            )

    def _deliver(self, alert: alerts.Alert) -> list[alerts.RouteResult]:
        routes = self.config.routes
        needs_sns = any(r.kind in ("sns", "email") for r in routes)
        return alerts.deliver(
            alert,
            routes,
            sns_client=self.clients("sns") if needs_sns else None,  # created on the first failure only
            secrets_resolver=self._webhook_url,
            namespace_topic_arn=self.config.topic_arn,
            scrub=self.scrubber.scrub,
        )

    def _webhook_url(self, reference: str) -> str:
        url = resolve_secrets({WEBHOOK_SECRET: reference}, self.clients, environ={})[WEBHOOK_SECRET]
        self.scrubber.add({reference: url})  # from now on masked in every log line and message
        return url
