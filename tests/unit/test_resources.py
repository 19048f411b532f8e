"""Desired resources from a manifest: pure, deterministic, tagged, wired to each other."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "aws"))

from deploy_builders import ACCOUNT, NS, REGION, desired_for, example_manifest, make_job, make_manifest

from cronplane.build.resources import (
    Kind,
    decode_state,
    encode_state,
    function_environment,
)
from cronplane.manifest import names
from cronplane.manifest.models import Secret, TriggerMode, Vpc
from cronplane.runtime.settings import RuntimeSettings


def by_kind(desired, job):
    return {r.slot: r for r in desired.of_job(job)}


def test_rule_job_gets_role_dlq_logs_function_invoke_config_permission_and_rule() -> None:
    d = desired_for(make_manifest(make_job("a")))
    assert [r.slot for r in d.of_job("a")] == ["role", "dlq", "log", "fn", "inv", "perm", "rule"]
    assert [r.kind for r in d.shared()] == [Kind.TABLE]  # no Scheduler group when no job needs one
    r = by_kind(d, "a")
    fn_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NS}--a"
    assert r["rule"].hidden["target"]["Arn"] == fn_arn
    assert r["rule"].hidden["target"]["DeadLetterConfig"]["Arn"] == r["dlq"].arn
    assert r["perm"].hidden["source_arn"] == r["rule"].arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{NS}--a"
    assert r["perm"].hidden["source_account"] == ACCOUNT
    # No on-failure destination: the wrapper's own DLQ message is a failed run's only one.
    assert r["inv"].hidden == {"qualifier": None, "max_retry_attempts": 0}
    assert r["fn"].visible["role"] == r["role"].arn == f"arn:aws:iam::{ACCOUNT}:role/cronplane/{NS}/{NS}--a-exec"
    assert r["dlq"].hidden["attributes"]["MessageRetentionPeriod"] == "1209600"
    assert r["dlq"].hidden["attributes"]["SqsManagedSseEnabled"] == "true"
    # the DLQ lets exactly this rule deliver dead letters
    policy = json.loads(r["dlq"].hidden["attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"] == r["rule"].arn
    template = r["rule"].hidden["target"]["InputTransformer"]["InputTemplate"]
    assert json.loads(template.replace("<id>", '"e-1"').replace("<time>", '"2026-11-27T09:00:00Z"')) == {
        "cronplane": {"trigger": "schedule", "event_id": "e-1", "scheduled_for": "2026-11-27T09:00:00Z"}
    }


def test_timezone_at_and_scheduler_mode_use_scheduler_with_its_own_role() -> None:
    m = make_manifest(
        make_job("tz", "cron(0 9 * * ? *)", timezone="Europe/Berlin"),
        make_job("once", "at(2099-01-01T09:00:00)"),
        make_job("plain"),
    )
    d = desired_for(m)
    assert [r.kind for r in d.shared()] == [Kind.TABLE, Kind.SCHEDULE_GROUP]
    tz = by_kind(d, "tz")
    assert "rule" not in tz and "perm" not in tz
    s = tz["sched"]
    assert s.hidden["timezone"] == "Europe/Berlin" and s.hidden["role_arn"] == tz["srole"].arn
    assert s.hidden["action_after_completion"] is None
    assert json.loads(s.hidden["input"])["cronplane"]["scheduled_for"] == "<aws.scheduler.scheduled-time>"
    assert tz["srole"].visible["trust"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert by_kind(d, "once")["sched"].hidden["action_after_completion"] == "NONE"
    assert "rule" in by_kind(d, "plain")
    everything = desired_for(replace(m, trigger_mode=TriggerMode.SCHEDULER))
    assert all("rule" not in by_kind(everything, j) for j in ("tz", "once", "plain"))


def test_provisioned_concurrency_targets_the_alias() -> None:
    d = desired_for(make_manifest(make_job("pc", provisioned_concurrency=2)))
    r = by_kind(d, "pc")
    alias_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{NS}--pc:{names.ALIAS_NAME}"
    assert r["alias"].arn == alias_arn and r["alias"].hidden["provisioned"] == 2
    assert r["rule"].hidden["target"]["Arn"] == alias_arn
    assert r["perm"].hidden["qualifier"] == r["inv"].hidden["qualifier"] == names.ALIAS_NAME
    # new code => new alias fingerprint => a new version is published
    other = desired_for(make_manifest(make_job("pc", provisioned_concurrency=2)), {"pc": "other"})
    assert by_kind(other, "pc")["alias"].hidden_hash() != r["alias"].hidden_hash()


def test_every_taggable_resource_carries_the_ownership_tags() -> None:
    m = make_manifest(
        make_job("a", tags=(("cost-center", "42"),), owner="x@example.com"), make_job("b", timezone="Europe/Paris")
    )
    for res in desired_for(m).resources:
        if res.kind in (Kind.INVOKE_CONFIG, Kind.ALIAS, Kind.PERMISSION, Kind.SCHEDULE):
            assert res.tags == {}  # not taggable in AWS
            continue
        assert res.tags[names.MANAGED_BY_TAG] == "cronplane"
        assert res.tags[names.NAMESPACE_TAG] == NS
        if res.job == "a":
            assert res.tags[names.JOB_TAG] == "a" and res.tags["cost-center"] == "42"
            assert res.tags[names.TEAM_TAG] == "billing" and res.tags[names.OWNER_TAG] == "x@example.com"


def test_function_settings_come_from_the_manifest() -> None:
    job = make_job(
        "a",
        timeout=120,
        memory=512,
        vpc=Vpc(("subnet-2", "subnet-1"), ("sg-1",)),
        kms_key="arn:aws:kms:eu-west-1:123456789012:key/abc",
        reserved_concurrency=1,
    )
    fn = by_kind(desired_for(make_manifest(job), {"a": "SHA"}), "a")["fn"]
    v = fn.visible
    assert (v["timeout"], v["memory"], v["code_sha256"], v["architecture"]) == (120, 512, "SHA", "arm64")
    assert v["vpc"] == {"subnets": ["subnet-1", "subnet-2"], "security_groups": ["sg-1"]}
    assert v["kms_key"].endswith("key/abc") and fn.hidden["reserved_concurrency"] == 1
    assert v["runtime"] == "python3.12" and v["handler"] == "cronplane.runtime.entry.handler"
    assert fn.code == b"zip"


def test_function_environment_is_the_runtime_settings_contract() -> None:
    job = make_job(
        "a",
        env=(("MODE", "fast"),),
        payload={"n": 1},
        secrets=(Secret("DB", "ssm", "/billing/db"), Secret("KEY", "secretsmanager", "stripe")),
    )
    m = make_manifest(job)
    env = function_environment(m, job, account_id=ACCOUNT)
    settings = RuntimeSettings.from_env(env)
    assert settings.job == "a" and settings.namespace == NS
    assert settings.handler == "billing.nightly_report:handler"
    assert settings.history_table == f"{NS}-history"
    assert settings.dlq_url == f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{NS}--a-dlq"
    assert settings.payload == {"n": 1} and settings.retry["max_attempts"] == 3
    assert settings.secrets == {"DB": "ssm:/billing/db", "KEY": "secretsmanager:stripe"}
    assert (settings.timeout, settings.concurrency, settings.ttl_days) == (300, "allow", 30)
    assert env["MODE"] == "fast"


def test_desired_state_is_deterministic_and_hashes_track_hidden_settings() -> None:
    one, two = desired_for(example_manifest()), desired_for(example_manifest())
    assert one == two
    assert [r.hidden_hash() for r in one.resources] == [r.hidden_hash() for r in two.resources]
    m = example_manifest()
    other = desired_for(replace(m, jobs=(replace(m.jobs[1], tags=(("x", "y"),)), *m.jobs[2:])))
    role_before = by_kind(one, m.jobs[1].name)["role"]
    role_after = by_kind(other, m.jobs[1].name)["role"]
    assert role_before.hidden_hash() != role_after.hidden_hash()  # role tags are only in the hash


def test_state_record_round_trips_and_fits_a_tag_value() -> None:
    d = desired_for(make_manifest(make_job("a", provisioned_concurrency=1, timezone="Europe/Paris")))
    state = {r.slot: r.hidden_hash() for r in d.of_job("a")}
    value = encode_state(state)
    assert decode_state(value) == state and len(value) <= 256
    assert decode_state(None) == {} and decode_state("garbage") == {}
