"""The local scheduler of ``jobctl dev``: fires the EventBridge rules and Scheduler schedules
that live in the emulator, because moto stores them but never fires them.

It re-reads the triggers every ``refresh_s`` (``deployed_triggers.read_triggers``, so a pause / resume or
a redeploy is seen), computes fire times with the same engine as ``jobctl next``
(``cronplane.schedule.expression``), and at each fire time builds the exact input AWS would deliver
(``deployed_triggers.rule_target_input`` / ``scheduler_input``) and invokes the target asynchronously
through the emulator's Lambda Invoke path.

Time comes from a ``SchedulerClock``: ``ScaledClock`` runs faster than the wall clock (``--time-scale``)
so a per-minute job fires every second; ``ManualClock`` lets unit tests step through time.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from cronplane.aws.kinds.base import TriggerKind
from cronplane.local.deployed_triggers import (
    DeployedTrigger,
    Target,
    rule_target_input,
    scheduled_event,
    scheduler_input,
)
from cronplane.runtime.schema import iso

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.schedule.expression import Schedule

log = logging.getLogger(__name__)

MAX_CATCH_UP = 5  # firings of one trigger in one tick; more means the clock jumped, not a backlog
SKIP_WARNING_S = 10.0  # at most one "skipped N firings" warning per trigger this often


class SchedulerClock(Protocol):
    def now(self) -> datetime: ...

    def real_seconds(self, virtual: float) -> float:
        """How long to wait on the wall clock for ``virtual`` seconds of this clock to pass."""
        ...


class ScaledClock:
    """Wall-clock time, optionally running ``scale`` times faster from the moment it is made."""

    def __init__(self, scale: float = 1.0, start: datetime | None = None) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self.start = start or datetime.now(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._t0) * self.scale)

    def real_seconds(self, virtual: float) -> float:
        return virtual / self.scale


class ManualClock:
    """A clock that moves only when told to (tests)."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        self.current += timedelta(**delta)
        return self.current

    def real_seconds(self, virtual: float) -> float:
        return 0.0


@dataclass(frozen=True)
class DueFiring:
    """One delivery the scheduler made (or tried to make)."""

    trigger: DeployedTrigger
    target: Target
    scheduled_for: datetime
    payload: str
    error: str | None = None


Invoke = Callable[[str, bytes], None]  # (function ARN, payload) -> None; raises on failure
DeadLetter = Callable[[str, str, str], None]  # (queue ARN, payload, error message)


# -- the firing loop -------------------------------------------------------------------------


@dataclass
class _Tracked:
    trigger: DeployedTrigger
    schedule: Schedule
    anchor: datetime
    next_at: datetime | None
    fired: int = 0
    skipped: int = 0  # firings dropped since the last warning about them
    warned_at: float = float("-inf")  # monotonic time of that warning


@dataclass
class LocalScheduler:
    """Keeps each trigger's next fire time and delivers its input when the clock reaches it."""

    read: Callable[[], list[DeployedTrigger]]
    invoke: Invoke
    clock: SchedulerClock
    account: str = "123456789012"
    region: str = "us-east-1"
    dead_letter: DeadLetter | None = None
    on_fire: Callable[[DueFiring], None] | None = None
    refresh_s: float = 1.0
    _tracked: dict[tuple[str, str, str], _Tracked] = field(default_factory=dict)

    def refresh(self) -> None:
        """Re-read the triggers: new ones start their calendar now (rate() counts from here, as
        AWS counts from a rule's creation); removed ones stop; pause/resume takes effect."""
        now = self.clock.now()
        seen = set()
        for trigger in self.read():
            seen.add(trigger.key)
            tracked = self._tracked.get(trigger.key)
            if tracked is not None and tracked.trigger.timing == trigger.timing:
                if trigger.enabled and not tracked.trigger.enabled:
                    tracked.next_at = self._next_after(tracked, now)  # no burst of missed runs on resume
                tracked.trigger = trigger
                continue
            schedule = self._parse(trigger)
            if schedule is None:
                self._tracked.pop(trigger.key, None)
                continue
            tracked = _Tracked(trigger, schedule, anchor=now, next_at=None)
            tracked.next_at = self._next_after(tracked, now)
            self._tracked[trigger.key] = tracked
        for key in set(self._tracked) - seen:
            del self._tracked[key]

    def tick(self) -> list[DueFiring]:
        """Deliver every firing that is due; returns what was delivered."""
        now = self.clock.now()
        firings: list[DueFiring] = []
        for tracked in list(self._tracked.values()):
            burst = 0
            while tracked.next_at is not None and tracked.next_at <= now:
                due = tracked.next_at
                tracked.next_at = self._next_after(tracked, due)
                if not tracked.trigger.enabled:
                    continue  # a disabled trigger keeps its calendar but delivers nothing
                if burst >= MAX_CATCH_UP:
                    tracked.skipped += 1
                    continue
                burst += 1
                firings.extend(self._fire(tracked.trigger, due))
            self._warn_skipped(tracked, now)
        return firings

    def _warn_skipped(self, tracked: _Tracked, now: datetime) -> None:
        """One warning per trigger every SKIP_WARNING_S at most, with the count: at a high
        --time-scale the dropped firings would otherwise flood the terminal."""
        if not tracked.skipped or time.monotonic() - tracked.warned_at < SKIP_WARNING_S:
            return
        log.warning(
            "%s: skipped %d firing%s up to %s: the schedule clock moved faster than runs could be started "
            "(a lower --time-scale avoids this)",
            tracked.trigger.name,
            tracked.skipped,
            "" if tracked.skipped == 1 else "s",
            iso(now),
        )
        tracked.skipped, tracked.warned_at = 0, time.monotonic()

    def next_due(self) -> datetime | None:
        times = [t.next_at for t in self._tracked.values() if t.next_at is not None and t.trigger.enabled]
        return min(times) if times else None

    def run(self, stop: threading.Event) -> None:
        """Loop until ``stop`` is set: refresh every ``refresh_s`` seconds, fire what is due."""
        last_refresh = float("-inf")
        while not stop.is_set():
            if time.monotonic() - last_refresh >= self.refresh_s:
                try:
                    self.refresh()
                except Exception as exc:  # the emulator may be reloading; try again next round
                    log.warning("could not read triggers: %s", exc)
                last_refresh = time.monotonic()
            self.tick()
            wait = self.refresh_s
            due = self.next_due()
            if due is not None:
                wait = min(wait, self.clock.real_seconds((due - self.clock.now()).total_seconds()))
            stop.wait(max(0.01, wait))

    def _fire(self, trigger: DeployedTrigger, scheduled_for: datetime) -> list[DueFiring]:
        firings = []
        for target in trigger.targets:
            if not target.is_lambda:
                continue
            if trigger.kind is TriggerKind.RULE:
                payload = rule_target_input(
                    trigger, target, scheduled_event(trigger, scheduled_for, self.account, self.region)
                )
            else:
                payload = scheduler_input(trigger, target, scheduled_for, execution_id=str(uuid.uuid4()))
            error = None
            try:
                self.invoke(target.arn, payload.encode())
            except Exception as exc:  # delivery failed: AWS sends the event to the target's DLQ
                error = f"{type(exc).__name__}: {exc}"
                log.warning("%s: delivery to %s failed: %s", trigger.name, target.arn, error)
                if target.dead_letter_arn and self.dead_letter is not None:
                    self.dead_letter(target.dead_letter_arn, payload, error)
            firing = DueFiring(trigger, target, scheduled_for, payload, error)
            firings.append(firing)
            if self.on_fire is not None:
                self.on_fire(firing)
        return firings

    def _next_after(self, tracked: _Tracked, after: datetime) -> datetime | None:
        trigger = tracked.trigger
        if trigger.start_date and after < trigger.start_date:
            after = trigger.start_date - timedelta(microseconds=1)
        times = tracked.schedule.next_fire_times(after, 1, anchor=tracked.anchor)
        if not times:
            return None
        nxt = times[0].astimezone(UTC)
        if trigger.end_date and nxt > trigger.end_date:
            return None
        return nxt

    def _parse(self, trigger: DeployedTrigger) -> Schedule | None:
        from cronplane.schedule.expression import parse_schedule

        try:
            return parse_schedule(trigger.expression, trigger.timezone, now=self.clock.now())
        except Exception as exc:  # never let one odd trigger stop the others
            log.warning("%s %s: cannot schedule %r: %s", trigger.kind.value, trigger.name, trigger.expression, exc)
            return None


def lambda_invoker(aws: AwsClient) -> Invoke:
    """Deliver through the emulator's Invoke path, as EventBridge does: asynchronously."""

    def invoke(function_arn: str, payload: bytes) -> None:
        aws.lambda_.invoke(FunctionName=function_arn, InvocationType="Event", Payload=payload)

    return invoke


def sqs_dead_letter(aws: AwsClient) -> DeadLetter:
    """EventBridge's delivery DLQ: the event plus why it could not be delivered."""

    def send(queue_arn: str, payload: str, error: str) -> None:
        parts = queue_arn.split(":")
        url = aws.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        aws.sqs.send_message(
            QueueUrl=url,
            MessageBody=payload,
            MessageAttributes={
                "ERROR_CODE": {"DataType": "String", "StringValue": "DeliveryFailed"},
                "ERROR_MESSAGE": {"DataType": "String", "StringValue": error[:256]},
            },
        )

    return send
