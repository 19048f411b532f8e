"""Builders for the deploy-pipeline tests: manifests made directly from the models (no YAML),
and an in-memory live state that mirrors a desired state exactly (what a finished deploy
leaves behind), which tests then bend one field at a time."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cronplane.aws.inventory import LiveResource, LiveState
from cronplane.aws.kinds import kind_of
from cronplane.aws.vouch import record_of
from cronplane.build.resources import (
    CONFIG_TAG,
    DesiredState,
    Kind,
    desired_state,
    encode_state,
)
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest, TriggerMode
from cronplane.schedule.expression import parse_schedule

ACCOUNT = "123456789012"
REGION = "eu-west-1"
NS = "acme-jobs"


def make_job(name: str, schedule: str = "rate(5 minutes)", *, timezone: str | None = None, **kw: Any) -> Job:
    kw.setdefault("team", "billing")
    kw.setdefault("owner", "oncall@example.com")
    kw.setdefault("handler", "billing/nightly_report.py:handler")
    return Job(name=name, schedule=parse_schedule(schedule, timezone), timezone=timezone, **kw)


def make_manifest(*jobs: Job, trigger_mode: TriggerMode = TriggerMode.AUTO) -> Manifest:
    return Manifest(namespace=NS, region=REGION, jobs=tuple(jobs), trigger_mode=trigger_mode)


def desired_for(manifest: Manifest, shas: dict[str, str] | None = None) -> DesiredState:
    shas = shas or {}
    code = {j.name: (shas.get(j.name, f"sha-{j.name}"), b"zip") for j in manifest.jobs}
    return desired_state(manifest, account_id=ACCOUNT, region=REGION, code=code)


def live_from(desired: DesiredState, *, with_tags: bool = False) -> LiveState:
    """The live state a complete deploy of ``desired`` leaves: listed resources with their
    visible settings; functions with their tags and the job's state record. Tags of other
    kinds are unknown (None), as after ``Inventory.load``, unless ``with_tags``."""
    found: dict[tuple[str, str], LiveResource] = {}
    for job in desired.jobs():
        resources = desired.of_job(job)
        state = encode_state(record_of(resources))
        for r in resources:
            kind = kind_of(r.kind)
            if not kind.listed:
                continue
            tags: Any = None
            owner = kind.owner(desired.namespace)
            if kind.holds_job_record:
                tags = {**r.tags, CONFIG_TAG: state}
            elif owner is not None:  # a schedule: its group's tags
                tags = dict(next(s for s in desired.shared() if s.key == owner).tags)
            elif with_tags:
                tags = dict(r.tags)
            url = f"https://sqs/{r.name}" if r.kind == Kind.QUEUE else None
            found[r.key] = LiveResource(r.kind, r.name, r.arn, dict(r.visible), tags, url)
    for r in desired.shared():
        found[r.key] = LiveResource(r.kind, r.name, r.arn, {}, {**r.tags, CONFIG_TAG: r.hidden_hash()})
    return LiveState(desired.namespace, found)


def bend(live: LiveState, kind: str, name: str, **changes: Any) -> LiveState:
    res = live.resources[(kind, name)]
    return live.with_resources([replace(res, **changes)])


def example_manifest() -> Manifest:
    return make_manifest(
        make_job("nightly-report", "cron(0 2 * * ? *)", timezone="Europe/Berlin"),
        make_job("invoice-sync", "rate(15 minutes)"),
        make_job("tmp-cleanup", "cron(0 * * * ? *)", team="infra", handler="infra/tmp_cleanup.py:handler"),
    )


__all__ = ["ACCOUNT", "NS", "REGION", "bend", "desired_for", "live_from", "make_job", "make_manifest", "names"]
