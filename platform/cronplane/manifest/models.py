"""The manifest as frozen values: what ``manifest.load_manifest`` returns and every later
stage (resources, planner, runtime settings, local runner) reads. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from cronplane.runtime.alerts import ON_KINDS, Route

if TYPE_CHECKING:
    from cronplane.schedule.expression import Schedule


class Concurrency(str, Enum):
    ALLOW = "allow"
    FORBID = "forbid"


class OnHistoryOutage(str, Enum):
    """What a run does when its start cannot be recorded in the history table (throttled,
    unavailable), so neither ``concurrency: forbid`` nor the duplicate-delivery check can hold:
    ``run`` it anyway (the default: a firing is never lost to an outage of the bookkeeping) or
    ``skip`` it (fail closed: never two runs at once, at the price of a missed firing)."""

    RUN = "run"
    SKIP = "skip"


class Architecture(str, Enum):
    ARM64 = "arm64"
    X86_64 = "x86_64"


class TriggerMode(str, Enum):
    """Manifest-level switch: ``auto`` uses an EventBridge rule unless the job needs
    Scheduler (timezone, at()); ``scheduler`` puts every job on EventBridge Scheduler."""

    AUTO = "auto"
    SCHEDULER = "scheduler"


class RoleMode(str, Enum):
    """Manifest-level switch: ``per_job`` gives every job its own execution role (and, on
    Scheduler, its own Scheduler role); ``per_team`` shares roles per team, for accounts where
    one role per job would not fit IAM's role quota (see docs/quotas.md)."""

    PER_JOB = "per_job"
    PER_TEAM = "per_team"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # total attempts, the first one included
    backoff_base: float = 2.0  # seconds; attempt n waits random(0, min(cap, base * 2**(n-1)))
    backoff_cap: float = 60.0
    # Exception class names that are retried; empty means every exception except NonRetryable.
    retry_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_attempts": self.max_attempts,
            "backoff_base": self.backoff_base,
            "backoff_cap": self.backoff_cap,
            "retry_on": list(self.retry_on),
        }


@dataclass(frozen=True)
class Vpc:
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]


@dataclass(frozen=True)
class Permission:
    """An extra IAM statement a job declares."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    effect: str = "Allow"


@dataclass(frozen=True)
class Secret:
    """``env`` is the environment variable the job reads; ``source`` is ``ssm`` or
    ``secretsmanager``; ``name`` the parameter name (``/billing/db``) or secret id."""

    env: str
    source: str
    name: str


DEFAULT_LATE_AFTER_S = 300
DEFAULT_MISSED_AFTER_S = 1800


@dataclass(frozen=True)
class AlertPolicy:
    """Who is told, and about what: ``alerts`` in jobs.yaml (defaults, per team, per job; merged
    key by key). ``notify`` routes are ``Route`` values (runtime/alerts.py: sns, email, webhook);
    ``on`` names which of failed, timed_out, lost, missed, late alert; a run not started
    ``late_after_s`` after its fire time is late, and ``missed_after_s`` after it, missed."""

    notify: tuple[Route, ...]
    on: frozenset[str] = frozenset(ON_KINDS)
    late_after_s: int = DEFAULT_LATE_AFTER_S
    missed_after_s: int = DEFAULT_MISSED_AFTER_S

    def targets(self, kind: str) -> tuple[str, ...]:
        """The targets of the routes of one kind, in manifest order."""
        return tuple(route.target for route in self.notify if route.kind == kind)

    @property
    def alarmed(self) -> bool:
        """Whether the job's CloudWatch alarm exists: it watches failed and timed-out runs."""
        return bool(self.on & {"failed", "timed_out"})


@dataclass(frozen=True)
class Job:
    name: str
    handler: str  # "team/module.py:function", relative to the jobs/ folder
    schedule: Schedule
    team: str
    owner: str | None = None
    description: str = ""
    timezone: str | None = None
    timeout: int = 300
    memory: int = 256
    retries: RetryPolicy = RetryPolicy()
    concurrency: Concurrency = Concurrency.ALLOW
    on_history_outage: OnHistoryOutage = OnHistoryOutage.RUN
    enabled: bool = True
    payload: Any = field(default_factory=dict)
    env: tuple[tuple[str, str], ...] = ()
    secrets: tuple[Secret, ...] = ()
    permissions: tuple[Permission, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    architecture: Architecture = Architecture.ARM64
    reserved_concurrency: int | None = None
    provisioned_concurrency: int | None = None
    vpc: Vpc | None = None
    kms_key: str | None = None
    log_retention_days: int = 30
    # A reviewed exception to the guardrails on permissions (``manifest.guardrails``): the
    # reason the job needs a privileged grant; ``jobctl plan`` shows it with what it waives.
    allow_privileged: str | None = None
    alerts: AlertPolicy | None = None  # None: nobody is told (no alert resources at all)
    # Minutes EventBridge Scheduler may delay a firing to spread load (its flexible time
    # window); 0: fire on time. A job with a window is on Scheduler.
    start_window: int = 0
    line: int | None = None  # where the job starts in jobs.yaml, for messages

    @property
    def handler_file(self) -> str:
        """Path of the handler's file relative to jobs/, e.g. ``billing/nightly_report.py``."""
        return self.handler.split(":", 1)[0]

    @property
    def handler_function(self) -> str:
        return self.handler.split(":", 1)[1]

    @property
    def handler_module(self) -> str:
        """Dotted module inside the Lambda zip, e.g. ``billing.nightly_report``."""
        return self.handler_file[: -len(".py")].replace("/", ".")

    @property
    def team_folder(self) -> str:
        """The folder under jobs/ that ships in this job's zip."""
        return self.handler_file.split("/", 1)[0]


@dataclass(frozen=True)
class HistorySettings:
    retention_days: int = 30


@dataclass(frozen=True)
class Manifest:
    namespace: str
    region: str
    jobs: tuple[Job, ...]
    history: HistorySettings = HistorySettings()
    trigger_mode: TriggerMode = TriggerMode.AUTO
    role_mode: RoleMode = RoleMode.PER_JOB
    path: str = "jobs.yaml"
    root: str = "."  # directory holding jobs.yaml; jobs/ is resolved against it

    def job(self, name: str) -> Job:
        for job in self.jobs:
            if job.name == name:
                return job
        from cronplane.errors import JobNotFoundError

        known = ", ".join(j.name for j in self.jobs) or "none"
        raise JobNotFoundError(f"{self.path}: no job named {name!r} (jobs: {known})")

    @property
    def jobs_dir(self) -> str:
        import os

        return os.path.join(self.root, "jobs")
