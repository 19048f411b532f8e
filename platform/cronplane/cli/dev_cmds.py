"""``jobctl dev``: run the whole platform locally (see ``cronplane.local.devserver``), or with
``--demo`` run every job once and explain what happened (``cronplane.local.demo``)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import click

from cronplane.cli.options import manifest_option


@click.command("dev")
@manifest_option
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port of the emulator on 127.0.0.1 (default 4566; --demo picks a free one).")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Run the schedule clock this many times faster (60: a minute passes every second).")
@click.option("--no-schedule", is_flag=True, help="Do not fire rules and schedules; invoke jobs by hand only.")
@click.option("--demo", is_flag=True, help="Start, deploy, run every job once, print the history, exit.")
def dev(manifest_path: str, port: int | None, time_scale: float, no_schedule: bool, demo: bool) -> None:
    """Run the whole platform locally on an embedded AWS emulator.

    Starts moto on 127.0.0.1, deploys jobs.yaml into it with the normal deploy code, runs the
    functions for real when invoked, fires their schedules, and re-deploys when jobs.yaml or
    jobs/ change. Ctrl-C stops everything.
    """
    from cronplane.local.console import Console
    from cronplane.local.devserver import DevOptions, DevServer

    console = Console()
    if demo:
        from cronplane.local.demo import run_demo

        sys.exit(run_demo(Path(manifest_path), console, port=port or 0))

    options = DevOptions(manifest_path=Path(manifest_path), port=4566 if port is None else port,
                         time_scale=time_scale, schedule=not no_schedule)
    server = DevServer(options, console)
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


def _stop_on_signals(server: Any) -> dict[int, Any]:
    """Ctrl-C and SIGTERM end ``server.wait()`` instead of raising in a random place; a second
    Ctrl-C (say, during a slow first deploy) interrupts right away. Either way the ``finally``
    in ``dev`` stops everything."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if server.stop_event.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        server.stop_event.set()

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handler)
    return previous


def _restore(previous: dict[int, Any]) -> None:
    for sig, old in previous.items():
        signal.signal(sig, old)
