"""``jobctl dev``: run the whole platform locally (see ``cronplane.local.devserver``), or with
``--demo`` run every job once and explain what happened (``cronplane.local.demo``);
``jobctl dev env`` prints the lines that point other AWS clients at the running one."""

from __future__ import annotations

import os
import signal
from collections.abc import MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any

import click

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.options import manifest_option
from cronplane.errors import CronplaneError


@click.group("dev", invoke_without_command=True)
@manifest_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of the emulator on 127.0.0.1 (default 4566; --demo picks a free one).",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Run the schedule clock this many times faster (60: a minute passes every second).",
)
@click.option("--no-schedule", is_flag=True, help="Do not fire rules and schedules; invoke jobs by hand only.")
@click.option("--demo", is_flag=True, help="Start, deploy, run every job once, print the history, exit.")
@click.pass_context
def dev(
    ctx: click.Context, manifest_path: str, port: int | None, time_scale: float, no_schedule: bool, demo: bool
) -> ExitStatus | None:
    """Run the whole platform locally on an embedded AWS emulator.

    Starts moto on 127.0.0.1, deploys jobs.yaml into it with the normal deploy code, runs the
    functions for real when invoked, fires their schedules, and re-deploys when jobs.yaml or
    jobs/ change. It serves only requests signed with a key made for the session (kept in
    .cronplane/dev-credentials; `jobctl dev env` prints it for other clients). Ctrl-C stops
    everything.
    """
    if ctx.invoked_subcommand is not None:
        return None  # `jobctl dev env`: its own status
    from cronplane.cli.dev_console import TerminalConsole
    from cronplane.local.devserver import DevOptions, DevServer

    isolate_from_aws(os.environ)
    console = TerminalConsole()  # the run lines and messages, worded by cli/views/dev.py
    if demo:
        from cronplane.cli.dev_console import DemoPrinter
        from cronplane.local.demo import run_demo

        ok = run_demo(Path(manifest_path), console, DemoPrinter(console), port=port or 0)
        return ExitStatus.OK if ok else ExitStatus.FAILURE

    options = DevOptions(
        manifest_path=Path(manifest_path),
        port=4566 if port is None else port,
        time_scale=time_scale,
        schedule=not no_schedule,
    )
    from cronplane.cli.views import report_html  # the live run grid's page

    server = DevServer(options, console, report_views=report_html)
    previous = _stop_on_signals(server)
    try:
        server.start()
        server.banner()
        server.wait()
    finally:
        if server.ready.is_set():
            console.line("stopping: scheduler, running functions, emulator ...")
        server.stop()
        _restore(previous)
    console.line("stopped.")
    return ExitStatus.OK


@dev.command("env")
@manifest_option
def dev_env(manifest_path: str) -> None:
    """Print the shell lines that point boto3, the AWS CLI and Terraform at the running
    `jobctl dev` of this project, with its session key and region:

        eval "$(jobctl dev env)"
    """
    from cronplane.aws.session import DEV_CREDENTIALS_FILE, DEV_FILE, dev_emulator

    root = Path(manifest_path).resolve().parent
    emulator = dev_emulator(root)
    if emulator is None:
        raise CronplaneError(
            f"{root / DEV_FILE}: no `jobctl dev` is running for this project; start one (`jobctl dev` in {root})"
        )
    if emulator.credentials is None:
        raise CronplaneError(
            f"{root / DEV_CREDENTIALS_FILE}: cannot read the session key of the `jobctl dev` on "
            f"{emulator.endpoint_url}; run this as the user who started it, in the same folder"
        )
    click.echo("\n".join(emulator.shell_lines()))


# What points boto3 somewhere else than the emulator: a profile (which may not exist on this
# machine, or need an SSO login), service-specific endpoints, temporary-credential tokens.
_AWS_SETTINGS_DROPPED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def isolate_from_aws(environ: MutableMapping[str, str]) -> None:
    """The dev process talks only to its own emulator, never to AWS: make sure nothing in the
    user's shell (an ``AWS_PROFILE`` for a profile this machine lacks or whose SSO login expired,
    an ``AWS_ENDPOINT_URL_DYNAMODB``, real keys) reaches the deploy, the scheduler or the
    functions' child processes, which inherit this environment. Each of those is handed the
    session key explicitly; the placeholder keys left here are refused by the emulator."""
    for name in list(environ):
        if name in _AWS_SETTINGS_DROPPED or name.startswith("AWS_ENDPOINT_URL_"):
            del environ[name]
    environ["AWS_ACCESS_KEY_ID"] = "testing"
    environ["AWS_SECRET_ACCESS_KEY"] = "testing"
    # No config or credentials file: a default profile's credential_process, sso or region
    # settings must not apply to the emulator either.
    environ["AWS_CONFIG_FILE"] = os.devnull
    environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    environ["AWS_EC2_METADATA_DISABLED"] = "true"


def _stop_on_signals(server: Any) -> dict[int, Any]:
    """Once the server is ready, Ctrl-C and SIGTERM end ``server.wait()`` instead of raising in
    a random place (exit 0). Before that (a slow first deploy: packaging, pip) they interrupt
    right away: the emulator lives in memory, so nothing is left half-made (exit 130), and so
    does a second Ctrl-C. Either way the ``finally`` in ``dev`` stops everything."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if not server.ready.is_set() or (server.stop_event.is_set() and signum == signal.SIGINT):
            server.stop_event.set()
            raise KeyboardInterrupt
        server.stop_event.set()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)
