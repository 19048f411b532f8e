"""Stage 6 of the deploy pipeline: apply a Plan.

Each action is applied by its resource kind (``aws.kinds``: create / update / delete, each
idempotent). Three phases, in order: shared resources first (the history table, the Scheduler
group), then each job's actions — sequential within a job (its dependency order), jobs in
parallel on a bounded thread pool — then shared deletes. Progress is reported as ``[n/m] <action>`` through a
callback; the bookkeeping RECORD writes are not counted as steps.

On failure the executor stops starting new jobs, lets running ones finish, and raises the first
error. Nothing is rolled back: every action is idempotent and the state record of a job is
written last, so running deploy again converges.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from cronplane.aws.client import AwsClient
from cronplane.aws.kinds import ApplyContext, kind_of
from cronplane.aws.plan import Action, Op, Plan
from cronplane.errors import CronplaneError

DEFAULT_WORKERS = 8  # parallel jobs; well under Lambda's and IAM's control-plane rate limits
SIGNAL_POLL = 0.2  # seconds between the main thread's looks at pending signals while jobs run


@dataclass(frozen=True)
class ApplyResult:
    applied: int
    total: int


class ApplyError(CronplaneError):
    def __init__(self, message: str, applied: int, total: int) -> None:
        super().__init__(message)
        self.applied = applied
        self.total = total


class Executor:
    def __init__(
        self, client: AwsClient, *, workers: int = DEFAULT_WORKERS, progress: Callable[[str], None] | None = None
    ) -> None:
        self.client = client
        self.workers = max(1, workers)
        self.progress = progress or (lambda line: None)
        self._lock = threading.Lock()
        self._done = 0
        self._started = 0
        self._total = 0
        self._stop = threading.Event()

    def apply(self, plan: Plan, *, already_done: int = 0) -> ApplyResult:
        """``already_done``: steps of the same deploy applied by an earlier call (the history
        table, created before the lock), so progress reads [n/m] across the whole deploy."""
        self._done = 0
        self._started = already_done
        self._total = len(plan.changes) + already_done
        self._stop.clear()
        first = [a for a in plan.actions if a.job is None and a.op != Op.DELETE]
        last = [a for a in plan.actions if a.job is None and a.op == Op.DELETE]
        by_job: dict[str, list[Action]] = {}
        for action in plan.actions:
            if action.job is not None:
                by_job.setdefault(action.job, []).append(action)
        try:
            self._run_sequence(first, plan.namespace)
            self._run_jobs(by_job, plan.namespace)
            self._run_sequence(last, plan.namespace)
        except CronplaneError as exc:
            raise ApplyError(
                f"{exc}\nApplied {self._done} of {self._total} changes before the failure; "
                "fix the cause and run deploy again (it continues from where this one stopped).",
                self._done,
                self._total,
            ) from exc
        return ApplyResult(self._done, self._total)

    def _run_sequence(self, actions: list[Action], namespace: str) -> None:
        for action in actions:
            if self._stop.is_set():
                return
            self._apply_one(action, namespace)

    def _run_jobs(self, by_job: dict[str, list[Action]], namespace: str) -> None:
        if not by_job:
            return
        with ThreadPoolExecutor(
            max_workers=self.workers, thread_name_prefix="deploy", initializer=leave_signals_to_the_main_thread
        ) as pool:
            futures = [pool.submit(self._run_sequence, actions, namespace) for _, actions in sorted(by_job.items())]
            try:
                # Wait in short slices: a signal sent to the process may be delivered to a worker
                # thread, and Python runs its handler (Ctrl-C -> KeyboardInterrupt) only when the
                # main thread next runs bytecode. An unbounded wait would make Ctrl-C and SIGTERM
                # wait for the whole deploy.
                while True:
                    done, pending = wait(futures, timeout=SIGNAL_POLL, return_when=FIRST_EXCEPTION)
                    if not pending or any(f.exception() is not None for f in done):
                        break
            except BaseException:  # Ctrl-C: let running jobs stop at their next step, not run on
                self._stop.set()
                raise
            for future in done:
                if future.exception() is not None:
                    self._stop.set()  # queued jobs return at once; running ones stop at their next step
                    break
        for future in futures:
            exc = future.exception()
            if exc is not None:
                raise exc

    def _apply_one(self, action: Action, namespace: str) -> None:
        counted = action.op != Op.RECORD
        if counted:
            with self._lock:
                self._started += 1
                step = self._started
            self.progress(f"[{step}/{self._total}] {action.label}")
        try:
            kind_of(action.kind).apply(ApplyContext(self.client, action, namespace, self.progress))
        except CronplaneError as exc:
            self._stop.set()
            raise CronplaneError(f"{action.label} failed: {exc}") from exc
        if counted:
            with self._lock:
                self._done += 1


def leave_signals_to_the_main_thread() -> None:
    """Workers block SIGINT / SIGTERM, so the kernel hands them to the main thread, whose wait
    they interrupt at once: Ctrl-C stops the deploy after the steps already in flight, instead
    of up to a poll interval later (when a fast endpoint may have finished everything)."""
    import signal

    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
