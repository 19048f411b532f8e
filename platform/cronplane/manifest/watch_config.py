"""What the watchdog watches: the manifest's jobs that have ``alerts:``, with their schedules,
routes and graces, as plain JSON. ``build.watchdog`` writes it from the manifest into the
watchdog's zip (``cronplane/watchdog/config.json``); the Lambda reads it back with
``WatchConfig.from_dict``, and so does ``jobctl watch --once`` (through the same JSON), so both
run one check on one input.

Standard library, the schedule engine and the runtime's alert routes only: it ships in the
watchdog's zip (the manifest package's ``__init__`` is empty, so nothing else comes with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cronplane.runtime.alerts import Route, parse_routes
from cronplane.schedule.expression import Schedule

CONFIG_VERSION = 1
# The Lambda entry (``cronplane.watchdog.entry``), how ``jobctl dev`` tells the watchdog's runs apart.
WATCHDOG_HANDLER = "cronplane.watchdog.entry.handler"
# How often the deployed watchdog runs (its EventBridge rule): alerts come within about this
# much of their grace.
WATCH_PERIOD = "rate(1 minute)"
WATCH_PERIOD_S = 60


@dataclass(frozen=True)
class WatchedJob:
    name: str
    team: str
    owner: str
    schedule: Schedule
    enabled: bool  # false: the manifest switched it off; nothing of it is reported
    routes: tuple[Route, ...]
    on: frozenset[str]  # which of late, missed, lost, failed, timed_out alert
    late_after_s: int
    missed_after_s: int
    function: str  # its Lambda function, for the log link of an alert
    # The job's ``start_window`` (Scheduler may start it up to this late on purpose): added to
    # both graces, so a run that Scheduler has not started yet is neither late nor missed.
    start_window_s: int = 0

    @property
    def late_grace_s(self) -> int:
        """No run this long after a fire time: late (``late_after`` + the start window)."""
        return self.late_after_s + self.start_window_s

    @property
    def missed_grace_s(self) -> int:
        """No run this long after a fire time: missed (``missed_after`` + the start window)."""
        return self.missed_after_s + self.start_window_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "team": self.team,
            "owner": self.owner,
            "schedule": {
                "source": self.schedule.source,
                "kind": self.schedule.kind,
                "expression": self.schedule.expression,
                "timezone": self.schedule.timezone,
            },
            "enabled": self.enabled,
            "routes": [str(route) for route in self.routes],
            "on": sorted(self.on),
            "late_after_s": self.late_after_s,
            "missed_after_s": self.missed_after_s,
            "function": self.function,
            "start_window_s": self.start_window_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WatchedJob:
        schedule = data["schedule"]
        return cls(
            name=str(data["name"]),
            team=str(data.get("team") or ""),
            owner=str(data.get("owner") or ""),
            # Built as deployed, not parsed again: an at() whose time has passed is still the
            # job's schedule (parse_schedule would refuse it).
            schedule=Schedule(
                str(schedule["source"]), str(schedule["kind"]), str(schedule["expression"]), schedule.get("timezone")
            ),
            enabled=bool(data.get("enabled", True)),
            routes=parse_routes([str(r) for r in data.get("routes") or ()]),
            on=frozenset(str(k) for k in data.get("on") or ()),
            late_after_s=int(data["late_after_s"]),
            missed_after_s=int(data["missed_after_s"]),
            function=str(data.get("function") or ""),
            start_window_s=int(data.get("start_window_s") or 0),
        )

    @property
    def fingerprint(self) -> str:
        """The schedule as watched: a different one starts the watch anew (``WatchStart``)."""
        return f"{self.schedule.expression} {self.schedule.timezone or 'UTC'}"


@dataclass(frozen=True)
class WatchConfig:
    namespace: str
    table: str  # the history table
    retention_days: int  # alert records live as long as the runs they are about
    jobs: tuple[WatchedJob, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": CONFIG_VERSION,
            "namespace": self.namespace,
            "table": self.table,
            "retention_days": self.retention_days,
            "jobs": [job.to_dict() for job in self.jobs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WatchConfig:
        return cls(
            namespace=str(data["namespace"]),
            table=str(data["table"]),
            retention_days=int(data.get("retention_days") or 30),
            jobs=tuple(WatchedJob.from_dict(job) for job in data.get("jobs") or ()),
        )

    def job(self, name: str) -> WatchedJob | None:
        return next((job for job in self.jobs if job.name == name), None)
