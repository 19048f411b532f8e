"""The watchdog's check (``ops.watchdog.run_pass``) on moto in-process, with fixed clocks: what
it alerts (late, missed, lost, recovered), exactly once per event, one notification per job
and kind however many fire times it lists; what it never reports (paused periods, fire times
before the watch start, kinds the job's ``on`` leaves out, disabled jobs)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from ops_fixtures import put_run
from watch_fixtures import EMAIL, TABLE, Namespace, config, utc, watched

from cronplane.ops.watch_reads import read_job
from cronplane.runtime.schema import (
    AlertRecord,
    PauseAction,
    PauseEvent,
    PauseMarker,
    RunRecord,
    WatchStart,
    alert_sort_key,
    to_item,
)

# Each test twice: reading every partition, and reading the index first.
pytestmark = pytest.mark.usefixtures("both_readings")
START = utc("2026-11-27T09:00:30Z")  # the first pass: the watch starts here
EVERY_10_MIN = "cron(0/10 * * * ? *)"


def kinds(docs: list[dict]) -> list[tuple[str, str, list[str]]]:
    return [(d["job"], d["kind"], d["fire_times"]) for d in docs]


def test_the_first_pass_starts_the_watch_and_reports_nothing(namespace: Namespace) -> None:
    cfg = config(watched())
    report = namespace.watch(cfg, START)
    assert (report.sent, report.open, report.errors) == ((), (), ())
    items = read_job(namespace.dynamodb, TABLE, "report", START - timedelta(hours=1))
    assert items.watch == WatchStart("report", "2026-11-27T09:00:30Z", "cron(0 * * * ? *) UTC")
    assert namespace.published() == []


def test_two_missed_fire_times_make_one_missed_alert_and_a_second_pass_adds_nothing(namespace: Namespace) -> None:
    cfg = config(watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120))
    namespace.watch(cfg, START)
    report = namespace.watch(cfg, utc("2026-11-27T09:23:00Z"))
    docs = namespace.published()
    assert kinds(docs) == [("report", "missed", ["2026-11-27T09:10:00Z", "2026-11-27T09:20:00Z"])]
    assert docs[0]["namespace"] == "acme-jobs" and "jobctl audit report" in docs[0]["next_steps"][0]
    assert [(n.kind, n.events, n.accepted) for n in report.sent] == [
        ("missed", ("2026-11-27T09:10:00Z", "2026-11-27T09:20:00Z"), (EMAIL,))
    ]
    assert [(a.kind, a.since, len(a.events)) for a in report.open] == [("missed", "2026-11-27T09:10:00Z", 2)]
    again = namespace.watch(cfg, utc("2026-11-27T09:24:00Z"))
    assert again.sent == () and namespace.published() == []
    assert [a.kind for a in again.open] == ["missed"]  # still open: nothing has run


def test_a_per_minute_job_missing_ten_fires_gets_one_alert_listing_them(namespace: Namespace) -> None:
    cfg = config(watched(schedule="cron(* * * * ? *)", late_after_s=60, missed_after_s=120))
    namespace.watch(cfg, utc("2026-11-27T09:00:00Z"))
    namespace.watch(cfg, utc("2026-11-27T09:12:00Z"))
    docs = namespace.published()
    assert len(docs) == 1 and docs[0]["kind"] == "missed"
    assert docs[0]["fire_times"] == [f"2026-11-27T09:{m:02d}:00Z" for m in range(1, 11)]
    for minute in range(13, 23):  # a pass every minute: the episode is open, nobody is paged again
        assert namespace.watch(cfg, utc(f"2026-11-27T09:{minute}:00Z")).sent == ()
    assert namespace.published() == []


def test_late_first_then_one_missed_replacing_it(namespace: Namespace) -> None:
    cfg = config(watched())  # hourly; late after 5 min, missed after 30
    namespace.watch(cfg, utc("2026-11-27T08:59:00Z"))
    namespace.watch(cfg, utc("2026-11-27T09:06:00Z"))
    assert kinds(namespace.published()) == [("report", "late", ["2026-11-27T09:00:00Z"])]
    namespace.watch(cfg, utc("2026-11-27T09:10:00Z"))
    assert namespace.published() == []
    report = namespace.watch(cfg, utc("2026-11-27T09:31:00Z"))
    assert kinds(namespace.published()) == [("report", "missed", ["2026-11-27T09:00:00Z"])]
    assert [(a.kind, a.events) for a in report.open] == [("missed", ("2026-11-27T09:00:00Z",))]  # not late too


def test_a_success_after_a_failure_sends_one_recovered(namespace: Namespace) -> None:
    cfg = config(watched())
    namespace.watch(cfg, utc("2026-11-27T08:00:00Z"))
    failed = put_run(
        namespace.dynamodb,
        "report",
        "20261127T090000Z-aaaa0001",
        status="failed",
        scheduled_for=utc("2026-11-27T09:00:00Z"),
        started_at=utc("2026-11-27T09:00:01Z"),
        error="ValueError: boom",
    )
    report = namespace.watch(cfg, utc("2026-11-27T09:01:00Z"))
    # The wrapper told the routes when the run failed: the watchdog records it, sends nothing.
    assert report.sent == () and namespace.published() == []
    assert [(a.kind, a.events, a.by, a.told) for a in report.open] == [
        ("failed", (failed["run_id"],), "wrapper", (EMAIL,))
    ]
    put_run(
        namespace.dynamodb,
        "report",
        "20261127T100000Z-aaaa0002",
        scheduled_for=utc("2026-11-27T10:00:00Z"),
        started_at=utc("2026-11-27T10:00:01Z"),
    )
    report = namespace.watch(cfg, utc("2026-11-27T10:01:00Z"))
    docs = namespace.published()
    assert [(d["kind"], d["run_id"]) for d in docs] == [("recovered", "20261127T100000Z-aaaa0002")]
    assert report.open == ()
    assert namespace.watch(cfg, utc("2026-11-27T10:02:00Z")).sent == ()
    assert namespace.published() == []


def test_failure_and_success_between_two_passes_still_send_recovered(namespace: Namespace) -> None:
    cfg = config(watched(schedule="cron(* * * * ? *)"))
    namespace.watch(cfg, utc("2026-11-27T09:00:00Z"))
    put_run(
        namespace.dynamodb,
        "report",
        "20261127T090100Z-aaaa0001",
        status="timed_out",
        scheduled_for=utc("2026-11-27T09:01:00Z"),
        started_at=utc("2026-11-27T09:01:00Z"),
    )
    put_run(
        namespace.dynamodb,
        "report",
        "20261127T090200Z-aaaa0002",
        scheduled_for=utc("2026-11-27T09:02:00Z"),
        started_at=utc("2026-11-27T09:02:00Z"),
    )
    namespace.watch(cfg, utc("2026-11-27T09:02:30Z"))
    assert [d["kind"] for d in namespace.published()] == ["recovered"]


def test_a_lost_run_is_alerted_once(namespace: Namespace) -> None:
    cfg = config(watched())
    namespace.watch(cfg, utc("2026-11-27T08:00:00Z"))
    put_run(
        namespace.dynamodb,
        "report",
        "20261127T090000Z-aaaa0001",
        status="running",
        scheduled_for=utc("2026-11-27T09:00:00Z"),
        started_at=utc("2026-11-27T09:00:01Z"),
        deadline="2026-11-27T09:05:01Z",
    )
    assert namespace.watch(cfg, utc("2026-11-27T09:05:30Z")).sent == ()  # within the lost grace
    namespace.watch(cfg, utc("2026-11-27T09:07:00Z"))
    docs = namespace.published()
    assert [(d["kind"], d["run_id"], d["fire_times"]) for d in docs] == [
        ("lost", "20261127T090000Z-aaaa0001", ["2026-11-27T09:00:00Z"])
    ]
    assert any("jobctl dlq replay report" in step for step in docs[0]["next_steps"])
    assert namespace.watch(cfg, utc("2026-11-27T09:08:00Z")).sent == ()


def test_fire_times_before_the_watch_start_are_never_reported(namespace: Namespace) -> None:
    cfg = config(watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120))
    # Deployed at 09:25 (first pass): 09:00 .. 09:20 had no runs, and are not this job's misses.
    namespace.watch(cfg, utc("2026-11-27T09:25:00Z"))
    report = namespace.watch(cfg, utc("2026-11-27T09:26:00Z"))
    assert (report.sent, report.open) == ((), ())
    namespace.watch(cfg, utc("2026-11-27T09:33:00Z"))
    assert kinds(namespace.published()) == [("report", "missed", ["2026-11-27T09:30:00Z"])]


def test_a_new_schedule_starts_the_watch_anew(namespace: Namespace) -> None:
    namespace.watch(config(watched(schedule=EVERY_10_MIN)), utc("2026-11-27T08:00:00Z"))
    cfg = config(watched(schedule="cron(5 * * * ? *)"))
    assert namespace.watch(cfg, utc("2026-11-27T10:00:00Z")).sent == ()  # its old fires are not this one's
    items = read_job(namespace.dynamodb, TABLE, "report", utc("2026-11-27T08:00:00Z"))
    assert items.watch is not None and items.watch.since == "2026-11-27T10:00:00Z"


def test_paused_periods_are_not_reported(namespace: Namespace) -> None:
    cfg = config(watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120))
    namespace.watch(cfg, utc("2026-11-27T09:00:00Z"))
    paused_at = utc("2026-11-27T09:05:00Z")
    event = PauseEvent.new("report", PauseAction.PAUSE, "alice", paused_at, retention_days=30, trigger="rule")
    namespace.put(to_item(event))
    namespace.put(to_item(PauseMarker("report", "alice", "2026-11-27T09:05:00Z")))
    report = namespace.watch(cfg, utc("2026-11-27T09:45:00Z"))
    assert (report.sent, report.open, namespace.published()) == ((), (), [])


def test_only_the_kinds_the_job_names_and_never_a_disabled_job(namespace: Namespace) -> None:
    only_missed = watched(schedule=EVERY_10_MIN, on=("missed",), late_after_s=60, missed_after_s=1200)
    off = watched("off", schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120, enabled=False)
    cfg = config(only_missed, off)
    namespace.watch(cfg, utc("2026-11-27T09:00:00Z"))
    report = namespace.watch(cfg, utc("2026-11-27T09:15:00Z"))  # 09:10 is late, but late is not asked for
    assert (report.sent, report.jobs) == ((), ("report",))
    namespace.watch(cfg, utc("2026-11-27T09:31:00Z"))
    assert kinds(namespace.published()) == [("report", "missed", ["2026-11-27T09:10:00Z"])]


def test_an_event_recorded_by_another_pass_is_not_sent_again(namespace: Namespace) -> None:
    cfg = config(watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120))
    namespace.watch(cfg, START)
    now = utc("2026-11-27T09:13:00Z")
    # A concurrent pass got there first: its record makes this pass's conditional put fail.
    other = AlertRecord.new(
        "report",
        "missed",
        "2026-11-27T09:10:00Z",
        moment=utc("2026-11-27T09:10:00Z"),
        now=now,
        retention_days=30,
        routes=(EMAIL,),
        told=True,
    )
    assert namespace.watch(cfg, now, act=False).open[0].pending  # `jobctl alerts` sees it unsent...
    namespace.put(to_item(other))
    assert namespace.watch(cfg, now).sent == ()  # ... and this pass leaves it to the other one
    assert namespace.published() == []


def test_a_miss_the_job_has_run_past_is_reported_with_that_and_closes_quietly(namespace: Namespace) -> None:
    cfg = config(watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120))
    namespace.watch(cfg, START)
    put_run(
        namespace.dynamodb,
        "report",
        "20261127T092000Z-aaaa0001",
        scheduled_for=utc("2026-11-27T09:20:00Z"),
        started_at=utc("2026-11-27T09:20:01Z"),
    )
    namespace.watch(cfg, utc("2026-11-27T09:21:00Z"))  # 09:10 never ran; 09:20 did
    docs = namespace.published()
    assert kinds(docs) == [("report", "missed", ["2026-11-27T09:10:00Z"])]
    assert "succeeded since: run 20261127T092000Z-aaaa0001" in docs[0]["error"]
    assert namespace.watch(cfg, utc("2026-11-27T09:22:00Z")).open == ()
    assert namespace.published() == []  # no "recovered" for an alert that said so itself


def test_a_route_that_fails_is_not_recorded_as_told(namespace: Namespace) -> None:
    cfg = config(
        watched(schedule=EVERY_10_MIN, routes=(EMAIL, "webhook:ssm:/billing/hook"), late_after_s=60, missed_after_s=120)
    )
    namespace.watch(cfg, START)
    namespace.secrets["ssm:/billing/hook"] = "http://example.com/hook"  # plain http off this machine: refused
    report = namespace.watch(cfg, utc("2026-11-27T09:13:00Z"))
    (notice,) = report.sent
    assert notice.accepted == (EMAIL,) and notice.failed[0].startswith("webhook:ssm:/billing/hook: the URL")
    items = read_job(namespace.dynamodb, TABLE, "report", START)
    (record,) = [r for r in items.alerts if r.sort_key == alert_sort_key("missed", "2026-11-27T09:10:00Z")]
    assert record.routes == (EMAIL,) and "webhook:ssm:/billing/hook" in (record.note or "")


def test_a_job_that_cannot_be_read_does_not_silence_the_others(namespace: Namespace) -> None:
    good = watched(schedule=EVERY_10_MIN, late_after_s=60, missed_after_s=120)
    bad = watched("bad", schedule=EVERY_10_MIN)
    namespace.watch(config(good, bad), START)
    # A run record of the bad job that no reader can make sense of (a fire time that is no time).
    bad_run = RunRecord("bad", "20261127T091000Z-aaaa0001", "succeeded", "schedule", scheduled_for="not a time")
    namespace.put(to_item(bad_run._replace(started_at="2026-11-27T09:10:01Z")))
    report = namespace.watch(config(good, bad), utc("2026-11-27T09:13:00Z"))
    assert [n.job for n in report.sent] == ["report"]
    assert len(report.errors) == 1 and report.errors[0].startswith("bad: ")


def test_a_start_window_is_part_of_the_grace(namespace: Namespace) -> None:
    """Scheduler may start a job with ``start_window: 10`` up to 10 minutes after its time: its
    late and missed graces count from the end of that window."""
    cfg = config(replace(watched(), start_window_s=600))  # hourly; late after 5m, missed after 30m
    namespace.watch(cfg, utc("2026-11-27T08:59:00Z"))
    namespace.watch(cfg, utc("2026-11-27T09:06:00Z"))
    namespace.watch(cfg, utc("2026-11-27T09:14:00Z"))
    assert namespace.published() == []  # without the window: late at 09:05
    namespace.watch(cfg, utc("2026-11-27T09:16:00Z"))
    (late,) = namespace.published()
    assert (late["kind"], late["fire_times"]) == ("late", ["2026-11-27T09:00:00Z"])
    assert late["error"].startswith("not started 15m after its fire time (10m start window included)")
    namespace.watch(cfg, utc("2026-11-27T09:39:00Z"))
    assert namespace.published() == []  # without the window: missed at 09:30
    namespace.watch(cfg, utc("2026-11-27T09:41:00Z"))
    assert kinds(namespace.published()) == [("report", "missed", ["2026-11-27T09:00:00Z"])]
