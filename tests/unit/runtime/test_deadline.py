"""The end of a run must fit before Lambda's hard kill: after a soft deadline only the safety
margin is left, and in it the ``timed_out`` record and the DLQ message must both go out, even
when the history table is slow. Also: the ``forbid`` lock of a run that never released it
(hard kill, lost environment) blocks only until started + timeout + a small margin."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from runtime_helpers import (
    REGION,
    TABLE,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.dispatch import Dispatcher
from cronplane.runtime.exceptions import HistoryUnavailable
from cronplane.runtime.schema import RunRecord
from cronplane.runtime.store import DynamoRunStore
from cronplane.runtime.wrapper import LOCK_MARGIN_S, Clock

BLOCKED = """
    import threading
    GATE = threading.Event()

    def handler(event, context):
        GATE.wait(10)  # runs past the soft deadline
        return "too late"
"""


class SlowDynamo:
    """The real (moto) client, except that writes after the first ``fast`` hang until the test
    releases them (a history table that answers too slowly for the time left)."""

    def __init__(self, real: Any, fast: int) -> None:
        self.real = real
        self.fast = fast
        self.hanging: list[tuple[threading.Event, threading.Event]] = []  # (release, done) per write

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name not in ("put_item", "transact_write_items"):
            return target

        def write(**kwargs: Any) -> Any:
            if self.fast > 0:
                self.fast -= 1
                return target(**kwargs)
            release, done = threading.Event(), threading.Event()
            self.hanging.append((release, done))
            try:
                if not release.wait(5):
                    raise EndpointConnectionError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com")
                return target(**kwargs)
            finally:
                done.set()

        return write

    def release_newest_first(self) -> None:
        """Let the hung writes land, the last one sent first (the worst order)."""
        for release, done in reversed(self.hanging):
            release.set()
            done.wait(5)


def test_timed_out_run_is_recorded_and_dead_lettered_before_the_hard_kill_even_with_a_slow_table(env: Env) -> None:
    slow = SlowDynamo(env.client("dynamodb"), fast=1)  # `running` goes in, then the table slows down
    env.clients["dynamodb"] = slow
    wrapper = env.wrapper(BLOCKED, safety_margin_ms=1_200)
    context = FakeLambdaContext(1_700, ticking=True)
    try:
        record = wrapper.handle(schedule_event(), context)
        left_ms = context.get_remaining_time_in_millis()
    finally:
        wrapper.job_function.__globals__["GATE"].set()

    assert left_ms > 0, "the wrapper was still writing when Lambda would have killed it"
    assert record["status"] == "timed_out" and len(slow.hanging) == 1
    # The table did not answer in time: the record is in the log and in the one DLQ message.
    assert [line["record"]["status"] for line in env.logged() if "record" in line] == ["timed_out"]
    [message] = env.dead_letters()
    assert message["status"] == "timed_out" and message["record"] == record

    # The abandoned write still lands when the table answers: the run is not left `running`.
    slow.release_newest_first()
    assert [r["status"] for r in env.runs()] == ["timed_out"]


class FakeTime:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_store_retry_budget_shrinks_to_the_time_left(aws: None) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    fake = FakeTime()
    store = DynamoRunStore(client, TABLE, sleep=fake.sleep, monotonic=fake.monotonic)
    with Stubber(client) as stub:
        # With all the time in the world: 3 tries. With 0.25 s left: the third try is not started.
        for _ in range(2):
            stub.add_client_error("put_item", "ThrottlingException")
        with pytest.raises(HistoryUnavailable, match="no time left for try 3"):
            store.finish(RunRecord("j", "r", status="timed_out"), until=fake.now + 0.25)
        stub.assert_no_pending_responses()
    assert fake.sleeps == [0.1]


def test_dead_letter_retries_shrink_to_the_time_left(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="acme-job-dlq")["QueueUrl"]
    fake = FakeTime()
    dispatcher = Dispatcher(lambda service: sqs, url, sleep=fake.sleep, monotonic=fake.monotonic)
    with Stubber(sqs) as stub:
        stub.add_client_error("send_message", "ServiceUnavailable", http_status_code=503)
        with pytest.raises(Exception, match="ServiceUnavailable"):
            dispatcher.send_dead_letter({"run_id": "r"}, until=fake.now + 0.15)  # no room for a second try
        stub.assert_no_pending_responses()
    assert fake.sleeps == []
    with Stubber(sqs) as stub:
        stub.add_client_error("send_message", "ServiceUnavailable", http_status_code=503)
        stub.add_response("send_message", {"MessageId": "m-1", "MD5OfMessageBody": "x"})
        assert dispatcher.send_dead_letter({"run_id": "r"}, until=fake.now + 5) == "m-1"
    assert fake.sleeps == [0.1]


def test_forbid_lock_of_a_run_that_never_released_it_expires_after_timeout_plus_margin(env: Env) -> None:
    start = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    moment = [start]
    clock = Clock(now=lambda: moment[0], sleep=env.sleeps.append)
    source = """
        CALLS = []
        def handler(event, context):
            CALLS.append(context.run_id)
    """
    wrapper = env.wrapper(source, concurrency="forbid", timeout=60, safety_margin_ms=2_000, clock=clock)
    # A run that keeps the lock: recorded timed_out (no time left to start), lock left to expire.
    holder = wrapper.handle(schedule_event("evt-0"), FakeLambdaContext(1_500))
    assert holder["status"] == "timed_out"
    [lock] = [r for r in env.records() if r["run_id"] == "~lock"]
    assert lock["holder"] == holder["run_id"]
    assert lock["expires_at"] == int(start.timestamp()) + 60 + 10  # timeout + 10 s margin

    moment[0] = start + timedelta(seconds=60 + LOCK_MARGIN_S - 1)  # the holder may still be running
    blocked = wrapper.handle(schedule_event("evt-1", "2026-11-27T09:01:09Z"), FakeLambdaContext())
    assert blocked["status"] == "skipped" and blocked["yielded_to"] == holder["run_id"]

    moment[0] = start + timedelta(seconds=60 + LOCK_MARGIN_S + 1)  # it cannot be any more
    freed = wrapper.handle(schedule_event("evt-2", "2026-11-27T09:01:11Z"), FakeLambdaContext())
    assert freed["status"] == "succeeded" and wrapper.job_function.__globals__["CALLS"] == [freed["run_id"]]


def test_hand_over_that_cannot_be_recorded_in_time_fails_the_run_before_the_hard_kill(env: Env) -> None:
    source = """
        def handler(event, context):
            raise ConnectionError("provider reset the connection")
    """
    slow = SlowDynamo(env.client("dynamodb"), fast=1)
    env.clients["dynamodb"] = slow
    clock = Clock(sleep=env.sleeps.append, rng=random.Random(7))
    # Backoff up to 10 s: attempt 2 cannot fit, but the `retrying` record cannot be written in time.
    wrapper = env.wrapper(
        source, retry={"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}, safety_margin_ms=1_000, clock=clock
    )
    context = FakeLambdaContext(1_400, ticking=True)
    record = wrapper.handle(schedule_event(), context)
    left_ms = context.get_remaining_time_in_millis()

    assert left_ms > 0, "the wrapper was still writing when Lambda would have killed it"
    # Without a `retrying` record a continuation could not prove it is the awaited attempt:
    # none is invoked, and the run fails here with its one DLQ message (carrying the record).
    assert record["status"] == "failed" and env.spy.calls == []
    [message] = env.dead_letters()
    assert message["status"] == "failed" and message["record"]["status"] == "failed"

    # Both abandoned writes land late, `failed` first: the late `retrying` one cannot undo it.
    assert len(slow.hanging) == 2
    slow.release_newest_first()
    assert [r["status"] for r in env.runs()] == ["failed"]


class SlowSqs:
    """The real (moto) SQS client, except that ``send_message`` hangs until ``release`` is set."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.release = threading.Event()
        self.sent: list[str] = []

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name != "send_message":
            return target

        def send_message(**kwargs: Any) -> Any:
            if not self.release.wait(5):
                raise EndpointConnectionError(endpoint_url="https://sqs.eu-west-1.amazonaws.com")
            self.sent.append(kwargs["MessageBody"])
            return {"MessageId": "late"}  # not passed on to moto: the test may be over by then

        return send_message


def test_timed_out_run_with_a_slow_dlq_logs_the_message_before_the_hard_kill(env: Env) -> None:
    slow = SlowSqs(env.client("sqs"))
    env.clients["sqs"] = slow
    wrapper = env.wrapper(BLOCKED, safety_margin_ms=1_200)
    context = FakeLambdaContext(1_700, ticking=True)
    try:
        record = wrapper.handle(schedule_event(), context)
        left_ms = context.get_remaining_time_in_millis()
    finally:
        wrapper.job_function.__globals__["GATE"].set()
        slow.release.set()
    assert left_ms > 0, "the wrapper was still sending when Lambda would have killed it"
    assert record["status"] == "timed_out" and [r["status"] for r in env.runs()] == ["timed_out"]
    [logged] = [line["dead_letter"] for line in env.logged() if "dead_letter" in line]
    assert logged["status"] == "timed_out" and logged["run_id"] == record["run_id"]


def test_hand_over_whose_invoke_hangs_fails_the_run_with_its_dlq_message_before_the_hard_kill(env: Env) -> None:
    release = threading.Event()
    real_invoke = env.spy.invoke

    def hanging_invoke(**kwargs: Any) -> Any:
        release.wait(5)
        return real_invoke(**kwargs)

    env.spy.invoke = hanging_invoke  # type: ignore[method-assign]
    source = """
        def handler(event, context):
            raise ConnectionError("provider reset the connection")
    """
    clock = Clock(sleep=env.sleeps.append, rng=random.Random(7))
    wrapper = env.wrapper(
        source, retry={"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}, safety_margin_ms=1_000, clock=clock
    )
    context = FakeLambdaContext(1_400, ticking=True)
    try:
        record = wrapper.handle(schedule_event(), context)
        left_ms = context.get_remaining_time_in_millis()
    finally:
        release.set()
    assert left_ms > 0, "the wrapper was still invoking when Lambda would have killed it"
    # The `retrying` record went in, but the hand-over is not known to have happened: the run
    # fails here (a continuation that does arrive finds it `failed` and is a duplicate).
    assert record["status"] == "failed" and [r["status"] for r in env.runs()] == ["failed"]
    assert [m["status"] for m in env.dead_letters()] == ["failed"]
