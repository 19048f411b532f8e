"""The ``context`` a job function receives: Lambda's usual fields (so code written for plain
Lambda keeps working) plus the run's own facts (run id, trigger, attempt, scheduled time).

``CountdownContext`` stands in for Lambda's context where there is no Lambda: ``jobctl
run-now --local``, the dev server and tests. Its remaining time counts down from a timeout.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any


class JobContext:
    """What the team's ``handler(event, context)`` gets as ``context``."""

    def __init__(
        self,
        lambda_context: Any,
        *,
        job: str,
        run_id: str,
        trigger: str,
        attempt: int,
        scheduled_for: datetime | None,
        triggered_by: str | None = None,
    ) -> None:
        self._lambda_context = lambda_context
        self.job = job
        self.run_id = run_id
        self.trigger = trigger
        self.attempt = attempt
        self.scheduled_for = scheduled_for
        self.triggered_by = triggered_by
        self.aws_request_id: str = str(getattr(lambda_context, "aws_request_id", "") or "")
        self.request_id = self.aws_request_id
        self.function_name: str = str(getattr(lambda_context, "function_name", "") or "")
        self.function_version: str = str(getattr(lambda_context, "function_version", "$LATEST") or "$LATEST")
        self.invoked_function_arn: str = str(getattr(lambda_context, "invoked_function_arn", "") or "")
        self.memory_limit_in_mb: int = int(getattr(lambda_context, "memory_limit_in_mb", 0) or 0)
        self.log_group_name: str = str(getattr(lambda_context, "log_group_name", "") or "")
        self.log_stream_name: str = str(getattr(lambda_context, "log_stream_name", "") or "")
        self.identity = getattr(lambda_context, "identity", None)
        self.client_context = getattr(lambda_context, "client_context", None)

    def get_remaining_time_in_millis(self) -> int:
        """Lambda's own figure (not reduced by the wrapper's safety margin)."""
        return int(self._lambda_context.get_remaining_time_in_millis())

    def __repr__(self) -> str:
        return f"JobContext(job={self.job!r}, run_id={self.run_id!r}, trigger={self.trigger!r}, attempt={self.attempt})"


class CountdownContext:
    """A Lambda-like context whose remaining time counts down from ``timeout_ms``."""

    def __init__(
        self,
        timeout_ms: int,
        *,
        function_name: str = "local",
        memory_limit_in_mb: int = 128,
        aws_request_id: str | None = None,
        invoked_function_arn: str = "",
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._monotonic = monotonic
        self._deadline = monotonic() + timeout_ms / 1000.0
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id or str(uuid.uuid4())
        self.invoked_function_arn = invoked_function_arn
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._monotonic()) * 1000))
