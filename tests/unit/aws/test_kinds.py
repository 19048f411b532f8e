"""Resource kinds as objects: a kind cronplane does not ship (SSM parameters), defined in this
file and added through the registry alone, is listed, planned, applied, compared and pruned by
the same inventory, planner and executor as the built-in kinds. Plus the registry's own rules."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import boto3
import pytest

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.executor import Executor
from cronplane.aws.kinds import KINDS, ApplyContext, Listing, LiveResource, ResourceKind, kind_of, register
from cronplane.aws.kinds.base import tag_dict, tag_list
from cronplane.aws.plan import Op, Plan
from cronplane.aws.planner import plan
from cronplane.aws.session import AwsConfig
from cronplane.build.resources import JOB_ORDER, DesiredState, Kind, Resource, base_tags
from cronplane.errors import CronplaneError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest

ROOT = Path(__file__).resolve().parents[3]
NS = "acme-jobs"
JOB = "tmp-cleanup"
PARAM = f"/{NS}/{JOB}/settings"


class SsmParameter(ResourceKind):
    """A job's settings in SSM Parameter Store: listed by path, tagged, its value a hidden
    setting (only its hash is recorded), its description visible."""

    name = "ssm parameter"
    slots: ClassVar[Mapping[str, int]] = {"param": 10}  # after the job's trigger
    reads_details = True

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        found = client.paginate(
            "ssm",
            "describe_parameters",
            "Parameters",
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"/{scope.namespace}/"]}],
        )
        return [
            LiveResource(self.name, p["Name"], p.get("ARN", ""), {"description": p.get("Description", "")})
            for p in found
        ]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        got = client.call("ssm", "list_tags_for_resource", ResourceType="Parameter", ResourceId=res.name)
        return tag_dict(got.get("TagList", []))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        return {"value": client.call("ssm", "get_parameter", Name=res.name)["Parameter"]["Value"]}

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        try:
            ctx.call("ssm", "put_parameter", **self._definition(res), Tags=tag_list(res.tags))
        except AwsCallError as exc:
            if exc.code != "ParameterAlreadyExists":
                raise
            ctx.adopt(self.read_tags(ctx.client, LiveResource(self.name, res.name, res.arn)))
            self.update(ctx)

    def update(self, ctx: ApplyContext) -> None:
        res = ctx.res
        ctx.call("ssm", "put_parameter", **self._definition(res), Overwrite=True)
        ctx.retag(
            lambda tags: ctx.call(
                "ssm", "add_tags_to_resource", ResourceType="Parameter", ResourceId=res.name, Tags=tag_list(tags)
            ),
            lambda keys: ctx.call(
                "ssm", "remove_tags_from_resource", ResourceType="Parameter", ResourceId=res.name, TagKeys=keys
            ),
        )

    def delete(self, ctx: ApplyContext) -> None:
        try:
            ctx.call("ssm", "delete_parameter", Name=ctx.action.name)
        except AwsCallError as exc:
            if exc.code != "ParameterNotFound":
                raise

    def _definition(self, res: Resource) -> dict[str, Any]:
        return {
            "Name": res.name,
            "Value": res.hidden["value"],
            "Type": "String",
            "Description": res.visible["description"],
        }


@pytest.fixture
def ssm_kind() -> Iterator[ResourceKind]:
    kind = register(SsmParameter())
    yield kind
    del KINDS[kind.name]


@pytest.fixture
def manifest(tmp_path: Path, aws: None) -> Manifest:
    (tmp_path / "jobs" / "infra").mkdir(parents=True)
    shutil.copy(ROOT / "jobs" / "infra" / "tmp_cleanup.py", tmp_path / "jobs" / "infra")
    (tmp_path / "jobs.yaml").write_text(
        f"namespace: {NS}\nregion: eu-west-1\njobs:\n"
        f"  {JOB}:\n    handler: infra/tmp_cleanup.py:handler\n    schedule: cron(0 * * * ? *)\n    team: infra\n"
    )
    return load_manifest(str(tmp_path / "jobs.yaml"))


def with_parameter(manifest: Manifest, desired: DesiredState, value: str, description: str) -> DesiredState:
    job = manifest.job(JOB)
    param = Resource(
        "ssm parameter",
        PARAM,
        JOB,
        "param",
        f"arn:aws:ssm:eu-west-1:{desired.account_id}:parameter{PARAM}",
        visible={"description": description},
        hidden={"value": value},
        tags=base_tags(manifest, job),
    )
    return replace(desired, resources=(*desired.resources, param))


def settle(client: AwsClient, desired: DesiredState) -> Plan:
    """Plan as the deployer does: read live state, fetch what the planner asks for, plan again."""
    inventory = Deployer(client).inventory
    live = inventory.load(desired.namespace)
    for _ in range(4):
        result = plan(desired, live)
        if result.needs_tags:
            live = inventory.fetch_tags(live, result.needs_tags)
        elif result.needs_details:
            live = inventory.fetch_details(live, result.needs_details, desired.namespace)
        else:
            return result
    raise AssertionError("the plan did not settle")


def test_a_kind_registered_through_the_registry_alone_is_planned_applied_and_compared(
    manifest: Manifest, ssm_kind: ResourceKind
) -> None:
    client = AwsClient(AwsConfig(region="eu-west-1"))
    base = Deployer(client).desired(manifest)
    desired = with_parameter(manifest, base, "batch=25", "tmp-cleanup settings")

    first = settle(client, desired)
    job = [(a.op, a.kind) for a in first.actions if a.job == JOB]
    assert (Op.CREATE, "ssm parameter") in job
    # its place in the job comes from its slot: after the trigger, before the state record
    assert job.index((Op.CREATE, Kind.RULE)) < job.index((Op.CREATE, "ssm parameter")) < len(job) - 1
    assert job[-1] == (Op.RECORD, Kind.FUNCTION) and "param=" in first.actions[-1].fields[0].new
    assert any(a.label == f"create ssm parameter {PARAM}" for a in first.changes)
    Executor(client).apply(first)

    ssm = boto3.client("ssm", region_name="eu-west-1")
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == "batch=25"
    tags = tag_dict(ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=PARAM)["TagList"])
    assert tags["cronplane:namespace"] == NS and tags["cronplane:job"] == JOB

    client.reset_counts()
    again = settle(client, desired)
    assert again.actions == () and again.notes == ()
    assert client.writes == 0

    # A hidden setting: the hash differs, the kind reads the old value to show it.
    changed = with_parameter(manifest, base, "batch=50", "tmp-cleanup settings")
    update = settle(client, changed)
    (action,) = update.changes
    assert (action.op, action.kind, action.name) == (Op.UPDATE, "ssm parameter", PARAM)
    assert [(f.name, f.old, f.new) for f in action.fields] == [("value", "batch=25", "batch=50")]
    Executor(client).apply(update)
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == "batch=50"
    assert settle(client, changed).actions == ()

    # No longer wanted: pruned like any resource of the job (its tags say it is ours).
    removed = settle(client, base)
    assert [(a.op, a.kind, a.name, a.job) for a in removed.changes] == [(Op.DELETE, "ssm parameter", PARAM, JOB)]
    Executor(client).apply(removed)
    assert ssm.describe_parameters()["Parameters"] == []
    assert settle(client, base).actions == ()


def test_every_built_in_kind_is_registered_once_under_its_name() -> None:
    assert set(Kind) <= set(KINDS)
    for name, kind in KINDS.items():
        assert kind.name == name and kind_of(name) is kind
    slots = [slot for kind in KINDS.values() if not kind.shared for slot in kind.slots]
    assert sorted(slots, key=JOB_ORDER.__getitem__) == list(JOB_ORDER)  # each job slot has one kind


def test_the_registry_refuses_a_second_kind_of_the_same_name_and_names_an_unknown_one() -> None:
    class AnotherRole(SsmParameter):
        name = Kind.ROLE

    with pytest.raises(ValueError, match="registered already"):
        register(AnotherRole())
    assert type(kind_of(Kind.ROLE)).__name__ == "RoleKind"
    with pytest.raises(CronplaneError, match=r"unknown resource kind 's3 bucket'.*register it in"):
        kind_of("s3 bucket")


def test_a_kind_whose_tags_come_in_bulk_must_keep_them_out_of_its_hash() -> None:
    class Tagged(SsmParameter):
        name = "ssm parameter"
        tagging_type = "ssm:parameter"

    with pytest.raises(ValueError, match="TAGS_VISIBLE"):
        register(Tagged())
    assert "ssm parameter" not in KINDS
