"""Attack (by circumstance): while the history table is throttled, two deliveries of one firing of
a ``concurrency: forbid`` job both ran, at once, and history kept one record - the lock and the
duplicate check live in that table. ``on_history_outage: skip`` is the fail-closed choice: a run
whose start cannot be recorded does not run. The default stays ``run`` (a firing is never lost to
an outage of the bookkeeping), and the manifest says which a job wants."""

from __future__ import annotations

import random
import shutil
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from runtime_helpers import (
    ROOT_JOBS,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.build.resources import function_environment
from cronplane.errors import ManifestError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import OnHistoryOutage
from cronplane.runtime import settings
from cronplane.runtime.settings import RuntimeSettings
from cronplane.runtime.wrapper import Clock

# Each run waits for the test's GATE, so that two deliveries overlap.
GATED = """
    import threading
    STARTED, GATE = threading.Event(), threading.Event()
    CALLS = []

    def handler(event, context):
        CALLS.append(context.run_id)
        STARTED.set()
        GATE.wait(10)
        return "done"
"""


class Throttle:
    """The real client; while ``on``, every write is throttled."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.on = False

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name not in ("put_item", "transact_write_items") or not self.on:
            return target

        def throttled(**kwargs: Any) -> Any:
            error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"}
            raise ClientError({"Error": error}, name)

        return throttled


def second_delivery_while_throttled(env: Env, on_history_outage: str) -> tuple[dict, dict, list[str]]:
    """Delivery 1 starts (lock taken, record written); then the table is throttled and delivery 2
    of the same firing comes in. Returns both records and the job's calls."""
    throttle = Throttle(env.client("dynamodb"))
    env.clients["dynamodb"] = throttle
    wrapper = env.wrapper(GATED, concurrency="forbid", on_history_outage=on_history_outage)
    module = wrapper.job_function.__globals__
    first: list[dict] = []
    worker = threading.Thread(target=lambda: first.append(wrapper.handle(schedule_event(), FakeLambdaContext())))
    worker.start()
    try:
        assert module["STARTED"].wait(10)
        module["STARTED"].clear()
        throttle.on = True
        if on_history_outage == "run":
            module["GATE"].set()  # the second delivery runs: let it end
        second = wrapper.handle(schedule_event(), FakeLambdaContext(request_id="ffffffff-0002"))
    finally:
        throttle.on = False
        module["GATE"].set()
        worker.join(10)
    return first[0], second, list(module["CALLS"])


def test_fail_closed_second_delivery_does_not_run_while_the_table_is_throttled(env: Env) -> None:
    first, second, calls = second_delivery_while_throttled(env, "skip")
    assert calls == [first["run_id"]]  # one run, not two at once
    assert second["status"] == "skipped" and second["run_id"] == first["run_id"]
    assert "on_history_outage: skip" in second["error"] and "ProvisionedThroughputExceeded" in second["error"]
    assert first["status"] == "succeeded" and [r["status"] for r in env.runs()] == ["succeeded"]
    # The table could not take the skip: it is in the log, whole.
    logged = [line["record"] for line in env.logged() if "record" in line]
    assert logged == [second]
    assert env.dead_letters() == []


def test_by_default_the_second_delivery_still_runs(env: Env) -> None:
    """``run`` (the default) keeps every firing alive through an outage, at the price of the overlap."""
    first, second, calls = second_delivery_while_throttled(env, "run")
    assert first["status"] == second["status"] == "succeeded" and len(calls) == 2


def test_fail_closed_firing_during_a_full_outage_does_not_run(env: Env) -> None:
    throttle = Throttle(env.client("dynamodb"))
    throttle.on = True
    env.clients["dynamodb"] = throttle
    wrapper = env.wrapper(GATED, concurrency="forbid", on_history_outage="skip")
    wrapper.job_function.__globals__["GATE"].set()
    record = wrapper.handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "skipped" and wrapper.job_function.__globals__["CALLS"] == []
    throttle.on = False
    assert env.runs() == []  # `jobctl audit` shows the firing as missed; backfill runs it once


def test_fail_closed_continuation_that_cannot_start_fails_the_run_once(env: Env) -> None:
    throttle = Throttle(env.client("dynamodb"))
    env.clients["dynamodb"] = throttle
    source = """
        CALLS = []
        def handler(event, context):
            CALLS.append(context.attempt)
            raise ConnectionError("reset")
    """
    wrapper = env.wrapper(
        source,
        concurrency="forbid",
        on_history_outage="skip",
        retry={"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10},
        clock=Clock(sleep=env.sleeps.append, rng=random.Random(7)),
    )
    handed = wrapper.handle(schedule_event(), FakeLambdaContext(2_500))
    assert handed["status"] == "retrying"
    [continuation] = env.spy.events()
    throttle.on = True
    ended = wrapper.handle(continuation, FakeLambdaContext(60_000))
    assert ended["status"] == "failed" and wrapper.job_function.__globals__["CALLS"] == [1]
    assert ended["error"].startswith("HistoryOutage: attempt 2 not started: the history table is unwritable")
    [message] = env.dead_letters()
    assert message["run_id"] == handed["run_id"] and message["record"] == ended


# -- from the manifest to the runtime -----------------------------------------------------------
MANIFEST = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  report:
    handler: billing/nightly_report.py:handler
    schedule: cron(0 2 * * ? *)
    concurrency: forbid
"""
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT_JOBS, tmp_path / "jobs")
    return tmp_path


def load(project: Path, extra: str = "") -> Any:
    path = project / "jobs.yaml"
    path.write_text(MANIFEST + textwrap.indent(extra, "    "))
    return load_manifest(path, now=NOW)


def test_manifest_choice_reaches_the_runtime_settings(project: Path) -> None:
    manifest = load(project, "on_history_outage: skip\n")
    [job] = manifest.jobs
    assert job.on_history_outage is OnHistoryOutage.SKIP
    env = function_environment(manifest, job)
    assert env[settings.ON_HISTORY_OUTAGE] == "skip"
    assert RuntimeSettings.from_env(env).on_history_outage == "skip"


def test_default_is_run_and_leaves_the_function_environment_as_it_was(project: Path) -> None:
    manifest = load(project)
    [job] = manifest.jobs
    assert job.on_history_outage is OnHistoryOutage.RUN
    env = function_environment(manifest, job)
    assert settings.ON_HISTORY_OUTAGE not in env  # no redeploy of every existing function
    assert RuntimeSettings.from_env(env).on_history_outage == "run"


def test_an_unknown_choice_is_a_schema_error_with_its_line(project: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load(project, "on_history_outage: maybe\n")
    [problem] = info.value.problems
    assert problem.line == 8 and "on_history_outage" in problem.path and "maybe" in problem.message
