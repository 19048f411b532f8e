"""Attack: the continuation's async self-invoke reaches Lambda, but its answer is lost (a read
timeout after the request was delivered). The first invocation cannot tell whether a
continuation is running; before the fix it wrote ``failed``, sent a DLQ message and released the
``forbid`` lock while the continuation ran, so the run ended ``succeeded`` with a ``failed`` DLQ
message (a replay then ran it twice), or with an overlapping run under ``forbid``.

Now the invoke is not sent again, the failure is written only if the record still waits for the
attempt this invocation handed over, and otherwise the continuation owns the run: exactly one DLQ
message or none, the final status is the continuation's, the lock stays with the running run."""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from runtime_helpers import (
    FLAKY_THEN_SLOW,
    REGION,
    TABLE,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.exceptions import LockHeld, RunExists
from cronplane.runtime.memory_store import MemoryRunStore
from cronplane.runtime.schema import RunLock, RunRecord, RunStatus, create_table
from cronplane.runtime.store import DynamoRunStore, RunStore
from cronplane.runtime.wrapper import Clock

# Backoff up to 10 s and 0.5 s usable: attempt 2 is handed over. The large margin leaves the
# hand-over's invoke seconds of its own, so the test decides the order of events, not the clock.
RETRY = {"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}
MARGIN_MS = 31_500
FIRST_CONTEXT_MS = 32_000


class AnswerLostLambda:
    """The lambda client: the async invoke is delivered (``deliver`` gets its event), then the
    answer is lost on the way back (a read timeout)."""

    def __init__(self, deliver: Callable[[dict[str, Any]], None]) -> None:
        self.deliver = deliver
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        self.deliver(json.loads(kwargs["Payload"]))
        raise ReadTimeoutError(endpoint_url="https://lambda.eu-west-1.amazonaws.com")


def forbid_wrapper(env: Env) -> Any:
    clock = Clock(sleep=env.sleeps.append, rng=random.Random(7))
    return env.wrapper(FLAKY_THEN_SLOW, retry=RETRY, clock=clock, concurrency="forbid", safety_margin_ms=MARGIN_MS)


def lock_item(env: Env) -> dict[str, Any] | None:
    return next((r for r in env.records() if r["run_id"] == "~lock"), None)


def test_continuation_that_started_owns_the_run_no_dlq_message_and_the_lock_stays(env: Env) -> None:
    wrapper = None
    module: dict[str, Any] = {}
    done: list[dict[str, Any]] = []
    threads: list[threading.Thread] = []

    def deliver(event: dict[str, Any]) -> None:
        # Lambda runs the continuation at once; it is making attempt 2 when the answer is lost.
        worker = threading.Thread(target=lambda: done.append(wrapper.handle(event, FakeLambdaContext(60_000))))
        threads.append(worker)
        worker.start()
        assert module["STARTED"].wait(10)

    env.spy = AnswerLostLambda(deliver)  # type: ignore[assignment]
    wrapper = forbid_wrapper(env)
    module = wrapper.job_function.__globals__
    try:
        first = wrapper.handle(schedule_event(), FakeLambdaContext(FIRST_CONTEXT_MS))
        # The first invocation has given up on the invoke, and the continuation is still running.
        assert first["status"] == "retrying" and first["next_attempt"] == 2
        assert len(env.spy.calls) == 1  # not invoked again blindly
        [running] = env.runs()
        assert running["status"] == "running" and running["invocation_id"] != first["invocation_id"]
        lock = lock_item(env)
        assert lock is not None and lock["holder"] == first["run_id"]  # not released early
        assert env.dead_letters() == []
    finally:
        module["GATE"].set()
        for thread in threads:
            thread.join(10)

    [ended] = done
    assert ended["status"] == "succeeded" and ended["run_id"] == first["run_id"]
    assert module["CALLS"] == [1, 2]
    assert [r["status"] for r in env.runs()] == ["succeeded"]  # the continuation's status is final
    assert lock_item(env) is None and env.dead_letters() == []
    assert any("took the run over" in line.get("message", "") for line in env.logged())


def test_continuation_that_arrives_after_the_run_failed_is_a_duplicate_one_dlq_message(env: Env) -> None:
    delivered: list[dict[str, Any]] = []
    env.spy = AnswerLostLambda(delivered.append)  # type: ignore[assignment]
    wrapper = forbid_wrapper(env)
    first = wrapper.handle(schedule_event(), FakeLambdaContext(FIRST_CONTEXT_MS))
    # Nothing took the run over before its final write: it failed here, with its one message.
    assert first["status"] == "failed" and len(env.spy.calls) == 1
    assert lock_item(env) is None
    [message] = env.dead_letters()
    assert message["status"] == "failed" and message["run_id"] == first["run_id"]

    # Lambda starts the queued continuation later: it finds the run ended and does not run.
    [event] = delivered
    late = wrapper.handle(event, FakeLambdaContext(60_000, request_id="eeeeeeee-0001"))
    assert late["status"] == "duplicate" and late["duplicate_of"] == first["run_id"]
    assert wrapper.job_function.__globals__["CALLS"] == [1]
    assert sorted(r["status"] for r in env.runs()) == ["duplicate", "failed"]
    assert env.dead_letters() == [] and lock_item(env) is None


class FailedWritesThrottled:
    """The real client, except that every write of a ``failed`` record is throttled."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name not in ("put_item", "transact_write_items"):
            return target

        def write(**kwargs: Any) -> Any:
            items = [kwargs.get("Item")] + [t.get("Put", {}).get("Item") for t in kwargs.get("TransactItems", [])]
            if any(item and item.get("status") == {"S": "failed"} for item in items):
                error = {"Code": "ThrottlingException", "Message": "Rate exceeded"}
                raise ClientError({"Error": error}, name)
            return target(**kwargs)

        return write


def test_unknown_invoke_and_unwritable_final_record_withholds_the_dlq_message(env: Env) -> None:
    delivered: list[dict[str, Any]] = []
    env.spy = AnswerLostLambda(delivered.append)  # type: ignore[assignment]
    env.clients["dynamodb"] = FailedWritesThrottled(env.client("dynamodb"))
    wrapper = forbid_wrapper(env)
    first = wrapper.handle(schedule_event(), FakeLambdaContext(FIRST_CONTEXT_MS))
    assert first["status"] == "failed"
    # Sent, the message could be the second one (or a `failed` one for a run that succeeds):
    # it goes to the log in full instead.
    assert env.dead_letters() == []
    [withheld] = [line for line in env.logged() if "dead_letter" in line]
    assert "withheld" in withheld["message"] and withheld["dead_letter"]["run_id"] == first["run_id"]

    # The continuation did land: it still finds the record waiting, and ends the run itself.
    module = wrapper.job_function.__globals__
    module["GATE"].set()
    [event] = delivered
    ended = wrapper.handle(event, FakeLambdaContext(60_000))
    assert ended["status"] == "succeeded" and module["CALLS"] == [1, 2]
    assert [r["status"] for r in env.runs()] == ["succeeded"] and env.dead_letters() == []
    assert lock_item(env) is None


class RefusedOnce:
    """The lambda client refuses the first invoke with an answer (nothing was queued)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        if len(self.calls) == 1:
            error = {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}
            raise ClientError({"Error": error}, "Invoke")
        return {"StatusCode": 202}


def test_an_invoke_refused_with_an_answer_is_tried_again(env: Env) -> None:
    env.spy = RefusedOnce()  # type: ignore[assignment]
    first = forbid_wrapper(env).handle(schedule_event(), FakeLambdaContext(FIRST_CONTEXT_MS))
    assert first["status"] == "retrying" and len(env.spy.calls) == 2
    assert [r["status"] for r in env.runs()] == ["retrying"] and env.dead_letters() == []


# -- the store's side: the condition itself, in both stores ---------------------------------------
@pytest.fixture(params=["dynamodb", "memory"])
def store(request: pytest.FixtureRequest, aws: None) -> RunStore:
    if request.param == "memory":
        return MemoryRunStore()
    client = boto3.client("dynamodb", region_name=REGION)
    create_table(client, TABLE)
    return DynamoRunStore(client, TABLE)


def test_the_final_write_after_an_unknown_hand_over_changes_nothing_once_a_continuation_began(
    store: RunStore,
) -> None:
    now = 1_800_000_000
    lock = RunLock("nightly", "20261127T090000Z-1a2b3c4d", expires_at=now + 900)
    run = RunRecord("nightly", lock.holder, status=RunStatus.RUNNING.value, invocation_id="first")
    store.begin(run, lock=lock, now_epoch=now)
    store.hand_over(run._replace(status=RunStatus.RETRYING.value, next_attempt=2))
    store.begin(run._replace(invocation_id="continuation"), lock=lock, continuing_attempt=2, now_epoch=now)

    failed = run._replace(status=RunStatus.FAILED.value, next_attempt=None)
    with pytest.raises(RunExists):
        store.finish(failed, release=lock, expect_attempt=2, expect_invocation="first")
    # Nothing was released with it: the next firing still finds the lock held.
    other = RunLock("nightly", "20261127T091500Z-5e6f7a8b", expires_at=now + 900)
    with pytest.raises(LockHeld):
        store.begin(RunRecord("nightly", other.holder, status="running"), lock=other, now_epoch=now)


def test_the_final_write_after_an_unknown_hand_over_ends_a_run_still_waiting(store: RunStore) -> None:
    now = 1_800_000_000
    lock = RunLock("nightly", "20261127T090000Z-1a2b3c4d", expires_at=now + 900)
    run = RunRecord("nightly", lock.holder, status=RunStatus.RUNNING.value, invocation_id="first")
    store.begin(run, lock=lock, now_epoch=now)
    store.hand_over(run._replace(status=RunStatus.RETRYING.value, next_attempt=2))
    failed = run._replace(status=RunStatus.FAILED.value)
    with pytest.raises(RunExists):  # waiting, but handed over by another invocation
        store.finish(failed, release=lock, expect_attempt=2, expect_invocation="someone-else")
    store.finish(failed, release=lock, expect_attempt=2, expect_invocation="first")
    # The late continuation cannot start, and the lock went with the final write.
    with pytest.raises(RunExists):
        store.begin(run._replace(invocation_id="continuation"), lock=lock, continuing_attempt=2, now_epoch=now)
    other = RunLock("nightly", "20261127T091500Z-5e6f7a8b", expires_at=now + 900)
    store.begin(RunRecord("nightly", other.holder, status="running"), lock=other, now_epoch=now)
