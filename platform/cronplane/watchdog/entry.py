"""Lambda entry of the namespace's watchdog: one ``ops.watchdog.run_pass`` per invocation, over
the jobs in ``config.json`` (beside this module in the zip), with boto3 clients made once per
cold start. Logs one line per notification sent and returns the pass as JSON (``jobctl dev``
prints its alerts from it). A job that could not be checked makes the invocation fail after
the others were checked, so Lambda's ``Errors`` metric shows a watchdog in trouble. The pass
starts no job's read later than ``RESERVE_S`` before the function's timeout: the jobs left are
logged and taken by the next pass.

An event carrying ``TEST_KEY`` is ``jobctl alerts test JOB`` instead (``answer_trial``): a test
alert through that job's routes, sent with this function's role, and no pass. Any other event
is ignored: an invocation is no input (it cannot move the pass's clock).
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from cronplane.manifest.watch_config import WatchConfig
from cronplane.ops.alert_trial import TEST_KEY, answer_trial
from cronplane.ops.watchdog import NOTICE_LOG_KEY, WatchClients, run_pass, secret_reader
from cronplane.runtime.alerts import ALERT_TOPIC

CONFIG_FILE = Path(__file__).with_name("config.json")
CONFIG = WatchConfig.from_dict(json.loads(CONFIG_FILE.read_text(encoding="utf-8")))
# Time kept back from the function's timeout for the reads in flight and the answer.
RESERVE_S = 15.0
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()  # the pass reads partitions on several threads; boto3 sessions are not thread-safe


class WatchdogError(Exception):
    """Some jobs could not be checked (their names and why are in the message)."""


def _client(service: str) -> Any:
    with _clients_lock:
        if service not in _clients:
            _clients[service] = boto3.client(service)  # type: ignore[call-overload]  # any service the pass asks for
        return _clients[service]


CLIENTS = WatchClients(
    dynamodb=_client("dynamodb"),
    sns=_client("sns"),
    read_secret=secret_reader(_client),
    topic_arn=os.environ.get(ALERT_TOPIC, ""),
    region=os.environ.get("AWS_REGION", ""),
    log=print,
    # One JSON line per notification: CloudWatch Logs keeps it, `jobctl dev` prints it.
    on_notice=lambda notice: print(json.dumps({NOTICE_LOG_KEY: notice.as_dict()}, sort_keys=True), flush=True),
)


def handler(event: Any, context: Any) -> dict[str, Any]:
    if isinstance(event, dict) and TEST_KEY in event:
        answer = answer_trial(CONFIG, CLIENTS, event)
        print(json.dumps({"alerts_test": answer}, sort_keys=True), flush=True)
        return answer
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = time.monotonic() + remaining() / 1000 - RESERVE_S if callable(remaining) else None
    report = run_pass(CONFIG, CLIENTS, datetime.now(UTC), deadline=deadline)
    if report.deferred:
        print(f"watchdog: out of time, {len(report.deferred)} job(s) left to the next pass", flush=True)
    if report.errors:
        raise WatchdogError("; ".join(report.errors))
    return report.as_dict()
