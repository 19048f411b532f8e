"""``jobctl run-now --local``: one manual run of a job on this machine, through the same
package and wrapper Lambda would run (``packaging.build_job_package``), in the local Lambda
runner (``runner.invoke_local``), with the job's environment (``resources.function_environment``).

The run record goes to the configured history table when it is reachable (AWS, or the
``jobctl dev`` emulator); otherwise ``CRONPLANE_HISTORY_TABLE`` is set empty and the wrapper
only logs the record and returns it. Either way the record is returned to the caller to print.
``CRONPLANE_DLQ_URL`` is the job's queue only on an emulator (an explicit endpoint); against
real AWS it is empty, so a laptop run's failure is logged, not sent to the team's real DLQ.

The job's code never gets the operator's credentials (``local.job_credentials``): it gets
temporary ones limited to its execution policy, or the run is refused, unless the operator asks
for their own with ``caller_credentials``. The child's environment carries those and nothing
else of the operator's (``runner.lambda_environment``). When AWS does not answer at all, the job
runs without any AWS credentials.
"""

from __future__ import annotations

import getpass
import io
import socket
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError
from cronplane.local.job_credentials import caller_credentials as own_credentials
from cronplane.local.job_credentials import scoped_credentials
from cronplane.local.runner import Invocation, InvocationResult, invoke_local
from cronplane.manifest import names
from cronplane.manifest.models import Job, Manifest
from cronplane.runs.invoke import NO_PAYLOAD, caller_arn, manual_envelope, new_manual_run_id
from cronplane.runtime import alerts, settings
from cronplane.runtime.schema import RunRecord, RunStatus

# Not Lambda's entry (which ends a failed run's invocation as an error): the record, whatever the end.
ENTRY_HANDLER = "cronplane.runtime.entry.record_handler"
REACH_TIMEOUT_S = 2.0  # how long the history table may take to answer before we run without it


@dataclass(frozen=True)
class Backend:
    """What the local run can reach: the history table (empty when unreachable), the DLQ,
    the identity for ``triggered_by``, and the variables that point the child at the same AWS
    with the credentials it may have (``credentials`` says which; "" for none)."""

    history_table: str
    dlq_url: str
    account_id: str | None
    triggered_by: str
    env: dict[str, str]
    reason: str  # why the table is not used, for the user; "" when it is
    credentials: str = ""  # where the child's AWS credentials come from, for the user
    caller_rights: bool = False  # the caller's own credentials (--caller-credentials)


@dataclass(frozen=True)
class LocalRun:
    run_id: str
    record: RunRecord | None  # as stored in the table, else as the wrapper returned it
    invocation: InvocationResult
    backend: Backend

    @property
    def status(self) -> str:
        stored = self.record.status if self.record else ""
        if stored and not (stored == RunStatus.RUNNING.value and not self.invocation.ok):
            return stored
        if stored:
            # The function died (hard kill, crash) while its record said running: what history
            # will call it once the deadline has passed.
            return RunStatus.LOST.value
        return RunStatus.TIMED_OUT.value if self.invocation.timed_out else RunStatus.FAILED.value


def _with_region(manifest: Manifest, aws: AwsConfig) -> AwsConfig:
    return aws if aws.region else replace(aws, region=manifest.region)


def quick_client(manifest: Manifest, aws: AwsConfig) -> AwsClient:
    """The door with one try and short timeouts: a local run must not wait on an AWS that
    does not answer."""
    return AwsClient(
        _with_region(manifest, aws), max_attempts=1, connect_timeout=REACH_TIMEOUT_S, read_timeout=REACH_TIMEOUT_S
    )


def probe_backend(manifest: Manifest, job: Job, aws: AwsConfig, *, caller_credentials: bool = False) -> Backend:
    """Find out, within ~2 s, whether AWS (or the emulator) answers with the history table, and
    make the job's credentials (``ScopingError`` when they cannot be limited to its policy and
    ``caller_credentials`` is off)."""
    local_user = f"local:{getpass.getuser()}@{socket.gethostname()}"
    table = names.history_table(manifest.namespace)
    region = aws.region or manifest.region
    where = aws.endpoint_url or f"AWS {region}"
    client = quick_client(manifest, aws)
    try:
        frozen = client.frozen_credentials()
    except AwsError as exc:  # a broken profile: run without AWS
        return Backend("", "", None, local_user, {}, f"no usable AWS configuration ({exc})")
    if frozen is None:
        return Backend("", "", None, local_user, {}, "no AWS credentials")
    aws_env = {"AWS_REGION": region, **({"AWS_ENDPOINT_URL": aws.endpoint_url} if aws.endpoint_url else {})}
    unavailable = ""
    try:
        client.dynamodb.describe_table(TableName=table)
    except AwsCallError as exc:  # AWS answered: the job may still reach it, so it gets credentials
        unavailable = f"{where}: " + (f"history table {table} does not exist there" if exc.not_found else str(exc))
    except AwsError as exc:  # nothing answers: the job runs without any AWS credentials
        return Backend("", "", None, local_user, aws_env, f"{where}: {exc}")
    arn = caller_arn(client)
    account = arn.split(":")[4] if arn and arn.count(":") >= 5 else None
    if caller_credentials:
        creds = own_credentials(frozen, arn)
    else:
        creds = scoped_credentials(client, manifest, job, arn or "", region)
    env = {**aws_env, **creds.environment()}
    source = creds.source
    if aws.credentials is not None:
        # A `jobctl dev` emulator serves requests signed with its session key only, so that is
        # the key the child gets (as the emulator's own functions do). It reaches nothing but the
        # emulator; the operator's real credentials are not involved either way.
        env.update(
            AWS_ACCESS_KEY_ID=aws.credentials.access_key_id, AWS_SECRET_ACCESS_KEY=aws.credentials.secret_access_key
        )
        env.update(AWS_SESSION_TOKEN="", AWS_SECURITY_TOKEN="")
        source = f"{source}; signed with the jobctl dev session key, which reaches only the emulator"
    if unavailable:
        return Backend("", "", account, arn or local_user, env, unavailable, source, not creds.scoped)
    dlq = ""  # empty: the wrapper logs a final failure instead of sending it
    if aws.endpoint_url:
        # Only to an emulator: a laptop run must not page whoever watches the real DLQ.
        try:
            dlq = client.sqs.get_queue_url(QueueName=names.dlq_name(manifest.namespace, job.name))["QueueUrl"]
        except AwsError:
            dlq = ""
    return Backend(table, dlq, account, arn or local_user, env, "", source, not creds.scoped)


def run_local(
    manifest: Manifest,
    job: Job,
    aws: AwsConfig,
    payload: Any = NO_PAYLOAD,
    on_log: Callable[[str], None] | None = None,
    backend: Backend | None = None,
    *,
    caller_credentials: bool = False,
) -> LocalRun:
    from cronplane.build.packaging import build_job_package
    from cronplane.build.resources import function_environment

    backend = backend or probe_backend(manifest, job, aws, caller_credentials=caller_credentials)
    package = build_job_package(manifest, job)
    region = aws.region or manifest.region
    env = function_environment(
        manifest, job, region=region, **({"account_id": backend.account_id} if backend.account_id else {})
    )
    env.update(backend.env)
    # Empty means "log the record only" to the wrapper (settings.HISTORY_TABLE / DLQ_URL).
    env[settings.HISTORY_TABLE] = backend.history_table
    env[settings.DLQ_URL] = backend.dlq_url
    if not backend.dlq_url:
        # Like the DLQ: a laptop run against real AWS must not page the job's on-call.
        env.pop(alerts.ALERT_ROUTES, None)
    run_id = new_manual_run_id()
    event = manual_envelope(run_id, backend.triggered_by, payload)
    with tempfile.TemporaryDirectory(prefix=f"cronplane-{job.name}-") as tmp:
        code_dir = Path(tmp)
        with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
            archive.extractall(code_dir)
        result = invoke_local(
            Invocation(
                code_dir=code_dir,
                handler=ENTRY_HANDLER,
                env=env,
                event=event,
                timeout_s=job.timeout,
                memory_mb=job.memory,
                function_name=names.function_name(manifest.namespace, job.name),
                region=region,
                account_id=backend.account_id,
            ),
            on_log=on_log,
        )
    record = _record_from(result.payload, run_id)
    if backend.history_table:
        stored = _stored_record(AwsClient(_with_region(manifest, aws)), backend.history_table, job.name, run_id)
        record = stored or record
    return LocalRun(run_id, record, result, backend)


def _record_from(payload: Any, run_id: str) -> RunRecord | None:
    """The wrapper returns the run's record; a crash or a hard kill returns Lambda's error."""
    if isinstance(payload, dict) and payload.get("run_id") == run_id and "status" in payload:
        return RunRecord.from_dict(payload)
    return None


def _stored_record(client: AwsClient, table: str, job: str, run_id: str) -> RunRecord | None:
    from cronplane.runs.history import HistoryReader

    try:
        return HistoryReader(client.dynamodb, table).get_run(run_id, job=job)
    except AwsError:
        return None  # it answered two seconds ago; if it stopped, show what the wrapper returned
