"""jobs.yaml -> ``Manifest``: the first stage of every command.

    text --yamlload--> values + key lines --schemacheck--> shape problems
         --here--> defaults merged into jobs, meaning checked (handlers via ``handler_check``,
                   each team folder and its requirements.txt via ``team_folder``, schedules
                   via ``schedule``, timezones, AWS name lengths, plaintext secrets, sizes)
         --> frozen ``Manifest`` / ``Job`` (models.py), or ManifestError with every problem.

Nothing here talks to AWS, runs pip or imports team code, so validation is safe in review and
CI; plan, deploy and dev load the manifest the same way, so they refuse what validate refuses.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import pathlib
import re
import zoneinfo
from typing import Any, TypeGuard

from cronplane.errors import ManifestError, Problem, ScheduleError
from cronplane.manifest import guardrails, names
from cronplane.manifest.alert_settings import alert_problems
from cronplane.manifest.handler_check import HandlerChecker, HandlerProblem, HandlerRef, parse_handler
from cronplane.manifest.job_settings import job_from_settings, merge_settings, team_of
from cronplane.manifest.models import (
    HistorySettings,
    Job,
    Manifest,
    RoleMode,
    TriggerMode,
)
from cronplane.manifest.plaintext_secrets import env_secret, payload_secrets
from cronplane.manifest.schemacheck import did_you_mean, schema, schema_problems
from cronplane.manifest.team_folder import read_team_requirements, scan_team_folder
from cronplane.manifest.yamlload import Path, YamlDocument, dotted, load_yaml, read_text
from cronplane.schedule.expression import Schedule, parse_schedule

__all__ = ["AS_OF_EPOCH", "load_manifest", "on_scheduler", "schema"]

NAME_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# Set by the Lambda runtime itself; a function that sets them fails to deploy.
LAMBDA_RESERVED_ENV = {"_HANDLER", "_X_AMZN_TRACE_ID", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"}
# Lambda allows 4 KB for all environment variables together. cronplane's own variables
# (job, namespace, handler, table, DLQ URL, retry policy, ...) take roughly this much besides
# the payload and secrets they carry.
LAMBDA_ENV_LIMIT = 4096
CRONPLANE_ENV_OVERHEAD = 700
ALERT_ENV_OVERHEAD = 400
# ``now`` for commands that operate on jobs already deployed (history, run-now, list, next): a
# one-time at() that has fired, or a cron whose years are over, is still a job with a history to
# read and may be run by hand. Only validate and deploy insist that every schedule lies ahead.
AS_OF_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def load_manifest(
    path: str | os.PathLike[str], *, check_handlers: bool = True, now: dt.datetime | None = None
) -> Manifest:
    """Read, check and model a manifest. Raises ManifestError listing every problem found.

    ``check_handlers=False`` skips reading handler files (the spec's form is still checked);
    ``now`` is the reference time for schedules that must lie in the future (at(), years)."""
    file = os.fspath(path)
    text = read_text(file)
    doc = load_yaml(text, file)
    if not isinstance(doc.data, dict):
        kind = "a list" if isinstance(doc.data, list) else f"a single value ({doc.data!r})"
        raise ManifestError(
            [Problem(file, 1, "", f"the document must be a mapping with namespace, region and jobs, not {kind}")]
        )
    problems = _first_per_path(list(doc.problems), schema_problems(doc, file))
    root = os.path.dirname(os.path.abspath(file))
    builder = _JobBuilder(doc, file, root, check_handlers, now, shape_ok=not problems)
    jobs = builder.build_all()
    problems = _first_per_path(problems, builder.problems)
    if problems:
        raise ManifestError(list(dict.fromkeys(problems)))
    data = doc.data
    return Manifest(
        namespace=data["namespace"],
        region=data["region"],
        jobs=tuple(j for j in jobs if j is not None),
        history=HistorySettings(**data.get("history", {})),
        trigger_mode=TriggerMode(data.get("trigger_mode", "auto")),
        role_mode=RoleMode(data.get("role_mode", RoleMode.PER_JOB.value)),
        path=file,
        root=root,
    )


def _first_per_path(earlier: list[Problem], later: list[Problem]) -> list[Problem]:
    """``earlier`` plus the ``later`` problems about values not reported yet: a value that YAML
    or the schema already rejected is not reported again, in other words, by a later stage."""
    reported = {(p.file, p.line, p.path) for p in earlier}
    return earlier + [p for p in later if (p.file, p.line, p.path) not in reported]


def on_scheduler(manifest: Manifest, job: Job) -> bool:
    """Whether the job is triggered by EventBridge Scheduler (else a classic rule): every job
    with ``trigger_mode: scheduler`` (which deploy also picks for ``auto`` when the account's
    rule quota has no room: ``aws.quotas``), and any job whose schedule needs it (timezone,
    at()) or that has a ``start_window`` (a flexible time window exists only on Scheduler)."""
    return manifest.trigger_mode is TriggerMode.SCHEDULER or job.schedule.needs_scheduler or job.start_window > 0


class _JobBuilder:
    """Merges defaults into each job, checks what the schema cannot, and builds Jobs."""

    def __init__(
        self, doc: YamlDocument, file: str, root: str, check_handlers: bool, now: dt.datetime | None, shape_ok: bool
    ) -> None:
        self.doc = doc
        self.file = file
        self.data: dict[str, Any] = doc.data
        self.checker = HandlerChecker(os.path.join(root, "jobs")) if check_handlers else None
        self.root = root
        self.teams_checked: set[str] = set()
        self.teams_used: set[str] = set()  # teams: entries some job belongs to
        self.now = now
        self.shape_ok = shape_ok  # no schema problem anywhere: values have the right types
        self.problems: list[Problem] = []
        namespace = self.data.get("namespace")
        self.namespace = (
            namespace if isinstance(namespace, str) and NAME_RE.match(namespace) and len(namespace) <= 32 else None
        )

    def problem(self, path: Path, message: str) -> None:
        self.problems.append(Problem(self.file, self.doc.line_of(path), dotted(path), message))

    def build_all(self) -> list[Job | None]:
        jobs = self.data.get("jobs")
        defaults = self.data.get("defaults")
        if not isinstance(jobs, dict):
            return []
        defaults = defaults if isinstance(defaults, dict) else {}
        teams = _mapping(self.data.get("teams"))
        built = [
            self.build(name, settings, defaults, teams) for name, settings in jobs.items() if isinstance(settings, dict)
        ]
        self._unused_teams(teams)
        return built

    def build(self, name: str, own: dict[str, Any], defaults: dict[str, Any], teams: dict[str, Any]) -> Job | None:
        settings, origin = merge_settings(name, defaults, own)
        team = team_of(settings)
        if team is not None and isinstance(teams.get(team), dict):
            self.teams_used.add(team)
            settings, origin = merge_settings(name, defaults, own, (teams[team], ("teams", team)))
        before = len(self.problems)
        ref = self._handler(settings, origin)
        if ref is not None and self.checker is not None:
            self._team_folder(ref.file.split("/", 1)[0])
        timezone = self._timezone(settings, origin)
        schedule = self._schedule(settings, origin, timezone)
        self._names(name)
        self._env(settings, origin)
        self._limits(settings, origin)
        self._guardrails(name, settings, origin)
        self._alerts(settings, origin)
        if not self.shape_ok or len(self.problems) > before or ref is None or schedule is None:
            return None
        return job_from_settings(name, settings, ref, schedule, timezone, self.doc.line_of(("jobs", name)))

    def _handler(self, settings: dict[str, Any], origin: dict[str, Path]) -> HandlerRef | None:
        spec = settings.get("handler")
        if not isinstance(spec, str):
            return None
        try:
            ref = parse_handler(spec)
            if self.checker is not None:
                self.checker.check(ref)
        except HandlerProblem as exc:
            self.problem(origin["handler"], str(exc))
            return None
        return ref

    def _team_folder(self, team: str) -> None:
        """What packaging would refuse, found here: links out of the folder, sizes, and a
        requirements.txt that is not pinned lines only (``team_folder``). Reads no team code."""
        if team in self.teams_checked:
            return
        self.teams_checked.add(team)
        folder = os.path.join(self.root, "jobs", team)
        shown = os.path.join(os.path.dirname(self.file), "jobs", team)
        self.problems.extend(scan_team_folder(pathlib.Path(folder), shown).problems)
        self.problems.extend(read_team_requirements(pathlib.Path(folder), shown)[1])

    def _timezone(self, settings: dict[str, Any], origin: dict[str, Path]) -> str | None:
        zone = settings.get("timezone")
        if not isinstance(zone, str):
            return None
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            guess = did_you_mean(zone, sorted(_zones()))
            self.problem(
                origin["timezone"],
                f"unknown timezone {zone!r}{guess}; use an IANA name such as Europe/Berlin or America/New_York",
            )
            return None
        return zone

    def _schedule(self, settings: dict[str, Any], origin: dict[str, Path], timezone: str | None) -> Schedule | None:
        text = settings.get("schedule")
        if not isinstance(text, str):  # a missing or mistyped schedule is the schema's problem
            return None
        try:
            return parse_schedule(text, timezone=timezone, now=self.now)
        except ScheduleError as exc:
            self.problem(origin["schedule"], str(exc))
        return None

    def _names(self, name: str) -> None:
        if self.namespace is None or not NAME_RE.match(name):
            return
        worst = names.too_long(self.namespace, name)
        if worst is not None:
            over = len(worst.value) - worst.limit
            self.problem(
                ("jobs", name),
                f"the generated {worst.kind} {worst.value!r} is {len(worst.value)} characters, "
                f"{over} over the AWS limit of {worst.limit}; shorten the job name by {over} "
                "(or the namespace)",
            )

    def _env(self, settings: dict[str, Any], origin: dict[str, Path]) -> None:
        env = _mapping(settings.get("env"))
        secrets = _mapping(settings.get("secrets"))
        for key, value in env.items():
            where = origin.get(f"env.{key}", origin.get("env", ()))
            reason = env_secret(key, value)
            if key in LAMBDA_RESERVED_ENV:
                self.problem(where, f"{key} is reserved by the Lambda runtime; pick another name")
            elif reason is not None:
                self.problem(
                    where,
                    f"{reason} in plain text, which plan prints and the function's configuration keeps; put the "
                    f"value in SSM and reference it under secrets: ({key}: ssm:/path/to/parameter)",
                )
        for key in secrets:
            if key in env:
                self.problem(
                    origin.get(f"secrets.{key}", origin.get("secrets", ())),
                    f"{key} is set both in env and in secrets; keep one of them",
                )
            elif key in LAMBDA_RESERVED_ENV:
                self.problem(
                    origin.get(f"secrets.{key}", ()), f"{key} is reserved by the Lambda runtime; pick another name"
                )
        for place, what in payload_secrets(settings.get("payload")):
            self.problem(
                origin.get("payload", ()) + place,
                f"holds {what} in plain text, which plan prints and the function's configuration keeps; "
                "put it in SSM and reference it under secrets: (the job reads it from its environment)",
            )
        try:
            json.dumps(settings.get("payload", {}), allow_nan=False)
        except (TypeError, ValueError) as exc:
            self.problem(
                origin.get("payload", ()), f"must be JSON ({exc}); quote dates and times, and write no .nan/.inf"
            )
        size = _env_size(settings, env, secrets)
        if size is not None and size > LAMBDA_ENV_LIMIT:
            self.problem(
                origin.get("payload", origin.get("env", ())),
                f"payload, env and secrets need about {size} bytes of environment, more than Lambda's "
                f"{LAMBDA_ENV_LIMIT} bytes for all variables together; keep large data in S3 or SSM and pass its name",
            )

    def _limits(self, settings: dict[str, Any], origin: dict[str, Path]) -> None:
        retries = _mapping(settings.get("retries"))
        base, cap = retries.get("backoff_base"), retries.get("backoff_cap")
        if _number(base) and _number(cap) and base > cap:
            self.problem(
                origin.get("retries.backoff_cap", origin.get("retries", ())),
                f"backoff_cap {cap} is below backoff_base {base}; the cap must be at least the base",
            )
        reserved, provisioned = settings.get("reserved_concurrency"), settings.get("provisioned_concurrency")
        if _number(reserved) and _number(provisioned) and provisioned > reserved:
            self.problem(
                origin["provisioned_concurrency"],
                f"{provisioned} is more than reserved_concurrency {reserved}; Lambda cannot keep more warm "
                "instances than it may run",
            )
        key = settings.get("kms_key")
        region = self.data.get("region")
        if isinstance(key, str) and isinstance(region, str) and key.count(":") >= 5:
            key_region = key.split(":")[3]
            if key_region != region:
                self.problem(
                    origin["kms_key"],
                    f"the key is in {key_region} but the jobs run in {region}; Lambda needs a key in its own region",
                )

    def _alerts(self, settings: dict[str, Any], origin: dict[str, Path]) -> None:
        """What the schema cannot say about ``alerts`` (``alert_settings.alert_problems``)."""
        alerts = settings.get("alerts")
        region = self.data.get("region")
        if not isinstance(alerts, dict):
            return
        for key, rest, message in alert_problems(alerts, region if isinstance(region, str) else None):
            where = origin.get(f"alerts.{key}", origin.get("alerts", ())) if key else origin.get("alerts", ())
            self.problem((*where, *rest), message)

    def _unused_teams(self, teams: dict[str, Any]) -> None:
        for team in teams:
            if isinstance(team, str) and team not in self.teams_used and isinstance(teams[team], dict):
                known = sorted(self.teams_used | {t for t in map(team_of, self._all_settings()) if t})
                self.problem(
                    ("teams", team),
                    f"no job belongs to team {team!r}{did_you_mean(team, known)}; a job's team is its "
                    "`team:` or the first folder of its handler under jobs/",
                )

    def _all_settings(self) -> list[dict[str, Any]]:
        jobs, defaults = _mapping(self.data.get("jobs")), _mapping(self.data.get("defaults"))
        return [{**defaults, **own} for own in jobs.values() if isinstance(own, dict)]

    def _guardrails(self, name: str, settings: dict[str, Any], origin: dict[str, Path]) -> None:
        """The guardrails on declared permissions and secrets (``guardrails``; ``build.iam``
        refuses the same when it builds the policy). A waivable finding is accepted when the
        job carries ``allow_privileged``; an exception that waives nothing is refused, so it
        cannot let a later privileged grant through unreviewed."""
        # Every job's name and team only for a job that declares permissions / secrets: read for
        # every job, they would cost jobs² steps (10,000 jobs: minutes).
        jobs, permissions, secrets = self.data.get("jobs"), settings.get("permissions"), settings.get("secrets")
        job_names = [k for k in jobs if isinstance(k, str)] if permissions and isinstance(jobs, dict) else []
        found = guardrails.permission_findings(self.namespace or "", name, job_names, permissions)
        teams = {t for t in map(team_of, self._all_settings()) if t} if secrets else set()
        found += guardrails.secret_findings(secrets, team=team_of(settings), teams=teams)
        reason = settings.get("allow_privileged")
        excepted = isinstance(reason, str) and len(reason.strip()) >= guardrails.MIN_REASON_CHARS
        for finding in found:
            if finding.waivable and excepted:
                continue
            setting, *rest = finding.path
            if setting == "secrets":  # merged key by key: each secret has its own origin
                where = origin.get(f"secrets.{rest[0]}", origin.get("secrets", ()))
            else:
                where = origin.get(str(setting), ()) + tuple(rest)
            self.problem(where, finding.refusal)
        if isinstance(reason, str) and "allow_privileged" in origin:
            if len(reason) >= guardrails.MIN_REASON_CHARS and not excepted:
                self.problem(origin["allow_privileged"], "is blank; write the reason a reviewer can judge")
            elif excepted and not any(f.waivable for f in found):
                self.problem(
                    origin["allow_privileged"],
                    "waives nothing: the job declares no privileged permission; remove it, so that a later "
                    "privileged grant cannot go through unreviewed",
                )


def _env_size(settings: dict[str, Any], env: dict[str, Any], secrets: dict[str, Any]) -> int | None:
    try:
        payload = json.dumps(settings.get("payload", {}), separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None  # not JSON at all: reported by _JobBuilder._env
    pairs = sum(len(str(k)) + len(str(v)) for k, v in env.items())
    alerts = _mapping(settings.get("alerts"))
    # Routes, topic, team and owner travel to the runtime with a job that has alerts.
    routes = len(json.dumps(alerts.get("notify"))) + ALERT_ENV_OVERHEAD if alerts.get("notify") else 0
    return CRONPLANE_ENV_OVERHEAD + len(payload) + pairs + len(json.dumps(secrets)) + routes


def _mapping(value: object) -> dict[str, Any]:
    """The value if it is a mapping, else an empty one (a mistyped value is the schema's problem)."""
    return value if isinstance(value, dict) else {}


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())
