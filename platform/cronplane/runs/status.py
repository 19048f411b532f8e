"""What a stored run record cannot say by itself: a ``running`` (or ``retrying``) record whose
deadline has passed is ``lost`` (the function died without writing its final status).

The one derivation every reader uses: ``jobctl history`` (``runs.history``), ``audit`` and the
watchdog (``ops.matching``). Standard library and the runtime's schema only, so the watchdog's
Lambda zip ships this module as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cronplane.runtime.schema import RunRecord, RunStatus, parse_iso

# A run still `running` this long after its deadline died without the wrapper noticing (the
# wrapper writes its final status before Lambda's hard kill, so a few seconds would do; the
# margin absorbs clock skew between Lambda and the reader).
LOST_GRACE = timedelta(seconds=60)
# Without a recorded deadline, the longest a Lambda invocation can run.
MAX_LAMBDA_TIMEOUT = timedelta(seconds=900)


def effective_status(record: RunRecord, now: datetime) -> str:
    """The status a person should see: a ``running`` (or ``retrying``) record past its
    deadline plus a grace is ``lost``; anything else is its stored status."""
    status = record.status
    if status not in (RunStatus.RUNNING.value, RunStatus.RETRYING.value):
        return status
    deadline = moment(record.deadline)
    if deadline is None:
        started = moment(record.started_at)
        if started is None:
            return status
        deadline = started + MAX_LAMBDA_TIMEOUT
    return RunStatus.LOST.value if now > deadline + LOST_GRACE else status


def moment(value: Any) -> datetime | None:
    """A stored time as an aware datetime (UTC when it names no zone); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = parse_iso(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
