"""The points in time users type on the command line (``--since``, ``--until``, ``--from``,
``--to``, ``--now`` of ``jobctl history`` / ``audit`` / ``backfill``): an age before now or an
ISO time. Callers turn a ValueError into the error of their own command."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age_or_time(text: str, now: datetime) -> datetime:
    """``24h`` / ``7d`` / ``30m`` / ``2w`` / ``90s`` before ``now``, or an ISO date / time (UTC
    unless it says otherwise). ValueError when it is neither; OverflowError when an age reaches
    further back than ``datetime`` does."""
    match = _RELATIVE.match(text)
    if match:
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
