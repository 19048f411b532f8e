"""Starting a run of a deployed job from the ops commands (backfill, DLQ replay): the
envelopes and one asynchronous Invoke per run, through ``cronplane.runs.invoke`` (run-now's layer).

Accepted means Lambda answered 202: the event is queued and will run, which is what DLQ replay
waits for before deleting a message. A refused invoke is a result here, not an exception, so
the caller can keep the message and go on with the next one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cronplane.errors import CronplaneError
from cronplane.manifest.models import Manifest
from cronplane.runs import invoke

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

ACCEPTED = 202  # Lambda's answer to an InvocationType=Event request it has queued


def backfill_envelope(run_id: str, scheduled_for: datetime, triggered_by: str) -> dict[str, Any]:
    return invoke.backfill_envelope(scheduled_for, triggered_by, run_id=run_id)


def retry_envelope(run_id: str, retry_of: str, payload: Any, triggered_by: str) -> dict[str, Any]:
    """A new run that re-does ``retry_of``. A DLQ message without a payload override (None)
    replays with the job's configured payload, as the failed scheduled run had."""
    return invoke.retry_envelope(
        retry_of, invoke.NO_PAYLOAD if payload is None else payload, triggered_by, run_id=run_id
    )


@dataclass(frozen=True)
class InvokeResult:
    accepted: bool
    status_code: int | None
    error: str | None = None


class Invoker(Protocol):
    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult: ...


class LambdaInvoker:
    """Invokes the job's function (its ``live`` alias with provisioned concurrency, as the
    trigger does) with InvocationType=Event."""

    def __init__(self, lambda_client: LambdaClient, manifest: Manifest) -> None:
        self._client = lambda_client
        self._manifest = manifest

    def invoke_async(self, job_name: str, envelope: dict[str, Any]) -> InvokeResult:
        function, qualifier = invoke.function_target(self._manifest.namespace, self._manifest.job(job_name))
        try:
            answer = invoke.invoke_function(
                self._client, function, envelope, namespace=self._manifest.namespace, qualifier=qualifier
            )
        except CronplaneError as exc:
            return InvokeResult(False, None, str(exc))
        if answer.status_code != ACCEPTED:
            return InvokeResult(False, answer.status_code, f"Lambda answered {answer.status_code}, not {ACCEPTED}")
        return InvokeResult(True, answer.status_code)
