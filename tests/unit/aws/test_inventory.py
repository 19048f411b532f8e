"""The inventory reads every kind at once, yet each kind sees what the kinds before it found, as
when they were read one after the other; and the deployer takes the account id from what the
inventory read, asking STS only when nothing of the namespace exists yet."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import ClassVar

import pytest

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer, account_in
from cronplane.aws.inventory import Inventory
from cronplane.aws.kinds import KINDS, Listing, LiveResource, ResourceKind, register
from cronplane.aws.session import AwsConfig
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest

ROOT = Path(__file__).resolve().parents[3]
NS = "acme-jobs"
DEADLINE = 10  # seconds a read waits for another to start; reads one at a time would hit it


class Recorded(ResourceKind):
    """A kind found by no AWS call: its listing records what it saw of the others."""

    slots: ClassVar[Mapping[str, int]] = {"recorded": 90}
    tagged = False

    def __init__(
        self, name: str, found: str, look_up: tuple[str, str], *, wait_for: threading.Event | None = None
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.found = found
        self.look_up = look_up
        self.wait_for = wait_for
        self.started = threading.Event()
        self.waited: bool | None = None
        self.seen: LiveResource | None = None

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        self.started.set()
        if self.wait_for is not None:
            self.waited = self.wait_for.wait(DEADLINE)
        self.seen = scope.found.get(self.look_up)
        return [LiveResource(self.name, self.found, "")]


@pytest.fixture
def recorded_kinds() -> Iterator[tuple[Recorded, Recorded]]:
    # "early" is read first (registry order) and waits until "late" has started: only reads
    # made at once let it; "late" looks up what "early" found, "early" what "late" found.
    late_started = threading.Event()
    early = Recorded("test early", "e1", ("test late", "l1"), wait_for=late_started)
    late = Recorded("test late", "l1", ("test early", "e1"))
    late.started = late_started
    for kind in (early, late):
        register(kind)
    yield early, late
    for kind in (early, late):
        del KINDS[kind.name]


def test_kinds_are_read_at_once_and_see_only_what_earlier_kinds_found(
    aws: None, recorded_kinds: tuple[Recorded, Recorded]
) -> None:
    early, late = recorded_kinds
    live = Inventory(AwsClient(AwsConfig(region="eu-west-1"))).load(NS)
    assert early.waited is True  # "late" started while "early" was still reading
    assert late.seen == LiveResource("test early", "e1", "")  # waited for the earlier kind's read
    assert early.seen is None  # a later kind's results are never visible, as when read in turn
    assert list(live.resources)[-2:] == [("test early", "e1"), ("test late", "l1")]  # registry order


@pytest.fixture
def manifest(tmp_path: Path, aws: None) -> Manifest:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return load_manifest(str(tmp_path / "jobs.yaml"))


def test_the_account_id_comes_from_the_inventory_once_something_is_deployed(manifest: Manifest) -> None:
    first = AwsClient(AwsConfig(region="eu-west-1"))
    assert Deployer(first).deploy(manifest).applied is not None
    assert first.operation_counts()["sts.GetCallerIdentity"] == 1  # nothing listed: STS names the account
    again = AwsClient(AwsConfig(region="eu-west-1"))
    result = Deployer(again).deploy(manifest)
    assert not result.plan.has_changes and again.writes == 0
    assert again.count("sts") == 0  # the account of the ARNs listed: the one STS names
    assert account_in(Inventory(again).load(NS)) == again.account_id() == "123456789012"
