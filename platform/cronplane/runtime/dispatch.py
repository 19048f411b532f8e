"""The wrapper's two outgoing messages besides run records: the dead-letter message of a run
that failed for good, and the asynchronous self-invocation that carries a retry over to a fresh
Lambda timeout. Clients come from a factory so a cold start creates only what it uses.

Both are tried a few times (the clients themselves make a single try each, see
``entry.MESSAGE_CONFIG``), and no try starts that could not finish by ``until`` (a
``monotonic()`` time): near the soft deadline the budget shrinks to the time left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

SEND_TRIES = 3
FIRST_DELAY = 0.1
MIN_TRY_SECONDS = 0.1  # not worth starting another try with less left
# The request went out, but no answer came back: it may have been carried out.
ANSWER_LOST = (ReadTimeoutError, ConnectionClosedError)


class InvokeOutcomeUnknown(Exception):
    """An invoke's request was sent but its answer was lost: the invocation may be queued."""


class Dispatcher:
    def __init__(
        self,
        client_for: Callable[[str], Any],
        dlq_url: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client_for = client_for
        self.dlq_url = dlq_url
        self.sleep = sleep
        self.monotonic = monotonic

    def send_dead_letter(self, body: Mapping[str, Any], *, until: float | None = None) -> str:
        """Send one DLQ message; returns its message id. Raises after a few failed tries
        (the caller logs the body then, so the failure is not lost). Not sent again after a
        read timeout: the message may be in the queue already, and one run has one message."""
        if not self.dlq_url:
            raise RuntimeError("no dead-letter queue configured (CRONPLANE_DLQ_URL is empty)")
        text = json.dumps(body, default=str, separators=(",", ":"))
        send = lambda: self._client_for("sqs").send_message(QueueUrl=self.dlq_url, MessageBody=text)  # noqa: E731
        response = self._tries(send, until, final=ANSWER_LOST)
        return str(response.get("MessageId", ""))

    def invoke_async(self, function: str, event: Mapping[str, Any], *, until: float | None = None) -> None:
        """Fire-and-forget invocation of ``function`` (this job's own function). Tried again only
        when the request surely did not land (no connection, a refusal); after a lost answer it
        raises ``InvokeOutcomeUnknown`` instead: a second invoke could start a second
        continuation (only one of them would run, the other leaving a ``duplicate`` record)."""
        payload = json.dumps(event, default=str).encode("utf-8")

        def invoke() -> Any:
            response = self._client_for("lambda").invoke(FunctionName=function, InvocationType="Event", Payload=payload)
            status = int(response.get("StatusCode", 202))
            if status != 202:
                raise RuntimeError(f"asynchronous invoke of {function} answered {status}")
            return response

        try:
            self._tries(invoke, until, final=ANSWER_LOST)
        except ANSWER_LOST as exc:
            raise InvokeOutcomeUnknown(f"asynchronous invoke of {function}: {exc}") from exc

    def _tries(self, call: Callable[[], Any], until: float | None, final: tuple[type[Exception], ...] = ()) -> Any:
        delay = FIRST_DELAY
        for attempt in range(1, SEND_TRIES + 1):
            try:
                return call()
            except Exception as exc:
                no_time = until is not None and self.monotonic() + delay + MIN_TRY_SECONDS > until
                if attempt == SEND_TRIES or no_time or isinstance(exc, final):
                    raise
                self.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")
