"""Each export, read back (readback.py), is what ``plan`` wants: the same resources with the same
names, settings, policies, schedules and tags, for the repo's jobs.yaml and for a manifest that
uses every field; and its inputs change what they say and nothing else."""

from __future__ import annotations

import json

import pytest
from export_fixtures import ACCOUNT, MANIFESTS, REGION
from readback import CfnReader, TfReader, as_sets, normalized

from cronplane.build.resources import Kind

AWS = {"account": ACCOUNT, "region": REGION}
# What the formats cannot say, each documented where the export writes the resource: a version's
# fingerprint (a new version is published on change by other means), Scheduler's
# ActionAfterCompletion (NONE is the default; CloudFormation has no such property) and, in
# CloudFormation, a permission's statement id (CloudFormation picks it).
NOT_EXPORTED = {Kind.ALIAS: ("fingerprint",), Kind.SCHEDULE: ("action_after_completion",)}


def read(exported, fmt: str, **inputs):
    if fmt == "cloudformation":
        template = json.loads((exported.folder / "template.json").read_text())
        return CfnReader(template, exported.folder, AWS, {"PackageBucket": "packages", **inputs}).read()
    return TfReader(exported.folder, AWS, inputs).read()


@pytest.mark.parametrize("fmt", ["terraform", "cloudformation"])
@pytest.mark.parametrize("manifest", MANIFESTS)
def test_export_reads_back_as_what_plan_wants(exports, manifest: str, fmt: str) -> None:
    exported = exports[(manifest, fmt)]
    drop = dict(NOT_EXPORTED)
    if fmt == "cloudformation":
        drop[Kind.PERMISSION] = ("sid",)
    want = normalized(exported.desired().resources, drop=drop)
    got = read(exported, fmt)
    assert sorted(got) == sorted(want)  # the same resources, by kind and name
    for key in want:
        assert got[key] == want[key], key


def test_the_every_field_manifest_reaches_every_kind_and_setting(exports) -> None:
    """Guards the test above: the manifest it checks does use what it claims to."""
    desired = exports[("every-field", "terraform")].desired()
    kinds = {r.kind for r in desired.resources}
    assert {Kind.TABLE, Kind.SCHEDULE_GROUP, Kind.ROLE, Kind.QUEUE, Kind.LOG_GROUP, Kind.FUNCTION} <= kinds
    assert {Kind.INVOKE_CONFIG, Kind.ALIAS, Kind.PERMISSION, Kind.RULE, Kind.SCHEDULE} <= kinds
    fn = next(r for r in desired.resources if r.kind == Kind.FUNCTION and r.job == "everything")
    assert fn.visible["vpc"] and fn.visible["kms_key"] and fn.hidden["reserved_concurrency"] == 2
    assert "${HOME}/%{x}" in fn.visible["environment"].values()
    permission = next(r for r in desired.resources if r.kind == Kind.PERMISSION and r.job == "warm-rule")
    assert permission.hidden["qualifier"] == "live"
    schedule = next(r for r in desired.resources if r.kind == Kind.SCHEDULE and r.job == "everything")
    assert schedule.hidden["start_window"] == 15


@pytest.mark.parametrize("fmt", ["terraform", "cloudformation"])
def test_inputs_change_namespace_key_and_vpc_and_nothing_else(exports, fmt: str) -> None:
    exported = exports[("every-field", fmt)]
    key = "arn:aws:kms:eu-west-1:210987654321:key/abcd1234-12ab-34cd-56ef-1234567890ab"
    if fmt == "cloudformation":
        inputs = {
            "Namespace": "staging-jobs",
            "EverythingKmsKeyArn": key,
            "EverythingSubnetIds": "subnet-99999999,subnet-88888888",
            "EverythingSecurityGroupIds": "sg-99999999",
        }
    else:
        inputs = {
            "namespace": "staging-jobs",
            "kms_key_arns": {"everything": key},
            "vpc_configs": {
                "everything": {
                    "subnet_ids": ["subnet-99999999", "subnet-88888888"],
                    "security_group_ids": ["sg-99999999"],
                }
            },
        }
    moved = read(exported, fmt, **inputs)
    text = json.dumps(moved)
    assert "acme-jobs" not in text  # the namespace was in names, ARNs, paths, tags, environment
    fn = moved[f"{Kind.FUNCTION}|staging-jobs--everything"]
    assert fn["visible"]["kms_key"] == key
    assert fn["visible"]["vpc"] == {
        "subnets": ["subnet-99999999", "subnet-88888888"],
        "security_groups": ["sg-99999999"],
    }
    role = moved[f"{Kind.ROLE}|staging-jobs--everything-exec"]
    decrypt = next(s for s in role["hidden"]["policy"]["Statement"] if s["Sid"] == "DecryptWithJobKey")
    assert decrypt["Resource"] == [key]  # the role may use the key the function is given
    # Everything else is as with the defaults: putting the default values back gives the same.
    defaults = {
        "staging-jobs": "acme-jobs",
        key: str(exported.manifest.job("everything").kms_key),
        "subnet-99999999": "subnet-0123abcd",
        "subnet-88888888": "subnet-4567ef01",
        "sg-99999999": "sg-0123abcd",
    }
    for new, default in defaults.items():
        text = text.replace(new, default)
    assert as_sets(json.loads(text)) == read(exported, fmt)
