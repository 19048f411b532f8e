"""The wrapper's two outgoing messages besides run records: the dead-letter message of a run
that failed for good, and the asynchronous self-invocation that carries a retry over to a fresh
Lambda timeout. Clients come from a factory so a cold start creates only what it uses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

SEND_TRIES = 3


class Dispatcher:
    def __init__(self, client_for: Callable[[str], Any], dlq_url: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client_for = client_for
        self.dlq_url = dlq_url
        self.sleep = sleep

    def send_dead_letter(self, body: Mapping[str, Any]) -> str:
        """Send one DLQ message; returns its message id. Raises after a few failed tries
        (the caller logs the body then, so the failure is not lost)."""
        if not self.dlq_url:
            raise RuntimeError("no dead-letter queue configured (CRONPLANE_DLQ_URL is empty)")
        text = json.dumps(body, default=str, separators=(",", ":"))
        delay = 0.1
        for attempt in range(1, SEND_TRIES + 1):
            try:
                response = self._client_for("sqs").send_message(QueueUrl=self.dlq_url, MessageBody=text)
                return str(response.get("MessageId", ""))
            except Exception:
                if attempt == SEND_TRIES:
                    raise
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    def invoke_async(self, function: str, event: Mapping[str, Any]) -> None:
        """Fire-and-forget invocation of ``function`` (this job's own function)."""
        response = self._client_for("lambda").invoke(
            FunctionName=function,
            InvocationType="Event",
            Payload=json.dumps(event, default=str).encode("utf-8"),
        )
        status = int(response.get("StatusCode", 202))
        if status != 202:
            raise RuntimeError(f"asynchronous invoke of {function} answered {status}")
