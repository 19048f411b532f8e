"""jobctl backfill: the fire times without a successful run, oldest first, as backfill runs
with their original time; spaced to a rate; a forbid job waits for each run to be final. moto
does not execute Lambda, so a stand-in "runtime" writes each backfill run's record the way the
wrapper would, from the payload that was really sent through the Invoke API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from ops_fixtures import make_job, make_manifest, put_run

from cronplane.manifest.models import Concurrency
from cronplane.ops.audit import EXIT_CLEAN, EXIT_PROBLEMS, FireOutcome, audit
from cronplane.ops.backfill import BackfillStopped, plan_backfill, run_backfill
from cronplane.ops.launch import InvokeResult, LambdaInvoker
from cronplane.runtime.schema import RunLock, backfill_run_id, parse_iso, scheduled_run_id, to_item

DAY = datetime(2026, 11, 20, tzinfo=UTC)
NOW = DAY + timedelta(days=1, hours=2)
ME = "arn:aws:sts::123456789012:user/oncall"


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: list[Any] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        for hook in self.on_sleep:
            hook()


class Runtime:
    """Stands in for the deployed function: takes the payload the real Invoke request carried
    and, when told the run finished, writes its record as the wrapper does."""

    def __init__(self, clients: Any, inner: LambdaInvoker, *, finish_now: bool = True) -> None:
        self.clients, self.inner, self.finish_now = clients, inner, finish_now
        self.sent: list[dict[str, Any]] = []
        self.pending: list[dict[str, Any]] = []
        clients.lambda_.meta.events.register("provide-client-params.lambda.Invoke", self._capture)

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append(json.loads(params["Payload"])["cronplane"])

    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult:
        result = self.inner.invoke_async(job_name, envelope)
        if result.accepted:
            self.pending.append(self.sent[-1])
            if self.finish_now:
                self.finish()
        return result

    def finish(self) -> None:
        for env in self.pending:
            scheduled = parse_iso(env["scheduled_for"])
            put_run(
                self.clients.dynamodb,
                "tmp-cleanup",
                env["run_id"],
                trigger=env["trigger"],
                scheduled_for=scheduled,
                started_at=NOW,
                triggered_by=env["triggered_by"],
            )
        self.pending.clear()


@pytest.fixture
def day_with_gaps(clients: Any, deploy: Any) -> tuple[Any, list[datetime]]:
    """tmp-cleanup, hourly, on DAY: hours 3 and 4 missed, 10 late, 17 failed."""
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)", concurrency=Concurrency.FORBID))
    deploy(manifest, manifest.jobs[0])
    fires = [DAY + timedelta(hours=h) for h in range(1, 25)]
    for h, fire in enumerate(fires, start=1):
        if h in (3, 4):
            continue
        started = fire + timedelta(seconds=900 if h == 10 else 2)
        put_run(
            clients.dynamodb,
            "tmp-cleanup",
            scheduled_run_id(fire, f"e{h}"),
            scheduled_for=fire,
            started_at=started,
            status="failed" if h == 17 else "succeeded",
        )
    return manifest, fires


def test_plan_lists_runs_without_success_oldest_first(clients: Any, day_with_gaps: Any) -> None:
    manifest, fires = day_with_gaps
    plan = plan_backfill(clients, manifest, "tmp-cleanup", start=fires[0], end=fires[-1], now=NOW)
    assert [(i.fire_time, i.reason) for i in plan.items] == [
        (fires[2], "missed"),
        (fires[3], "missed"),
        (fires[16], "failed"),
    ]
    assert [i.run_id for i in plan.items] == [backfill_run_id(fires[i]) for i in (2, 3, 16)]
    assert plan.fire_times == 24  # --from and --to are both inclusive
    # The window is clipped at now: future fire times are the schedule's business.
    assert (
        plan_backfill(clients, manifest, "tmp-cleanup", start=fires[0], end=NOW + timedelta(days=3), now=NOW).end == NOW
    )


def test_backfill_invokes_with_original_times_then_audit_is_clean(clients: Any, day_with_gaps: Any) -> None:
    manifest, fires = day_with_gaps
    before = audit(clients, manifest, ["tmp-cleanup"], since=DAY, until=DAY + timedelta(days=1), now=NOW)
    assert before.exit_code == EXIT_PROBLEMS
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
    )
    runtime = Runtime(clients, LambdaInvoker(clients.lambda_, manifest))
    fake = FakeTime()
    runs = run_backfill(
        plan,
        manifest,
        runtime,
        clients.dynamodb,
        triggered_by=ME,
        rate_per_minute=6,
        now=lambda: NOW,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert [(r.accepted, r.status) for r in runs] == [(True, "succeeded")] * 3
    assert runtime.sent == [
        {
            "trigger": "backfill",
            "run_id": backfill_run_id(f),
            "scheduled_for": f.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "triggered_by": ME,
        }
        for f in (fires[2], fires[3], fires[16])
    ]
    assert fake.sleeps == [10.0, 10.0]  # 6 per minute
    after = audit(clients, manifest, ["tmp-cleanup"], since=DAY, until=DAY + timedelta(days=1), now=NOW)
    assert after.exit_code == EXIT_CLEAN
    assert after.jobs[0].count(FireOutcome.LATE) == 1  # the late run stays late: it did run
    assert [c.note for c in after.jobs[0].checks if c.trigger == "backfill"] == ["backfilled"] * 3
    # Backfilling the same window again has nothing to do.
    assert (
        plan_backfill(
            clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
        ).items
        == ()
    )


def test_forbid_job_waits_for_each_run_to_be_final(clients: Any, day_with_gaps: Any) -> None:
    manifest, _ = day_with_gaps
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
    )
    runtime = Runtime(clients, LambdaInvoker(clients.lambda_, manifest), finish_now=False)
    fake = FakeTime()
    seen: list[int] = []
    # The run finishes while the backfill sleeps between two polls of its record.
    fake.on_sleep.append(lambda: (seen.append(len(runtime.sent)), runtime.finish()))
    runs = run_backfill(
        plan,
        manifest,
        runtime,
        clients.dynamodb,
        triggered_by=ME,
        rate_per_minute=0,
        now=lambda: NOW,
        sleep=fake.sleep,
        clock=fake.clock,
    )
    assert [r.status for r in runs] == ["succeeded"] * 3
    # Each poll sleep happened with exactly one more invoke sent: never two runs at once.
    assert seen == [1, 2, 3]


def test_forbid_job_stops_when_a_run_never_finishes(clients: Any, day_with_gaps: Any) -> None:
    manifest, _ = day_with_gaps
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
    )
    runtime = Runtime(clients, LambdaInvoker(clients.lambda_, manifest), finish_now=False)
    fake = FakeTime()
    with pytest.raises(BackfillStopped, match="is not final after 420s and the job has concurrency: forbid"):
        run_backfill(
            plan,
            manifest,
            runtime,
            clients.dynamodb,
            triggered_by=ME,
            now=lambda: NOW,
            sleep=fake.sleep,
            clock=fake.clock,
        )
    assert len(runtime.sent) == 1


def test_refused_invoke_stops_the_backfill(clients: Any, deploy: Any) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    deploy(manifest, manifest.jobs[0], function=False)
    plan = plan_backfill(clients, manifest, "tmp-cleanup", start=DAY, end=DAY + timedelta(hours=5), now=NOW)
    assert len(plan.items) == 6  # 00:00 .. 05:00, both ends included
    runs = run_backfill(
        plan,
        manifest,
        LambdaInvoker(clients.lambda_, manifest),
        clients.dynamodb,
        triggered_by=ME,
        sleep=lambda s: None,
    )
    assert len(runs) == 1 and not runs[0].accepted and "does not exist" in (runs[0].error or "")


def test_failed_backfill_is_not_planned_twice(clients: Any, deploy: Any) -> None:
    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    deploy(manifest, manifest.jobs[0])
    fire = DAY + timedelta(hours=1)
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        backfill_run_id(fire),
        trigger="backfill",
        status="failed",
        scheduled_for=fire,
        started_at=NOW,
    )
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=30), end=DAY + timedelta(hours=1), now=NOW
    )
    assert plan.items == () and plan.already_backfilled == (backfill_run_id(fire),)


def test_rate_job_backfills_the_fire_times_audit_reports(clients: Any, deploy: Any) -> None:
    """No run yet to show the rate's phase: backfill and audit both count from the deploy."""
    manifest = make_manifest(make_job("tmp-cleanup", "rate(15 minutes)"))
    deploy(manifest, manifest.jobs[0])
    created = datetime.now(UTC)
    now = created + timedelta(hours=3)
    report = audit(
        clients,
        manifest,
        ["tmp-cleanup"],
        since=created - timedelta(hours=1),
        until=now - timedelta(minutes=30),
        now=now,
    )
    missed = [c.fire_time for c in report.jobs[0].checks if c.outcome is FireOutcome.MISSED]
    assert len(missed) == 10
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=created - timedelta(hours=1), end=now - timedelta(minutes=30), now=now
    )
    assert [i.fire_time for i in plan.items][-10:] == missed


def test_backfill_of_an_undeployed_job_is_refused(clients: Any, table: str) -> None:
    from cronplane.ops.pause import NotDeployedError

    manifest = make_manifest(make_job("tmp-cleanup", "cron(0 * * * ? *)"))
    with pytest.raises(NotDeployedError, match="tmp-cleanup is not deployed"):
        plan_backfill(clients, manifest, "tmp-cleanup", start=DAY, end=DAY + timedelta(hours=2), now=NOW)


def put_lock(clients: Any, holder: str, expires_at: datetime) -> None:
    """The forbid lock as the runtime holds it while a run is going (schema.RunLock)."""
    lock = RunLock("tmp-cleanup", holder, int(expires_at.timestamp()))
    clients.dynamodb.put_item(TableName="acme-jobs-history", Item=to_item(lock))


def test_forbid_backfill_waits_while_another_run_holds_the_lock(clients: Any, day_with_gaps: Any) -> None:
    """Regression: a forbid job's backfill run was invoked while a scheduled run held the lock,
    so the runtime skipped it (and the fire time stayed un-run)."""
    manifest, fires = day_with_gaps
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
    )
    holder = scheduled_run_id(NOW, "ev-now")
    put_lock(clients, holder, NOW + timedelta(minutes=5))
    runtime = Runtime(clients, LambdaInvoker(clients.lambda_, manifest))
    fake = FakeTime()
    sent_while_locked: list[int] = []

    def scheduled_run_ends() -> None:
        sent_while_locked.append(len(runtime.sent))
        clients.dynamodb.delete_item(
            TableName="acme-jobs-history", Key={"job": {"S": "tmp-cleanup"}, "run_id": {"S": "~lock"}}
        )

    fake.on_sleep.append(scheduled_run_ends)
    waits: list[str] = []
    runs = run_backfill(
        plan,
        manifest,
        runtime,
        clients.dynamodb,
        triggered_by=ME,
        rate_per_minute=0,
        now=lambda: NOW,
        sleep=fake.sleep,
        clock=fake.clock,
        on_wait=waits.append,
    )
    assert sent_while_locked == [0] and [r.status for r in runs] == ["succeeded"] * 3
    assert waits == [f"waiting for run {holder} to finish (concurrency: forbid)"]
    # An expired lock (its holder died) does not block.
    put_lock(clients, holder, NOW - timedelta(seconds=1))
    again = plan_backfill(clients, manifest, "tmp-cleanup", start=fires[0], end=fires[-1], now=NOW)
    assert again.items == ()


def test_forbid_backfill_stops_when_the_lock_is_never_released(clients: Any, day_with_gaps: Any) -> None:
    from cronplane.ops.backfill import LockHeldError

    manifest, _ = day_with_gaps
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
    )
    put_lock(clients, "20261121T020000Z-stuck000", NOW + timedelta(hours=2))
    runtime = Runtime(clients, LambdaInvoker(clients.lambda_, manifest))
    fake = FakeTime()
    with pytest.raises(LockHeldError, match="run 20261121T020000Z-stuck000 still holds the job's lock after 420s"):
        run_backfill(
            plan,
            manifest,
            runtime,
            clients.dynamodb,
            triggered_by=ME,
            now=lambda: NOW,
            sleep=fake.sleep,
            clock=fake.clock,
        )
    assert runtime.sent == []


def test_a_lock_item_without_a_holder_does_not_make_backfill_wait(clients: Any, day_with_gaps: Any) -> None:
    """A forged lock item (an expiry far ahead but no holder) is no lock, for ops as for the
    runtime (``RunLock.held_at``): backfill starts its runs at once instead of waiting."""
    manifest, _ = day_with_gaps
    plan = plan_backfill(
        clients, manifest, "tmp-cleanup", start=DAY + timedelta(minutes=1), end=DAY + timedelta(days=1), now=NOW
    )
    expires = {"N": str(int((NOW + timedelta(days=30)).timestamp()))}
    clients.dynamodb.put_item(
        TableName="acme-jobs-history",
        Item={"job": {"S": "tmp-cleanup"}, "run_id": {"S": "~lock"}, "expires_at": expires},
    )
    runtime = Runtime(clients, LambdaInvoker(clients.lambda_, manifest))
    fake = FakeTime()
    waits: list[str] = []
    runs = run_backfill(
        plan,
        manifest,
        runtime,
        clients.dynamodb,
        triggered_by=ME,
        rate_per_minute=0,
        now=lambda: NOW,
        sleep=fake.sleep,
        clock=fake.clock,
        on_wait=waits.append,
    )
    assert waits == [] and len(runtime.sent) == len(plan.items) == len(runs)


def test_skipped_backfill_is_planned_again_under_a_new_id(clients: Any, day_with_gaps: Any) -> None:
    """Regression: a backfill run that yielded to an overlapping run never ran, but its id was
    taken, so backfill sent people to `jobctl dlq replay` for a message that does not exist."""
    manifest, fires = day_with_gaps
    put_run(
        clients.dynamodb,
        "tmp-cleanup",
        backfill_run_id(fires[2]),
        trigger="backfill",
        status="skipped",
        scheduled_for=fires[2],
        started_at=NOW,
        yielded_to="20261121T010000Z-abcdef12",
    )
    plan = plan_backfill(clients, manifest, "tmp-cleanup", start=fires[0], end=fires[-1], now=NOW)
    assert [(i.fire_time, i.run_id, i.reason) for i in plan.items] == [
        (fires[2], f"{backfill_run_id(fires[2])}-2", "missed, backfill skipped"),
        (fires[3], backfill_run_id(fires[3]), "missed"),
        (fires[16], backfill_run_id(fires[16]), "failed"),
    ]
    assert plan.already_backfilled == ()
