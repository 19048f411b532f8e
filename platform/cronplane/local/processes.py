"""The function processes of the emulator, seen from outside the runner: finding the ones
still alive and killing them (with their process groups) when ``jobctl dev`` stops, so Ctrl-C
leaves no orphan behind. Linux reads /proc; other systems ask ``ps``."""

from __future__ import annotations

import os
import signal
from pathlib import Path

RUNNER_MARKER = "lambda_bootstrap"  # in the command line of every function child process


def kill_child_processes(marker: str = RUNNER_MARKER) -> list[int]:
    """Kill the function runs this process started that are still alive, with their groups.

    The runner starts each function in its own session so a timeout kill takes its children
    along; at shutdown the emulator does the same for runs still in flight. Only children
    whose command line holds ``marker`` are touched."""
    killed = []
    for pid in child_pids(os.getpid(), marker):
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return killed


def child_pids(parent: int, marker: str = "") -> list[int]:
    """Direct children of ``parent`` whose command line contains ``marker``: /proc on Linux,
    ``ps`` elsewhere."""
    proc = Path("/proc")
    if not proc.is_dir():
        import subprocess

        out = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid=,command="], capture_output=True, text=True, check=False
        ).stdout
        rows = (line.split(None, 2) for line in out.splitlines() if line.strip())
        return [int(r[0]) for r in rows if len(r) == 3 and int(r[1]) == parent and marker in r[2]]
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # The command name may contain spaces or parentheses: fields follow the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == parent and marker in cmdline:
            pids.append(int(entry.name))
    return pids
