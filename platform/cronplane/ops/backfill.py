"""``jobctl backfill``: run the fire times of a window that have no successful run.

Plan first (pure reads: one bounded Query, the same matching as ``jobctl audit``), print it,
then run it oldest first: each fire time becomes one asynchronous invoke with trigger
``backfill``, its original ``scheduled_for`` and the deterministic run id
``schema.backfill_run_id(t)`` (so a second backfill of the same window cannot run a time
twice: the runtime turns it into a recorded duplicate). Invokes are spaced to a bounded rate;
a ``concurrency: forbid`` job also waits for each run's record to be final before the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cronplane.errors import CronplaneError
from cronplane.manifest import names
from cronplane.manifest.models import Concurrency, Manifest
from cronplane.ops.audit import FireOutcome, classify, deploy_time, effective_status, rate_anchor
from cronplane.ops.items import read_window
from cronplane.ops.launch import Invoker, backfill_envelope
from cronplane.ops.pause import NotDeployedError, read_marker
from cronplane.ops.switch import TriggerState, find_trigger
from cronplane.ops.waiting import FINAL_WAIT_MARGIN_S, LockHeldError, RunWaiter  # noqa: F401 - LockHeldError re-exported
from cronplane.runtime.schema import RunRecord, RunStatus, backfill_run_id

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from cronplane.aws.client import AwsClient

DEFAULT_RATE_PER_MINUTE = 10
MAX_FIRE_TIMES = 10_000  # a typo'd window should not queue a year of per-minute runs
# What backfill re-runs: every fire time without a success (and not still running).
TO_RUN = frozenset(
    {FireOutcome.MISSED, FireOutcome.FAILED, FireOutcome.TIMED_OUT, FireOutcome.LOST, FireOutcome.SKIPPED}
)


@dataclass(frozen=True)
class BackfillItem:
    fire_time: datetime
    run_id: str
    reason: str  # the audit outcome it fixes: missed, failed ...


@dataclass(frozen=True)
class BackfillPlan:
    job: str
    start: datetime
    end: datetime
    items: tuple[BackfillItem, ...]
    fire_times: int  # promised in the window
    already_backfilled: tuple[str, ...] = ()  # run ids that exist: re-running would be a duplicate
    note: str = ""  # why the schedule itself is not running the job now (paused, disabled)


@dataclass(frozen=True)
class BackfillRun:
    item: BackfillItem
    accepted: bool
    status: str | None = None  # final status when the run was waited for
    error: str | None = None


class BackfillStopped(CronplaneError):
    """A forbid job's run did not finish in time: the next one must not start."""


def plan_backfill(
    clients: AwsClient, manifest: Manifest, job_name: str, *, start: datetime, end: datetime, now: datetime
) -> BackfillPlan:
    job = manifest.job(job_name)
    if end <= start:
        raise CronplaneError(
            f"backfill window is empty: --to {end:%Y-%m-%dT%H:%M:%SZ} is not after --from {start:%Y-%m-%dT%H:%M:%SZ}"
        )
    end = min(end, now)  # the future is the schedule's job
    # --from is inclusive: a fire time exactly at the start is part of the window.
    opened = start - timedelta(seconds=1)
    items = read_window(clients.dynamodb, names.history_table(manifest.namespace), job_name, opened, end, now)
    runs = [i for i in items if isinstance(i, RunRecord) and i.status]
    trigger = find_trigger(clients, manifest, job)
    if trigger is None:
        raise NotDeployedError(
            f"{job_name} is not deployed (no EventBridge rule or Scheduler schedule), "
            f"so nothing would run the backfill: `jobctl deploy` first"
        )
    # rate() fire times have the phase of the trigger's creation, exactly as audit counts them.
    deployed_at = deploy_time(clients, manifest, job, trigger, opened)[0] if job.schedule.kind == "rate" else None
    anchor = rate_anchor(job, runs, deployed_at, opened)
    fire_times = [
        t.astimezone(UTC) for t in job.schedule.fire_times_between(opened, end, anchor=anchor, limit=MAX_FIRE_TIMES)
    ]
    checks, _ = classify(fire_times, runs, [], grace_seconds=0, now=now, since=opened, until=end)
    existing = {r.run_id: r for r in runs}
    todo, done_before = [], []
    for check in checks:
        if check.outcome not in TO_RUN:
            continue
        run_id = backfill_run_id(check.fire_time)
        earlier = [r for rid, r in existing.items() if rid == run_id or rid.startswith(f"{run_id}-")]
        if not earlier:
            todo.append(BackfillItem(check.fire_time, run_id, check.outcome.value))
        elif all(effective_status(r, now) is RunStatus.SKIPPED for r in earlier):
            # It yielded to an overlapping run, so it never ran (and sent nothing to the DLQ):
            # run it again under the next id (the first one is taken by the skipped record).
            todo.append(
                BackfillItem(
                    check.fire_time, f"{run_id}-{len(earlier) + 1}", f"{check.outcome.value}, backfill skipped"
                )
            )
        else:
            done_before.append(run_id)  # an earlier backfill ran and failed: that is DLQ replay's case
    return BackfillPlan(
        job_name,
        start,
        end,
        tuple(todo),
        len(fire_times),
        tuple(done_before),
        _paused_note(clients, manifest, job_name, trigger),
    )


def _paused_note(clients: AwsClient, manifest: Manifest, job_name: str, trigger: TriggerState) -> str:
    """Backfilling a paused job is allowed (catching up after an incident), but say so."""
    if trigger.enabled:
        return ""
    marker = read_marker(clients.dynamodb, names.history_table(manifest.namespace), job_name)
    if marker is not None:
        reason = f" ({marker.reason})" if marker.reason else ""
        return f"{job_name} is paused by {marker.actor} since {marker.at}{reason}; the backfill runs it anyway"
    return f"{job_name}'s {trigger.label} is disabled; the backfill runs it anyway"


def run_backfill(
    plan: BackfillPlan,
    manifest: Manifest,
    invoker: Invoker,
    dynamodb: DynamoDBClient,
    *,
    triggered_by: str,
    rate_per_minute: float = DEFAULT_RATE_PER_MINUTE,
    now: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_progress: Callable[[int, BackfillRun], None] | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> list[BackfillRun]:
    """Invoke the plan's runs oldest first. Stops at the first invoke Lambda refuses (the rest
    would fail the same way) and, for forbid jobs, when a run does not finish in time. A forbid
    job's run starts only once no other run holds the job's lock (``on_wait`` hears why it waits)."""
    job = manifest.job(plan.job)
    spacing = 60.0 / rate_per_minute if rate_per_minute > 0 else 0.0
    limit = job.timeout + FINAL_WAIT_MARGIN_S
    waiter = RunWaiter(dynamodb, names.history_table(manifest.namespace), plan.job, limit, now, sleep, clock, on_wait)
    wait_final = job.concurrency == Concurrency.FORBID
    runs: list[BackfillRun] = []
    last_start: float | None = None
    for index, item in enumerate(sorted(plan.items, key=lambda i: i.fire_time), start=1):
        if last_start is not None and spacing:
            remaining = spacing - (clock() - last_start)
            if remaining > 0:
                sleep(remaining)
        if wait_final:
            # Another run (a scheduled one) holding the job's lock would make this one yield.
            waiter.lock_free("backfill")
        last_start = clock()
        outcome = invoker.invoke_async(plan.job, backfill_envelope(item.run_id, item.fire_time, triggered_by))
        if not outcome.accepted:
            run = BackfillRun(item, False, error=outcome.error)
            runs.append(run)
            if on_progress:
                on_progress(index, run)
            break
        status = None
        if wait_final:
            status = waiter.final_status(item.run_id)
            if status is None:
                run = BackfillRun(item, True, error=f"not final after {limit}s")
                runs.append(run)
                if on_progress:
                    on_progress(index, run)
                raise BackfillStopped(
                    f"backfill of {plan.job} stopped: run {item.run_id} is not final after "
                    f"{limit}s and the job has concurrency: forbid; check "
                    f"`jobctl history {plan.job} --run {item.run_id}` and backfill the rest again"
                )
        run = BackfillRun(item, True, status)
        runs.append(run)
        if on_progress:
            on_progress(index, run)
    return runs


def backfill_succeeded(runs: list[BackfillRun], total: int) -> bool:
    """Whether a backfill did all it was asked: every planned run started and accepted, and
    none of those waited for (forbid jobs) finished without success."""
    return len(runs) >= total and all(
        run.accepted and (not run.status or run.status == RunStatus.SUCCEEDED.value) for run in runs
    )
