"""Records of the history table that only ``jobctl`` and the watchdog write, never a run: the
deploy lock, pause markers, pause / resume events, and the watchdog's alert records and watch
starts. Kept out of the runtime's cold start: ``from_item`` and the package load this module on
first use."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, NamedTuple

from cronplane.runtime.schema.layout import (
    ALERT_SORT_PREFIX,
    DEPLOY_LOCK_JOB,
    KIND_ALERT,
    KIND_EVENT,
    KIND_WATCH,
    LOCK_SORT_KEY,
    PAUSED_PARTITION,
    iso,
    parse_iso,
    time_key,
)
from cronplane.runtime.schema.records import int_or_none, int_or_zero, plain_item, text, text_or_none, without_none


class PauseAction(str, Enum):
    PAUSE = "pause"
    RESUME = "resume"


def event_run_id(moment: datetime, action: PauseAction) -> str:
    """Sort key of a pause / resume event: in time order with the job's runs."""
    return f"{time_key(moment)}-event-{action.value}"


class DeployLockRecord(NamedTuple):
    """The namespace's deploy lock (``cronplane.aws.lock``): item ("~deploy", "~lock")."""

    holder: str  # "user@host pid N", for people
    since: str
    expires: int  # epoch seconds; the holder's heartbeat moves it on during a long deploy
    # Where the holder runs, precisely enough to tell "a dead process on this machine" from "a
    # live one elsewhere with the same hostname" (``cronplane.aws.lock_holder``). None in locks
    # written before these existed: those are never judged by their pid.
    machine: str | None = None  # machine id (/etc/machine-id, else boot id, else a cached random id)
    boot_id: str | None = None  # the kernel's boot id (Linux)
    pid_ns: str | None = None  # the PID namespace (Linux): two containers share a machine, not this
    pid: int | None = None
    started: str | None = None  # the process's start time, ticks since boot: a reused pid differs

    def as_dict(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "job": DEPLOY_LOCK_JOB,
            "run_id": LOCK_SORT_KEY,
            "holder": self.holder,
            "since": self.since,
            "expires": self.expires,
        }
        process = {
            "machine": self.machine,
            "boot_id": self.boot_id,
            "pid_ns": self.pid_ns,
            "pid": self.pid,
            "started": self.started,
        }
        values.update({k: v for k, v in process.items() if v is not None})
        return values

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> DeployLockRecord:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DeployLockRecord:
        return cls(
            holder=text(values.get("holder")),
            since=text(values.get("since")),
            expires=int_or_zero(values.get("expires")),
            machine=text_or_none(values.get("machine")),
            boot_id=text_or_none(values.get("boot_id")),
            pid_ns=text_or_none(values.get("pid_ns")),
            pid=int_or_none(values.get("pid")),
            started=text_or_none(values.get("started")),
        )


class PauseMarker(NamedTuple):
    """Present while ``job`` is paused (``jobctl pause``): item ("~paused", job). The deploy
    side reads the partition (one Query) so a deploy does not silently undo a pause."""

    job: str
    actor: str = "unknown"
    at: str = ""  # when it was paused
    reason: str | None = None

    @property
    def at_time(self) -> datetime:
        return parse_iso(self.at)

    def as_dict(self) -> dict[str, Any]:
        return without_none(
            {"job": PAUSED_PARTITION, "run_id": self.job, "actor": self.actor, "at": self.at, "reason": self.reason}
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PauseMarker:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PauseMarker:
        return cls(
            job=text(values.get("run_id")),
            actor=text(values.get("actor"), "unknown"),
            at=text(values.get("at")),
            reason=text_or_none(values.get("reason")),
        )


class PauseEvent(NamedTuple):
    """A pause or resume, in the job's own partition (``kind = "event"``), so ``jobctl history``
    shows it and ``jobctl audit`` tells paused periods from missed runs. Built by ``new`` for
    every writer (``jobctl pause / resume``, ``jobctl deploy --unpause``)."""

    job: str
    run_id: str
    action: str  # a PauseAction value
    actor: str = "unknown"
    at: str = ""
    reason: str | None = None
    trigger: str | None = None  # what was switched (the rule / schedule), or who did it
    ttl: int | None = None

    @classmethod
    def new(
        cls,
        job: str,
        action: PauseAction,
        actor: str,
        now: datetime,
        *,
        retention_days: int,
        trigger: str,
        reason: str | None = None,
    ) -> PauseEvent:
        # Events expire with the runs they explain (same retention as run records).
        ttl = int((now + timedelta(days=retention_days)).timestamp())
        return cls(job, event_run_id(now, action), action.value, actor, iso(now), reason, trigger, ttl)

    @property
    def at_time(self) -> datetime:
        return parse_iso(self.at)

    def as_dict(self) -> dict[str, Any]:
        return without_none(
            {
                "job": self.job,
                "run_id": self.run_id,
                "kind": KIND_EVENT,
                "action": self.action,
                "actor": self.actor,
                "at": self.at,
                "reason": self.reason,
                "trigger": self.trigger,
                "ttl": self.ttl,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> PauseEvent:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> PauseEvent:
        return cls(
            job=text(values.get("job")),
            run_id=text(values.get("run_id")),
            action=text(values.get("action")),
            actor=text(values.get("actor"), "unknown"),
            at=text(values.get("at")),
            reason=text_or_none(values.get("reason")),
            trigger=text_or_none(values.get("trigger")),
            ttl=int_or_none(values.get("ttl")),
        )


WATCH_SORT_KEY = f"{ALERT_SORT_PREFIX}watch"


def alert_sort_key(kind: str, event: str) -> str:
    """Sort key of the alert record of ``event`` (a fire time or a run id) of ``kind``."""
    return f"{ALERT_SORT_PREFIX}{kind}#{event}"


class AlertRecord(NamedTuple):
    """One alerted event of a job: item (job, "~alert#<kind>#<event>"). The watchdog writes it
    with a conditional put (the key must not exist) *before* it tells anyone, so each (job,
    event, kind) is alerted once however many passes see it. ``event`` is the fire time (late,
    missed) or the run id (lost, failed, timed_out, recovered); ``moment`` when that happened,
    which orders a job's alerts into episodes (a ``recovered`` closes every alert before it)."""

    job: str
    kind: str  # late | missed | lost | failed | timed_out | recovered
    event: str
    sent_at: str  # when it was recorded (and, when ``told``, sent)
    routes: tuple[str, ...] = ()  # who was told: the routes that accepted the notification
    moment: str = ""
    # False: not a notification of its own. Part of an alert of the same episode that is out
    # already (the 2nd..10th missed fire of a per-minute job), or a failure the job's wrapper
    # announced itself (``by``).
    told: bool = False
    by: str = "watchdog"  # who notified: "watchdog", or "wrapper" for failed / timed_out runs
    note: str | None = None
    ttl: int | None = None

    @classmethod
    def new(
        cls,
        job: str,
        kind: str,
        event: str,
        *,
        moment: datetime,
        now: datetime,
        retention_days: int,
        routes: tuple[str, ...] = (),
        told: bool = False,
        by: str = "watchdog",
        note: str | None = None,
    ) -> AlertRecord:
        # Kept as long as the runs they are about (the history's retention).
        ttl = int((now + timedelta(days=retention_days)).timestamp())
        return cls(job, kind, event, iso(now), routes, iso(moment), told, by, note, ttl)

    @property
    def sort_key(self) -> str:
        return alert_sort_key(self.kind, self.event)

    @property
    def moment_time(self) -> datetime:
        return parse_iso(self.moment or self.sent_at)

    def as_dict(self) -> dict[str, Any]:
        return without_none(
            {
                "job": self.job,
                "run_id": self.sort_key,
                "kind": KIND_ALERT,
                "alert": self.kind,
                "event": self.event,
                "sent_at": self.sent_at,
                "routes": list(self.routes),
                "moment": self.moment,
                "told": self.told,
                "by": self.by,
                "note": self.note,
                "ttl": self.ttl,
            }
        )

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> AlertRecord:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> AlertRecord:
        routes = values.get("routes") or ()
        return cls(
            job=text(values.get("job")),
            kind=text(values.get("alert")),
            event=text(values.get("event")),
            sent_at=text(values.get("sent_at")),
            routes=tuple(str(r) for r in routes) if isinstance(routes, (list, tuple)) else (),
            moment=text(values.get("moment")),
            told=bool(values.get("told")),
            by=text(values.get("by"), "watchdog"),
            note=text_or_none(values.get("note")),
            ttl=int_or_none(values.get("ttl")),
        )


class WatchStart(NamedTuple):
    """Since when the watchdog watches a job's schedule: item (job, "~alert#watch"), put by the
    first pass that sees the job (or a new schedule of it). The watchdog may read the history
    but not the deploy's resources, so this is its "deployed at": fire times before it are never
    reported (the same rule ``jobctl audit`` applies with the trigger's own creation time)."""

    job: str
    since: str
    schedule: str  # what was watched (expression and timezone); another one starts anew

    @property
    def since_time(self) -> datetime:
        return parse_iso(self.since)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "run_id": WATCH_SORT_KEY,
            "kind": KIND_WATCH,
            "since": self.since,
            "schedule": self.schedule,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> WatchStart:
        return cls.from_dict(plain_item(item))

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> WatchStart:
        return cls(job=text(values.get("job")), since=text(values.get("since")), schedule=text(values.get("schedule")))
