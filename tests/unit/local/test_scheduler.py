"""The local scheduler: triggers read back from the (in-process moto) AWS APIs, fire times from
the schedule engine, and the exact input AWS would deliver at each firing."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.session import AwsConfig
from cronplane.local.deployed_triggers import fill_template, json_path, read_triggers
from cronplane.local.scheduler import MAX_CATCH_UP, LocalScheduler, ManualClock, ScaledClock, sqs_dead_letter

REGION = "eu-west-1"
FN = f"arn:aws:lambda:{REGION}:123456789012:function:acme-jobs-report"
RULE_TRANSFORMER = {
    "InputPathsMap": {"id": "$.id", "time": "$.time"},
    "InputTemplate": '{"cronplane": {"trigger": "schedule", "event_id": <id>, "scheduled_for": <time>}}',
}
SCHEDULER_INPUT = '{"cronplane": {"trigger": "schedule", "event_id": "<aws.scheduler.execution-id>", "scheduled_for": "<aws.scheduler.scheduled-time>"}}'


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, arn: str, payload: bytes) -> None:
        self.calls.append((arn, json.loads(payload)))


def make_scheduler(clock: ManualClock, invoke: Any = None, **kwargs: Any) -> tuple[LocalScheduler, Recorder]:
    recorder = Recorder()
    aws = AwsClient(AwsConfig(region=REGION))
    cache: dict[Any, Any] = {}
    sched = LocalScheduler(
        read=lambda: read_triggers(aws, cache),
        invoke=invoke or recorder,
        clock=clock,
        region=REGION,
        **kwargs,
    )
    return sched, recorder


def put_rule(name: str, expression: str, state: str = "ENABLED", **target: Any) -> str:
    events = boto3.client("events", region_name=REGION)
    arn = events.put_rule(Name=name, ScheduleExpression=expression, State=state)["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": FN, **target}])
    return str(arn)


def put_schedule(name: str, expression: str, tz: str | None = None, state: str = "ENABLED", **extra: Any) -> None:
    scheduler = boto3.client("scheduler", region_name=REGION)
    kwargs: dict[str, Any] = {"ScheduleExpressionTimezone": tz} if tz else {}
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=expression,
        State=state,
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": FN, "RoleArn": "arn:aws:iam::123456789012:role/sched", "Input": SCHEDULER_INPUT},
        **kwargs,
        **extra,
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_rule_fires_at_its_cron_times_with_the_input_transformer_applied(aws: None) -> None:
    put_rule("acme-jobs-report", "cron(0/5 * * * ? *)", InputTransformer=RULE_TRANSFORMER)
    clock = ManualClock(at("2026-11-27T09:01:00"))
    sched, calls = make_scheduler(clock)
    sched.refresh()
    assert sched.tick() == []
    clock.current = at("2026-11-27T09:05:00")
    [firing] = sched.tick()
    assert firing.scheduled_for == at("2026-11-27T09:05:00")
    [(arn, payload)] = calls.calls
    assert arn == FN
    event_id = payload["cronplane"].pop("event_id")
    uuid.UUID(event_id)  # a fresh event id per firing, as EventBridge gives
    assert payload == {"cronplane": {"trigger": "schedule", "scheduled_for": "2026-11-27T09:05:00Z"}}
    assert sched.tick() == []  # the same fire time is delivered once
    clock.advance(minutes=5)
    sched.tick()
    assert calls.calls[1][1]["cronplane"]["scheduled_for"] == "2026-11-27T09:10:00Z"
    assert calls.calls[1][1]["cronplane"]["event_id"] != event_id


def test_rate_counts_from_when_the_scheduler_first_sees_the_rule(aws: None) -> None:
    put_rule("acme-jobs-sync", "rate(15 minutes)", InputTransformer=RULE_TRANSFORMER)
    clock = ManualClock(at("2026-11-27T09:01:30"))
    sched, _calls = make_scheduler(clock)
    sched.refresh()
    clock.current = at("2026-11-27T09:16:29")
    assert sched.tick() == []
    clock.current = at("2026-11-27T09:16:30")
    [firing] = sched.tick()
    assert firing.scheduled_for == at("2026-11-27T09:16:30")


def test_rule_without_input_gets_the_whole_scheduled_event(aws: None) -> None:
    rule_arn = put_rule("plain", "cron(* * * * ? *)")
    clock = ManualClock(at("2026-11-27T09:00:30"))
    sched, calls = make_scheduler(clock, account="123456789012")
    sched.refresh()
    clock.current = at("2026-11-27T09:01:00")
    sched.tick()
    [(_, event)] = calls.calls
    assert event["source"] == "aws.events"
    assert event["detail-type"] == "Scheduled Event"
    assert event["time"] == "2026-11-27T09:01:00Z"
    assert event["resources"] == [rule_arn]
    assert event["region"] == REGION and event["account"] == "123456789012"
    assert event["detail"] == {}


def test_constant_input_and_input_path(aws: None) -> None:
    put_rule("constant", "cron(* * * * ? *)", Input='{"fixed": true}')
    boto3.client("events", region_name=REGION).put_rule(Name="path", ScheduleExpression="cron(* * * * ? *)")
    boto3.client("events", region_name=REGION).put_targets(
        Rule="path", Targets=[{"Id": "fn", "Arn": FN + "-2", "InputPath": "$.resources"}]
    )
    clock = ManualClock(at("2026-11-27T09:00:30"))
    sched, calls = make_scheduler(clock)
    sched.refresh()
    clock.advance(seconds=30)
    sched.tick()
    payloads = dict(calls.calls)
    assert payloads[FN] == {"fixed": True}
    assert payloads[FN + "-2"][0].endswith(":rule/path")


def test_scheduler_schedule_fires_in_its_timezone_with_context_attributes(aws: None) -> None:
    put_schedule("acme-jobs-nightly", "cron(0 9 * * ? *)", tz="Europe/Berlin")
    clock = ManualClock(at("2026-11-27T07:00:00"))
    sched, calls = make_scheduler(clock)
    sched.refresh()
    clock.current = at("2026-11-27T07:59:59")
    assert sched.tick() == []
    clock.current = at("2026-11-27T08:00:00")  # 09:00 in Berlin (CET, UTC+1)
    sched.tick()
    [(arn, payload)] = calls.calls
    assert arn == FN
    assert payload["cronplane"]["scheduled_for"] == "2026-11-27T08:00:00Z"
    uuid.UUID(payload["cronplane"]["event_id"])


def test_at_schedule_fires_once(aws: None) -> None:
    put_schedule("once", "at(2026-11-27T10:00:00)")
    clock = ManualClock(at("2026-11-27T09:00:00"))
    sched, calls = make_scheduler(clock)
    sched.refresh()
    clock.current = at("2026-11-28T10:00:00")
    sched.tick()
    sched.refresh()
    clock.advance(days=1)
    sched.tick()
    assert [p["cronplane"]["scheduled_for"] for _, p in calls.calls] == ["2026-11-27T10:00:00Z"]


def test_disabled_triggers_do_not_fire_and_resume_does_not_replay_missed_runs(aws: None) -> None:
    put_rule("paused", "cron(* * * * ? *)", state="DISABLED", InputTransformer=RULE_TRANSFORMER)
    put_schedule("paused-sched", "cron(* * * * ? *)", state="DISABLED")
    clock = ManualClock(at("2026-11-27T09:00:30"))
    sched, calls = make_scheduler(clock)
    sched.refresh()
    clock.advance(minutes=3)
    assert sched.tick() == []
    boto3.client("events", region_name=REGION).enable_rule(Name="paused")
    sched.refresh()
    assert sched.tick() == []  # the minutes missed while paused are not delivered
    clock.advance(minutes=1)
    assert [f.trigger.name for f in sched.tick()] == ["paused"]
    assert len(calls.calls) == 1


def test_changed_and_deleted_triggers_are_picked_up(aws: None) -> None:
    put_rule("changing", "cron(0 * * * ? *)", InputTransformer=RULE_TRANSFORMER)
    clock = ManualClock(at("2026-11-27T09:00:30"))
    sched, _calls = make_scheduler(clock)
    sched.refresh()
    boto3.client("events", region_name=REGION).put_rule(Name="changing", ScheduleExpression="cron(* * * * ? *)")
    sched.refresh()
    clock.current = at("2026-11-27T09:01:00")
    assert len(sched.tick()) == 1
    events = boto3.client("events", region_name=REGION)
    events.remove_targets(Rule="changing", Ids=["fn"])
    events.delete_rule(Name="changing")
    sched.refresh()
    clock.advance(minutes=5)
    assert sched.tick() == []


def test_a_clock_jump_fires_a_bounded_burst(aws: None, caplog: pytest.LogCaptureFixture) -> None:
    put_rule("minutely", "cron(* * * * ? *)", InputTransformer=RULE_TRANSFORMER)
    clock = ManualClock(at("2026-11-27T09:00:30"))
    sched, _calls = make_scheduler(clock)
    sched.refresh()
    clock.advance(hours=2)
    with caplog.at_level("WARNING", logger="cronplane.local.scheduler"):
        assert len(sched.tick()) == MAX_CATCH_UP
        clock.advance(minutes=1)
        assert len(sched.tick()) == 1  # then back to one per minute
        clock.advance(hours=1)
        assert len(sched.tick()) == MAX_CATCH_UP
    # One warning with the count, not one line per dropped firing (a flood at --time-scale 3600);
    # the second jump is within the quiet period: counted, reported with the next warning.
    [warning] = [r.getMessage() for r in caplog.records]
    assert f"minutely: skipped {120 - MAX_CATCH_UP} firings up to 2026-11-27T11:00:30Z" in warning


def test_failed_delivery_goes_to_the_target_dead_letter_queue(aws: None) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="report-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    put_rule("broken", "cron(* * * * ? *)", InputTransformer=RULE_TRANSFORMER, DeadLetterConfig={"Arn": dlq_arn})

    def failing_invoke(arn: str, payload: bytes) -> None:
        raise RuntimeError("function is gone")

    clock = ManualClock(at("2026-11-27T09:00:30"))
    sched, _ = make_scheduler(
        clock, invoke=failing_invoke, dead_letter=sqs_dead_letter(AwsClient(AwsConfig(region=REGION)))
    )
    sched.refresh()
    clock.advance(seconds=30)
    [firing] = sched.tick()
    assert firing.error == "RuntimeError: function is gone"
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(message["Body"])["cronplane"]["scheduled_for"] == "2026-11-27T09:01:00Z"
    assert message["MessageAttributes"]["ERROR_MESSAGE"]["StringValue"] == "RuntimeError: function is gone"


def test_run_loop_fires_as_the_clock_moves_and_stops_on_request(aws: None) -> None:
    put_rule("looped", "rate(1 minute)", InputTransformer=RULE_TRANSFORMER)
    clock = ManualClock(at("2026-11-27T09:00:00"))
    sched, calls = make_scheduler(clock, refresh_s=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=sched.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not sched.next_due() and time.monotonic() < deadline:
            time.sleep(0.01)
        clock.advance(minutes=1)
        while not calls.calls and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert [p["cronplane"]["scheduled_for"] for _, p in calls.calls] == ["2026-11-27T09:01:00Z"]


def test_fill_template_quotes_like_eventbridge() -> None:
    values = {"id": "abc", "n": 3, "obj": {"a": 1}}
    assert json.loads(fill_template('{"id": <id>, "n": <n>, "o": <obj>}', values)) == {
        "id": "abc",
        "n": 3,
        "o": {"a": 1},
    }
    assert json.loads(fill_template('{"text": "run <id> #<n>", "raw": "<unknown>"}', values)) == {
        "text": "run abc #3",
        "raw": "<unknown>",
    }
    assert fill_template('"<id> says \\"hi\\""', {"id": 'x"y'}) == '"x\\"y says \\"hi\\""'


def test_json_path_subset() -> None:
    doc = {"a": {"b": [10, {"c": "d"}]}, "detail-type": "Scheduled Event"}
    assert json_path(doc, "$") == doc
    assert json_path(doc, "$.a.b[1].c") == "d"
    assert json_path(doc, "$.detail-type") == "Scheduled Event"
    assert json_path(doc, "$.missing.x") is None
    with pytest.raises(ValueError):
        json_path(doc, "a.b")


def test_scaled_clock_maps_virtual_to_real_seconds() -> None:
    start = at("2026-11-27T09:00:00")
    clock = ScaledClock(60, start=start)
    assert clock.real_seconds(60) == 1.0
    assert clock.now() >= start
    with pytest.raises(ValueError):
        ScaledClock(0)
