"""``jobctl dev``: the whole platform on one machine.

Start the emulator (``emulator.py``: moto + Lambda Invoke that runs the real code, behind a door
that serves only this session's key) ─▶ deploy the manifest into it with the normal deploy code
(``cronplane.aws.deployer``) ─▶ advertise the endpoint (``.cronplane/dev.json``) and the key
(``.cronplane/dev-credentials``, mode 0600) ─▶ fire the deployed rules and schedules (``scheduler.py``) ─▶ print
one line per run (read back from the history table) and the jobs' own log lines ─▶ on a change
of ``jobs.yaml`` or anything under ``jobs/``, re-validate and re-deploy (a broken manifest is
reported and the previous deployment keeps running) ─▶ on SIGINT / SIGTERM stop everything:
scheduler, watcher, running functions, the server (port freed) and the dev files.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronplane.errors import CronplaneError
from cronplane.local.console import Console, DevConsole, RunReporter
from cronplane.local.deployed_triggers import DeployedTrigger, ScheduleCache, read_triggers
from cronplane.local.emulator import Emulator
from cronplane.local.scheduler import LocalScheduler, ScaledClock, lambda_invoker, sqs_dead_letter
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.deployer import DeployResult
    from cronplane.aws.session import AwsConfig, DevEmulator
    from cronplane.local.report_page import ReportPage, ReportViews
    from cronplane.manifest.models import Manifest

log = logging.getLogger(__name__)


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


# Deploys a manifest into the emulator; tests pass one that only records what it was given.
DeployFn = Callable[["Manifest", "AwsConfig"], "DeployResult | None"]


def default_deploy(manifest: Manifest, config: AwsConfig) -> DeployResult:
    """The deploy ``jobctl deploy --yes`` does, into the emulator."""
    from cronplane.aws.client import AwsClient
    from cronplane.aws.deployer import Deployer

    return Deployer(AwsClient(config)).deploy(manifest)


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
                files.extend(
                    Path(folder) / n for n in names_ if not n.endswith((".pyc", ".pyo", "~")) and not n.startswith(".")
                )
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
    def __init__(
        self,
        options: DevOptions,
        console: DevConsole | None = None,
        deploy: DeployFn | None = None,
        report_views: ReportViews | None = None,
    ) -> None:
        self.options = options
        # The live run grid (local/report_page.py), drawn by the CLI's views; none without them.
        self.report_views = report_views
        self.report_page: ReportPage | None = None
        # `jobctl dev` passes the terminal's (cli/dev_console.py); the plain one prints messages only.
        self.console: DevConsole = console or Console()
        self._deploy = deploy or default_deploy
        self.emulator = Emulator(options.host, options.port)
        self.reporter = RunReporter(self.emulator, self.console, show_logs=not options.quiet_logs)
        self.manifest: Manifest  # set by start(): the manifest deployed last
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.scheduler: LocalScheduler | None = None
        self._threads: list[threading.Thread] = []
        self._deploy_lock = threading.Lock()
        self._dev_files: list[Path] = []  # .cronplane/dev-credentials, .cronplane/dev.json

    @property
    def root(self) -> Path:
        return self.options.manifest_path.resolve().parent

    def aws_config(self) -> AwsConfig:
        return self.emulator.aws_config(self.manifest.region)

    def advertised(self) -> DevEmulator:
        """What other commands learn about this dev server: endpoint, region, session key."""
        from cronplane.aws.session import DevEmulator

        return DevEmulator(self.emulator.endpoint_url, self.manifest.region, self.emulator.credentials)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Validate, start the emulator, deploy, then start the scheduler and the watcher.
        Raises CronplaneError (with everything stopped again) when any of it fails."""
        from cronplane.manifest.loader import load_manifest

        self.manifest = load_manifest(self.options.manifest_path)
        watcher = Watcher(self.options.manifest_path.resolve())  # before deploying: no edit slips by
        self.emulator.log_listeners.append(self.reporter.on_log)
        self.emulator.done_listeners.append(self.reporter.on_done)
        self.emulator.refused_listeners.append(self._on_refused)
        self.emulator.start()
        try:
            self.console.line(
                f"cronplane dev: AWS emulator on {self.emulator.endpoint_url} (region {self.manifest.region})"
            )
            self.deploy(self.manifest, first=True)
            if self.options.write_dev_file:
                from cronplane.aws.session import write_dev_credentials, write_dev_file

                # The key first: a command that finds dev.json finds the key beside it.
                self._dev_files = [
                    write_dev_credentials(self.root, self.emulator.endpoint_url, self.emulator.credentials)
                ]
                self._dev_files.append(write_dev_file(self.root, self.emulator.endpoint_url, self.manifest.region))
            if self.options.schedule:
                self._start_scheduler()
            if self.options.watch:
                self._spawn("watcher", self._watch, watcher)
            if self.report_views is not None:
                self._start_report_page(self.report_views)
        except BaseException:
            self.stop()
            raise
        self.ready.set()

    def banner(self) -> None:
        endpoint = self.emulator.endpoint_url
        scale = f", time x{self.options.time_scale:g}" if self.options.time_scale != 1 else ""
        firing = f"firing schedules{scale}" if self.options.schedule else "schedules not fired (--no-schedule)"
        count = len(self.manifest.jobs)
        self.console.line(
            f"cronplane dev is ready: {count} job{'s' if count != 1 else ''} deployed, {firing}.", bold=True
        )
        self.console.line(
            "It serves only requests signed with this session's key. jobctl in this folder finds both by itself "
            "(.cronplane/); point boto3, the AWS CLI and Terraform at it with these lines "
            '(again any time: eval "$(jobctl dev env)"):'
        )
        # The jobs live in the manifest's region; a region the shell exports for real AWS
        # would find nothing here (jobctl itself takes the emulator's region: dev.json).
        for line in self.advertised().shell_lines():
            self.console.line(f"  {line}")
        self.console.line(
            f"  jobctl run-now {self.manifest.jobs[0].name if self.manifest.jobs else 'JOB'} --endpoint-url {endpoint}"
        )
        self.console.line("  jobctl history")
        if self.report_page is not None:
            self.console.line(
                f"The run grid, live (this URL's token is the key; keep it to yourself): {self.report_page.url}"
            )
        self.console.line("Watching jobs.yaml and jobs/ for changes. Ctrl-C stops.")

    def wait(self) -> None:
        """Block until ``stop_event`` is set (signal handler, or a test)."""
        while not self.stop_event.wait(0.2):
            pass

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self._threads:
            thread.join(timeout=5)
        if self.report_page is not None:
            self.report_page.stop()
        self.emulator.stop()
        self._remove_dev_files(self._dev_files)
        self._dev_files = []

    # -- deploy and reload -----------------------------------------------------------------

    def deploy(self, manifest: Manifest, first: bool = False) -> bool:
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
        from cronplane.manifest.loader import load_manifest

        shown = ", ".join(os.path.relpath(p, self.root) for p in changed[:3]) + (" ..." if len(changed) > 3 else "")
        self.console.line(f"change detected ({shown}): re-validating and re-deploying")
        try:
            manifest = load_manifest(self.options.manifest_path)
        except CronplaneError as exc:
            self.console.line(f"{exc}\nnot deployed; the previous deployment keeps running", fg="red")
            return False
        previous = self.manifest
        moved = [
            f"{key} {getattr(previous, key)} -> {getattr(manifest, key)}"
            for key in ("namespace", "region")
            if getattr(manifest, key) != getattr(previous, key)
        ]
        if moved:
            # The scheduler and the run lines follow one namespace in one region, and a deploy
            # never prunes another namespace: the old jobs would keep firing unseen.
            self.console.line(
                f"{', '.join(moved)}: restart jobctl dev (Ctrl-C, then jobctl dev) to switch; "
                "not deployed; the previous deployment keeps running",
                fg="red",
            )
            return False
        return self.deploy(manifest)

    def _watch(self, watcher: Watcher) -> None:
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
        aws = self.emulator.aws(region)
        cache: ScheduleCache = {}
        from moto.core.models import DEFAULT_ACCOUNT_ID

        watchdog_rule = names.rule_name(self.manifest.namespace, names.WATCHDOG)
        scaled = self.options.time_scale != 1
        if scaled and any(job.alerts is not None for job in self.manifest.jobs):
            self.console.line(
                f"note: the alerts watchdog is not fired under --time-scale {self.options.time_scale:g}: it judges "
                "late and missed runs by the wall clock, which the runs' fire times no longer follow"
            )

        def read() -> list[DeployedTrigger]:
            # Nobody reads the dev server's call counts; drop them each round so a session
            # left running for days does not keep every call it ever made.
            aws.reset_counts()
            found = read_triggers(aws, cache)
            return [t for t in found if t.name != watchdog_rule] if scaled else found

        self.scheduler = LocalScheduler(
            read=read,
            invoke=lambda_invoker(aws),
            clock=ScaledClock(self.options.time_scale),
            account=DEFAULT_ACCOUNT_ID,
            region=region,
            dead_letter=sqs_dead_letter(aws),
            refresh_s=self.options.refresh_s,
        )
        self._spawn("scheduler", self.scheduler.run, self.stop_event)

    def _start_report_page(self, views: ReportViews) -> None:
        """The run grid since this session started, on a free loopback port."""
        from datetime import UTC, datetime

        from cronplane.aws.client import AwsClient
        from cronplane.local.report_page import ReportPage
        from cronplane.ops.report import build_grid, select_jobs

        # The scheduler's clock: under --time-scale the runs carry its (faster) time.
        clock = self.scheduler.clock if self.scheduler is not None else None

        def current() -> datetime:
            return clock.now() if clock is not None else datetime.now(UTC)

        started = current().replace(microsecond=0)

        def build() -> Any:
            now = current()
            manifest = self.manifest
            jobs = select_jobs(manifest, [], None)
            return build_grid(AwsClient(self.aws_config()), manifest, jobs, since=started, until=now, now=now)

        self.report_page = ReportPage(build, views, self.options.host).start()

    def _spawn(self, name: str, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    # -- helpers ---------------------------------------------------------------------------

    def _on_refused(self, reason: str) -> None:
        self.console.line(f"refused a request to the emulator: {reason}", fg="yellow")

    @staticmethod
    def _remove_dev_files(paths: list[Path]) -> None:
        """Remove this server's dev files; never another dev server's (a second `jobctl dev`
        in the same folder has written its own since: its pid is in dev.json)."""
        for dev_file in (path for path in paths if path.name == "dev.json"):
            try:
                if int(json.loads(dev_file.read_text()).get("pid", -1)) != os.getpid():
                    return
            except (OSError, ValueError, AttributeError):
                return
        for path in paths:
            path.unlink(missing_ok=True)


def _deploy_summary(result: DeployResult | None) -> str:
    """A short account of what a deploy did (``deployer.DeployResult``)."""
    plan = getattr(result, "plan", None)
    if plan is None:
        return ""
    if getattr(result, "applied", None) is None or not plan.has_changes:
        return "no changes"
    return (
        str(plan.summary())
        .replace("Plan: ", "")
        .rstrip(".")
        .replace("to create", "created")
        .replace("to update", "updated")
        .replace("to delete", "deleted")
    )
