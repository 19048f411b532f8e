"""``jobctl dev`` and the namespace's watchdog: the alerts its function logs reach the console
(``RunReporter`` -> ``TerminalConsole.alert``), email routes shown and not sent; its every-minute
runs are not reported as runs unless one fails; and the line the Lambda entry logs is the one
the dev console reads."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

from cronplane.cli.dev_console import TerminalConsole
from cronplane.local.console import RunReporter, watchdog_notice
from cronplane.local.emulator import FunctionSpec, InvocationDone, InvocationType
from cronplane.manifest.watch_config import WATCHDOG_HANDLER
from cronplane.ops.watchdog import NOTICE_LOG_KEY, Notice

NOTICE = Notice(
    "report",
    "missed",
    ("2026-11-27T09:10:00Z", "2026-11-27T09:20:00Z"),
    ("email:oncall@example.com", "webhook:ssm:/billing/hook"),
)
WATCHDOG = FunctionSpec(
    name="acme-jobs--_watchdog",
    arn="arn:aws:lambda:eu-west-1:123456789012:function:acme-jobs--_watchdog",
    version="$LATEST",
    handler=WATCHDOG_HANDLER,
    env={"CRONPLANE_NAMESPACE": "acme-jobs"},
    timeout_s=60,
    memory_mb=256,
    code_sha256="x",
    code_bytes=b"",
    region="eu-west-1",
    account_id="123456789012",
)


def logged(notice: Notice) -> str:
    """The line ``cronplane.watchdog.entry`` prints per notification."""
    return json.dumps({NOTICE_LOG_KEY: notice.as_dict()}, sort_keys=True)


def reporter() -> tuple[RunReporter, io.StringIO]:
    out = io.StringIO()
    return RunReporter(SimpleNamespace(), TerminalConsole(out, colour=False)), out  # type: ignore[arg-type]


def finished(spec: FunctionSpec, **result: Any) -> InvocationDone:
    values = dict(request_id="r-1", payload=None, function_error=None, timed_out=False, duration_ms=40, log_tail="")
    values.update(result)
    return InvocationDone(spec, InvocationType.EVENT, "r-1", {}, SimpleNamespace(**values))  # type: ignore[arg-type]


def test_an_alert_the_watchdog_logs_is_printed_with_emails_shown_not_sent() -> None:
    runs, out = reporter()
    runs.on_log(WATCHDOG, "r-1", logged(NOTICE))
    assert out.getvalue() == (
        "ALERT MISSED report: 2: 2026-11-27T09:10:00Z, 2026-11-27T09:20:00Z -> "
        "email:oncall@example.com (shown, not sent by jobctl dev), webhook:ssm:/billing/hook\n"
    )


def test_a_route_that_refused_is_said() -> None:
    runs, out = reporter()
    refused = replace(NOTICE, accepted=(), failed=("webhook:ssm:/billing/hook: HTTP 500 from the webhook",))
    runs.on_log(WATCHDOG, "r-1", logged(refused))
    assert out.getvalue().endswith("-> nobody  (not accepted: webhook:ssm:/billing/hook: HTTP 500 from the webhook)\n")


def test_the_watchdogs_quiet_passes_print_nothing_and_a_failed_one_a_run_line() -> None:
    runs, out = reporter()
    runs.on_done(finished(WATCHDOG))
    assert out.getvalue() == ""
    runs.on_log(WATCHDOG, "r-1", "watchdog: report: throttled")  # not an alert: an ordinary log line
    runs.on_done(finished(WATCHDOG, function_error="Unhandled", payload={"errorType": "WatchdogError"}))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "throttled" in lines[0] and "failed" in lines[1] and "WatchdogError" in lines[1]


def test_only_the_watchdogs_lines_are_read_as_alerts() -> None:
    assert watchdog_notice(logged(NOTICE)) == NOTICE
    assert watchdog_notice('{"job": "report"}') is None
    assert watchdog_notice("not json {") is None
    runs, out = reporter()
    job = replace(WATCHDOG, name="acme-jobs--report", handler="cronplane.runtime.entry.handler")
    runs.on_log(job, "r-1", logged(NOTICE))  # a job printing the same JSON is just a job's log line
    assert "ALERT" not in out.getvalue()
