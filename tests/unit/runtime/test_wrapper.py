"""The wrapper's state machine against moto: one record per firing, retries, hand-over to a
continuation, the soft deadline, duplicates, overlap and the DLQ."""

from __future__ import annotations

import json
import random
import threading

from runtime_helpers import (
    FUNCTION_ARN,
    ROOT_JOBS,
    Env,
    FakeLambdaContext,
    count_calls,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.schema import parse_iso, scheduled_run_id
from cronplane.runtime.wrapper import Clock

SUCCEED = """
    def handler(event, context):
        return {"got": event, "attempt": context.attempt}
"""

# Fails with a ConnectionError subclass until the attempt number passes event["fail_attempts"].
FLAKY = """
    class ProviderDown(ConnectionError):
        pass

    def handler(event, context):
        if context.attempt <= event["fail_attempts"]:
            raise ProviderDown(f"provider reset the connection (attempt {context.attempt})")
        return {"ok": context.attempt}
"""


def test_success_records_succeeded_with_duration_and_result(env: Env) -> None:
    wrapper = env.wrapper(SUCCEED)
    record = wrapper.handle(schedule_event(), FakeLambdaContext())

    [stored] = env.runs()
    assert stored == record
    assert stored["status"] == "succeeded"
    assert stored["run_id"] == scheduled_run_id(parse_iso("2026-11-27T09:00:00Z"), "evt-1")
    assert stored["trigger"] == "schedule" and stored["scheduled_for"] == "2026-11-27T09:00:00Z"
    assert json.loads(stored["result"]) == {"got": {"batch": 5}, "attempt": 1}
    assert stored["duration_ms"] >= 0 and stored["finished_at"] >= stored["started_at"]
    assert [a["attempt"] for a in stored["attempts"]] == [1] and stored["attempts"][0]["error_type"] is None
    assert stored["gsi_pk"] == "run" and stored["kind"] == "run" and stored["function_name"] == "acme-job"
    assert stored["ttl"] > parse_iso(stored["started_at"]).timestamp() + 29 * 86400
    assert parse_iso(stored["deadline"]) > parse_iso(stored["started_at"])
    assert env.dead_letters() == []


def test_success_costs_exactly_two_history_writes_and_no_reads(env: Env) -> None:
    calls = count_calls(env.client("dynamodb"))
    env.wrapper(SUCCEED).handle(schedule_event("evt-a"), FakeLambdaContext())
    assert calls() == ["PutItem", "PutItem"]


def test_forbid_success_is_two_transactions_that_take_and_release_the_lock(env: Env) -> None:
    wrapper = env.wrapper(SUCCEED, concurrency="forbid")
    calls = count_calls(env.client("dynamodb"))
    wrapper.handle(schedule_event("evt-b"), FakeLambdaContext())
    assert calls() == ["TransactWriteItems", "TransactWriteItems"]
    assert [r["run_id"] for r in env.records() if r["run_id"] == "~lock"] == []  # released


def test_failure_then_success_on_retry(env: Env) -> None:
    wrapper = env.wrapper(
        FLAKY,
        payload={"fail_attempts": 1},
        retry={"max_attempts": 3, "backoff_base": 1, "backoff_cap": 10, "retry_on": ["ConnectionError"]},
    )
    record = wrapper.handle(schedule_event(), FakeLambdaContext(60_000))

    assert record["status"] == "succeeded"
    first, second = record["attempts"]
    assert first["error_type"] == "ProviderDown" and "attempt 1" in first["error_message"]
    assert "Traceback" in first["traceback"] and second["error_type"] is None
    # Full jitter: one wait, uniform in [0, base * 2**0).
    assert len(env.sleeps) == 1 and 0 <= env.sleeps[0] < 1
    assert env.runs() == [record] and env.dead_letters() == []


def test_retries_exhausted_record_failed_and_send_one_dlq_message_with_attempts(env: Env) -> None:
    wrapper = env.wrapper(FLAKY, payload={"fail_attempts": 9})
    record = wrapper.handle(schedule_event(), FakeLambdaContext())

    assert record["status"] == "failed"
    assert [a["attempt"] for a in record["attempts"]] == [1, 2, 3]
    assert record["error"] == "ProviderDown: provider reset the connection (attempt 3)"
    assert env.runs()[0]["status"] == "failed"
    [message] = env.dead_letters()
    assert message["source"] == "cronplane" and message["job"] == "acme-job" and message["status"] == "failed"
    assert message["run_id"] == record["run_id"] and message["trigger"] == "schedule"
    assert message["scheduled_for"] == "2026-11-27T09:00:00Z"
    assert [a["error_type"] for a in message["attempts"]] == ["ProviderDown"] * 3
    assert message["event"] == schedule_event() and message["error"] == record["error"]
    assert "record" not in message  # the table has it


def test_non_retryable_and_unlisted_errors_fail_at_once(env: Env) -> None:
    source = """
        from cronplane.runtime import NonRetryable

        def handler(event, context):
            if event["kind"] == "bad-input":
                raise NonRetryable("row 7 has no currency")
            raise KeyError("currency")
    """
    for kind, retry_on in (("bad-input", []), ("key", ["ConnectionError"])):
        wrapper = env.wrapper(
            source, payload={"kind": kind}, retry={"max_attempts": 3, "backoff_base": 0, "retry_on": retry_on}
        )
        record = wrapper.handle({}, FakeLambdaContext())
        assert record["status"] == "failed" and len(record["attempts"]) == 1, kind
    assert len(env.dead_letters()) == 2 and env.sleeps == []


def test_attempt_that_cannot_fit_is_handed_to_a_continuation_invocation(env: Env) -> None:
    # Backoff between 0 and 10 s, 2.5 s left with a 2 s margin: the second attempt cannot fit.
    retry = {"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}
    clock = Clock(sleep=env.sleeps.append, rng=random.Random(7))
    wrapper = env.wrapper(FLAKY, payload={"fail_attempts": 1}, retry=retry, clock=clock)
    record = wrapper.handle(schedule_event(), FakeLambdaContext(2_500))

    assert record["status"] == "retrying" and record["next_attempt"] == 2
    [stored] = env.runs()
    assert stored["status"] == "retrying" and len(stored["attempts"]) == 1
    [call] = env.spy.calls
    assert call["FunctionName"] == FUNCTION_ARN and call["InvocationType"] == "Event"
    inner = json.loads(call["Payload"])["cronplane"]
    assert inner["trigger"] == "schedule" and inner["run_id"] == record["run_id"]
    assert inner["attempt"] == 2 and inner["continuation"] is True
    assert [a["attempt"] for a in inner["attempts"]] == [1] and inner["started_at"] == record["started_at"]
    assert env.sleeps == [] and env.dead_letters() == []


def test_continuation_records_every_attempt_across_invocations_and_runs_once(env: Env) -> None:
    retry = {"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}
    first = env.wrapper(
        FLAKY, payload={"fail_attempts": 1}, retry=retry, clock=Clock(sleep=env.sleeps.append, rng=random.Random(7))
    )
    first.handle(schedule_event(), FakeLambdaContext(2_500))
    [continuation] = env.spy.events()

    # The next invocation of the same function gets the continuation event and a fresh timeout.
    record = first.handle(continuation, FakeLambdaContext(60_000))
    assert record["status"] == "succeeded"
    assert [(a["attempt"], a["error_type"]) for a in record["attempts"]] == [(1, "ProviderDown"), (2, None)]
    assert json.loads(record["result"]) == {"ok": 2}
    assert env.sleeps and env.sleeps[0] > 0  # the continuation waited the backoff it was handed

    # A second delivery of the continuation does not run attempt 2 again.
    again = first.handle(continuation, FakeLambdaContext(60_000))
    assert again["status"] == "duplicate" and again["duplicate_of"] == record["run_id"]
    statuses = sorted(r["status"] for r in env.runs())
    assert statuses == ["duplicate", "succeeded"]


def test_continuation_that_cannot_be_invoked_fails_the_run_with_its_dlq_message(env: Env) -> None:
    env.spy.status = 500
    retry = {"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}
    wrapper = env.wrapper(
        FLAKY, payload={"fail_attempts": 1}, retry=retry, clock=Clock(sleep=env.sleeps.append, rng=random.Random(7))
    )
    record = wrapper.handle(schedule_event(), FakeLambdaContext(2_500))
    assert record["status"] == "failed" and env.runs()[0]["status"] == "failed"
    assert [m["status"] for m in env.dead_letters()] == ["failed"]


def test_job_past_the_soft_deadline_is_recorded_timed_out_with_dlq_message(env: Env) -> None:
    source = """
        import threading
        GATE = threading.Event()

        def handler(event, context):
            GATE.wait(30)
            return "too late"
    """
    wrapper = env.wrapper(source, safety_margin_ms=2_000, concurrency="forbid")
    gate = wrapper.job_function.__globals__["GATE"]
    try:
        record = wrapper.handle(schedule_event(), FakeLambdaContext(2_300, ticking=True))
    finally:
        gate.set()
    assert record["status"] == "timed_out"
    [stored] = env.runs()
    assert stored["status"] == "timed_out" and stored["finished_at"] is not None
    # The attempt ran until the soft deadline (how long that was depends on how long the wrapper's
    # own start took on this machine: a lower bound here would fail on a busy one).
    assert stored["attempts"][0]["error_type"] == "SoftDeadline" and stored["attempts"][0]["duration_ms"] > 0
    [message] = env.dead_letters()
    assert message["status"] == "timed_out" and message["run_id"] == record["run_id"]
    # The abandoned attempt may run until the hard kill: its lock stays until it expires.
    assert [r["holder"] for r in env.records() if r["run_id"] == "~lock"] == [record["run_id"]]


def test_abandoned_attempt_is_stopped_instead_of_running_on_in_the_next_invocation(env: Env) -> None:
    source = """
        import time
        PROGRESS = []

        def handler(event, context):
            try:
                while True:  # a busy job that never checks the time left
                    PROGRESS.append(1)
                    time.sleep(0.01)
            except Exception:
                PROGRESS.append("swallowed")  # AttemptAbandoned is not an Exception
                raise
    """
    wrapper = env.wrapper(source, safety_margin_ms=2_000)
    record = wrapper.handle(schedule_event(), FakeLambdaContext(2_200, ticking=True))
    assert record["status"] == "timed_out"
    for worker in [t for t in threading.enumerate() if t.name.startswith(f"cronplane-{record['run_id']}")]:
        worker.join(5)
        assert not worker.is_alive()
    progress = wrapper.job_function.__globals__["PROGRESS"]
    steps = len(progress)
    threading.Event().wait(0.1)
    assert len(progress) == steps and "swallowed" not in progress


def test_no_attempt_starts_inside_the_safety_margin(env: Env) -> None:
    source = """
        CALLS = []
        def handler(event, context):
            CALLS.append(1)
    """
    wrapper = env.wrapper(source, safety_margin_ms=2_000)
    record = wrapper.handle(schedule_event(), FakeLambdaContext(1_500))
    assert record["status"] == "timed_out" and wrapper.job_function.__globals__["CALLS"] == []


def test_same_firing_delivered_three_times_runs_once_and_records_each_extra_delivery(env: Env) -> None:
    source = """
        CALLS = []
        def handler(event, context):
            CALLS.append(context.run_id)
            return len(CALLS)
    """
    wrapper = env.wrapper(source)
    # A plain EventBridge scheduled event, delivered three times (at-least-once delivery); the
    # request ids share their first 8 characters, and the last one is a redelivered invocation.
    event = {
        "id": "7bf73129-1428",
        "source": "aws.events",
        "detail-type": "Scheduled Event",
        "time": "2026-11-27T09:00:00Z",
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/acme-job"],
    }
    first = wrapper.handle(event, FakeLambdaContext(request_id="aaaaaaaa-1111"))
    second = wrapper.handle(event, FakeLambdaContext(request_id="bbbbbbbb-2222"))
    third = wrapper.handle(event, FakeLambdaContext(request_id="bbbbbbbb-3333"))
    fourth = wrapper.handle(event, FakeLambdaContext(request_id="bbbbbbbb-3333"))

    assert wrapper.job_function.__globals__["CALLS"] == [first["run_id"]]
    assert first["status"] == "succeeded" and first["triggered_by"].endswith("rule/acme-job")
    for dup in (second, third, fourth):
        assert dup["status"] == "duplicate" and dup["duplicate_of"] == first["run_id"]
    assert second["run_id"] == f"{first['run_id']}~dup-bbbbbbbb-2222"
    assert third["run_id"] == f"{first['run_id']}~dup-bbbbbbbb-3333"
    assert fourth["run_id"].startswith(f"{first['run_id']}~dup-bbbbbbbb-3333-")
    stored = sorted((r["run_id"], r["status"]) for r in env.runs())
    assert stored == sorted(
        [(first["run_id"], "succeeded")] + [(d["run_id"], "duplicate") for d in (second, third, fourth)]
    )


def test_forbid_overlap_is_skipped_with_the_run_it_yielded_to(env: Env) -> None:
    source = """
        import threading
        STARTED, GATE = threading.Event(), threading.Event()

        def handler(event, context):
            STARTED.set()
            GATE.wait(30)
            return "done"
    """
    wrapper = env.wrapper(source, concurrency="forbid")
    started, gate = (wrapper.job_function.__globals__[n] for n in ("STARTED", "GATE"))
    results: list[dict] = []
    first = threading.Thread(
        target=lambda: results.append(wrapper.handle(schedule_event("evt-1"), FakeLambdaContext()))
    )
    first.start()
    try:
        assert started.wait(10)
        calls = count_calls(env.client("dynamodb"))
        skipped = wrapper.handle(schedule_event("evt-2", "2026-11-27T09:15:00Z"), FakeLambdaContext())
        # The holder comes back with the cancelled transaction: no read on the skip path.
        assert calls() == ["TransactWriteItems", "PutItem"]
    finally:
        gate.set()
        first.join(10)
    [done] = results
    assert done["status"] == "succeeded"
    assert skipped["status"] == "skipped" and skipped["yielded_to"] == done["run_id"]
    # The lock was released with the final record: the next firing runs.
    assert wrapper.handle(schedule_event("evt-3", "2026-11-27T09:30:00Z"), FakeLambdaContext())["status"] == "succeeded"
    assert sorted(r["status"] for r in env.runs()) == ["skipped", "succeeded", "succeeded"]


def test_forbid_takes_over_an_expired_lock(env: Env) -> None:
    ddb = env.client("dynamodb")
    ddb.put_item(
        TableName="acme-history",
        Item={
            "job": {"S": "acme-job"},
            "run_id": {"S": "~lock"},
            "holder": {"S": "20261126T000000Z-dead"},
            "expires_at": {"N": "1000"},
        },
    )
    record = env.wrapper(SUCCEED, concurrency="forbid").handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "succeeded"


def test_manual_run_uses_the_override_payload_and_records_who_triggered_it(env: Env) -> None:
    wrapper = env.wrapper(SUCCEED)
    event = {
        "cronplane": {
            "trigger": "manual",
            "run_id": "20261127T100000Z-mabc1234",
            "triggered_by": "arn:aws:iam::123456789012:user/ana",
            "payload": {"batch": 1},
        }
    }
    record = wrapper.handle(event, FakeLambdaContext())
    assert record["run_id"] == "20261127T100000Z-mabc1234" and record["trigger"] == "manual"
    assert record["triggered_by"] == "arn:aws:iam::123456789012:user/ana" and record["scheduled_for"] is None
    assert json.loads(record["result"])["got"] == {"batch": 1}


def test_job_receives_the_context_fields(env: Env) -> None:
    source = """
        def handler(event, context):
            return {
                "request_id": context.request_id, "aws_request_id": context.aws_request_id,
                "function_name": context.function_name, "memory": context.memory_limit_in_mb,
                "remaining": context.get_remaining_time_in_millis(), "run_id": context.run_id,
                "trigger": context.trigger, "attempt": context.attempt,
                "scheduled_for": context.scheduled_for.isoformat(), "job": context.job,
            }
    """
    record = env.wrapper(source).handle(schedule_event(), FakeLambdaContext(45_000, request_id="req-1"))
    assert json.loads(record["result"]) == {
        "request_id": "req-1",
        "aws_request_id": "req-1",
        "function_name": "acme-job",
        "memory": 256,
        "remaining": 45_000,
        "run_id": record["run_id"],
        "trigger": "schedule",
        "attempt": 1,
        "scheduled_for": "2026-11-27T09:00:00+00:00",
        "job": "acme-job",
    }


def test_result_is_trimmed_to_a_few_kb(env: Env) -> None:
    source = """
        def handler(event, context):
            return {"rows": ["x" * 100] * 500}
    """
    record = env.wrapper(source).handle({}, FakeLambdaContext())
    assert len(record["result"].encode()) <= 4096 and "truncated" in record["result"]


def test_one_emf_metric_line_per_run(env: Env) -> None:
    env.wrapper(SUCCEED).handle(schedule_event(), FakeLambdaContext())
    emf = [line for line in env.logged() if "_aws" in line]
    assert len(emf) == 1
    [metric] = emf
    directive = metric["_aws"]["CloudWatchMetrics"][0]
    # By cronplane namespace too: two namespaces' jobs of one name never share a metric (or an alarm).
    assert directive["Namespace"] == "cronplane" and directive["Dimensions"] == [["Namespace", "Job"]]
    assert metric["Namespace"] == "acme"
    assert {m["Name"] for m in directive["Metrics"]} >= {"Succeeded", "Failed", "TimedOut", "Duration"}
    assert (
        metric["Job"] == "acme-job" and metric["Succeeded"] == 1 and metric["Failed"] == 0 and metric["Duration"] >= 0
    )


def test_setup_failure_is_recorded_as_a_failed_run(env: Env) -> None:
    settings = env.settings("team_missing.job:handler")
    from cronplane.runtime import entry

    wrapper = entry.build(settings, env.client, clock=Clock(sleep=env.sleeps.append), emit=env.lines.append)
    record = wrapper.handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "failed" and len(record["attempts"]) == 1
    assert record["error"].startswith("RuntimeSetupError: could not import the job module 'team_missing.job'")
    assert [m["status"] for m in env.dead_letters()] == ["failed"]


def test_forbid_continuation_keeps_the_lock_across_the_hand_over(env: Env) -> None:
    retry = {"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10}
    wrapper = env.wrapper(
        FLAKY,
        payload={"fail_attempts": 1},
        retry=retry,
        concurrency="forbid",
        clock=Clock(sleep=env.sleeps.append, rng=random.Random(7)),
    )
    handed = wrapper.handle(schedule_event(), FakeLambdaContext(2_500))
    # Between the hand-over and the continuation, another firing still yields to this run.
    other = wrapper.handle(schedule_event("evt-2", "2026-11-27T09:15:00Z"), FakeLambdaContext())
    assert other["status"] == "skipped" and other["yielded_to"] == handed["run_id"]
    [continuation] = env.spy.events()
    done = wrapper.handle(continuation, FakeLambdaContext(60_000))
    assert done["status"] == "succeeded" and len(done["attempts"]) == 2
    assert [r for r in env.records() if r["run_id"] == "~lock"] == []


def test_dlq_replay_records_what_it_retries(env: Env) -> None:
    event = {
        "cronplane": {
            "trigger": "retry",
            "run_id": "20261127T110000Z-r1234567",
            "retry_of": "20261127T090000Z-abcd1234",
            "payload": {"batch": 2},
            "triggered_by": "arn:aws:iam::123456789012:user/ana",
        }
    }
    record = env.wrapper(SUCCEED).handle(event, FakeLambdaContext())
    assert (record["trigger"], record["retry_of"], record["status"]) == (
        "retry",
        "20261127T090000Z-abcd1234",
        "succeeded",
    )
    assert json.loads(record["result"])["got"] == {"batch": 2}


def test_the_example_invoice_sync_job_succeeds_on_its_retry(env: Env, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT_JOBS))
    settings = env.settings(
        "billing.invoice_sync:handler",
        payload={"fail_attempts": 1, "batch_size": 25},
        retry={
            "max_attempts": 3,
            "backoff_base": 1,
            "backoff_cap": 10,
            "retry_on": ["ConnectionError", "TimeoutError"],
        },
    )
    from cronplane.runtime import entry

    record = entry.build(settings, env.client, clock=Clock(sleep=env.sleeps.append), emit=env.lines.append).handle(
        schedule_event(), FakeLambdaContext()
    )
    assert record["status"] == "succeeded" and json.loads(record["result"]) == {"synced": 25, "attempt": 2}
    assert record["attempts"][0]["error_type"] == "ProviderUnavailable"


def test_async_job_functions_are_awaited(env: Env) -> None:
    source = """
        import asyncio

        async def handler(event, context):
            await asyncio.sleep(0)
            return {"async": True, "attempt": context.attempt}
    """
    record = env.wrapper(source).handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "succeeded" and json.loads(record["result"]) == {"async": True, "attempt": 1}
