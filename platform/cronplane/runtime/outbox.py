"""What a run sends out besides the job's own work: history writes, the hand-over to a
continuation, the DLQ message. ``Wrapper`` decides what to send; ``Outbox`` sends it within the
time left before Lambda's hard kill, and when something cannot go out, puts it in the log so
that it is never silently dropped.

Time is ``monotonic()`` seconds (``until``); every call is bounded twice: its retries by the
store / dispatcher (no try starts that could not finish by ``until``) and its wait by
``budget.call_within`` (a call hanging in a socket read is abandoned at ``until``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any

from cronplane.runtime.budget import FINAL_RESERVE_MS, OutOfTime, call_within
from cronplane.runtime.dispatch import Dispatcher, InvokeOutcomeUnknown
from cronplane.runtime.exceptions import RunExists
from cronplane.runtime.runlog import RunLog, describe
from cronplane.runtime.schema import RunRecord
from cronplane.runtime.secrets import Scrubber
from cronplane.runtime.store import RunStore


class HandOver(str, Enum):
    """How a hand-over to a continuation went."""

    DONE = "done"  # ``retrying`` recorded and the invoke accepted: the continuation owns the run
    NOT_RECORDED = "not_recorded"  # ``retrying`` not recorded, so nothing was invoked
    NOT_INVOKED = "not_invoked"  # ``retrying`` recorded; Lambda refused the invoke
    # ``retrying`` recorded; the invoke may have landed (its answer was lost): a continuation
    # may be running, so the run may only be ended by a write conditional on the record.
    UNKNOWN = "unknown"


class Outbox:
    def __init__(
        self, store: RunStore, dispatcher: Dispatcher, log: RunLog, scrubber: Scrubber, monotonic: Callable[[], float]
    ) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.log = log
        self.scrubber = scrubber
        self.monotonic = monotonic

    # ------------------------------------------------------------------ time budgets

    def until(self, ms: int) -> float:
        """The ``monotonic()`` time ``ms`` from now."""
        return self.monotonic() + max(0, ms) / 1000

    def final_until(self, remaining_ms: int) -> float:
        """By when the final writes must be done: before the hard kill, with a small reserve."""
        return self.until(remaining_ms - FINAL_RESERVE_MS)

    def share(self, until: float, fraction: float = 0.5) -> float:
        now = self.monotonic()
        return now + max(0.0, until - now) * fraction

    def seconds_to(self, until: float) -> float:
        return until - self.monotonic()

    # ------------------------------------------------------------------ history

    def write(self, write: Callable[[], None], record: RunRecord, until: float) -> bool:
        """One history write, abandoned when it has not finished by ``until``. ``RunExists``
        (a conditional write that lost) is the caller's; anything else logs the record."""
        try:
            call_within(write, self.seconds_to(until), name=f"cronplane-{record.run_id}-history")
            return True
        except RunExists:
            raise
        except OutOfTime as exc:
            self.log.line(
                "error",
                "history table too slow for the time left; record follows",
                run_id=record.run_id,
                error=describe(exc),
            )
        except Exception as exc:
            self.log.line(
                "error", "history table unwritable; record follows", run_id=record.run_id, error=describe(exc)
            )
        self.log_record(record)
        return False

    def add(self, record: RunRecord, remaining_ms: int) -> bool:
        """Write a marker record (``duplicate`` / ``skipped``); False when its run id exists."""
        try:
            self.store.add(record, until=self.final_until(remaining_ms))
        except RunExists:
            return False
        except Exception as exc:
            self.log.line("error", "history table unwritable", run_id=record.run_id, error=describe(exc))
            self.log_record(record)
        return True

    def log_record(self, record: RunRecord) -> None:
        self.log.line("error", "run record (not in the history table)", run_id=record.run_id, record=record.as_dict())

    # ------------------------------------------------------------------ continuation

    def hand_over(self, record: RunRecord, target: str, event: Mapping[str, Any], remaining_ms: int) -> HandOver:
        """Record ``retrying``, then invoke ``target`` with the continuation ``event``. The record
        goes first, so the continuation always finds it waiting. Each gets at most a third of the
        time left, so that the failure's own record and DLQ message still fit after them. An
        invoke whose answer was lost is not tried again (``HandOver.UNKNOWN``): it may have
        landed, and the caller must not end the run behind a running continuation's back."""
        until = self.final_until(remaining_ms)
        record_until = self.share(until, 1 / 3)
        name = f"cronplane-{record.run_id}-handover"
        try:
            call_within(
                lambda: self.store.hand_over(record, until=record_until), self.seconds_to(record_until), name=name
            )
        except Exception as exc:
            # A continuation could not prove it is the awaited attempt: fail here, loudly.
            self.log.line(
                "error",
                "history table unwritable; cannot hand the retry over",
                run_id=record.run_id,
                error=describe(exc),
            )
            return HandOver.NOT_RECORDED
        invoke_until = self.share(until)  # half of what is left: at least a third of it all
        try:
            call_within(
                lambda: self.dispatcher.invoke_async(target, event, until=invoke_until),
                self.seconds_to(invoke_until),
                name=name,
            )
        except (InvokeOutcomeUnknown, OutOfTime) as exc:
            self.log.line(
                "error",
                "the continuation invoke may or may not have landed (its answer was lost); not invoking again",
                run_id=record.run_id,
                error=describe(exc),
            )
            return HandOver.UNKNOWN
        except Exception as exc:
            self.log.line("error", "could not invoke the continuation", run_id=record.run_id, error=describe(exc))
            return HandOver.NOT_INVOKED
        return HandOver.DONE

    # ------------------------------------------------------------------ dead letter

    def withhold_dead_letter(self, body: Mapping[str, Any], record: RunRecord) -> None:
        """The run's DLQ message, put in the log instead of the queue: sent, it could be a second
        message (or a ``failed`` one for a run that succeeds) if a continuation owns the run."""
        message = self.scrubber.scrub_obj({**body, "record": record.as_dict()})
        self.log.line(
            "error",
            "dead-letter message withheld: the continuation invoke may have landed and the history table "
            "could not say whether it took the run over; it follows",
            run_id=record.run_id,
            dead_letter=message,
        )

    def dead_letter(self, body: Mapping[str, Any], record: RunRecord, *, history_written: bool, until: float) -> None:
        """Send the run's one DLQ message; the record goes in too when the table does not have
        it. Logged in full when it cannot be sent."""
        message = dict(body)
        if not history_written:
            message["record"] = record.as_dict()  # the only copy besides the log line
        message = self.scrubber.scrub_obj(message)
        try:
            message_id = call_within(
                lambda: self.dispatcher.send_dead_letter(message, until=until),
                self.seconds_to(until),
                name=f"cronplane-{record.run_id}-dlq",
            )
        except Exception as exc:
            self.log.line(
                "error",
                "could not send the dead-letter message; it follows",
                run_id=record.run_id,
                error=describe(exc),
                dead_letter=message,
            )
            return
        self.log.line("info", "dead-letter message sent", run_id=record.run_id, message_id=message_id)
