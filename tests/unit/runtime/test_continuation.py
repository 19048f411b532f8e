"""Handing a retry to a new asynchronous invocation: the continuation keeps the run id, makes
the next attempt, and its conditional write lets exactly one delivery of it run; with
``concurrency: forbid`` the lock goes with the run, and a continuation that finds the lock taken
by another run ends the run as ``failed`` (one DLQ message), never as a second run."""

from __future__ import annotations

import random
import threading

from runtime_helpers import (
    FLAKY_THEN_SLOW,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.wrapper import Clock

# Backoff between 0 and 10 s: with 2.5 s left and a 2 s margin attempt 2 is handed over.
RETRY = {"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}


def handed_over(env: Env, **overrides: object) -> tuple[object, dict, dict]:
    clock = Clock(sleep=env.sleeps.append, rng=random.Random(7))
    wrapper = env.wrapper(FLAKY_THEN_SLOW, retry=RETRY, clock=clock, **overrides)
    first = wrapper.handle(schedule_event(), FakeLambdaContext(2_500))
    assert first["status"] == "retrying" and first["next_attempt"] == 2
    [continuation] = env.spy.events()
    return wrapper, first, continuation


def test_continuation_delivered_twice_while_the_first_still_runs_is_a_duplicate(env: Env) -> None:
    wrapper, first, continuation = handed_over(env, concurrency="forbid")
    module = wrapper.job_function.__globals__
    results: list[dict] = []
    worker = threading.Thread(target=lambda: results.append(wrapper.handle(continuation, FakeLambdaContext(60_000))))
    worker.start()
    try:
        assert module["STARTED"].wait(10)
        # Same run id, and the lock is held by this very run: only the record's condition
        # (``retrying`` waiting for attempt 2) can stop the second delivery.
        again = wrapper.handle(continuation, FakeLambdaContext(60_000, request_id="cccccccc-0002"))
    finally:
        module["GATE"].set()
        worker.join(10)
    [done] = results
    assert again["status"] == "duplicate" and again["duplicate_of"] == first["run_id"]
    assert done["status"] == "succeeded" and done["run_id"] == first["run_id"]
    assert [a["attempt"] for a in done["attempts"]] == [1, 2]
    assert module["CALLS"] == [1, 2]  # attempt 2 ran once
    assert sorted(r["status"] for r in env.runs()) == ["duplicate", "succeeded"]
    assert [r for r in env.records() if r["run_id"] == "~lock"] == []
    assert env.dead_letters() == []


def test_continuation_that_finds_the_lock_taken_fails_the_run_once_with_yielded_to(env: Env) -> None:
    wrapper, first, continuation = handed_over(env, concurrency="forbid")
    # The continuation waited in Lambda's queue past the lock's expiry, and the next firing took it.
    env.client("dynamodb").put_item(
        TableName="acme-history",
        Item={
            "job": {"S": "acme-job"},
            "run_id": {"S": "~lock"},
            "holder": {"S": "20261127T091500Z-0next000"},
            "expires_at": {"N": "99999999999"},
        },
    )
    ended = wrapper.handle(continuation, FakeLambdaContext(60_000))
    again = wrapper.handle(continuation, FakeLambdaContext(60_000, request_id="cccccccc-0003"))

    assert ended["status"] == "failed" and ended["run_id"] == first["run_id"]
    assert ended["yielded_to"] == "20261127T091500Z-0next000"
    assert [a["attempt"] for a in ended["attempts"]] == [1]
    assert ended["error"].startswith(
        "RetryYielded: attempt 2 not started: run 20261127T091500Z-0next000 holds the job's lock"
    )
    assert "ProviderDown: provider reset the connection" in ended["error"]
    assert again["status"] == "duplicate"
    assert wrapper.job_function.__globals__["CALLS"] == [1]
    [message] = env.dead_letters()  # one, although the continuation came twice
    assert message["status"] == "failed" and message["run_id"] == first["run_id"] and "record" not in message
    assert sorted(r["status"] for r in env.runs()) == ["duplicate", "failed"]


class InterleavingDynamo:
    """The real client; just before the first ``failed`` record is written, ``interleave()`` runs
    (another delivery of the continuation that got past its own begin at the same moment)."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.interleave: object = None

    def __getattr__(self, name: str) -> object:
        target = getattr(self.real, name)
        if name != "put_item":
            return target

        def put_item(**kwargs: object) -> object:
            if self.interleave is not None and kwargs["Item"]["status"] == {"S": "failed"}:  # type: ignore[index]
                run, self.interleave = self.interleave, None
                run()  # type: ignore[operator]
            return target(**kwargs)

        return put_item


def test_two_continuation_deliveries_that_both_find_the_lock_taken_send_one_dlq_message(env: Env) -> None:
    proxy = InterleavingDynamo(env.client("dynamodb"))
    env.clients["dynamodb"] = proxy
    wrapper, _first, continuation = handed_over(env, concurrency="forbid")
    env.client("dynamodb").put_item(
        TableName="acme-history",
        Item={
            "job": {"S": "acme-job"},
            "run_id": {"S": "~lock"},
            "holder": {"S": "20261127T091500Z-0next000"},
            "expires_at": {"N": "99999999999"},
        },
    )
    other: list[dict] = []
    proxy.interleave = lambda: other.append(
        wrapper.handle(continuation, FakeLambdaContext(60_000, request_id="dddddddd-0002"))
    )
    ended = wrapper.handle(continuation, FakeLambdaContext(60_000, request_id="dddddddd-0001"))

    # Both passed begin (the record was still `retrying`); only one may end the run.
    assert sorted([ended["status"], other[0]["status"]]) == ["duplicate", "failed"]
    assert [m["status"] for m in env.dead_letters()] == ["failed"]
    assert sorted(r["status"] for r in env.runs()) == ["duplicate", "failed"]


def test_the_longest_attempt_so_far_counts_when_deciding_whether_the_next_one_fits(env: Env) -> None:
    # No backoff at all, 2.2 s left and a 2 s margin: 200 ms usable, but attempt 1 took 300 ms,
    # so attempt 2 could overrun the timeout and goes to a fresh invocation instead.
    source = """
        import time
        CALLS = []

        def handler(event, context):
            CALLS.append(context.attempt)
            time.sleep(0.3)
            if context.attempt == 1:
                raise ConnectionError("reset")
            return "ok"
    """
    wrapper = env.wrapper(source, retry={"max_attempts": 3, "backoff_base": 0}, safety_margin_ms=2_000)
    record = wrapper.handle(schedule_event(), FakeLambdaContext(2_200))
    assert record["status"] == "retrying" and record["next_attempt"] == 2
    assert wrapper.job_function.__globals__["CALLS"] == [1]
    assert record["attempts"][0]["duration_ms"] >= 300
    [event] = env.spy.events()
    assert event["cronplane"]["attempt"] == 2 and event["cronplane"]["run_id"] == record["run_id"]
