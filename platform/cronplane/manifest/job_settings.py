"""The settings side of loading jobs.yaml (``loader``, after the schema check): each job's
settings merged over its team's and the defaults, with where each came from (for the line of a
problem), and, once ``loader._JobBuilder`` has checked their meaning, the frozen ``Job`` built
from them. No checks here: every value reaching ``job_from_settings`` is already valid."""

from __future__ import annotations

from typing import Any

from cronplane.manifest.alert_settings import alert_policy
from cronplane.manifest.handler_check import HandlerRef
from cronplane.manifest.models import (
    Architecture,
    Concurrency,
    Job,
    OnHistoryOutage,
    Permission,
    RetryPolicy,
    Secret,
    Vpc,
)
from cronplane.manifest.yamlload import Path
from cronplane.schedule.expression import Schedule

# Mappings that merge key by key with defaults; every other setting is replaced whole.
MERGED_MAPPINGS = ("retries", "env", "secrets", "tags", "alerts")


def merge_settings(
    name: str, defaults: dict[str, Any], own: dict[str, Any], team: tuple[dict[str, Any], Path] | None = None
) -> tuple[dict[str, Any], dict[str, Path]]:
    """Job settings over its team's (``teams.TEAM``) over defaults, and where each came from
    (for the line of a problem). ``origin`` has an entry per setting and, for merged mappings,
    per ``setting.key``."""
    settings: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    sources = [(defaults, ("defaults",)), *([team] if team else []), (own, ("jobs", name))]
    for source, prefix in sources:
        for key, value in source.items():
            if key in MERGED_MAPPINGS and isinstance(value, dict) and isinstance(settings.get(key), dict):
                settings[key] = {**settings[key], **value}
            else:
                settings[key] = value
            origin[key] = (*prefix, key)
            if key in MERGED_MAPPINGS and isinstance(value, dict):
                for sub in value:
                    origin[f"{key}.{sub}"] = (*prefix, key, sub)
    return settings, origin


def job_from_settings(
    name: str, s: dict[str, Any], ref: HandlerRef, schedule: Schedule, timezone: str | None, line: int | None
) -> Job:
    retries = s.get("retries", {})
    defaults = RetryPolicy()
    vpc = s.get("vpc")
    return Job(
        name=name,
        handler=ref.spec,
        schedule=schedule,
        team=s.get("team") or ref.file.split("/", 1)[0],
        owner=s.get("owner"),
        description=s.get("description", ""),
        timezone=timezone,
        timeout=int(s.get("timeout", 300)),
        memory=int(s.get("memory", 256)),
        retries=RetryPolicy(
            max_attempts=int(retries.get("max_attempts", defaults.max_attempts)),
            backoff_base=float(retries.get("backoff_base", defaults.backoff_base)),
            backoff_cap=float(retries.get("backoff_cap", defaults.backoff_cap)),
            retry_on=tuple(retries.get("retry_on", defaults.retry_on)),
        ),
        concurrency=Concurrency(s.get("concurrency", "allow")),
        on_history_outage=OnHistoryOutage(s.get("on_history_outage", "run")),
        enabled=s.get("enabled", True),
        payload=s.get("payload", {}),
        env=tuple((k, v) for k, v in s.get("env", {}).items()),
        secrets=tuple(_secret(k, v) for k, v in s.get("secrets", {}).items()),
        permissions=tuple(
            Permission(tuple(p["actions"]), tuple(p["resources"]), p.get("effect", "Allow"))
            for p in s.get("permissions", [])
        ),
        tags=tuple((k, v) for k, v in s.get("tags", {}).items()),
        architecture=Architecture(s.get("architecture", "arm64")),
        reserved_concurrency=_int_or_none(s.get("reserved_concurrency")),
        provisioned_concurrency=_int_or_none(s.get("provisioned_concurrency")),
        vpc=Vpc(tuple(vpc["subnets"]), tuple(vpc["security_groups"])) if vpc else None,
        kms_key=s.get("kms_key"),
        log_retention_days=int(s.get("log_retention_days", 30)),
        allow_privileged=s.get("allow_privileged"),
        alerts=alert_policy(s.get("alerts")),
        # Any schedule may have one: Scheduler applies the window to rate(), cron() and at()
        # alike (on at() it delays the one run), and on_scheduler puts the job there.
        start_window=int(s.get("start_window", 0)),
        line=line,
    )


def team_of(settings: dict[str, Any]) -> str | None:
    """The job's team, as ``job_from_settings`` will set it: ``team:``, else the handler's first folder."""
    team = settings.get("team")
    if isinstance(team, str) and team:
        return team
    handler = settings.get("handler")
    if isinstance(handler, str) and "/" in handler:
        return handler.removeprefix("jobs/").split("/", 1)[0]
    return None


def _secret(env: str, reference: str) -> Secret:
    source, name = reference.split(":", 1)
    return Secret(env=env, source=source, name=name)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
