"""``jobctl dev --demo`` (what ``scripts/demo`` runs): the whole platform in one command, for a
newcomer with no AWS account.

Start the emulator on a free port ─▶ deploy the manifest into it ─▶ invoke every job once,
asynchronously, through the Lambda Invoke path (as ``jobctl run-now`` does) ─▶ wait for each run
record to reach a final status ─▶ print ``jobctl history`` (the real command, against the
emulator) and the dead-letter queue of every job that failed ─▶ explain what happened ─▶ stop.

Exit 0 when every job of the example manifest ended as designed (nightly-report and tmp-cleanup
succeed, invoice-sync fails once then succeeds on retry, search-reindex times out and lands in
its DLQ); exit 1 when an expected outcome did not happen. Jobs the demo does not know only have
to finish.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cronplane.aws.client import AwsClient
from cronplane.errors import AwsError, CronplaneError
from cronplane.local.console import Console
from cronplane.local.devserver import DevOptions, DevServer
from cronplane.manifest import names
from cronplane.runtime.schema import RunRecord

DLQ_WAIT_S = 5.0  # the wrapper sends the DLQ message around the final record write


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
class Outcome:
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


def run_demo(manifest_path: Path, console: Console, port: int = 0) -> int:
    started = time.monotonic()
    options = DevOptions(manifest_path=manifest_path, port=port, schedule=False, watch=False, write_dev_file=False)
    server = DevServer(options, console)
    console.line(
        f"cronplane demo: an AWS emulator on this machine, the jobs of {manifest_path} deployed into it, each run once.",
        bold=True,
    )
    try:
        server.start()
        manifest = server.manifest
        count = f"{len(manifest.jobs)} job" + ("s, in parallel" if len(manifest.jobs) != 1 else "")
        console.line(f"Running every job once through Lambda Invoke ({count}):", bold=True)
        aws = AwsClient(server.aws_config())  # one door for the whole demo: clients built once
        run_ids = start_runs(server, aws)
        outcomes = [wait_outcome(server, aws, job, run_ids[job.name]) for job in manifest.jobs]
        console.line("")
        console.line("$ jobctl history", bold=True)
        print_history(server)
        print_dlqs(server, outcomes)
        console.line("")
        explain(console, server, outcomes, time.monotonic() - started)
    finally:
        server.stop()
    problems = [p for o in outcomes for p in o.problems]
    if problems:
        console.line("The demo did not go as expected:", fg="red", bold=True)
        for problem in problems:
            console.line(f"  - {problem}", fg="red")
        return 1
    return 0


def start_runs(server: DevServer, aws: AwsClient) -> dict[str, str]:
    """Queue one manual run per job (InvocationType Event), as ``jobctl run-now`` does."""
    from cronplane.runs.invoke import caller_arn, function_target, invoke_function, manual_envelope, new_manual_run_id

    who = caller_arn(aws)
    run_ids = {}
    for job in server.manifest.jobs:
        run_id = new_manual_run_id()
        function, qualifier = function_target(server.manifest.namespace, job)
        invoke_function(aws.lambda_, function, manual_envelope(run_id, who), qualifier=qualifier)
        run_ids[job.name] = run_id
    return run_ids


def wait_outcome(server: DevServer, aws: AwsClient, job: Any, run_id: str) -> Outcome:
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
    return Outcome(job.name, run_id, record, dlq, tuple(problems))


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


def print_history(server: DevServer) -> None:
    """The real ``jobctl history`` command, pointed at the emulator."""
    from cronplane.cli.run_cmds import history

    run_command(server, history, [])


def print_dlqs(server: DevServer, outcomes: list[Outcome]) -> None:
    """The real ``jobctl dlq JOB`` of every job whose run ended badly (or left a message)."""
    from cronplane.cli.ops_cmds import dlq

    for outcome in outcomes:
        if outcome.dlq_messages or outcome.status in ("failed", "timed_out"):
            server.console.line("")
            server.console.line(f"$ jobctl dlq {outcome.job}", bold=True)
            if not run_command(server, dlq, [outcome.job]):
                plural = "" if outcome.dlq_messages == 1 else "s"
                server.console.line(f"DLQ of {outcome.job}: {outcome.dlq_messages} message{plural}")


def run_command(server: DevServer, command: Any, args: list[str]) -> bool:
    """Run a ``jobctl`` command in this process against the emulator; False if it failed."""
    import click

    args = [
        *args,
        "-f",
        str(server.options.manifest_path),
        "--endpoint-url",
        server.emulator.endpoint_url,
        "--region",
        server.manifest.region,
    ]
    try:
        command.main(args=args, prog_name=f"jobctl {command.name}", standalone_mode=False)
    except (CronplaneError, click.ClickException) as exc:
        server.console.line(f"jobctl {command.name} failed: {exc}", fg="red")
        return False
    except Exception as exc:  # a broken command must not hide what the demo already showed
        server.console.line(f"jobctl {command.name} failed: {type(exc).__name__}: {exc}", fg="red")
        return False
    return True


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


def explain(console: Console, server: DevServer, outcomes: list[Outcome], elapsed_s: float) -> None:
    manifest = server.manifest
    console.line("What just happened:", bold=True)
    console.line(
        f"  1. moto started on {server.emulator.endpoint_url}; `jobctl deploy`'s code created for each job a Lambda"
    )
    console.line("     function, its trigger, a dead-letter queue and an IAM role, plus the run-history table.")
    console.line("  2. Each job was invoked like `jobctl run-now JOB` does; the emulator ran its real code in a child")
    console.line("     process through the cronplane wrapper, which wrote one run record per run.")
    for outcome in outcomes:
        expected = EXPECTED.get(outcome.job)
        story = expected.story if expected else "ran"
        attempts = f", {outcome.attempts} attempt{'s' if outcome.attempts != 1 else ''}" if outcome.attempts else ""
        console.line(f"     - {outcome.job}: {outcome.status}{attempts}: {story}.")
    console.line(f"  3. All of it took {elapsed_s:.1f} s and no AWS account; the emulator stopped with the demo.")
    console.line("Next: keep it running (schedules fire, every edit of jobs.yaml or jobs/ re-deploys):", bold=True)
    venv = unactivated_venv()
    activate = f"source {venv}/bin/activate" if venv else ""
    console.line(f"  {activate + ' && ' if activate else ''}{dev_command(manifest.path)}")
    console.line(
        f"  then in a second terminal{f' (after {activate})' if activate else ''}: "
        "jobctl run-now invoice-sync --wait; jobctl history; jobctl dlq search-reindex"
    )
