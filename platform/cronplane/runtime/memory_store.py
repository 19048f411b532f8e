"""The in-memory ``RunStore``: the same rules as ``store.DynamoRunStore`` (a run begins once,
a continuation takes over only the attempt its record waits for, the lock is held by one
holder), kept in dicts. ``entry.build`` uses it when no history table is configured
(``run-now --local`` without a reachable table); logic tests use it directly. Not imported at a
deployed cold start."""

from __future__ import annotations

import threading

from cronplane.runtime.exceptions import LockHeld, RunExists
from cronplane.runtime.schema import RunLock, RunRecord, RunStatus
from cronplane.runtime.store import RunStore


class MemoryRunStore(RunStore):
    """Same rules as DynamoRunStore, kept in dicts. ``writes`` counts write calls."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], RunRecord] = {}  # (job, run id)
        self.locks: dict[str, RunLock] = {}  # by job
        self.writes = 0
        self._mutex = threading.Lock()

    def begin(
        self,
        record: RunRecord,
        *,
        lock: RunLock | None = None,
        continuing_attempt: int | None = None,
        now_epoch: int = 0,
        until: float | None = None,
    ) -> None:
        with self._mutex:
            self.writes += 1
            current = self.records.get((record.job, record.run_id))
            if continuing_attempt is None and current is not None:
                raise RunExists(record.run_id)
            if continuing_attempt is not None and not _waits_for(current, continuing_attempt):
                raise RunExists(record.run_id)
            if lock is not None:
                held = self.locks.get(lock.job)
                if held and held.held_at(now_epoch) and held.holder != lock.holder:
                    raise LockHeld(held.holder)
                self.locks[lock.job] = lock
            self.records[(record.job, record.run_id)] = record

    def finish(
        self,
        record: RunRecord,
        *,
        release: RunLock | None = None,
        expect_attempt: int | None = None,
        expect_invocation: str | None = None,
        until: float | None = None,
    ) -> None:
        with self._mutex:
            self.writes += 1
            current = self.records.get((record.job, record.run_id))
            if expect_attempt is not None and not _waits_for(current, expect_attempt):
                raise RunExists(record.run_id)
            if expect_invocation is not None and (current is None or current.invocation_id != expect_invocation):
                raise RunExists(record.run_id)
            self.records[(record.job, record.run_id)] = record
            if release is not None:
                held = self.locks.get(release.job)
                if held and held.holder == release.holder:
                    del self.locks[release.job]

    def hand_over(self, record: RunRecord, *, until: float | None = None) -> None:
        with self._mutex:
            self.writes += 1
            current = self.records.get((record.job, record.run_id))
            if current is not None and current.status != RunStatus.RUNNING.value:
                raise RunExists(record.run_id)
            self.records[(record.job, record.run_id)] = record

    def add(self, record: RunRecord, *, until: float | None = None) -> None:
        with self._mutex:
            self.writes += 1
            if (record.job, record.run_id) in self.records:
                raise RunExists(record.run_id)
            self.records[(record.job, record.run_id)] = record

    def runs(self, job: str) -> list[RunRecord]:
        return [record for (j, _), record in sorted(self.records.items()) if j == job]


def _waits_for(current: RunRecord | None, attempt: int) -> bool:
    """The record is ``retrying`` and waits for exactly ``attempt``."""
    return current is not None and current.status == RunStatus.RETRYING.value and current.next_attempt == attempt
