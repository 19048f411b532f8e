"""The ops commands and the real runtime wrapper together (moto in-process): runs are recorded
by `cronplane.runtime` itself, the DLQ message is the one the wrapper sends, and the replay and
backfill envelopes go through the Invoke API and are then handled by the same wrapper (moto does
not execute Lambda code, so the test hands each accepted payload to the wrapper, as Lambda would)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from ops_fixtures import NAMESPACE, TABLE, make_job, make_manifest, next_day, utc

from cronplane.manifest.models import Concurrency, Manifest
from cronplane.ops.audit import EXIT_CLEAN, EXIT_PROBLEMS, FireOutcome, audit
from cronplane.ops.backfill import plan_backfill, run_backfill
from cronplane.ops.dlq import DlqSource, list_messages, replay
from cronplane.ops.launch import InvokeResult, LambdaInvoker
from cronplane.runtime import entry
from cronplane.runtime.schema import backfill_run_id, scheduled_run_id
from cronplane.runtime.settings import RuntimeSettings
from cronplane.runtime.wrapper import Clock

JOB_SOURCE = """
from pathlib import Path

FLAG = Path(__file__).with_name("provider_down")


def handler(event, context):
    if FLAG.exists():
        raise ConnectionError("provider down")
    return {"cleaned": event.get("max_age_hours")}
"""


@dataclass
class SimTime:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


class Context:
    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "acme-jobs--tmp-cleanup"
        self.invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:acme-jobs--tmp-cleanup"
        self.memory_limit_in_mb = 256

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class DeployedFunction:
    """The Invoke API (moto) plus what Lambda then does: run the wrapper on the payload."""

    def __init__(self, clients: Any, manifest: Manifest, wrapper: Any) -> None:
        self.inner = LambdaInvoker(clients.lambda_, manifest)
        self.wrapper = wrapper
        self.sent: list[dict[str, Any]] = []

    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult:
        result = self.inner.invoke_async(job_name, envelope)
        if result.accepted:
            event = json.loads(json.dumps(envelope))  # exactly what went over the wire
            self.sent.append(event)
            self.wrapper.handle(event, Context())
        return result


@pytest.fixture
def live(clients: Any, deploy: Any, tmp_path: Path) -> Iterator[tuple[Manifest, Any, SimTime, Path, str]]:
    manifest = make_manifest(
        make_job("tmp-cleanup", "cron(0 * * * ? *)", payload={"max_age_hours": 24}, concurrency=Concurrency.FORBID)
    )
    queue = deploy(manifest, manifest.jobs[0])["queue_url"]
    team = tmp_path / f"infra_{uuid.uuid4().hex[:6]}"
    team.mkdir()
    (team / "__init__.py").write_text("")
    (team / "tmp_cleanup.py").write_text(JOB_SOURCE)
    import sys

    sys.path.insert(0, str(tmp_path))
    sim = SimTime(next_day())
    settings = RuntimeSettings(
        job="tmp-cleanup",
        namespace=NAMESPACE,
        handler=f"{team.name}.tmp_cleanup:handler",
        history_table=TABLE,
        dlq_url=queue,
        payload={"max_age_hours": 24},
        retry={"max_attempts": 1},
        timeout=60,
        concurrency="forbid",
    )
    wrapper = entry.build(
        settings,
        lambda service: boto3.client(service, region_name="eu-west-1"),
        clock=Clock(now=sim, sleep=lambda s: None),
        emit=lambda line: None,
    )
    try:
        yield manifest, wrapper, sim, team / "provider_down", queue
    finally:
        sys.path.remove(str(tmp_path))


def test_missed_and_failed_runs_are_replayed_and_backfilled_until_audit_is_clean(clients: Any, live: Any) -> None:
    manifest, wrapper, sim, down, queue = live
    day = sim.now
    fires = [day + timedelta(hours=h) for h in range(1, 7)]
    for h, fire in enumerate(fires, start=1):
        if h == 3:
            continue  # EventBridge never fired: no record at all
        if h == 5:
            down.write_text("")
        sim.now = fire + timedelta(seconds=3)
        wrapper.handle(
            {"cronplane": {"trigger": "schedule", "event_id": f"ev{h}", "scheduled_for": f"{fire:%Y-%m-%dT%H:%M:%SZ}"}},
            Context(),
        )
        down.unlink(missing_ok=True)
    sim.now = day + timedelta(hours=6, minutes=10)
    window = {"since": day, "until": fires[-1]}

    before = audit(clients, manifest, ["tmp-cleanup"], now=sim.now, **window)
    outcomes = [c.outcome for c in before.jobs[0].checks]
    assert outcomes == [
        FireOutcome.OK,
        FireOutcome.OK,
        FireOutcome.MISSED,
        FireOutcome.OK,
        FireOutcome.FAILED,
        FireOutcome.OK,
    ]
    assert before.exit_code == EXIT_PROBLEMS and "provider down" in before.jobs[0].checks[4].note

    (letter,) = list_messages(clients.sqs, queue, wait_seconds=0)
    assert (letter.source, letter.run_id, letter.attempts) == (DlqSource.WRAPPER, scheduled_run_id(fires[4], "ev5"), 1)
    assert "ConnectionError" in letter.error and letter.payload == {"max_age_hours": 24}

    function = DeployedFunction(clients, manifest, wrapper)
    (replayed,) = replay(
        clients.sqs,
        queue,
        function,
        "tmp-cleanup",
        [letter.message_id],
        triggered_by=clients.caller_arn(),
        now=sim.now,
        wait_seconds=0,
    )
    assert replayed.accepted and replayed.deleted and list_messages(clients.sqs, queue, wait_seconds=0) == []

    plan = plan_backfill(clients, manifest, "tmp-cleanup", start=fires[0], end=fires[-1], now=sim.now)
    assert [(i.fire_time, i.reason) for i in plan.items] == [(fires[2], "missed")]
    runs = run_backfill(
        plan, manifest, function, clients.dynamodb, triggered_by=clients.caller_arn(), now=sim, sleep=lambda s: None
    )
    # concurrency: forbid: backfill read the run's final record (written by the wrapper's lock path).
    assert [(r.accepted, r.status) for r in runs] == [(True, "succeeded")]

    after = audit(clients, manifest, ["tmp-cleanup"], now=sim.now, **window)
    checks = after.jobs[0].checks
    assert after.exit_code == EXIT_CLEAN, after.verdict
    assert (checks[2].run_id, checks[2].note) == (backfill_run_id(fires[2]), "backfilled")
    assert checks[4].note == f"recovered by retry of {scheduled_run_id(fires[4], 'ev5')}"
    # The runtime took both envelopes as they were meant: a retry pointing at the failed run
    # with the job's payload, and a backfill with the original time.
    retry, backfill = (e["cronplane"] for e in function.sent)
    assert (retry["trigger"], retry["retry_of"], retry["payload"]) == (
        "retry",
        scheduled_run_id(fires[4], "ev5"),
        {"max_age_hours": 24},
    )
    assert (backfill["trigger"], backfill["scheduled_for"]) == ("backfill", f"{fires[2]:%Y-%m-%dT%H:%M:%SZ}")
    assert utc(backfill["scheduled_for"]) == fires[2]
