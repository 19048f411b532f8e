"""``jobctl dev --demo`` (what ``scripts/demo`` runs): the whole platform in one command, for a
newcomer with no AWS account.

Start the emulator on a free port ─▶ deploy the manifest into it ─▶ invoke every job once,
asynchronously, through the Lambda Invoke path (as ``jobctl run-now`` does) ─▶ wait for each run
record to reach a final status ─▶ show the history (what ``jobctl history`` shows) and the
dead-letter queue of every job that failed ─▶ explain what happened ─▶ stop.

This module runs the demo through the services (``runs/``, ``ops/``) and says what happened to
a ``DemoPresenter``; the words are the CLI's (``cronplane.cli.dev_console.DemoPrinter``), which
``jobctl dev --demo`` injects.

The demo succeeds when every job of the example manifest ended as designed (nightly-report and
tmp-cleanup succeed, invoice-sync fails once then succeeds on retry, search-reindex times out
and lands in its DLQ); jobs it does not know only have to finish.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cronplane.aws.client import AwsClient
from cronplane.errors import AwsError, CronplaneError
from cronplane.local.devserver import DevOptions, DevServer
from cronplane.manifest import names
from cronplane.runtime.schema import RunRecord

if TYPE_CHECKING:
    from cronplane.local.console import DevConsole
    from cronplane.manifest.models import Job
    from cronplane.ops.dlq import DlqMessage
    from cronplane.runs.history import HistoryPage

DLQ_WAIT_S = 5.0  # the wrapper sends the DLQ message around the final record write
HISTORY_LIMIT = 50  # the page `jobctl history` shows by default


@dataclass(frozen=True)
class Expected:
    status: str
    min_attempts: int = 1
    dlq_messages: int = 0
    story: str = ""


# The example jobs in jobs/ were written to show each outcome once.
EXPECTED: dict[str, Expected] = {
    "nightly-report": Expected("succeeded", story="ran and returned its report"),
    "invoice-sync": Expected(
        "succeeded",
        min_attempts=2,
        story="lost its connection on attempt 1; the wrapper retried it with backoff and attempt 2 succeeded",
    ),
    "tmp-cleanup": Expected("succeeded", story="cleaned its scratch folder"),
    "search-reindex": Expected(
        "timed_out",
        dlq_messages=1,
        story="was still working when its 5 s timeout neared; the wrapper recorded timed_out and sent it to its DLQ before the runner killed it",
    ),
}


@dataclass(frozen=True)
class DemoRun:
    """One job's run in the demo, and what did not go as the demo promises."""

    job: str
    run_id: str
    record: RunRecord | None
    dlq_messages: int
    problems: tuple[str, ...]

    @property
    def status(self) -> str:
        return self.record.status if self.record else "missing"

    @property
    def attempts(self) -> int:
        return len(self.record.attempts) if self.record else 0

    @property
    def story(self) -> str:
        expected = EXPECTED.get(self.job)
        return expected.story if expected else "ran"


@dataclass(frozen=True)
class DemoStory:
    """What the closing explanation tells."""

    endpoint_url: str
    runs: tuple[DemoRun, ...]
    elapsed_s: float
    dev_command: str  # how to start `jobctl dev` on the same manifest
    venv: str | None  # the virtualenv to activate first, when the shell has not (``unactivated_venv``)


class DemoPresenter(Protocol):
    """Says what the demo does, as it does it."""

    def intro(self, manifest_path: Path) -> None: ...

    def running(self, jobs: int) -> None: ...

    def history(self, page: HistoryPage, now: datetime) -> None: ...

    def dlq(self, job: str, messages: list[DlqMessage]) -> None: ...

    def history_unreadable(self, error: str) -> None: ...

    def dlq_unreadable(self, job: str, error: str, messages: int) -> None: ...

    def explain(self, story: DemoStory) -> None: ...

    def problems(self, problems: list[str]) -> None: ...


def run_demo(manifest_path: Path, console: DevConsole, presenter: DemoPresenter, port: int = 0) -> bool:
    """Run the demo; True when everything ended as ``EXPECTED`` says."""
    started = time.monotonic()
    options = DevOptions(manifest_path=manifest_path, port=port, schedule=False, watch=False, write_dev_file=False)
    server = DevServer(options, console)
    presenter.intro(manifest_path)
    try:
        server.start()
        manifest = server.manifest
        presenter.running(len(manifest.jobs))
        aws = AwsClient(server.aws_config())  # one door for the whole demo: clients built once
        run_ids = start_runs(server, aws)
        runs = tuple(wait_run(server, aws, job, run_ids[job.name]) for job in manifest.jobs)
        show_history(server, aws, presenter)
        show_dlqs(server, aws, runs, presenter)
        presenter.explain(
            DemoStory(
                server.emulator.endpoint_url,
                runs,
                time.monotonic() - started,
                dev_command(manifest.path),
                unactivated_venv(),
            )
        )
    finally:
        server.stop()
    problems = [p for run in runs for p in run.problems]
    if problems:
        presenter.problems(problems)
    return not problems


def start_runs(server: DevServer, aws: AwsClient) -> dict[str, str]:
    """Queue one manual run per job (InvocationType Event), as ``jobctl run-now`` does."""
    from cronplane.runs.invoke import caller_arn, function_target, invoke_function, manual_envelope, new_manual_run_id

    who = caller_arn(aws)
    run_ids = {}
    for job in server.manifest.jobs:
        run_id = new_manual_run_id()
        function, qualifier = function_target(server.manifest.namespace, job)
        invoke_function(
            aws.lambda_,
            function,
            manual_envelope(run_id, who),
            namespace=server.manifest.namespace,
            qualifier=qualifier,
        )
        run_ids[job.name] = run_id
    return run_ids


def wait_run(server: DevServer, aws: AwsClient, job: Job, run_id: str) -> DemoRun:
    from cronplane.runs.history import HistoryReader
    from cronplane.runs.invoke import RunNotFinishedError, wait_budget_s, wait_for_run

    reader = HistoryReader(aws.dynamodb, names.history_table(server.manifest.namespace))
    problems: list[str] = []
    record: RunRecord | None
    try:
        record = wait_for_run(lambda: reader.get_run(run_id, job=job.name), wait_budget_s(job), poll_s=0.25)
    except RunNotFinishedError as exc:
        record = reader.get_run(run_id, job=job.name)
        problems.append(f"{job.name}: {exc}")
    expected = EXPECTED.get(job.name)
    # The DLQ message is sent around the final record write: give it a moment, if one is due.
    due = expected.dlq_messages if expected and record and record.status == expected.status else 0
    dlq = dlq_count(server, aws, job.name, wait_for=due)
    if expected and record is not None:
        status = record.status
        attempts = len(record.attempts)
        if status != expected.status:
            problems.append(f"{job.name}: expected {expected.status}, got {status} ({record.error or 'no error'})")
        if attempts < expected.min_attempts:
            problems.append(f"{job.name}: expected at least {expected.min_attempts} attempts, got {attempts}")
        if dlq < expected.dlq_messages:
            problems.append(f"{job.name}: expected {expected.dlq_messages} message(s) in its DLQ, found {dlq}")
    return DemoRun(job.name, run_id, record, dlq, tuple(problems))


def dlq_count(server: DevServer, aws: AwsClient, job: str, wait_for: int = 0) -> int:
    sqs = aws.sqs
    try:
        url = sqs.get_queue_url(QueueName=names.dlq_name(server.manifest.namespace, job))["QueueUrl"]
    except AwsError:
        return 0
    deadline = time.monotonic() + (DLQ_WAIT_S if wait_for else 0)
    while True:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        count = int(attrs.get("ApproximateNumberOfMessages", 0))
        if count >= wait_for or time.monotonic() >= deadline:
            return count
        time.sleep(0.1)


def show_history(server: DevServer, aws: AwsClient, presenter: DemoPresenter) -> None:
    """Every job's latest runs: the page ``jobctl history`` shows, read the same way."""
    from cronplane.runs.history import HistoryReader

    reader = HistoryReader(aws.dynamodb, names.history_table(server.manifest.namespace))
    try:
        page = reader.all_page(limit=HISTORY_LIMIT)
    except Exception as exc:  # a failed read must not hide what the demo already showed
        presenter.history_unreadable(_reason(exc))
        return
    presenter.history(page, datetime.now(UTC))


def show_dlqs(server: DevServer, aws: AwsClient, runs: tuple[DemoRun, ...], presenter: DemoPresenter) -> None:
    """The dead-letter queue of every job whose run ended badly (or left a message)."""
    from cronplane.ops.dlq import list_messages, queue_url

    for run in runs:
        if not (run.dlq_messages or run.status in ("failed", "timed_out")):
            continue
        try:
            messages = list_messages(aws.sqs, queue_url(aws.sqs, server.manifest.namespace, run.job))
        except Exception as exc:  # as above: say so, with the count the demo already has
            presenter.dlq_unreadable(run.job, _reason(exc), run.dlq_messages)
            continue
        presenter.dlq(run.job, messages)


def _reason(exc: Exception) -> str:
    return str(exc) if isinstance(exc, CronplaneError) else f"{type(exc).__name__}: {exc}"


def unactivated_venv() -> str | None:
    """The virtualenv this runs from when the shell has not activated it (scripts/demo puts it
    on its own PATH only), so the next steps can say how to get ``jobctl``; else None."""
    import os
    import sys

    if sys.prefix == sys.base_prefix or os.environ.get("VIRTUAL_ENV"):
        return None
    venv = os.path.relpath(sys.prefix)
    return sys.prefix if venv.startswith("..") else venv


def dev_command(manifest_path: str) -> str:
    default = Path("jobs.yaml").resolve() == Path(manifest_path).resolve()
    return "jobctl dev" if default else f"jobctl dev -f {manifest_path}"
