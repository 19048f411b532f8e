"""What ``jobctl unlock`` prints: the namespace's deploy lock (``schema.DeployLockRecord``) as a
person decides whether to remove it. Pure: values in, lines out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cronplane.cli.views.text import seconds

if TYPE_CHECKING:
    from cronplane.runtime.schema import DeployLockRecord


def no_lock_line(table: str) -> str:
    return f"no deploy lock in {table}: nothing to remove"


def lock_lines(held: DeployLockRecord, table: str, *, now: float, this_machine: str) -> list[str]:
    """Who holds the lock, on which machine, since when, and when it expires on its own."""
    if held.machine is None:
        machine = "unknown (taken by an older jobctl)"
    else:
        here = " (this machine)" if held.machine == this_machine else ""
        details = [f"boot {held.boot_id[:8]}" if held.boot_id else "", f"pid {held.pid}" if held.pid else ""]
        extra = ", ".join(d for d in details if d)
        machine = f"{held.machine}{here}" + (f" ({extra})" if extra else "")
    left = held.expires - now
    when = f"in {seconds(left)}" if left >= 0 else f"expired {seconds(-left)} ago: the next deploy takes it over"
    return [
        f"deploy lock in {table}:",
        f"  holder:   {held.holder or '?'}",
        f"  machine:  {machine}",
        f"  since:    {held.since or '?'}",
        f"  expires:  {_iso(held.expires)} ({when})",
    ]


def confirm_prompt() -> str:
    return "Remove this lock? Only if that deploy is no longer running"


def removed_line(held: DeployLockRecord) -> str:
    return f"removed the deploy lock of {held.holder or '?'} (since {held.since or '?'})"


def kept_line() -> str:
    return "the lock was kept"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
