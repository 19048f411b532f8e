"""Attack: an event chooses the run id (and trigger, attempt number) the wrapper writes under.
Before the fix, one invoke with run id ``~lock`` overwrote a ``forbid`` job's lock item with a run
record: every later firing was ``skipped`` for 30 days and ``audit`` said OK.

Now every envelope field is checked against its documented format before anything is written:
a malformed event is refused with a clear, recorded error (a ``failed`` record under a fresh run
id), the job does not run and no item the event named is touched. And a lock item without a
holder and an expiry counts as free, so a bad item there cannot block the job."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from runtime_helpers import (
    TABLE,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.exceptions import InvalidEvent
from cronplane.runtime.firing import Firing
from cronplane.runtime.memory_store import MemoryRunStore
from cronplane.runtime.schema import (
    RunLock,
    RunRecord,
    Trigger,
    backfill_run_id,
    is_run_id,
    new_run_id,
    scheduled_run_id,
    to_item,
)

COUNTING = """
    CALLS = []
    def handler(event, context):
        CALLS.append(context.run_id)
        return "ran"
"""
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
HOLDER = "20261127T085500Z-0a0b0c0d"  # a run of the job still going


def lock_raw(env: Env) -> dict[str, Any] | None:
    found = env.client("dynamodb").get_item(
        TableName=TABLE, Key={"job": {"S": "acme-job"}, "run_id": {"S": "~lock"}}, ConsistentRead=True
    )
    return found.get("Item")


def manual(**inner: Any) -> dict[str, Any]:
    return {"cronplane": {"trigger": "manual", **inner}}


def continuation(**inner: Any) -> dict[str, Any]:
    base = {"trigger": "schedule", "run_id": "20261127T090000Z-1a2b3c4d", "continuation": True, "attempt": 2}
    return {"cronplane": {**base, **inner}}


MALFORMED = {
    "lock key": manual(run_id="~lock"),
    "deploy lock key": manual(run_id="~deploy"),
    "duplicate marker": manual(run_id="20261127T090000Z-1a2b3c4d~dup-req-1"),
    "empty run id": manual(run_id=""),
    "no time key": manual(run_id="nightly-1"),
    "month 13": manual(run_id="20261327T090000Z-1a2b3c4d"),
    "upper-case hex": manual(run_id="20261127T090000Z-1A2B3C4D"),
    "path": manual(run_id="../../other-job"),
    "huge run id": manual(run_id="20261127T090000Z-" + "a" * 5000),
    "number run id": manual(run_id=20261127),
    "list run id": manual(run_id=["~lock"]),
    "unknown trigger": {"cronplane": {"trigger": "cron", "run_id": "20261127T090000Z-m1234567"}},
    "empty trigger": {"cronplane": {"trigger": ""}},
    "number trigger": {"cronplane": {"trigger": 5}},
    "attempt -1": continuation(attempt=-1),
    "attempt 0": continuation(attempt=0),
    "attempt 1 as a continuation": continuation(attempt=1),
    "attempt 10**9": continuation(attempt=10**9),
    'attempt "1"': continuation(attempt="1"),
    "attempt 2.0": continuation(attempt=2.0),
    "attempt true": continuation(attempt=True),
    "continuation without attempt": continuation(attempt=None),
    "continuation without run id": continuation(run_id=None),
    "continuation as text": continuation(continuation="yes"),
    "attempt beyond the job's maximum": continuation(attempt=4),
    "negative backoff": continuation(backoff_ms=-5),
    "backoff as text": continuation(backoff_ms="10"),
    "attempts not a list": continuation(attempts="1"),
    "attempts with a bad number": continuation(attempts=[{"attempt": "first"}]),
    "attempt on a fresh run": manual(attempt=-1),
    "triggered_by as a map": manual(triggered_by={"arn": "x"}),
}


@pytest.mark.parametrize("event", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_event_is_refused_recorded_and_touches_no_foreign_item(env: Env, event: dict[str, Any]) -> None:
    wrapper = env.wrapper(COUNTING, concurrency="forbid", retry={"max_attempts": 3})
    lock = RunLock("acme-job", HOLDER, expires_at=4_000_000_000, ttl=4_000_086_400)
    env.client("dynamodb").put_item(TableName=TABLE, Item=to_item(lock))
    before = lock_raw(env)

    refused = wrapper.handle(event, FakeLambdaContext())

    assert wrapper.job_function.__globals__["CALLS"] == []  # the job did not run
    assert lock_raw(env) == before  # the lock item is untouched
    assert refused["status"] == "failed" and refused["attempts"] == []
    assert refused["error"].startswith("InvalidEvent: event refused: ")
    # Recorded under a fresh, well-formed run id: nothing under a key the event chose.
    assert is_run_id(refused["run_id"]) and [r["run_id"] for r in env.runs()] == [refused["run_id"]]
    assert env.runs()[0]["error"] == refused["error"]
    assert env.dead_letters() == []  # nothing ran: nothing to replay
    [line] = [line for line in env.logged() if line.get("message") == "event refused; the job did not run"]
    assert line["error"] == refused["error"]


def test_lock_key_attack_leaves_the_next_firing_free_to_run(env: Env) -> None:
    wrapper = env.wrapper(COUNTING, concurrency="forbid")
    attack = wrapper.handle(
        manual(run_id="~lock", triggered_by="arn:aws:iam::123456789012:user/mallory"), FakeLambdaContext()
    )
    assert attack["error"] == (
        "InvalidEvent: event refused: run_id '~lock' is not a run id "
        "(<YYYYMMDDTHHMMSSZ>-<8 hex digits | s, m, r or b + 7 hex digits | backfill>); "
        "leave it out and the run gets a fresh one"
    )
    assert attack["triggered_by"] == "arn:aws:iam::123456789012:user/mallory"  # who tried, on record
    assert lock_raw(env) is None
    firing = wrapper.handle(schedule_event("evt-next"), FakeLambdaContext())
    assert firing["status"] == "succeeded" and len(wrapper.job_function.__globals__["CALLS"]) == 1


# Items found under the lock's key that are not a lock (the attack's leftover, a bad write).
NOT_A_LOCK = {
    "run record": {"status": {"S": "succeeded"}, "kind": {"S": "run"}},
    "no expiry": {"holder": {"S": HOLDER}},
    "no holder": {"expires_at": {"N": "4000000000"}},
    "expiry as text": {"holder": {"S": HOLDER}, "expires_at": {"S": "4000000000"}},
}


@pytest.mark.parametrize("leftover", NOT_A_LOCK.values(), ids=NOT_A_LOCK.keys())
def test_an_item_under_the_lock_key_without_holder_and_expiry_counts_as_free(
    env: Env, leftover: dict[str, Any]
) -> None:
    key = {"job": {"S": "acme-job"}, "run_id": {"S": "~lock"}}
    env.client("dynamodb").put_item(TableName=TABLE, Item={**key, **leftover})
    wrapper = env.wrapper(COUNTING, concurrency="forbid")
    record = wrapper.handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "succeeded" and len(wrapper.job_function.__globals__["CALLS"]) == 1
    assert lock_raw(env) is None  # taken, then released with the final record


def test_a_real_lock_still_holds(env: Env) -> None:
    lock = RunLock("acme-job", HOLDER, expires_at=4_000_000_000)
    env.client("dynamodb").put_item(TableName=TABLE, Item=to_item(lock))
    record = env.wrapper(COUNTING, concurrency="forbid").handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "skipped" and record["yielded_to"] == HOLDER


def test_memory_store_takes_a_lock_without_holder() -> None:
    store = MemoryRunStore()
    store.locks["acme-job"] = RunLock("acme-job", "", expires_at=0)
    lock = RunLock("acme-job", HOLDER, expires_at=4_000_000_000)
    store.begin(RunRecord("acme-job", HOLDER, status="running"), lock=lock, now_epoch=1_800_000_000)
    assert store.locks["acme-job"] == lock


def test_every_run_id_the_platform_makes_is_accepted_with_its_trigger() -> None:
    made = [
        (Trigger.SCHEDULE, scheduled_run_id(NOW, "exec-1")),
        (Trigger.SCHEDULE, "20261127T090000Z-b1c2d3e4"),  # a digest may start with b
        (Trigger.BACKFILL, backfill_run_id(NOW)),
        (Trigger.BACKFILL, f"{backfill_run_id(NOW)}-2"),  # jobctl backfill's rerun of a skipped time
    ] + [(t, new_run_id(NOW, t)) for t in Trigger]
    assert all(is_run_id(run_id) for _, run_id in made), made
    for trigger, run_id in made:
        event = {"cronplane": {"trigger": trigger.value, "run_id": run_id, "scheduled_for": "2026-11-27T09:00:00Z"}}
        firing = Firing.from_event(event, {}, NOW)
        assert (firing.trigger, firing.run_id) == (trigger, run_id)


FIRE_TIME = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)  # a fire time still to come


def backfill(run_id: str, scheduled_for: str = "2026-11-28T09:00:00Z") -> dict[str, Any]:
    return {"cronplane": {"trigger": "backfill", "run_id": run_id, "scheduled_for": scheduled_for}}


BORROWED = {
    "manual under a backfill id": manual(run_id=backfill_run_id(FIRE_TIME), payload={"evil": True}),
    "manual under a scheduled id": manual(run_id="20261128T090000Z-1a2b3c4d"),
    "manual under a retry id": manual(run_id="20261127T090000Z-r1234567"),
    "retry under a backfill id": {"cronplane": {"trigger": "retry", "run_id": backfill_run_id(FIRE_TIME)}},
    "schedule under a manual id": {"cronplane": {"trigger": "schedule", "run_id": "20261127T090000Z-m1234567"}},
    "backfill under a manual id": backfill("20261128T090000Z-m1234567"),
    "backfill of another time": backfill(backfill_run_id(FIRE_TIME), scheduled_for="2026-11-27T09:00:00Z"),
    "backfill b-id of another time": backfill("20261127T090000Z-b1234567"),
    "backfill without scheduled_for": {"cronplane": {"trigger": "backfill", "run_id": backfill_run_id(FIRE_TIME)}},
}


@pytest.mark.parametrize("event", BORROWED.values(), ids=BORROWED.keys())
def test_a_run_id_of_another_trigger_or_time_is_refused_and_the_real_backfill_still_runs(
    env: Env, event: dict[str, Any]
) -> None:
    wrapper = env.wrapper(COUNTING)
    refused = wrapper.handle(event, FakeLambdaContext())
    assert refused["status"] == "failed" and refused["error"].startswith("InvalidEvent: event refused: run_id ")
    assert wrapper.job_function.__globals__["CALLS"] == []  # the job did not run
    assert [r["run_id"] for r in env.runs()] == [refused["run_id"]]  # recorded under a fresh id only
    assert refused["run_id"] != event["cronplane"]["run_id"]

    # The operator's backfill of that fire time runs (it is not a duplicate of the attack).
    real = wrapper.handle(backfill(backfill_run_id(FIRE_TIME)), FakeLambdaContext())
    assert (real["run_id"], real["status"]) == (backfill_run_id(FIRE_TIME), "succeeded")
    assert wrapper.job_function.__globals__["CALLS"] == [backfill_run_id(FIRE_TIME)]


def test_borrowed_id_refusal_says_which_form_fits() -> None:
    with pytest.raises(InvalidEvent) as info:
        Firing.from_event(manual(run_id="20261128T090000Z-backfill"), {}, NOW)
    assert str(info.value) == (
        "event refused: run_id '20261128T090000Z-backfill' is not a manual run's id (<time>-m<7 hex digits>); "
        "leave it out and the run gets a fresh one"
    )
    with pytest.raises(InvalidEvent, match=r"does not name the backfilled time \(scheduled_for 20261127T090000Z\)"):
        Firing.from_event(backfill("20261128T090000Z-backfill", "2026-11-27T09:00:00Z"), {}, NOW)


def test_refusal_names_the_field_and_is_an_invalid_event() -> None:
    with pytest.raises(InvalidEvent, match=r"attempt '1' is not an attempt of this job") as info:
        Firing.from_event(continuation(attempt="1", triggered_by="arn:x"), {}, NOW, max_attempts=3)
    assert info.value.triggered_by == "arn:x"
