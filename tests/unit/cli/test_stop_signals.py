"""jobctl takes Ctrl-C and SIGTERM even when started with them blocked: a signal mask is
inherited across exec, so a parent that starts jobctl from a thread blocking them (a
supervisor, a CI runner's worker thread, the deploy's own workers) would leave a deploy deaf
to both, and the deploy lock held until it expires."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest

CHILD = """
import signal, sys
if sys.argv[1] == "jobctl":
    from cronplane.cli.main import _take_the_stop_signals
    _take_the_stop_signals()
blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
print(" ".join(sorted(s.name for s in blocked if s in (signal.SIGINT, signal.SIGTERM))))
"""


def blocked_in_child(mode: str) -> str:
    """What the child has blocked when started from a thread that blocks SIGINT and SIGTERM."""
    out: list[str] = []

    def start() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        done = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60)
        out.append(done.stdout.strip() + done.stderr)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join(timeout=90)
    assert out, "the child did not finish"
    return out[0]


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="POSIX signal masks")
def test_a_child_inherits_blocked_stop_signals_and_jobctl_takes_them_back() -> None:
    assert blocked_in_child("plain") == "SIGINT SIGTERM"  # inherited: what jobctl has to undo
    assert blocked_in_child("jobctl") == ""
