"""The desired state's data model, pure: resource kinds, ``Resource`` (one AWS resource a job
or the namespace needs, its visible and hidden settings and tags), ``DesiredState``, and the
hashes recorded in each job's ``cronplane:config`` tag. ``resources`` builds these values from
the manifest; inventory, planner, executor and the kinds compare and apply them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any


class Kind(StrEnum):
    """The built-in resource kinds, by name. A kind is identified by its name (a plain string):
    ``aws.kinds`` registers these and may register more, which every stage accepts."""

    TABLE = "dynamodb table"
    SCHEDULE_GROUP = "scheduler group"
    ROLE = "iam role"
    QUEUE = "sqs queue"
    LOG_GROUP = "log group"
    FUNCTION = "lambda function"
    INVOKE_CONFIG = "lambda invoke config"
    ALIAS = "lambda alias"
    PERMISSION = "lambda permission"
    RULE = "eventbridge rule"
    SCHEDULE = "scheduler schedule"
    TOPIC = "sns topic"  # the namespace's alert topic (build.alerting)
    ALARM = "cloudwatch alarm"  # a job's failures alarm (build.alerting)
    KEY = "kms key"  # the namespace's alert topic's key (build.alerting)


# Order of a job's resources: each one's dependencies come earlier. Deletes run in reverse.
JOB_ORDER: dict[str, int] = {
    slot: index
    for index, slot in enumerate(
        ("role", "dlq", "log", "fn", "inv", "alias", "perm", "srole", "rule", "sched", "alarm")
    )
}
# Kinds whose tags the inventory reads in bulk (tagging API); others' tags live in the hash.
# (aws.kinds checks that exactly these kinds declare a tagging_type.)
TAGS_VISIBLE = frozenset({Kind.FUNCTION, Kind.TABLE, Kind.TOPIC, Kind.ALARM, Kind.KEY})


class KindAndName:
    """What a desired ``Resource`` and a ``LiveResource`` are matched by (``key``) and shown
    as (``label``): one definition, so both sides always agree."""

    kind: str  # a resource kind's name: a ``Kind`` or another kind registered in ``aws.kinds``
    name: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class Resource(KindAndName):
    kind: str
    name: str
    job: str | None  # None for shared resources
    slot: str  # short key of this resource within its job's state record ("role", "rule"...)
    arn: str
    visible: Mapping[str, Any] = field(default_factory=dict)
    hidden: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    # The zip for a function: carried along, never compared (CodeSha256 in ``visible`` is).
    code: bytes | None = field(default=None, compare=False, repr=False)

    def hidden_hash(self) -> str:
        """Hash of what list calls cannot show: hidden settings, plus tags where no bulk call
        returns them."""
        body: dict[str, Any] = {"hidden": dict(self.hidden)}
        if self.kind not in TAGS_VISIBLE:
            body["tags"] = dict(self.tags)
        return config_hash(body)


@dataclass(frozen=True)
class DesiredState:
    namespace: str
    account_id: str
    region: str
    resources: tuple[Resource, ...]
    # For the plan's reader: each job's reviewed allow_privileged exception and what it waives.
    notes: tuple[str, ...] = ()

    def jobs(self) -> list[str]:
        return list(self._by_job)

    def of_job(self, job: str) -> list[Resource]:
        return list(self._by_job.get(job, ()))

    @cached_property
    def _by_job(self) -> dict[str, list[Resource]]:
        """Each job's resources in its order, by job in name order: made once, not one scan of
        every resource per job (the planner asks for each job: jobs² steps at 10,000 jobs)."""
        late = len(JOB_ORDER)  # a slot of a kind registered beyond the built-in ones comes last
        by_job: dict[str, list[Resource]] = {}
        for r in self.resources:
            if r.job:
                by_job.setdefault(r.job, []).append(r)
        return {job: sorted(by_job[job], key=lambda r: JOB_ORDER.get(r.slot, late)) for job in sorted(by_job)}

    def shared(self) -> list[Resource]:
        return [r for r in self.resources if r.job is None]


def config_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()[:10]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def encode_state(hashes: Mapping[str, str]) -> str:
    """The ``cronplane:config`` tag value: ``fn=ab12.. role=cd34..`` (Lambda tag values allow
    letters, digits, spaces and ``=``; 10 slots of 15 characters fit the 256 limit)."""
    return " ".join(f"{slot}={hashes[slot]}" for slot in sorted(hashes, key=lambda s: JOB_ORDER.get(s, 99)))


def decode_state(value: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (value or "").split():
        slot, _, digest = part.partition("=")
        if slot and digest:
            out[slot] = digest
    return out
