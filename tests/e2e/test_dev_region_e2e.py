"""A shell that exports a region for real AWS (AWS CloudShell and many setups do) must not hide
the jobs ``jobctl dev`` deployed into the manifest's region: run-now --wait, history, dlq and
dlq replay against a running ``jobctl dev`` all look where the emulator put the jobs. Before the
AWS door took the emulator's region, run-now said the function did not exist and history was
empty."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_dev_e2e import REGION, Dev, _env, copy_project, start_dev, stop_dev

pytestmark = pytest.mark.e2e

# Neither is the manifest's region (eu-west-1); botocore reads the second, the AWS CLI both.
SHELL = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-2"}


def jobctl(dev: Dev, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``jobctl ARGS`` in the project folder, as the user's shell runs it: no --endpoint-url, no
    --region (the running dev server is found through .cronplane/dev.json)."""
    return subprocess.run(
        [sys.executable, "-m", "cronplane.cli.main", *args],
        cwd=dev.root,
        env={**_env(), **SHELL, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(0.5)


def history(dev: Dev, job: str, env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    done = jobctl(dev, "history", job, "-o", "json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def dlq(dev: Dev, job: str) -> list[dict[str, Any]]:
    done = jobctl(dev, "dlq", job, "-o", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["messages"]  # type: ignore[no-any-return]


def test_the_dev_flow_works_with_another_region_in_the_shell(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    dev = start_dev(root, "--no-schedule", env=SHELL)
    try:
        # The banner's advice names the region too, for boto3 and the AWS CLI.
        assert f" AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}" in dev.output()

        ran = jobctl(dev, "run-now", "tmp-cleanup", "--wait")
        assert ran.returncode == 0, ran.stdout + ran.stderr
        run_id = ran.stdout.split()[1]
        [record] = [r for r in history(dev, "tmp-cleanup") if r["run_id"] == run_id]
        assert record["status"] == "succeeded" and record["trigger"] == "manual"

        timed_out = jobctl(dev, "run-now", "search-reindex", "--wait")
        assert timed_out.returncode == 1 and "timed_out" in timed_out.stdout, timed_out.stdout + timed_out.stderr
        failed_run = timed_out.stdout.split()[1]
        messages = eventually(lambda: dlq(dev, "search-reindex"), lambda found: bool(found))
        assert [m["run_id"] for m in messages] == [failed_run]

        replayed = jobctl(dev, "dlq", "replay", "search-reindex", "--all", "--yes")
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        retries = eventually(
            lambda: [r for r in history(dev, "search-reindex") if r["trigger"] == "retry"], lambda found: bool(found)
        )
        assert [r["retry_of"] for r in retries] == [failed_run]

        # Following the banner (AWS_ENDPOINT_URL exported) while the shell's region stays.
        assert any(r["run_id"] == run_id for r in history(dev, "tmp-cleanup", env={"AWS_ENDPOINT_URL": dev.url}))
    finally:
        assert stop_dev(dev) == 0, dev.output()
