"""The deploy lock against moto in-process: one conditional put takes it, a second deploy waits
(polling) then stops with who and since when, an expired lock is taken over, release frees it."""

from __future__ import annotations

from typing import Iterator

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.lock import DeployLock
from cronplane.aws.session import AwsConfig
from cronplane.errors import DeployLockedError
from cronplane.runtime.history_schema import table_definition

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
    with pytest.raises(RuntimeError):
        with lock("a pid 1", clock):
            raise RuntimeError("deploy failed")
    lock("b pid 2", clock, wait=0).acquire()
