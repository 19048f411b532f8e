"""Manual invocations of a deployed job: the envelopes the runtime reads (``runtime/firing.py``)
for manual runs, backfills and DLQ retries, the Lambda Invoke call, and following a run's
record until it ends. ``jobctl run-now`` uses all of it; the ops commands (backfill, dlq
replay) build their envelopes and invoke through it too.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronplane.aws.client import AwsCallError
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.runs.history import effective_status
from cronplane.runtime.schema import RunRecord, RunStatus, Trigger, backfill_run_id, iso, new_run_id

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

    from cronplane.aws.client import AwsClient

ENVELOPE_KEY = "cronplane"
NO_PAYLOAD: Any = object()  # "run with the job's own payload" (distinct from an explicit null)
WAIT_MARGIN_S = 30  # async invocations queue briefly before they start


class RunNotFinishedError(CronplaneError):
    """``--wait`` gave up before the run's record reached a final status; ``record`` is the
    last one seen (None when it never appeared)."""

    def __init__(self, message: str, record: RunRecord | None = None) -> None:
        super().__init__(message)
        self.record = record


# -- envelopes ------------------------------------------------------------------------------
def manual_envelope(run_id: str, triggered_by: str | None, payload: Any = NO_PAYLOAD) -> dict[str, Any]:
    inner: dict[str, Any] = {"trigger": Trigger.MANUAL.value, "run_id": run_id}
    if triggered_by:
        inner["triggered_by"] = triggered_by
    if payload is not NO_PAYLOAD:
        inner["payload"] = payload
    return {ENVELOPE_KEY: inner}


def backfill_envelope(scheduled_for: datetime, triggered_by: str | None, run_id: str | None = None) -> dict[str, Any]:
    """A backfill runs with the job's own payload; its run id is deterministic per fire time,
    so backfilling a window twice cannot run a time twice."""
    inner: dict[str, Any] = {
        "trigger": Trigger.BACKFILL.value,
        "run_id": run_id or backfill_run_id(scheduled_for),
        "scheduled_for": iso(scheduled_for),
    }
    if triggered_by:
        inner["triggered_by"] = triggered_by
    return {ENVELOPE_KEY: inner}


def retry_envelope(
    retry_of: str, payload: Any, triggered_by: str | None, run_id: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A DLQ replay: a new run (new id) that points at the run it retries. ``NO_PAYLOAD`` leaves
    the key out, so the job gets its configured payload as the failed scheduled run did (the
    runtime treats a present ``"payload": null`` as an override with null)."""
    inner: dict[str, Any] = {
        "trigger": Trigger.RETRY.value,
        "run_id": run_id or new_run_id(now or datetime.now(UTC), Trigger.RETRY),
        "retry_of": retry_of,
    }
    if payload is not NO_PAYLOAD:
        inner["payload"] = payload
    if triggered_by:
        inner["triggered_by"] = triggered_by
    return {ENVELOPE_KEY: inner}


def new_manual_run_id(now: datetime | None = None) -> str:
    return new_run_id(now or datetime.now(UTC), Trigger.MANUAL)


def caller_arn(aws: AwsClient) -> str | None:
    """Who is triggering, for ``triggered_by``; None when STS cannot say (the run still goes)."""
    try:
        return aws.caller_arn()
    except AwsError:
        return None


# -- invoking -------------------------------------------------------------------------------
@dataclass(frozen=True)
class InvokeResponse:
    function: str
    qualifier: str | None
    status_code: int
    function_error: str | None  # Lambda's X-Amz-Function-Error for a synchronous call
    payload: Any  # decoded response of a synchronous call; None for an asynchronous one
    request_id: str | None


def function_target(namespace: str, job: Any) -> tuple[str, str | None]:
    """Function name and qualifier to invoke: the ``live`` alias when the job keeps provisioned
    concurrency (that is where the warm environments are), else the unqualified function."""
    qualifier = names.ALIAS_NAME if getattr(job, "provisioned_concurrency", None) else None
    return names.function_name(namespace, job.name), qualifier


def check_function_owner(lambda_client: LambdaClient, function: str, namespace: str) -> None:
    """Refuse (``names.NotOursError``) unless ``function``'s ``cronplane:namespace`` tag is
    ``namespace``: a function found by name may be another namespace's job."""
    try:
        tags = lambda_client.get_function(FunctionName=function).get("Tags", {})
    except AwsCallError as exc:
        if exc.not_found:
            raise AwsError(
                f"function {function} does not exist here: deploy the job first (jobctl deploy), "
                "or check --region / --endpoint-url"
            ) from exc
        raise
    names.check_owner(f"Lambda function {function}", namespace, tags, doing="invoke it")


def invoke_function(
    lambda_client: LambdaClient,
    function: str,
    event: Any,
    *,
    namespace: str,
    sync: bool = False,
    qualifier: str | None = None,
) -> InvokeResponse:
    """Invoke ``function`` with ``event``, after checking that it is ``namespace``'s
    (``check_function_owner``): run-now, backfill and DLQ replay run nobody else's job."""
    check_function_owner(lambda_client, function, namespace)
    request: dict[str, Any] = {
        "FunctionName": function,
        "InvocationType": "RequestResponse" if sync else "Event",
        "Payload": json.dumps(event).encode(),
    }
    if qualifier:
        request["Qualifier"] = qualifier
    try:
        response = lambda_client.invoke(**request)
    except AwsCallError as exc:
        if exc.not_found:
            raise AwsError(
                f"function {function} does not exist here: deploy the job first (jobctl deploy), "
                "or check --region / --endpoint-url"
            ) from exc
        raise  # access denied names lambda:InvokeFunction, as every command words it
    body = response.get("Payload")
    payload: Any = None
    if sync and body is not None:
        raw = body.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode("utf-8", "replace")
    return InvokeResponse(
        function=function,
        qualifier=qualifier,
        status_code=int(response.get("StatusCode", 0)),
        function_error=response.get("FunctionError"),
        payload=payload,
        request_id=response.get("ResponseMetadata", {}).get("RequestId"),
    )


# -- following a run -----------------------------------------------------------------------
def wait_budget_s(job: Any) -> int:
    """How long ``--wait`` follows a run by default: every attempt may take a whole timeout
    when the wrapper hands retries to fresh invocations, plus the backoffs and a margin."""
    attempts = max(1, int(job.retries.max_attempts))
    return int(job.timeout * attempts + job.retries.backoff_cap * (attempts - 1) + WAIT_MARGIN_S)


def wait_for_run(
    get_record: Callable[[], RunRecord | None],
    budget_s: float,
    *,
    poll_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_change: Callable[[RunRecord], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunRecord:
    """Poll the run's record until its status is final, or the run is lost; raises
    RunNotFinishedError after ``budget_s`` (with the last status seen). ``get_record`` is one
    GetItem; ``now`` is the wall clock the record's deadline is compared with.

    A lost run (``is_lost``: its function crashed or was killed after writing ``running``)
    ends the wait at once: its record will never change, so waiting out the budget would only
    end in a false "still running"."""
    deadline = clock() + budget_s
    last: RunRecord | None = None
    interval = min(0.25, poll_s)  # quick first polls: a short job is done in a second
    while True:
        record = get_record()
        if record is not None:
            if on_change is not None and (last is None or record.status != last.status):
                on_change(record)
            last = record
            if is_final(record) or is_lost(record, now()):
                return record
        if clock() >= deadline:
            seen = f"it is still {last.status}" if last else "its record never appeared (did the invocation start?)"
            raise RunNotFinishedError(f"gave up waiting after {budget_s:.0f} s: {seen}", last)
        sleep(min(interval, max(deadline - clock(), 0.0)))
        interval = min(interval * 2, poll_s)


def is_final(record: RunRecord) -> bool:
    return is_final_status(record.status)


def is_final_status(status: str) -> bool:
    try:
        return RunStatus(status).is_final
    except ValueError:
        return True  # a status this version does not know: stop rather than poll forever


def is_lost(record: RunRecord, now: datetime) -> bool:
    """A stored ``running`` record that ``history.effective_status`` calls ``lost``: the
    invocation that wrote it started at ``deadline - timeout`` and Lambda kills it at its timeout,
    so past the deadline plus ``status.LOST_GRACE`` (60 s, for clock skew between Lambda and
    this machine) nothing can still be running it, and nothing will write its end.

    Deliberately not a ``retrying`` record past its deadline: its deadline is that of the
    invocation that handed over, and the next attempt's invocation may legitimately wait in
    Lambda's queue (throttled async invocations wait up to six hours), so ``--wait`` keeps
    following it until its budget runs out."""
    return record.status == RunStatus.RUNNING.value and effective_status(record, now) == RunStatus.LOST.value
