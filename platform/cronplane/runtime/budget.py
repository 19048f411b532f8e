"""Time budgets for the wrapper's own AWS calls at the end of a run.

When an attempt is abandoned at the soft deadline only the safety margin is left before Lambda's
hard kill, and in it the final record and the DLQ message must both be sent. Retries are budgeted
by the store and the dispatcher (``until``), but one slow call can still hang for a client's
whole read timeout; ``call_within`` puts a hard bound on it: the call runs in a daemon thread and
the wrapper stops waiting when its share of the time is spent (the call may still land later,
which is harmless: it writes the same final record).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

T = TypeVar("T")

# Kept back from the final writes for what follows them (the log lines, returning to Lambda).
FINAL_RESERVE_MS = 250
# A write is always given at least this long, even when the time left says less.
MIN_CALL_SECONDS = 0.05


class OutOfTime(Exception):
    """A call did not finish within its share of the time left (it may still be running)."""


def call_within(call: Callable[[], T], seconds: float, *, name: str) -> T:
    """``call()``, but raise ``OutOfTime`` after ``seconds`` instead of waiting longer; its own
    exception is raised as is."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:
            box["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    if not done.wait(max(MIN_CALL_SECONDS, seconds)):
        raise OutOfTime(
            f"{name}: not finished after {max(MIN_CALL_SECONDS, seconds):.2f} s (the time left before the Lambda timeout)"
        )
    if "error" in box:
        raise box["error"]
    return cast(T, box.get("value"))
