"""The deploy lock against moto in-process: one conditional put takes it, a second deploy waits
(polling) then stops with who and since when, an expired lock is taken over, release frees it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.lock import DeployLock
from cronplane.aws.lock_holder import this_process
from cronplane.aws.session import AwsConfig
from cronplane.errors import DeployLockedError
from cronplane.runtime.schema import DeployLockRecord, table_definition, to_item

TABLE = "acme-jobs-history"


@pytest.fixture
def table(aws: None) -> Iterator[None]:
    boto3.client("dynamodb", region_name="eu-west-1").create_table(**table_definition(TABLE))
    yield


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def lock(holder: str, clock: Clock, **kw: float) -> DeployLock:
    client = AwsClient(AwsConfig(region="eu-west-1"))
    return DeployLock(client, TABLE, holder=holder, clock=clock, sleep=clock.sleep, **kw)  # type: ignore[arg-type]


def test_second_deploy_waits_then_reports_holder_and_since(table: None) -> None:
    clock = Clock()
    first = lock("ana@laptop pid 1", clock)
    first.acquire()
    second = lock("bo@ci pid 2", clock, wait=3.0)
    with pytest.raises(DeployLockedError) as info:
        second.acquire()
    assert str(info.value).startswith("deploy in progress by ana@laptop pid 1, since 2027-01-15T08:00:00Z")
    assert sum(clock.slept) >= 3.0 and len(clock.slept) > 1  # it polled while waiting
    first.release()
    second.acquire()  # free again
    assert second.held


def test_expired_lock_of_a_dead_deploy_is_taken_over(table: None) -> None:
    clock = Clock()
    lock("dead pid 9", clock, ttl=60).acquire()
    clock.now += 61
    taker = lock("bo@ci pid 2", clock, wait=0)
    taker.acquire()
    assert taker.held


def test_release_does_not_remove_someone_elses_lock(table: None) -> None:
    clock = Clock()
    old = lock("old pid 1", clock, ttl=10)
    old.acquire()
    clock.now += 11
    new = lock("new pid 2", clock, wait=0)
    new.acquire()
    old.release()  # its lock expired and was taken over: must not free the new holder's lock
    with pytest.raises(DeployLockedError, match="deploy in progress by new pid 2"):
        lock("third pid 3", clock, wait=0).acquire()


def test_context_manager_releases_on_error(table: None) -> None:
    clock = Clock()
    with pytest.raises(RuntimeError), lock("a pid 1", clock):
        raise RuntimeError("deploy failed")
    lock("b pid 2", clock, wait=0).acquire()


def put_lock(holder: str, *, since: str = "2027-01-15T07:59:00Z", expires: int = 1_800_000_900, **process: Any) -> None:
    """A lock item as another deploy left it (``process``: machine, boot_id, pid_ns, pid, started)."""
    record = DeployLockRecord(holder, since, expires, **process)
    boto3.client("dynamodb", region_name="eu-west-1").put_item(TableName=TABLE, Item=to_item(record))


def lock_item() -> dict[str, Any]:
    return (
        boto3.client("dynamodb", region_name="eu-west-1")
        .get_item(TableName=TABLE, Key={"job": {"S": "~deploy"}, "run_id": {"S": "~lock"}})
        .get("Item", {})
    )


def dead_pid() -> int:
    """The pid of a process that has finished and been reaped."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def here(pid: int, started: str = "1") -> dict[str, Any]:
    """The process fields of a holder on this machine, in this boot and PID namespace."""
    me = this_process()
    return {"machine": me.machine, "boot_id": me.boot_id, "pid_ns": me.pid_ns, "pid": pid, "started": started}


def test_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(table: None) -> None:
    import socket

    pid = dead_pid()
    put_lock(f"ana@{socket.gethostname()} pid {pid}", **here(pid))
    clock, notes = Clock(), []
    taker = lock("bo@here pid 2", clock, wait=30)
    taker.notify = notes.append
    taker.acquire()
    assert taker.held and clock.slept == []  # no waiting for a holder known to be gone
    assert notes == [
        f"taking over the lock of dead process {pid} (ana@{socket.gethostname()} pid {pid}, since 2027-01-15T07:59:00Z)"
    ]
    assert lock_item()["holder"]["S"] == "bo@here pid 2"
    assert lock_item()["machine"]["S"] == this_process().machine  # the new holder says where it runs


def test_lock_of_a_live_process_on_this_host_is_waited_for(table: None) -> None:
    import os
    import socket

    from cronplane.aws.lock_holder import start_time

    parent = os.getppid()  # alive
    put_lock(f"ana@{socket.gethostname()} pid {parent}", **here(parent, start_time(parent) or ""))
    clock = Clock()
    with pytest.raises(DeployLockedError, match=f"deploy in progress by ana@{socket.gethostname()} pid"):
        lock("bo pid 2", clock, wait=1.0).acquire()
    assert sum(clock.slept) >= 1.0


def test_lock_of_an_older_jobctl_is_never_judged_by_pid(table: None) -> None:
    import socket

    pid = dead_pid()
    holder = f"ana@{socket.gethostname()} pid {pid}"
    put_lock(holder)  # no machine / boot / pid fields: where it ran is unknown
    with pytest.raises(DeployLockedError, match=f"deploy in progress by {holder}, since 2027-01-15T07:59:00Z"):
        lock("bo pid 2", Clock(), wait=1.0).acquire()
    assert lock_item()["holder"]["S"] == holder


def test_process_alive_sees_live_dead_and_zombie_processes() -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from cronplane.aws.lock import process_alive

    assert process_alive(os.getpid())
    assert not process_alive(dead_pid())
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert process_alive(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        for _ in range(100):  # killed but not reaped: a zombie, which holds no lock
            if not process_alive(proc.pid):
                break
            time.sleep(0.02)
        assert not process_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_ctrl_c_inside_the_lock_releases_it(table: None) -> None:
    clock = Clock()
    with pytest.raises(KeyboardInterrupt), lock("a pid 1", clock):
        assert lock_item()["holder"]["S"] == "a pid 1"
        raise KeyboardInterrupt
    assert lock_item() == {}
