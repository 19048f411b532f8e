"""``jobctl run-now JOB`` of a deployed job: every decision of a remote manual run, so the
command only parses, calls this and prints.

Invoke the job's function with a manual envelope (queued, or ``--sync``) ─▶ when the caller
wants the end (``--wait``; or ``--sync`` whose run was handed to a continuation invocation and
is still ``retrying``) follow the run's record until it is final, or lost (its function died
after writing ``running``: waiting out the budget would only end in a false "still running"),
or the budget runs out ─▶ a ``RunNowOutcome`` that says what was started, the record last seen,
its status as a person should read it, and whether the run-now did what was asked (``ok``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronplane.errors import AwsError
from cronplane.manifest import names
from cronplane.runs import invoke
from cronplane.runs.history import HistoryReader, effective_status
from cronplane.runs.invoke import NO_PAYLOAD, InvokeResponse, RunNotFinishedError, is_final, is_final_status
from cronplane.runtime.schema import RunRecord, RunStatus

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.manifest.models import Job, Manifest


@dataclass(frozen=True)
class StartedRun:
    """A manual run Lambda accepted (or, ``sync``, ran and answered)."""

    job: str
    run_id: str
    function: str
    qualifier: str | None
    sync: bool
    triggered_by: str | None  # the caller's ARN; None when STS could not say
    response: InvokeResponse

    @property
    def invocation_type(self) -> str:
        return "RequestResponse" if self.sync else "Event"


@dataclass(frozen=True)
class RunNowOutcome:
    started: StartedRun
    record: RunRecord | None  # the last one seen: the wrapper's answer (--sync) or the table's
    seen_at: datetime  # when it was seen: what ``status`` compares the record's deadline with
    expects_end: bool  # --wait or --sync: ``ok`` says how the run ended, not only that it started
    gave_up: RunNotFinishedError | None = None  # following ran out of budget (the message says what to do)

    @property
    def status(self) -> str | None:
        """The status a person should read: ``lost`` for a ``running`` record past its deadline."""
        return effective_status(self.record, self.seen_at) if self.record else None

    @property
    def final(self) -> bool:
        return self.status is not None and is_final_status(self.status)

    @property
    def lost(self) -> bool:
        return self.status == RunStatus.LOST.value

    @property
    def ok(self) -> bool:
        """Queued and accepted; or, when the end was asked for, ended as ``succeeded``."""
        return not self.expects_end or self.status == RunStatus.SUCCEEDED.value


def run_remote(
    client: AwsClient,
    manifest: Manifest,
    job: Job,
    payload: Any = NO_PAYLOAD,
    *,
    wait: bool = False,
    sync: bool = False,
    budget_s: float | None = None,
    on_started: Callable[[StartedRun], None] | None = None,
    on_status: Callable[[RunRecord], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> RunNowOutcome:
    """Run ``job`` now in AWS (or the emulator behind ``client``). ``budget_s`` bounds the
    following (default: ``wait_budget_s(job)``); ``on_started`` hears of the accepted
    invocation before any following starts, ``on_status`` of every status change seen."""
    # Through the module: tests pin the run id by patching ``invoke.new_manual_run_id``.
    run_id = invoke.new_manual_run_id()
    triggered_by = invoke.caller_arn(client)
    function, qualifier = invoke.function_target(manifest.namespace, job)
    response = invoke.invoke_function(
        client.lambda_,
        function,
        invoke.manual_envelope(run_id, triggered_by, payload),
        namespace=manifest.namespace,
        sync=sync,
        qualifier=qualifier,
    )
    started = StartedRun(job.name, run_id, function, qualifier, sync, triggered_by, response)
    if on_started is not None:
        on_started(started)
    record: RunRecord | None = None
    reader = HistoryReader(client.dynamodb, names.history_table(manifest.namespace))
    if sync and isinstance(response.payload, dict) and response.payload.get("run_id") == run_id:
        record = RunRecord.from_dict(response.payload)  # the wrapper returns the run's record
    elif sync and response.function_error:
        # A run that failed ends its invocation as an error (FunctionError) once it is recorded:
        # the outcome is in its record, not in Lambda's error object.
        record = _recorded(reader, run_id, job.name)
    expects_end = wait or sync
    if not expects_end or (record is not None and is_final(record)):
        return RunNowOutcome(started, record, now(), expects_end)
    if record is None and not wait:
        return RunNowOutcome(started, None, now(), expects_end)  # --sync, and no record came back
    # --wait; or --sync whose run was handed to a continuation invocation (retrying): follow it.
    try:
        record = invoke.wait_for_run(
            lambda: reader.get_run(run_id, job=job.name),
            budget_s or invoke.wait_budget_s(job),
            on_change=on_status,
            now=now,
        )
    except RunNotFinishedError as exc:
        gave_up = RunNotFinishedError(
            f"run {run_id} of {job.name}: {exc}; see `jobctl history {job.name} --run {run_id}`", exc.record
        )
        return RunNowOutcome(started, exc.record, now(), expects_end, gave_up)
    return RunNowOutcome(started, record, now(), expects_end)


def _recorded(reader: HistoryReader, run_id: str, job: str) -> RunRecord | None:
    """The run's record, or None when there is none to read (the function crashed before
    writing it; the table cannot be read): then Lambda's error object is all there is."""
    try:
        return reader.get_run(run_id, job=job)
    except AwsError:
        return None
