"""Starting a run of a deployed job from the ops commands (backfill, DLQ replay): the
envelopes the runtime accepts and one asynchronous Invoke per run.

``cronplane.invoke`` (run-now) did not exist when this was written; this is the minimal
asynchronous invoke the ops commands need. Accepted means Lambda answered 202: the event is
queued and will run, which is what DLQ replay waits for before deleting a message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from cronplane import names
from cronplane.models import Manifest
from cronplane.runtime.records import Trigger, iso

ACCEPTED = 202  # Lambda's answer to an InvocationType=Event request it has queued


def backfill_envelope(run_id: str, scheduled_for: datetime, triggered_by: str) -> dict[str, Any]:
    return {"cronplane": {"trigger": Trigger.BACKFILL.value, "run_id": run_id,
                          "scheduled_for": iso(scheduled_for), "triggered_by": triggered_by}}


def retry_envelope(run_id: str, retry_of: str, payload: Any, triggered_by: str) -> dict[str, Any]:
    """A new run that re-does ``retry_of``; ``payload`` None lets the job use its configured
    payload (the failed run was a scheduled one that had no override)."""
    body: dict[str, Any] = {"trigger": Trigger.RETRY.value, "run_id": run_id, "retry_of": retry_of, "triggered_by": triggered_by}
    if payload is not None:
        body["payload"] = payload
    return {"cronplane": body}


@dataclass(frozen=True)
class InvokeResult:
    accepted: bool
    status_code: int | None
    error: str | None = None


class Invoker(Protocol):
    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult: ...


class LambdaInvoker:
    """Invokes ``{namespace}-{job}`` (its ``live`` alias when the job has provisioned
    concurrency, as the trigger does) with InvocationType=Event."""

    def __init__(self, lambda_client: Any, manifest: Manifest) -> None:
        self._client = lambda_client
        self._manifest = manifest

    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult:
        job = self._manifest.job(job_name)
        kwargs: dict[str, Any] = {
            "FunctionName": names.function_name(self._manifest.namespace, job_name),
            "InvocationType": "Event",
            "Payload": json.dumps(envelope).encode(),
        }
        if job.provisioned_concurrency:
            kwargs["Qualifier"] = names.ALIAS_NAME
        try:
            answer = self._client.invoke(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            return InvokeResult(False, None, str(exc))
        status = int(answer.get("StatusCode", 0))
        if status != ACCEPTED:
            return InvokeResult(False, status, f"Lambda answered {status}, not {ACCEPTED}")
        return InvokeResult(True, status)
