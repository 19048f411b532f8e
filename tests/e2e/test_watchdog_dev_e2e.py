"""The watchdog under ``jobctl dev``: deployed into the emulator like any function, run by the
local Lambda runner from its own zip, its alerts printed in the dev console, its webhook really
posted to a receiver on 127.0.0.1, email routes shown and not sent.

The watch start is put half an hour back (what a watchdog running since then would have
recorded), so one invocation finds missed fire times without a test waiting for the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_dev_e2e import copy_project, start_dev, stop_dev

from cronplane.manifest import names
from cronplane.runtime.schema import WatchStart, iso, to_item
from support.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.e2e
MANIFEST = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  tmp-cleanup:
    handler: infra/tmp_cleanup.py:handler
    schedule: cron(0/5 * * * ? *)
    team: infra
    owner: infra-oncall@example.com
    alerts:
      notify: [email:infra-oncall@example.com, "webhook:ssm:/infra/hook"]
      late_after: 1m
      missed_after: 2m
"""


def test_the_watchdog_runs_in_dev_prints_its_alerts_and_posts_its_webhook(tmp_path: Path) -> None:
    root = copy_project(tmp_path, MANIFEST)
    dev = start_dev(root, "--no-schedule")
    try:
        with webhook_receiver() as receiver:
            dev.client("ssm").put_parameter(Name="/infra/hook", Value=receiver.url, Type="SecureString")
            since = datetime.now(UTC) - timedelta(minutes=30)
            watch = WatchStart("tmp-cleanup", iso(since), "cron(0/5 * * * ? *) UTC")
            dev.client("dynamodb").put_item(TableName="acme-jobs-history", Item=to_item(watch))
            answer = dev.client("lambda").invoke(FunctionName=names.watchdog_function("acme-jobs"))
            report = json.loads(answer["Payload"].read())
            assert "FunctionError" not in answer, report
            (sent,) = report["sent"]
            assert sent["job"] == "tmp-cleanup" and sent["kind"] == "missed" and len(sent["events"]) >= 5
            assert sent["accepted"] == ["email:infra-oncall@example.com", "webhook:ssm:/infra/hook"]
            dev.wait_for("ALERT MISSED tmp-cleanup: ")
            (line,) = [ln for ln in dev.output().splitlines() if "ALERT MISSED" in ln]
            assert "email:infra-oncall@example.com (shown, not sent by jobctl dev), webhook:ssm:/infra/hook" in line
            (slack,) = receiver.wait_for(1)
            assert "tmp-cleanup" in slack["text"] and slack["blocks"][0]["type"] == "header"
            # An invocation is no input: a crafted event cannot move the watchdog's clock (a time
            # far ahead would record every fire time until then as alerted, and silence them).
            forged = json.dumps({"now": "2099-01-01T00:00:00Z", "cronplane": {"scheduled_for": "2099-01-01T00:00:00Z"}})
            answer = dev.client("lambda").invoke(FunctionName=names.watchdog_function("acme-jobs"), Payload=forged)
            again = json.loads(answer["Payload"].read())
            assert again["now"] < "2099"
            assert again["sent"] == [] and len(receiver.received()) == 1  # once per event
    finally:
        assert stop_dev(dev) == 0, dev.output()


def test_alerts_test_is_sent_by_the_watchdog_function_and_names_the_routes(tmp_path: Path) -> None:
    # `jobctl alerts test` invokes the namespace's watchdog (its role may publish to the alert
    # topic; the operator may not): the emulator runs it like any function.
    root = copy_project(tmp_path, MANIFEST)
    dev = start_dev(root, "--no-schedule")
    try:
        with webhook_receiver() as receiver:
            dev.client("ssm").put_parameter(Name="/infra/hook", Value=receiver.url, Type="SecureString")
            result = dev.jobctl("alerts", "test", "tmp-cleanup")
            assert result.returncode == 0, result.stdout + result.stderr
            lines = result.stdout.splitlines()
            assert lines[0] == "Test notification for tmp-cleanup:"
            assert any(ln.startswith("  email:infra-oncall@example.com: accepted (published") for ln in lines)
            assert "  webhook:ssm:/infra/hook: accepted (HTTP 200)" in lines
            assert lines[-1] == "2 of 2 routes accepted it." and receiver.url not in result.stdout
            (slack,) = receiver.wait_for(1)
            assert slack["text"].startswith("[TEST] cronplane job tmp-cleanup")
            # A forged request for a job this watchdog does not watch is refused, nothing sent.
            forged = json.dumps({"cronplane_watchdog": {"test": {"job": "payroll"}}})
            answer = dev.client("lambda").invoke(FunctionName=names.watchdog_function("acme-jobs"), Payload=forged)
            assert json.loads(answer["Payload"].read()) == {
                "refused": "job 'payroll' has no alerts in namespace acme-jobs's watchdog"
            }
            assert len(receiver.received()) == 1
    finally:
        assert stop_dev(dev) == 0, dev.output()
