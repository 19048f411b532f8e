"""How ``jobctl dev`` and ``jobctl dev --demo`` read: one line per finished run (time, job,
trigger, status, duration, attempts, run id, error), the jobs' own log lines made readable and
prefixed with the job, and the demo's story. Pure: values in (``local.console.FinishedRun``,
``local.demo.DemoStory``), text out; ``cli/dev_console.py`` writes it to the terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from cronplane.cli.views.text import duration, plural

if TYPE_CHECKING:
    from cronplane.local.console import FinishedRun
    from cronplane.local.demo import DemoStory

RUNNER_FRAME = ("START RequestId:", "END RequestId:", "REPORT RequestId:")  # the runner's, not the job's
HIDDEN_FIELDS = {"level", "message", "job", "run_id", "request_id", "traceback", "timestamp", "time"}
STATUS_COLOURS = {
    "succeeded": "green",
    "failed": "red",
    "timed_out": "red",
    "lost": "red",
    "skipped": "yellow",
    "duplicate": "yellow",
    "retrying": "yellow",
}
ERROR_WIDTH = 100


# -- run lines ------------------------------------------------------------------------------
def run_line(run: FinishedRun, width: int = 14) -> str:
    """``09:00:03  invoice-sync    schedule  succeeded   804 ms  2 attempts  run ...  error``;
    ``width``: the job column (the longest job name seen so far)."""
    text = f"{run.time}  {run.job:<{width}}  {run.trigger:<9} {run.status:<10} {duration(run.duration_ms):>7}"
    if run.attempts and run.attempts > 1:
        text += f"  {run.attempts} attempts"
    if run.run_id:
        text += f"  run {run.run_id}"
    if run.error and run.status != "succeeded":
        error = run.error.splitlines()[0]
        text += f"  {error if len(error) <= ERROR_WIDTH else error[:ERROR_WIDTH].rsplit(' ', 1)[0] + ' ...'}"
    return text


def run_line_colour(status: str) -> tuple[str | None, bool]:
    """(colour, bold) of a run line: failures stand out."""
    return STATUS_COLOURS.get(status), status in ("failed", "timed_out")


def job_log_line(job: str, text: str) -> str:
    return f"[{job}] {text}"


def readable_log_line(line: str) -> str | None:
    """A function's log line as a person wants it in a terminal, or None to hide it.

    The runner's START / END / REPORT frames are hidden (the run line says it); Lambda's
    ``[LEVEL]\\t<time>\\t<request id>\\t<text>`` keeps level and text (the run line carries time
    and ids); the wrapper's JSON lines become ``message (key=value ...)``; CloudWatch
    embedded-metric lines are machine food and hidden. Anything else passes as is."""
    if line.startswith(RUNNER_FRAME):
        return None
    if line.startswith("[") and line.count("\t") >= 3:
        level, _, _, text = line.split("\t", 3)
        level = level.strip("[]")
        return text if level == "INFO" else f"{level} {text}"
    if not line.startswith("{"):
        return line
    try:
        data = json.loads(line)
    except ValueError:
        return line
    if not isinstance(data, dict) or "_aws" in data:
        return None if isinstance(data, dict) else line
    if "message" not in data:
        return line
    if data["message"] == "run finished":
        return None  # the run line printed right after says it, from the record
    level = str(data.get("level", "info")).upper()
    extra = " ".join(f"{k}={v}" for k, v in data.items() if k not in HIDDEN_FIELDS and v not in (None, ""))
    text = f"{data['message']}" + (f" ({extra})" if extra else "")
    return text if level == "INFO" else f"{level} {text}"


# -- the demo -------------------------------------------------------------------------------
def demo_intro(manifest_path: Path) -> str:
    return (
        f"cronplane demo: an AWS emulator on this machine, the jobs of {manifest_path} deployed into it, each run once."
    )


def demo_running(jobs: int) -> str:
    count = plural(jobs, "job") + (", in parallel" if jobs != 1 else "")
    return f"Running every job once through Lambda Invoke ({count}):"


def command_header(command: str) -> str:
    """Before the output of what the demo shows as a ``jobctl`` command."""
    return f"$ {command}"


def unreadable(command: str, error: str) -> str:
    """A read the demo shows as a ``jobctl`` command failed: the demo goes on."""
    return f"{command} failed: {error}"


def dlq_count(job: str, messages: int) -> str:
    return f"DLQ of {job}: {plural(messages, 'message')}"


def demo_explained(story: DemoStory) -> list[tuple[str, bool]]:
    """What just happened and what to do next: (line, bold)."""
    lines = [
        ("What just happened:", True),
        (
            f"  1. moto started on {story.endpoint_url}; `jobctl deploy`'s code created for each job a Lambda",
            False,
        ),
        ("     function, its trigger, a dead-letter queue and an IAM role, plus the run-history table.", False),
        ("  2. Each job was invoked like `jobctl run-now JOB` does; the emulator ran its real code in a child", False),
        ("     process through the cronplane wrapper, which wrote one run record per run.", False),
    ]
    for run in story.runs:
        attempts = f", {plural(run.attempts, 'attempt')}" if run.attempts else ""
        lines.append((f"     - {run.job}: {run.status}{attempts}: {run.story}.", False))
    lines += [
        (
            f"  3. All of it took {duration(story.elapsed_s * 1000)} and no AWS account; "
            "the emulator stopped with the demo.",
            False,
        ),
        ("Next: keep it running (schedules fire, every edit of jobs.yaml or jobs/ re-deploys):", True),
    ]
    activate = f"source {story.venv}/bin/activate" if story.venv else ""
    lines.append((f"  {activate + ' && ' if activate else ''}{story.dev_command}", False))
    lines.append(
        (
            f"  then in a second terminal{f' (after {activate})' if activate else ''}: "
            "jobctl run-now invoice-sync --wait; jobctl history; jobctl dlq search-reindex",
            False,
        )
    )
    return lines


def demo_problems(problems: list[str]) -> list[str]:
    return ["The demo did not go as expected:", *(f"  - {problem}" for problem in problems)]
