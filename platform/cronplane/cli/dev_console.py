"""The terminal side of ``jobctl dev``: ``TerminalConsole`` is the ``local.console.DevConsole``
that ``cli/dev_cmds.py`` injects into the dev server (run lines, the jobs' log lines, the
server's messages, one line at a time from several threads, coloured on a terminal), and
``DemoPrinter`` the ``local.demo.DemoPresenter`` of ``jobctl dev --demo``. The words are in
``cli/views/`` (``dev.py``, ``runs.py``, ``ops.py``)."""

from __future__ import annotations

import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from cronplane.cli.views import dev as view
from cronplane.cli.views.text import style

if TYPE_CHECKING:
    from cronplane.local.console import FinishedRun
    from cronplane.local.demo import DemoStory
    from cronplane.ops.dlq import DlqMessage
    from cronplane.ops.watchdog import Notice
    from cronplane.runs.history import HistoryPage


class TerminalConsole:
    """Serialised output: runs, log lines and messages from several threads, one line each."""

    def __init__(self, out: TextIO | None = None, colour: bool | None = None) -> None:
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self._lock = threading.Lock()
        self._width = 14  # the job column of run lines: as wide as the longest job seen

    def line(self, text: str, fg: str | None = None, bold: bool = False) -> None:
        text = style(text, fg, bold=bold, colour=self.colour)
        with self._lock:
            self.out.write(text + "\n")
            self.out.flush()

    def run_finished(self, run: FinishedRun) -> None:
        fg, bold = view.run_line_colour(run.status)
        self.line(view.run_line(run, self._width), fg=fg, bold=bold)

    def job_log(self, job: str, line: str) -> None:
        text = view.readable_log_line(line)
        if text is None:
            return
        self._width = max(self._width, len(job))
        self.line(view.job_log_line(job, text))

    def alert(self, notice: Notice) -> None:
        from cronplane.cli.views.alerts import dev_alert_line

        self.line(dev_alert_line(notice, colour=self.colour))


class DemoPrinter:
    """What ``jobctl dev --demo`` prints, through the same console as the run lines."""

    def __init__(self, console: TerminalConsole) -> None:
        self.console = console

    def intro(self, manifest_path: Path) -> None:
        self.console.line(view.demo_intro(manifest_path), bold=True)

    def running(self, jobs: int) -> None:
        self.console.line(view.demo_running(jobs), bold=True)

    def history(self, page: HistoryPage, now: datetime) -> None:
        from cronplane.cli.views.runs import HistoryQuery, history_text

        self._header("jobctl history")
        shown = history_text(page, HistoryQuery(), now=now, colour=self.console.colour)
        for line in shown.lines:
            self.console.line(line)
        if shown.more:
            click.echo(shown.more, err=True)

    def history_unreadable(self, error: str) -> None:
        self._header("jobctl history")
        self.console.line(view.unreadable("jobctl history", error), fg="red")

    def dlq(self, job: str, messages: list[DlqMessage]) -> None:
        from cronplane.cli.views.ops import dlq_text

        self._header(f"jobctl dlq {job}")
        self.console.line(dlq_text(job, messages))

    def dlq_unreadable(self, job: str, error: str, messages: int) -> None:
        self._header(f"jobctl dlq {job}")
        self.console.line(view.unreadable("jobctl dlq", error), fg="red")
        self.console.line(view.dlq_count(job, messages))

    def explain(self, story: DemoStory) -> None:
        self.console.line("")
        for text, bold in view.demo_explained(story):
            self.console.line(text, bold=bold)

    def problems(self, problems: list[str]) -> None:
        head, *rest = view.demo_problems(problems)
        self.console.line(head, fg="red", bold=True)
        for line in rest:
            self.console.line(line, fg="red")

    def _header(self, command: str) -> None:
        self.console.line("")
        self.console.line(view.command_header(command), bold=True)
