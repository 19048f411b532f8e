"""One attempt of a job, run in a worker thread and watched against the soft deadline: the
wrapper's main thread stays free to record ``timed_out`` (and send the DLQ message) while the
time left is still above the safety margin, before Lambda's hard kill."""

from __future__ import annotations

import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SoftDeadline(Exception):
    """An attempt was still running when the time left reached the safety margin."""


class AttemptAbandoned(BaseException):
    """Raised inside an abandoned attempt's thread to stop it (a BaseException, so a job's
    ``except Exception`` does not swallow it)."""


@dataclass(frozen=True)
class AttemptRun:
    finished: bool  # False: abandoned at the soft deadline
    duration_ms: int
    value: Any = None
    error: BaseException | None = None
    traceback: str | None = None
    thread: threading.Thread | None = None


def run_attempt(
    function: Callable[[Any, Any], Any],
    event: Any,
    context: Any,
    *,
    remaining_ms: Callable[[], int],
    margin_ms: int,
    name: str,
    monotonic: Callable[[], float] = time.monotonic,
) -> AttemptRun:
    """Call ``function(event, context)`` in a daemon thread; wait until it returns or until
    ``remaining_ms()`` reaches ``margin_ms``. An abandoned thread is asked to stop."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def call() -> None:
        try:
            value = function(event, context)
            if isinstance(value, types.CoroutineType):  # an `async def handler`
                import asyncio  # only for async jobs: not a cold-start cost

                value = asyncio.run(value)
            box["value"] = value
        except BaseException as exc:
            box["error"] = exc
            # From the job's own frame on: this wrapper frame tells the job author nothing.
            frames = exc.__traceback__.tb_next if exc.__traceback__ else None
            box["traceback"] = "".join(traceback.format_exception(type(exc), exc, frames))
        finally:
            done.set()

    begun = monotonic()
    worker = threading.Thread(target=call, name=name, daemon=True)
    worker.start()
    finished = _wait(done, remaining_ms, margin_ms)
    duration_ms = int((monotonic() - begun) * 1000)
    if not finished:
        # The handler returns before Lambda's hard kill, so Lambda keeps this execution
        # environment and would thaw the abandoned thread in the next invocation: stop it.
        stop_thread(worker)
        return AttemptRun(finished=False, duration_ms=duration_ms, thread=worker)
    return AttemptRun(True, duration_ms, box.get("value"), box.get("error"), box.get("traceback"), worker)


def _wait(done: threading.Event, remaining_ms: Callable[[], int], margin_ms: int) -> bool:
    """True when the attempt finished before the time left reached the safety margin."""
    while True:
        left_ms = remaining_ms() - margin_ms
        if left_ms <= 0:
            return done.is_set()
        # Short slices: the remaining time is re-read from Lambda's context each time.
        if done.wait(min(left_ms, 1000) / 1000):
            return True


def stop_thread(thread: threading.Thread) -> None:
    """Ask ``thread`` to raise AttemptAbandoned at its next Python instruction. A thread
    blocked inside a C call (a socket read, ``time.sleep``) stops when that call returns."""
    import ctypes  # only on this rare path: not a cold-start cost

    if thread.ident is not None and thread.is_alive():
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(AttemptAbandoned))
