"""Who holds the deploy lock, precisely enough for another ``jobctl`` to answer one question:
is the holder a process of this same machine that is gone? Only then may its lock be taken over
before it expires (``cronplane.aws.lock``).

A hostname cannot answer it (CI runners, containers and cloned VMs share names), nor can the id
of a PID namespace (the initial namespace has the same id on every Linux host). So a holder is
described by:

- ``machine``: ``/etc/machine-id``, else the kernel's boot id, else a random id kept in the
  user's cache directory (``$XDG_CACHE_HOME/cronplane/machine-id``);
- ``boot_id``: ``/proc/sys/kernel/random/boot_id``, random per kernel boot: two hosts never share
  it, even when an image gave them the same machine id; containers of one host do;
- ``pid_ns``: the PID namespace, which separates the containers of one boot;
- ``pid`` and ``started``: the process and its start time (ticks since boot, ``/proc/PID/stat``
  field 22), so a pid the kernel handed to another process since is seen as the holder gone.

A holder is judged by its pid only when machine, boot id and PID namespace are all ours; any
doubt counts as "maybe alive", and such a lock waits for its expiry or for ``jobctl unlock``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MACHINE_ID_FILES = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))
BOOT_ID_FILE = Path("/proc/sys/kernel/random/boot_id")
CACHED_ID_NAME = "machine-id"


@dataclass(frozen=True)
class ProcessIdentity:
    machine: str
    boot_id: str  # "" where the system has none (not Linux)
    pid_ns: str  # "" off Linux
    pid: int
    started: str  # "" where /proc is missing

    def same_process_space(self, other: ProcessIdentity) -> bool:
        """Whether a pid of ``other`` names a process here: same machine, boot and namespace."""
        return bool(self.machine) and (self.machine, self.boot_id, self.pid_ns) == (
            other.machine,
            other.boot_id,
            other.pid_ns,
        )


def this_process(cache_dir: Path | None = None) -> ProcessIdentity:
    pid = os.getpid()
    return ProcessIdentity(machine_id(cache_dir), boot_id(), pid_namespace(), pid, start_time(pid) or "")


def machine_id(cache_dir: Path | None = None) -> str:
    for path in MACHINE_ID_FILES:
        found = _read_id(path)
        if found:
            return found
    return boot_id() or _cached_random_id(cache_dir or user_cache_dir())


def boot_id() -> str:
    return _read_id(BOOT_ID_FILE)


def pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def start_time(pid: int) -> str | None:
    """``pid``'s start time in clock ticks since boot; None when there is no such process (or no
    /proc to ask)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The command name (field 2) may hold spaces and parentheses: split after the last ")".
            fields = stat.read().rsplit(")", 1)[-1].split()
    except OSError:
        return None
    return fields[19] if len(fields) > 19 else None  # field 22, counted from field 3 (the state)


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process here. A zombie (killed, not yet reaped) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): os.kill said it exists


def holder_gone(holder: ProcessIdentity, me: ProcessIdentity, alive: Callable[[int], bool] = process_alive) -> bool:
    """True only when ``holder`` ran in this machine's boot and PID namespace and its process
    has ended (or its pid now belongs to a process started at another time)."""
    if not me.same_process_space(holder):
        return False  # elsewhere, or unknown: cannot be checked from here
    if (holder.pid, holder.started) == (me.pid, me.started):
        return False  # this very process
    if not alive(holder.pid):
        return True
    now_started = start_time(holder.pid)
    return bool(holder.started and now_started and now_started != holder.started)


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cronplane"


def _read_id(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        return ""


def _cached_random_id(directory: Path) -> str:
    """A random id created once and kept (mode 0600) in ``directory``: the machine id of a system
    that offers none. Empty when the directory cannot be written: then nothing is judged by pid."""
    path = directory / CACHED_ID_NAME
    found = _read_id(path)
    if found:
        return found
    with contextlib.suppress(OSError):
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(16) + "\n")
    return _read_id(path)  # ours, or the one another process wrote first
