"""Attacks on the deploy lock's liveness check (issue 10, item 12), against moto in-process.

The old check paired the hostname with the PID namespace's id, which is the same on every Linux
host: a live deploy on another machine with the same hostname (CI runners, containers, cloned
VMs) whose pid happened not to exist here was "taken over", and two deploys interleaved. Now a
holder is judged by its pid only in this machine's boot and PID namespace, with the process's
start time against pid reuse; a long deploy keeps its lock alive with a heartbeat."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws import lock as lock_module
from cronplane.aws import lock_holder
from cronplane.aws.client import AwsClient, Call
from cronplane.aws.deployer import Deployer
from cronplane.aws.lock import DeployLock, current_lock
from cronplane.aws.lock_holder import ProcessIdentity, start_time, this_process
from cronplane.aws.session import AwsConfig
from cronplane.errors import DeployLockedError
from cronplane.manifest.loader import load_manifest
from cronplane.runtime.schema import DeployLockRecord, table_definition, to_item

TABLE = "acme-jobs-history"
ROOT = Path(__file__).resolve().parents[3]
NOW = 1_800_000_000.0


@pytest.fixture
def table(aws: None) -> Iterator[None]:
    boto3.client("dynamodb", region_name="eu-west-1").create_table(**table_definition(TABLE))
    yield


def dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def leave_lock(holder: str, identity: ProcessIdentity, expires: int = int(NOW) + 900) -> None:
    """The lock item another deploy wrote (with its own machine, boot, namespace, pid, start)."""
    record = DeployLockRecord(
        holder,
        "2027-01-15T07:59:00Z",
        expires,
        machine=identity.machine,
        boot_id=identity.boot_id,
        pid_ns=identity.pid_ns,
        pid=identity.pid,
        started=identity.started,
    )
    boto3.client("dynamodb", region_name="eu-west-1").put_item(TableName=TABLE, Item=to_item(record))


def stored_holder() -> str | None:
    held = current_lock(AwsClient(AwsConfig(region="eu-west-1")), TABLE)
    return held.holder if held else None


def new_lock(**kw: Any) -> DeployLock:
    slept: list[float] = []
    kw.setdefault("clock", lambda: NOW)
    return DeployLock(AwsClient(AwsConfig(region="eu-west-1")), TABLE, holder="bo@ci pid 2", sleep=slept.append, **kw)


ME = this_process()
SAME_HOSTNAME = f"ana@{socket.gethostname()} pid {{pid}}"


@pytest.mark.parametrize(
    ("elsewhere", "why"),
    [
        ({"machine": "0f3c9e0d4b5a4d0c9a7e2f1b6c3d8e01"}, "another machine with the same hostname"),
        ({"boot_id": "5b1d3c2e-0000-4000-8000-000000000001"}, "a clone of this machine's image (same machine id)"),
        ({"pid_ns": "pid:[4026532999]"}, "another container on this machine"),
    ],
)
def test_a_live_lock_from_another_machine_with_the_same_hostname_is_not_taken_over(
    table: None, elsewhere: dict[str, str], why: str
) -> None:
    pid = dead_pid()  # no such process here; over there it is the running deploy
    there = replace(ME, pid=pid, started="4242", **elsewhere)
    holder = SAME_HOSTNAME.format(pid=pid)
    leave_lock(holder, there)
    with pytest.raises(DeployLockedError, match=f"deploy in progress by {holder}, since 2027-01-15T07:59:00Z"):
        new_lock(wait=1.0).acquire()
    assert stored_holder() == holder, why  # still theirs: their deploy goes on alone


def test_the_lock_of_a_dead_process_on_this_machine_is_taken_over(table: None) -> None:
    pid = dead_pid()
    leave_lock(SAME_HOSTNAME.format(pid=pid), ProcessIdentity(ME.machine, ME.boot_id, ME.pid_ns, pid, "4242"))
    notes: list[str] = []
    taker = new_lock(wait=30, notify=notes.append)
    taker.acquire()
    assert taker.held and stored_holder() == "bo@ci pid 2"
    assert notes[0].startswith(f"taking over the lock of dead process {pid} ")


def test_a_pid_reused_by_another_process_does_not_keep_a_dead_lock(table: None) -> None:
    # The holder died and the kernel gave its pid to a new process (here: our parent, which is
    # alive, but started at another time than the holder recorded).
    parent = os.getppid()
    assert start_time(parent) not in (None, "1")
    leave_lock(SAME_HOSTNAME.format(pid=parent), ProcessIdentity(ME.machine, ME.boot_id, ME.pid_ns, parent, "1"))
    taker = new_lock(wait=30)
    taker.acquire()
    assert stored_holder() == "bo@ci pid 2"


def test_a_live_local_holder_is_waited_for(table: None) -> None:
    parent = os.getppid()
    alive = ProcessIdentity(ME.machine, ME.boot_id, ME.pid_ns, parent, start_time(parent) or "")
    leave_lock(SAME_HOSTNAME.format(pid=parent), alive)
    with pytest.raises(DeployLockedError):
        new_lock(wait=1.0).acquire()


def test_machine_id_falls_back_to_the_boot_id_then_to_a_private_cached_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lock_holder, "MACHINE_ID_FILES", (tmp_path / "no-machine-id",))
    boot = tmp_path / "boot_id"
    boot.write_text("b007-1d\n")
    monkeypatch.setattr(lock_holder, "BOOT_ID_FILE", boot)
    assert lock_holder.machine_id(tmp_path / "cache") == "b007-1d"
    boot.unlink()
    first = lock_holder.machine_id(tmp_path / "cache")
    assert len(first) == 32 and lock_holder.machine_id(tmp_path / "cache") == first  # kept
    cached = tmp_path / "cache" / "machine-id"
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert lock_holder.machine_id(tmp_path / "other-user-cache") != first


def test_renew_extends_only_our_own_lock(table: None) -> None:
    now = [NOW]
    mine = new_lock(ttl=60, clock=lambda: now[0])
    mine.acquire()
    now[0] += 50
    assert mine.renew()
    assert current_lock(AwsClient(AwsConfig(region="eu-west-1")), TABLE).expires == int(NOW) + 50 + 60  # type: ignore[union-attr]
    # It expired anyway (a laptop asleep) and another deploy took it: not ours to extend.
    leave_lock("carla@ci pid 9", ProcessIdentity("m", "b", "n", 9, "1"))
    assert not mine.renew()
    assert stored_holder() == "carla@ci pid 9"


def test_the_heartbeat_reports_a_lock_that_was_taken_over(table: None) -> None:
    lost = threading.Event()
    notes: list[str] = []

    def notify(line: str) -> None:
        notes.append(line)
        lost.set()

    mine = new_lock(ttl=60, heartbeat_s=0.05, notify=notify, clock=time.time)
    mine.acquire()
    with mine.kept_alive():
        leave_lock("carla@ci pid 9", ProcessIdentity("m", "b", "n", 9, "1"))
        assert lost.wait(10), "the heartbeat never noticed"
    assert mine.lost
    assert notes == [
        "warning: the deploy lock expired and was taken by carla@ci pid 9; another deploy may be writing "
        "to this namespace too"
    ]


def test_the_heartbeat_keeps_the_lock_of_a_deploy_that_outlives_its_ttl(
    tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy whose executor is slowed (one step blocks) past the lock's expiry: the lock's
    expiry moves on while the step waits, the holder never changes, and the lock is gone after."""
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    manifest = load_manifest(str(tmp_path / "jobs.yaml"))
    table = f"{manifest.namespace}-history"
    monkeypatch.setattr(lock_module, "DEFAULT_TTL", 30)
    monkeypatch.setattr(lock_module, "RENEWALS_PER_TTL", 150)  # a beat every 0.2 s
    seen: dict[str, Any] = {}

    def slow_step(call: Call) -> None:
        if call.service != "lambda" or "first" in seen:
            return
        seen["first"] = current_lock(AwsClient(AwsConfig(region="eu-west-1")), table)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the step is "slow" until the lock has been renewed
            now = current_lock(AwsClient(AwsConfig(region="eu-west-1")), table)
            if now is not None and now.expires > seen["first"].expires:
                seen["renewed"] = now
                return
            threading.Event().wait(0.05)

    client = AwsClient(AwsConfig(region="eu-west-1"), before_write=slow_step)
    Deployer(client, lock_holder="ana@laptop pid 7").deploy(manifest)
    assert seen["first"].holder == "ana@laptop pid 7"
    assert "renewed" in seen, "the lock's expiry never moved while the deploy was slow"
    assert seen["renewed"].holder == "ana@laptop pid 7" and seen["renewed"].since == seen["first"].since
    assert current_lock(AwsClient(AwsConfig(region="eu-west-1")), table) is None  # released at the end
    assert client.operation_counts().get("dynamodb.UpdateItem", 0) >= 1
