"""``jobctl unlock`` through the real entry point, against moto in-process: it shows who holds
the deploy lock (holder, machine, since, expires), asks before removing it (``--yes`` does not),
and never removes a lock that someone else took between showing and removing."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.lock import current_lock
from cronplane.aws.session import AwsConfig
from cronplane.runtime.schema import DeployLockRecord, table_definition, to_item
from testkit import jobctl

TABLE = "qa-jobs-history"
MANIFEST = """\
namespace: qa-jobs
region: eu-west-1
jobs:
  ok-job:
    handler: qa/tasks.py:ok
    schedule: rate(1 hour)
    team: qa
"""
CRASHED = DeployLockRecord(
    "ana@ci-runner pid 4242",
    "2027-01-15T07:59:00Z",
    4_102_444_800,  # 2100: live
    machine="0f3c9e0d4b5a4d0c9a7e2f1b6c3d8e01",
    boot_id="5b1d3c2e-0000-4000-8000-000000000001",
    pid_ns="pid:[4026531836]",
    pid=4242,
    started="777",
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[Path]:
    (tmp_path / "jobs" / "qa").mkdir(parents=True)
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    (tmp_path / "jobs" / "qa" / "tasks.py").write_text("def ok(event, context):\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    boto3.client("dynamodb", region_name="eu-west-1").create_table(**table_definition(TABLE))
    yield tmp_path


def put(record: DeployLockRecord) -> None:
    boto3.client("dynamodb", region_name="eu-west-1").put_item(TableName=TABLE, Item=to_item(record))


def stored() -> DeployLockRecord | None:
    return current_lock(AwsClient(AwsConfig(region="eu-west-1")), TABLE)


class Terminal(io.StringIO):
    """A terminal whose user types ``answer``."""

    def isatty(self) -> bool:
        return True


def test_no_lock_says_so(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "unlock", "--yes")
    assert code == 0 and out == "no deploy lock in qa-jobs-history: nothing to remove\n"


def test_yes_shows_the_holder_and_removes_the_lock(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(CRASHED._replace(expires=int(time.time()) + 600))
    code, out, _ = jobctl(capsys, "unlock", "-f", "jobs.yaml", "--yes")
    assert code == 0
    lines = out.splitlines()
    assert lines[:4] == [
        "deploy lock in qa-jobs-history:",
        "  holder:   ana@ci-runner pid 4242",
        "  machine:  0f3c9e0d4b5a4d0c9a7e2f1b6c3d8e01 (boot 5b1d3c2e, pid 4242)",
        "  since:    2027-01-15T07:59:00Z",
    ]
    assert lines[4].startswith("  expires:  20") and "(in 9m" in lines[4]
    assert lines[5] == "removed the deploy lock of ana@ci-runner pid 4242 (since 2027-01-15T07:59:00Z)"
    assert stored() is None


def test_it_asks_first_and_keeps_the_lock_on_no(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    put(CRASHED)
    monkeypatch.setattr("sys.stdin", Terminal("n\n"))
    code, out, _ = jobctl(capsys, "unlock")
    assert code == 0 and "Remove this lock? Only if that deploy is no longer running [y/N]:" in out
    assert out.rstrip().endswith("the lock was kept")
    assert stored() == CRASHED

    monkeypatch.setattr("sys.stdin", Terminal("y\n"))
    code, out, _ = jobctl(capsys, "unlock")
    assert code == 0 and "removed the deploy lock of ana@ci-runner pid 4242" in out
    assert stored() is None


def test_without_a_terminal_it_needs_yes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    put(CRASHED)
    code, out, err = jobctl(capsys, "unlock")
    assert code == 1 and "holder:   ana@ci-runner pid 4242" in out
    assert err == ("Error: removing the deploy lock needs confirmation, and there is no terminal to ask: pass --yes\n")
    assert stored() == CRASHED


def test_a_lock_taken_by_someone_else_meanwhile_is_not_removed(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    put(CRASHED._replace(expires=int(time.time()) - 5))  # expired: the next deploy takes it over
    taker = CRASHED._replace(holder="bo@laptop pid 99", since="2027-01-15T08:30:00Z", pid=99)

    def confirm_while_a_deploy_takes_over(prompt: str, default: bool) -> bool:
        put(taker)  # while the user reads the lock, a deploy starts and takes it
        return True

    monkeypatch.setattr("sys.stdin", Terminal(""))
    monkeypatch.setattr("click.confirm", confirm_while_a_deploy_takes_over)
    code, out, err = jobctl(capsys, "unlock")
    assert code == 1 and "expired" in out and "holder:   ana@ci-runner pid 4242" in out
    assert err == (
        "Error: the deploy lock of qa-jobs-history changed after it was shown (now held by bo@laptop pid 99, "
        "since 2027-01-15T08:30:00Z); nothing was removed. Run jobctl unlock again to see the current lock.\n"
    )
    assert stored() == taker  # the running deploy keeps its lock
