"""Event -> Firing: which trigger, which run id, which payload."""

from __future__ import annotations

from datetime import UTC, datetime

from cronplane.runtime.firing import Firing
from cronplane.runtime.schema import Trigger, parse_iso, scheduled_run_id

NOW = datetime(2026, 11, 27, 16, 0, 5, tzinfo=UTC)
DEFAULT = {"batch": 5}
R1 = "20261127T150000Z-m1234567"  # a manual run id
R3 = "20261127T150500Z-r89abcde"  # a DLQ replay's run id


def test_scheduler_envelope_derives_the_run_id_from_execution_id_and_time() -> None:
    event = {"cronplane": {"trigger": "schedule", "event_id": "exec-42", "scheduled_for": "2026-11-27T09:00:00Z"}}
    firing = Firing.from_event(event, DEFAULT, NOW)
    assert firing.trigger is Trigger.SCHEDULE and firing.payload == DEFAULT
    assert firing.run_id == scheduled_run_id(parse_iso("2026-11-27T09:00:00Z"), "exec-42")
    assert firing.run_id.startswith("20261127T090000Z-")
    # Every delivery of one firing, and only of that firing, gets this id.
    assert Firing.from_event(event, DEFAULT, NOW).run_id == firing.run_id
    other = {"cronplane": {**event["cronplane"], "event_id": "exec-43"}}
    assert Firing.from_event(other, DEFAULT, NOW).run_id != firing.run_id


def test_plain_eventbridge_scheduled_event_is_a_schedule_firing() -> None:
    event = {"id": "abc", "source": "aws.events", "time": "2026-11-27T09:15:00Z", "resources": ["arn:rule/x"]}
    firing = Firing.from_event(event, DEFAULT, NOW)
    assert firing.trigger is Trigger.SCHEDULE and firing.triggered_by == "arn:rule/x"
    assert firing.scheduled_for == datetime(2026, 11, 27, 9, 15, tzinfo=UTC)
    assert firing.run_id == scheduled_run_id(firing.scheduled_for, "abc") and firing.payload == DEFAULT


def test_unsubstituted_scheduler_attributes_fall_back_to_now_and_a_fresh_id() -> None:
    event = {
        "cronplane": {
            "trigger": "schedule",
            "event_id": "<aws.scheduler.execution-id>",
            "scheduled_for": "<aws.scheduler.scheduled-time>",
        }
    }
    firing = Firing.from_event(event, DEFAULT, NOW)
    assert firing.scheduled_for == NOW and firing.run_id.startswith("20261127T160005Z-s")


def test_any_other_event_is_a_manual_run_with_that_payload() -> None:
    firing = Firing.from_event({"invoices": [1, 2]}, DEFAULT, NOW)
    assert firing.trigger is Trigger.MANUAL and firing.payload == {"invoices": [1, 2]}
    assert firing.run_id.startswith("20261127T160005Z-m")
    # `aws lambda invoke` with no payload runs the job's configured payload.
    assert Firing.from_event({}, DEFAULT, NOW).payload == DEFAULT


def test_manual_backfill_and_retry_envelopes_carry_their_run_ids() -> None:
    manual = Firing.from_event(
        {"cronplane": {"trigger": "manual", "run_id": R1, "triggered_by": "arn:user/ana", "payload": {"x": 1}}},
        DEFAULT,
        NOW,
    )
    assert (manual.run_id, manual.triggered_by, manual.payload, manual.scheduled_for) == (
        R1,
        "arn:user/ana",
        {"x": 1},
        None,
    )
    backfill = Firing.from_event(
        {
            "cronplane": {
                "trigger": "backfill",
                "run_id": "20261126T090000Z-backfill",
                "scheduled_for": "2026-11-26T09:00:00Z",
            }
        },
        DEFAULT,
        NOW,
    )
    assert backfill.trigger is Trigger.BACKFILL and backfill.payload == DEFAULT and backfill.scheduled_for.day == 26
    retry = Firing.from_event(
        {"cronplane": {"trigger": "retry", "run_id": R3, "retry_of": "R0", "payload": {"y": 2}}}, DEFAULT, NOW
    )
    assert (retry.trigger, retry.retry_of, retry.payload) == (Trigger.RETRY, "R0", {"y": 2})
    assert Firing.from_event({"cronplane": {"trigger": "manual"}}, DEFAULT, NOW).run_id.startswith("20261127T160005Z-m")


def test_continuation_envelope_round_trips() -> None:
    first = Firing.from_event({"cronplane": {"trigger": "manual", "run_id": R1, "payload": {"x": 1}}}, DEFAULT, NOW)
    attempts = [{"attempt": 1, "duration_ms": 10, "error_type": "E"}]
    event = first.envelope_for_attempt(2, attempts, "2026-11-27T16:00:05Z", 1500)
    again = Firing.from_event(event, DEFAULT, NOW)
    assert (again.run_id, again.attempt, again.continuation, again.backoff_ms) == (R1, 2, True, 1500)
    assert (
        list(again.prior_attempts) == attempts
        and again.payload == {"x": 1}
        and again.started_at == NOW.replace(second=5)
    )
    # The DLQ keeps the envelope as first delivered, without the hand-over bookkeeping.
    assert again.original_event == {"cronplane": {"trigger": "manual", "run_id": R1, "payload": {"x": 1}}}


def test_continuation_of_a_plain_manual_event_keeps_its_payload() -> None:
    first = Firing.from_event({"invoices": [1]}, DEFAULT, NOW)
    again = Firing.from_event(first.envelope_for_attempt(2, [], "2026-11-27T16:00:05Z", 0), DEFAULT, NOW)
    assert again.payload == {"invoices": [1]} and again.run_id == first.run_id and again.trigger is Trigger.MANUAL
