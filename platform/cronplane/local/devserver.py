"""``jobctl dev``: the whole platform on one machine.

Start the emulator (``emulator.py``: moto + Lambda Invoke that runs the real code) ─▶ deploy the
manifest into it with the normal deploy code (``cronplane.deployer``) ─▶ advertise the endpoint
(``.cronplane/dev.json``) ─▶ fire the deployed rules and schedules (``scheduler.py``) ─▶ print
one line per run (read back from the history table) and the jobs' own log lines ─▶ on a change
of ``jobs.yaml`` or anything under ``jobs/``, re-validate and re-deploy (a broken manifest is
reported and the previous deployment keeps running) ─▶ on SIGINT / SIGTERM stop everything:
scheduler, watcher, running functions, the server (port freed) and the dev file.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from cronplane.errors import CronplaneError
from cronplane.local.emulator import Emulator, FunctionSpec, InvocationDone
from cronplane.local.scheduler import LocalScheduler, ScaledClock, boto3_invoker, read_triggers, sqs_dead_letter
from cronplane.runtime import settings as runtime_settings

log = logging.getLogger(__name__)

RUNNER_FRAME = ("START RequestId:", "END RequestId:", "REPORT RequestId:")  # the runner's, not the job's


@dataclass(frozen=True)
class DevOptions:
    manifest_path: Path
    port: int = 4566
    host: str = "127.0.0.1"
    time_scale: float = 1.0
    schedule: bool = True  # fire rules and schedules
    watch: bool = True  # reload on changes
    poll_s: float = 1.0  # how often the watcher looks at mtimes
    refresh_s: float = 1.0  # how often the scheduler re-reads the triggers
    quiet_logs: bool = False  # hide the jobs' own log lines (the demo prints a summary instead)
    write_dev_file: bool = True


DeployFn = Callable[[Any, Any], Any]  # (Manifest, AwsConfig) -> deploy result


def default_deploy(manifest: Any, config: Any) -> Any:
    """The deploy ``jobctl deploy --yes`` does, into the emulator."""
    from cronplane.aws.client import AwsClient
    from cronplane.deployer import Deployer

    return Deployer(AwsClient(config)).deploy(manifest)


class Console:
    """Serialised output: runs, log lines and messages from several threads, one line each."""

    def __init__(self, out: TextIO | None = None, color: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.color = self.out.isatty() if color is None else color
        self._lock = threading.Lock()

    def line(self, text: str, fg: str | None = None, bold: bool = False) -> None:
        if self.color and (fg or bold):
            import click

            text = click.style(text, fg=fg, bold=bold)
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()


STATUS_COLORS = {"succeeded": "green", "failed": "red", "timed_out": "red", "lost": "red", "skipped": "yellow", "duplicate": "yellow", "retrying": "yellow"}


class RunReporter:
    """One line per finished invocation, from the run record the wrapper wrote (so what is
    printed is what ``jobctl history`` will show); the job's log lines prefixed with its name."""

    def __init__(self, emulator: Emulator, console: Console, show_logs: bool = True) -> None:
        self.emulator = emulator
        self.console = console
        self.show_logs = show_logs
        self.finished: list[dict[str, Any]] = []  # what was reported, newest last
        self._lock = threading.Lock()
        self._width = 14

    def on_log(self, spec: FunctionSpec, request_id: str, line: str) -> None:
        if not self.show_logs or line.startswith(RUNNER_FRAME):
            return
        text = readable_log_line(line)
        if text is None:
            return
        self._width = max(self._width, len(spec.job))
        self.console.line(f"[{spec.job}] {text}")

    def on_done(self, done: InvocationDone) -> None:
        record = self.find_record(done)
        row = run_row(done, record)
        with self._lock:
            self.finished.append(row)
        fg = STATUS_COLORS.get(row["status"])
        self.console.line(format_row(row, self._width), fg=fg, bold=row["status"] in ("failed", "timed_out"))

    def find_record(self, done: InvocationDone) -> dict[str, Any] | None:
        """The run record written during this invocation (matched by its request id)."""
        table = done.function.env.get(runtime_settings.HISTORY_TABLE)
        if not table:
            return None
        from cronplane.history import from_item

        try:
            page = self.emulator.client("dynamodb", done.function.region).query(
                TableName=table, KeyConditionExpression="job = :job", ScanIndexForward=False, Limit=25,
                ExpressionAttributeValues={":job": {"S": done.function.job}},
            )
        except Exception as exc:  # the table may be gone after a destroy; print what we know
            log.debug("history lookup failed: %s", exc)
            return None
        for item in page.get("Items", []):
            record = from_item(item)
            if record.get("request_id") == done.request_id and record.get("kind", "run") == "run":
                return record
        return None


def run_row(done: InvocationDone, record: dict[str, Any] | None) -> dict[str, Any]:
    result = done.result
    if record is not None:
        return {
            "time": _short_time(record.get("finished_at") or record.get("started_at")),
            "job": done.function.job,
            "trigger": record.get("trigger", "?"),
            "status": record.get("status", "?"),
            "duration_ms": record.get("duration_ms", result.duration_ms),
            "attempts": len(record.get("attempts") or []) or None,
            "run_id": record.get("run_id"),
            "error": record.get("error"),
            "request_id": done.request_id,
        }
    # No record: a function cronplane did not wrap, or one killed before it could write.
    status = "timed_out" if result.timed_out else ("failed" if result.function_error else "succeeded")
    payload = result.payload if isinstance(result.payload, dict) else {}
    return {
        "time": datetime.now(timezone.utc).strftime("%H:%M:%S"),
        "job": done.function.job,
        "trigger": _trigger_of(done.event),
        "status": status,
        "duration_ms": result.duration_ms,
        "attempts": None,
        "run_id": None,
        "error": f"{payload.get('errorType')}: {payload.get('errorMessage')}" if result.function_error else None,
        "request_id": done.request_id,
    }


def format_row(row: dict[str, Any], width: int = 14) -> str:
    duration = _duration(row.get("duration_ms"))
    text = f"{row['time']}  {row['job']:<{width}}  {row['trigger']:<9} {row['status']:<10} {duration:>7}"
    if row.get("attempts") and row["attempts"] > 1:
        text += f"  {row['attempts']} attempts"
    if row.get("run_id"):
        text += f"  run {row['run_id']}"
    if row.get("error") and row["status"] != "succeeded":
        error = str(row["error"]).splitlines()[0] if row["error"] else ""
        text += f"  {error[:120]}"
    return text


def _duration(ms: Any) -> str:
    if ms is None:
        return "-"
    ms = int(ms)
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def _short_time(value: Any) -> str:
    text = str(value or "")
    return text[11:19] if len(text) >= 19 else datetime.now(timezone.utc).strftime("%H:%M:%S")


def _trigger_of(event: Any) -> str:
    if isinstance(event, dict):
        inner = event.get("cronplane")
        if isinstance(inner, dict) and inner.get("trigger"):
            return str(inner["trigger"])
        if event.get("source") == "aws.events":
            return "schedule"
    return "manual"


HIDDEN_FIELDS = {"level", "message", "job", "run_id", "request_id", "traceback", "timestamp", "time"}


def readable_log_line(line: str) -> str | None:
    """A function's log line as a person wants it in a terminal, or None to hide it.

    Lambda's ``[LEVEL]\t<time>\t<request id>\t<text>`` keeps level and text (the run line
    carries time and ids); the wrapper's JSON lines become ``message (key=value ...)``;
    CloudWatch embedded-metric lines are machine food and hidden. Anything else passes as is."""
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


class Watcher:
    """Polls the modification times of the manifest and everything under jobs/."""

    def __init__(self, manifest_path: Path) -> None:
        self.manifest_path = manifest_path
        self.jobs_dir = manifest_path.parent / "jobs"
        self._last = self.snapshot()

    def snapshot(self) -> dict[str, tuple[int, int]]:
        files = [self.manifest_path]
        if self.jobs_dir.is_dir():
            for folder, dirs, names_ in os.walk(self.jobs_dir):
                dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
                files.extend(Path(folder) / n for n in names_ if not n.endswith((".pyc", ".pyo", "~")) and not n.startswith("."))
        state = {}
        for path in files:
            try:
                stat = path.stat()
            except OSError:
                continue
            state[str(path)] = (stat.st_mtime_ns, stat.st_size)
        return state

    def changed(self) -> list[str]:
        current = self.snapshot()
        diff = sorted(k for k in set(current) | set(self._last) if current.get(k) != self._last.get(k))
        self._last = current
        return diff


class DevServer:
    def __init__(self, options: DevOptions, console: Console | None = None, deploy: DeployFn | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self._deploy = deploy or default_deploy
        self.emulator = Emulator(options.host, options.port)
        self.reporter = RunReporter(self.emulator, self.console, show_logs=not options.quiet_logs)
        self.manifest: Any = None
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.scheduler: LocalScheduler | None = None
        self._threads: list[threading.Thread] = []
        self._deploy_lock = threading.Lock()
        self._dev_file: Path | None = None

    @property
    def root(self) -> Path:
        return self.options.manifest_path.resolve().parent

    def aws_config(self) -> Any:
        from cronplane.aws.session import AwsConfig

        return AwsConfig(region=self.manifest.region, endpoint_url=self.emulator.endpoint_url)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Validate, start the emulator, deploy, then start the scheduler and the watcher.
        Raises CronplaneError (with everything stopped again) when any of it fails."""
        from cronplane.manifest import load_manifest

        self.manifest = load_manifest(self.options.manifest_path)
        self.emulator.log_listeners.append(self.reporter.on_log)
        self.emulator.done_listeners.append(self.reporter.on_done)
        self.emulator.start()
        try:
            self.console.line(f"cronplane dev: AWS emulator on {self.emulator.endpoint_url} (region {self.manifest.region})")
            self.deploy(self.manifest, first=True)
            if self.options.write_dev_file:
                from cronplane.aws.session import write_dev_file

                self._dev_file = write_dev_file(self.root, self.emulator.endpoint_url, self.manifest.region)
            if self.options.schedule:
                self._start_scheduler()
            if self.options.watch:
                self._spawn("watcher", self._watch)
        except BaseException:
            self.stop()
            raise
        self.ready.set()

    def banner(self) -> None:
        endpoint = self.emulator.endpoint_url
        scale = f", time x{self.options.time_scale:g}" if self.options.time_scale != 1 else ""
        firing = f"firing schedules{scale}" if self.options.schedule else "schedules not fired (--no-schedule)"
        self.console.line(f"cronplane dev is ready: {len(self.manifest.jobs)} jobs deployed, {firing}.", bold=True)
        self.console.line("Point other commands at it (jobctl in this folder finds it by itself via .cronplane/dev.json):")
        self.console.line(f"  export AWS_ENDPOINT_URL={endpoint}   # boto3, the AWS CLI, jobctl")
        self.console.line(f"  jobctl run-now {self.manifest.jobs[0].name if self.manifest.jobs else 'JOB'} --endpoint-url {endpoint}")
        self.console.line("  jobctl history")
        self.console.line("Watching jobs.yaml and jobs/ for changes. Ctrl-C stops.")

    def wait(self) -> None:
        """Block until ``stop_event`` is set (signal handler, or a test)."""
        while not self.stop_event.wait(0.2):
            pass

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.emulator.stop()
        if self._dev_file is not None:
            self._remove_dev_file(self._dev_file)
            self._dev_file = None

    # -- deploy and reload -----------------------------------------------------------------

    def deploy(self, manifest: Any, first: bool = False) -> bool:
        with self._deploy_lock:
            try:
                result = self._deploy(manifest, self.aws_config())
            except CronplaneError as exc:
                if first:
                    raise
                self.console.line(f"deploy failed, previous deployment keeps running: {exc}", fg="red")
                return False
            self.manifest = manifest
            summary = _deploy_summary(result)
            self.console.line(f"deployed {manifest.path}: {summary}" if summary else f"deployed {manifest.path}")
            return True

    def reload(self, changed: list[str]) -> bool:
        from cronplane.manifest import load_manifest

        shown = ", ".join(os.path.relpath(p, self.root) for p in changed[:3]) + (" ..." if len(changed) > 3 else "")
        self.console.line(f"change detected ({shown}): re-validating and re-deploying")
        try:
            manifest = load_manifest(self.options.manifest_path)
        except CronplaneError as exc:
            self.console.line(f"{exc}\nnot deployed; the previous deployment keeps running", fg="red")
            return False
        return self.deploy(manifest)

    def _watch(self) -> None:
        watcher = Watcher(self.options.manifest_path.resolve())
        while not self.stop_event.wait(self.options.poll_s):
            changed = watcher.changed()
            if changed:
                try:
                    self.reload(changed)
                except Exception as exc:  # keep watching whatever happened
                    self.console.line(f"reload failed: {type(exc).__name__}: {exc}", fg="red")

    # -- scheduling ------------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        region = self.manifest.region
        events = self.emulator.client("events", region)
        scheduler_client = self.emulator.client("scheduler", region)
        cache: dict[Any, Any] = {}
        from moto.core import DEFAULT_ACCOUNT_ID

        self.scheduler = LocalScheduler(
            read=lambda: read_triggers(events, scheduler_client, cache),
            invoke=boto3_invoker(self.emulator.client("lambda", region)),
            clock=ScaledClock(self.options.time_scale),
            account=DEFAULT_ACCOUNT_ID,
            region=region,
            dead_letter=sqs_dead_letter(self.emulator.client("sqs", region)),
            refresh_s=self.options.refresh_s,
        )
        self._spawn("scheduler", self.scheduler.run, self.stop_event)

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _remove_dev_file(path: Path) -> None:
        try:
            info = json.loads(path.read_text())
            if int(info.get("pid", -1)) == os.getpid():  # never remove another dev server's file
                path.unlink()
        except (OSError, ValueError):
            pass


def _deploy_summary(result: Any) -> str:
    """A short account of what a deploy did (``deployer.DeployResult``)."""
    plan = getattr(result, "plan", None)
    if plan is None:
        return ""
    if getattr(result, "applied", None) is None or not plan.has_changes:
        return "no changes"
    return str(plan.summary()).replace("Plan: ", "").rstrip(".").replace("to create", "created").replace("to update", "updated").replace("to delete", "deleted")

