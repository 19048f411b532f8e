"""Keeping a ``concurrency: forbid`` job to one run at a time when ops start runs (backfill, DLQ
replay). The runtime enforces forbid with a lock item (``schema.RunLock``): a run that
starts while another holds it is recorded as ``skipped`` and does nothing. So before each run
ops wait for the lock to be free, and after it for the run's record to be final."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cronplane.errors import CronplaneError
from cronplane.ops.audit import effective_status
from cronplane.ops.items import read_lock, read_run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

FINAL_WAIT_MARGIN_S = 120  # async queueing + cold start, on top of the job's own timeout
POLL_FIRST_S, POLL_MAX_S = 1.0, 10.0  # polling backs off: short runs answer fast


class LockHeldError(CronplaneError):
    """Another run of a forbid job kept its lock longer than a run may last."""


@dataclass(frozen=True)
class RunWaiter:
    """Polls one job's lock and run records in the history table, for at most ``limit_s`` each."""

    dynamodb: DynamoDBClient
    table: str
    job: str
    limit_s: float
    now: Callable[[], datetime] | None = None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    on_wait: Callable[[str], None] | None = None

    def _now(self) -> datetime:
        return self.now() if self.now else datetime.now(UTC)

    def lock_free(self, then: str) -> None:
        """Return once the job's overlap lock is free (absent or expired, as the runtime judges
        it); ``then`` says what waits (for the error message)."""
        deadline = self.clock() + self.limit_s
        pause, told = POLL_FIRST_S, False
        while True:
            lock = read_lock(self.dynamodb, self.table, self.job)
            if lock is None or not lock.held_at(int(self._now().timestamp())):
                return
            if not told and self.on_wait:
                self.on_wait(f"waiting for run {lock.holder} to finish (concurrency: forbid)")
                told = True
            if self.clock() >= deadline:
                raise LockHeldError(
                    f"{then} of {self.job} stopped: run {lock.holder} still holds the job's lock after "
                    f"{self.limit_s:.0f}s and the job has concurrency: forbid; check `jobctl history {self.job}` and try again"
                )
            self.sleep(min(pause, max(0.0, deadline - self.clock())) or pause)
            pause = min(pause * 2, POLL_MAX_S)

    def final_status(self, run_id: str) -> str | None:
        """Poll the run's record until its status is final; None when ``limit_s`` passes first."""
        deadline = self.clock() + self.limit_s
        pause = POLL_FIRST_S
        while True:
            record = read_run(self.dynamodb, self.table, self.job, run_id)
            if record is not None:
                status = effective_status(record, self._now())
                if status.is_final:
                    return status.value
            if self.clock() >= deadline:
                return None
            self.sleep(min(pause, max(0.0, deadline - self.clock())) or pause)
            pause = min(pause * 2, POLL_MAX_S)
