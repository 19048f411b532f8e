"""The planner against an in-memory live state: create / update field by field / delete /
no-op / unmanaged look-alikes / pause."""

from __future__ import annotations

from dataclasses import replace

from deploy_builders import NS, bend, desired_for, example_manifest, live_from, make_job, make_manifest

from cronplane.aws.inventory import LiveResource, LiveState, Pause
from cronplane.aws.planner import Op, plan
from cronplane.build.resources import CONFIG_TAG, Kind
from cronplane.manifest import names


def empty() -> LiveState:
    return LiveState(NS, {})


def ops(p):
    return [(a.op.value, a.kind, a.name) for a in p.changes]


def test_empty_account_creates_everything_in_dependency_order() -> None:
    desired = desired_for(example_manifest())
    p = plan(desired, empty())
    assert p.count(Op.UPDATE) == p.count(Op.DELETE) == 0
    assert p.count(Op.CREATE) == len(desired.resources)
    kinds = [a.kind for a in p.changes]
    assert kinds[:2] == [Kind.TABLE, Kind.SCHEDULE_GROUP]  # shared first
    job = [a for a in p.changes if a.job == "invoice-sync"]
    order = [a.kind for a in job]
    assert order.index(Kind.ROLE) < order.index(Kind.FUNCTION) < order.index(Kind.PERMISSION) < order.index(Kind.RULE)
    assert order.index(Kind.QUEUE) < order.index(Kind.INVOKE_CONFIG)
    # each job ends with its state record, written after everything else of the job
    assert [a.op for a in p.actions if a.job == "invoice-sync"][-1] == Op.RECORD
    assert p.summary() == f"Plan: {len(desired.resources)} to create, 0 to update, 0 to delete."


def test_live_equal_to_desired_plans_nothing() -> None:
    desired = desired_for(example_manifest())
    p = plan(desired, live_from(desired))
    assert p.actions == () and p.notes == () and not p.needs_tags
    assert not p.has_changes


def test_changed_schedule_updates_only_the_rule_expression() -> None:
    before = desired_for(example_manifest())
    m = example_manifest()
    jobs = tuple(
        replace(j, schedule=make_job("x", "cron(5 * * * ? *)").schedule) if j.name == "tmp-cleanup" else j
        for j in m.jobs
    )
    after = desired_for(replace(m, jobs=jobs))
    p = plan(after, live_from(before))
    assert ops(p) == [("update", Kind.RULE, "acme-jobs--tmp-cleanup")]
    (change,) = p.changes[0].fields
    assert (change.name, change.old, change.new) == ("expression", "cron(0 * * * ? *)", "cron(5 * * * ? *)")
    # visible fields are not in the recorded hash, so the state record stays as it is
    assert [a.op for a in p.actions] == [Op.UPDATE]


def test_new_code_updates_only_the_function_code() -> None:
    m = example_manifest()
    p = plan(desired_for(m, {"invoice-sync": "new-sha"}), live_from(desired_for(m)))
    assert ops(p) == [("update", Kind.FUNCTION, "acme-jobs--invoice-sync")]
    assert [(f.name, f.old, f.new) for f in p.changes[0].fields] == [("code_sha256", "sha-invoice-sync", "new-sha")]


def test_config_fields_are_diffed_one_by_one() -> None:
    m = example_manifest()
    live = live_from(desired_for(m))
    fn = f"{NS}--invoice-sync"
    live = bend(
        live, Kind.FUNCTION, fn, visible={**live.resources[(Kind.FUNCTION, fn)].visible, "timeout": 30, "memory": 128}
    )
    p = plan(desired_for(m), live)
    assert {(f.name, f.old, f.new) for f in p.changes[0].fields} == {("timeout", 30, 300), ("memory", 128, 256)}


def test_hidden_setting_change_is_found_by_hash_and_asks_for_details() -> None:
    m = example_manifest()
    live = live_from(desired_for(m))
    changed = make_manifest(*(replace(j, permissions=()) for j in m.jobs))
    job = m.jobs[1]
    from cronplane.manifest.models import Permission

    extra = (Permission(actions=("s3:GetObject",), resources=("arn:aws:s3:::bucket/*",)),)
    changed = replace(m, jobs=tuple(replace(j, permissions=extra) if j.name == job.name else j for j in m.jobs))
    p = plan(desired_for(changed), live)
    role = f"{NS}--{job.name}-exec"
    assert ops(p) == [("update", Kind.ROLE, role)]
    assert p.changes[0].fields[0].name == "settings"
    assert (Kind.ROLE, role) in p.needs_details
    # with the live policy read, the diff names the field
    old_policy = desired_for(m).of_job(job.name)[0].hidden["policy"]
    live2 = bend(live, Kind.ROLE, role, details={"policy": old_policy})
    p2 = plan(desired_for(changed), live2)
    assert [f.name for f in p2.changes[0].fields] == ["policy"]
    # and the state record is rewritten after the update
    assert p2.actions[-1].op == Op.RECORD


def test_removed_job_is_deleted_once_its_tags_prove_it_ours() -> None:
    m = example_manifest()
    live = live_from(desired_for(m))
    smaller = replace(m, jobs=tuple(j for j in m.jobs if j.name != "tmp-cleanup"))
    first = plan(desired_for(smaller), live)
    # the function's tags are known from the bulk read, the others must be read first
    assert (Kind.ROLE, f"{NS}--tmp-cleanup-exec") in first.needs_tags
    tagged = live_from(desired_for(m), with_tags=True)
    p = plan(desired_for(smaller), tagged)
    deleted = [(a.kind, a.name) for a in p.changes]
    assert all(a.op == Op.DELETE and a.job == "tmp-cleanup" for a in p.changes)
    assert deleted == [
        (Kind.RULE, f"{NS}--tmp-cleanup"),
        (Kind.FUNCTION, f"{NS}--tmp-cleanup"),
        (Kind.LOG_GROUP, f"/aws/lambda/{NS}--tmp-cleanup"),
        (Kind.QUEUE, f"{NS}--tmp-cleanup-dlq"),
        (Kind.ROLE, f"{NS}--tmp-cleanup-exec"),
    ]
    assert "job tmp-cleanup is no longer in the manifest" in p.changes[0].reason


def test_unmanaged_look_alikes_are_reported_and_left_alone() -> None:
    m = example_manifest()
    live = live_from(desired_for(m), with_tags=True)
    look = [
        LiveResource(Kind.QUEUE, f"{NS}-legacy-dlq", "arn:q", {}, {}, "https://sqs/x"),
        LiveResource(Kind.RULE, f"{NS}-legacy", "arn:r", {"state": "ENABLED"}, {"team": "old"}),
        LiveResource(Kind.FUNCTION, f"{NS}-legacy", "arn:f", {}, {"team": "old"}),
        # another cronplane namespace sharing the prefix: silently not ours
        LiveResource(
            Kind.RULE,
            f"{NS}-staging-x",
            "arn:s",
            {},
            {names.NAMESPACE_TAG: f"{NS}-staging", names.MANAGED_BY_TAG: "cronplane"},
        ),
    ]
    p = plan(desired_for(m), live.with_resources(look))
    assert p.actions == ()
    assert len(p.notes) == 3
    assert all(n.startswith("not managed: ") and n.endswith("skipped") for n in p.notes)
    assert any(f"sqs queue {NS}-legacy-dlq" in n for n in p.notes)
    # a function outside the namespace's tag query has unknown tags: read before judging
    unknown = LiveResource(Kind.FUNCTION, f"{NS}-other", "arn:o", {}, None)
    assert plan(desired_for(m), live.with_resources([unknown])).needs_tags == {unknown.key}


def test_untagged_resource_with_a_job_name_blocks_only_that_job() -> None:
    m = example_manifest()
    live = live_from(desired_for(m), with_tags=True)
    fn = f"{NS}--invoice-sync"
    live = LiveState(
        NS,
        {
            k: v
            for k, v in live.resources.items()
            if v.name not in (fn, f"{NS}--invoice-sync-exec", f"{NS}--invoice-sync-dlq", f"/aws/lambda/{fn}")
            and not (k[0] == Kind.RULE and v.name == fn)
        },
    )
    live = live.with_resources([LiveResource(Kind.QUEUE, f"{NS}--invoice-sync-dlq", "arn:q", {}, {}, "u")])
    p = plan(desired_for(m), live)
    assert not [a for a in p.actions if a.job == "invoice-sync"]
    assert any("sqs queue acme-jobs--invoice-sync-dlq" in n and "job invoice-sync skipped" in n for n in p.notes)


def test_interrupted_create_is_adopted_and_reapplied() -> None:
    """A role created by a deploy that died before the job's state record: found, proven ours
    by its tags, and its hidden settings applied again."""
    m = make_manifest(make_job("a"))
    d = desired_for(m)
    role = d.of_job("a")[0]
    live = LiveState(NS, {role.key: LiveResource(role.kind, role.name, role.arn, dict(role.visible), None)})
    assert role.key in plan(d, live).needs_tags
    live = bend(live, role.kind, role.name, tags=dict(role.tags))
    p = plan(d, live)
    first_job_action = next(a for a in p.changes if a.job == "a")
    assert (first_job_action.op, first_job_action.kind) == (Op.UPDATE, Kind.ROLE)
    assert first_job_action.reason == "found unrecorded; adopting"
    assert [f.name for f in first_job_action.fields] == ["policy"]


def test_paused_job_stays_paused_unless_unpaused() -> None:
    m = example_manifest()
    d = desired_for(m)
    rule = f"{NS}--invoice-sync"
    live = bend(live_from(d), Kind.RULE, rule, visible={**d.of_job("invoice-sync")[-1].visible, "state": "DISABLED"})
    live = replace(live, paused={"invoice-sync": Pause("invoice-sync", "ana@laptop", "2026-11-27T10:00:00Z")})
    p = plan(d, live)
    assert p.actions == ()
    assert p.notes == (
        "job invoice-sync: paused by ana@laptop since 2026-11-27T10:00:00Z; the manifest says "
        "`enabled: true` but the eventbridge rule stays disabled by the pause. Deploy keeps it paused — "
        "`jobctl resume invoice-sync` or `jobctl deploy --unpause invoice-sync` to enable it, "
        "or set `enabled: false` in the manifest to keep it off",
    )
    p2 = plan(d, live, unpause=["invoice-sync"])
    assert ops(p2) == [("update", Kind.RULE, rule)]
    assert [(f.name, f.old, f.new) for f in p2.changes[0].fields] == [("state", "DISABLED", "ENABLED")]
    assert p2.drift == () and p2.verdict() == "Plan: 0 to create, 1 to update, 0 to delete."


def test_paused_job_is_drift_not_a_match() -> None:
    """A pause a deploy keeps is named as drift from `enabled: true`, never "AWS matches"."""
    m = example_manifest()
    d = desired_for(m)
    live = bend(
        live_from(d),
        Kind.RULE,
        f"{NS}--invoice-sync",
        visible={**d.of_job("invoice-sync")[-1].visible, "state": "DISABLED"},
    )
    live = replace(live, paused={"invoice-sync": Pause("invoice-sync", "ana@laptop", "2026-11-27T10:00:00Z")})
    p = plan(d, live)
    assert p.changes == ()
    assert p.verdict() == "No changes to apply. 1 job differs from the manifest on purpose: paused (see notes)."
    assert p.to_json()["drift"] == [
        {
            "job": "invoice-sync",
            "field": "enabled",
            "manifest": True,
            "live": False,
            "reason": "paused by ana@laptop since 2026-11-27T10:00:00Z",
        }
    ]
    # A real change alongside: counts first, then the drift.
    changed = bend(live, Kind.LOG_GROUP, f"/aws/lambda/{NS}--tmp-cleanup", visible={"retention": 1})
    assert plan(d, changed).verdict() == (
        "Plan: 0 to create, 1 to update, 0 to delete. 1 job differs from the manifest on purpose: paused (see notes)."
    )
    # Two paused jobs: counted as jobs, each with its own drift entry.
    both = bend(
        live, Kind.RULE, f"{NS}--tmp-cleanup", visible={**d.of_job("tmp-cleanup")[-1].visible, "state": "DISABLED"}
    )
    both = replace(both, paused={**live.paused, "tmp-cleanup": Pause("tmp-cleanup", "bo@ci", "2026-11-27T11:00:00Z")})
    p2 = plan(d, both)
    assert p2.changes == () and sorted(x.job for x in p2.drift) == ["invoice-sync", "tmp-cleanup"]
    assert p2.verdict() == "No changes to apply. 2 jobs differ from the manifest on purpose: paused (see notes)."
    # Nothing paused: the plain verdict, and an empty drift list in JSON.
    clean = plan(d, live_from(d))
    assert clean.verdict() == "No changes. AWS matches the manifest." and clean.to_json()["drift"] == []
    # `enabled: false` in the manifest and paused: AWS agrees with the manifest, no drift.
    off = desired_for(
        replace(m, jobs=tuple(replace(j, enabled=False) if j.name == "invoice-sync" else j for j in m.jobs))
    )
    assert plan(off, replace(live_from(off), paused=live.paused)).drift == ()


def test_disabled_job_deploys_its_trigger_disabled() -> None:
    m = make_manifest(make_job("a", enabled=False), make_job("b", timezone="Europe/Paris", enabled=False))
    p = plan(desired_for(m), empty())
    rule = next(a for a in p.changes if a.kind == Kind.RULE)
    sched = next(a for a in p.changes if a.kind == Kind.SCHEDULE)
    assert rule.desired.visible["state"] == sched.desired.visible["state"] == "DISABLED"


def test_job_moving_to_scheduler_replaces_rule_and_permission() -> None:
    before = make_manifest(make_job("a"))
    after = make_manifest(make_job("a", timezone="Europe/Paris"))
    live = live_from(desired_for(before), with_tags=True)
    p = plan(desired_for(after), live)
    got = [(a.op.value, a.kind) for a in p.changes]
    assert ("create", Kind.SCHEDULE) in got and ("create", Kind.SCHEDULE_GROUP) in got
    assert ("delete", Kind.RULE) in got and ("delete", Kind.PERMISSION) in got
    # the new trigger exists before the old one goes
    assert got.index(("create", Kind.SCHEDULE)) < got.index(("delete", Kind.RULE))


def test_destroy_deletes_everything_but_history_unless_asked() -> None:
    d = desired_for(example_manifest())
    live = live_from(d, with_tags=True)
    p = plan(d, live, destroy=True)
    assert p.count(Op.CREATE) == p.count(Op.UPDATE) == 0
    assert {a.kind for a in p.changes} == {
        Kind.RULE,
        Kind.SCHEDULE,
        Kind.FUNCTION,
        Kind.ROLE,
        Kind.QUEUE,
        Kind.LOG_GROUP,
        Kind.SCHEDULE_GROUP,
    }
    assert p.changes[-1].kind == Kind.SCHEDULE_GROUP  # after the schedules in it
    assert any("kept: dynamodb table acme-jobs-history" in n for n in p.notes)
    p2 = plan(d, live, destroy=True, include_history=True)
    assert p2.changes[-1].kind == Kind.TABLE


def test_function_tags_drift_is_an_update_of_tags() -> None:
    d = desired_for(example_manifest())
    live = live_from(d)
    fn = f"{NS}--invoice-sync"
    tags = dict(live.resources[(Kind.FUNCTION, fn)].tags)
    tags[names.OWNER_TAG] = "someone-else@example.com"
    p = plan(d, bend(live, Kind.FUNCTION, fn, tags=tags))
    assert ops(p) == [("update", Kind.FUNCTION, fn)]
    assert p.changes[0].fields[0].name == "tags"
    assert CONFIG_TAG not in p.changes[0].fields[0].old


def test_plan_json_shape() -> None:
    p = plan(desired_for(make_manifest(make_job("a"))), empty())
    data = p.to_json()
    assert set(data["changes"][0]) >= {"action", "resource", "job", "fields"}
    assert data["changes"][0]["action"] == "create"
    assert data["changes"][0]["resource"] == "dynamodb table acme-jobs-history"


def test_dict_fields_name_only_the_changed_keys() -> None:
    from cronplane.aws.planner import FieldChange

    change = FieldChange("environment", {"A": "1", "B": "2", "C": "3"}, {"A": "1", "B": "20", "D": "4"})
    assert change.describe() == "environment: B: 2 → 20; C: 3 → (none); D: (none) → 4"


def test_a_tag_removed_from_the_manifest_is_planned_as_a_removal_on_every_resource() -> None:
    before = make_manifest(
        make_job("a", tags=(("tier", "gold"), ("cost", "42"))),
        make_job("b", timezone="Europe/Paris", tags=(("tier", "gold"),)),
    )
    after = make_manifest(make_job("a", tags=(("cost", "42"),)), make_job("b", timezone="Europe/Paris"))
    old = desired_for(before)
    taggable = {(r.kind, r.name) for r in old.resources if r.job and r.tags}
    assert {k for k, _ in taggable} == {Kind.ROLE, Kind.QUEUE, Kind.LOG_GROUP, Kind.FUNCTION, Kind.RULE}

    # after the bulk read only the functions' tags are known: the others are asked for
    first = plan(desired_for(after), live_from(old))
    assert first.needs_tags == {k for k in taggable if k[0] != Kind.FUNCTION}

    live = live_from(old, with_tags=True)
    for r in old.resources:  # hidden settings read too (they did not change)
        if r.job and r.kind in (Kind.ROLE, Kind.QUEUE, Kind.RULE, Kind.SCHEDULE):
            live = bend(live, r.kind, r.name, details=dict(r.hidden))
    p = plan(desired_for(after), live)
    assert not p.needs_tags and not p.needs_details
    updated = {(a.kind, a.name): a for a in p.changes}
    assert set(updated) == taggable  # every tagged resource of both jobs, nothing else (not the schedule)
    for action in updated.values():
        (change,) = action.fields
        assert change.name == "tags" and action.op == Op.UPDATE
        assert change.old["tier"] == "gold" and "tier" not in change.new
        assert change.describe() == "tags: tier: gold → (none)"
    assert ops(p)  # and each job's state record is rewritten afterwards
    assert {a.job for a in p.actions if a.op == Op.RECORD} == {"a", "b"}


def test_aws_own_tags_are_never_a_difference() -> None:
    d = desired_for(make_manifest(make_job("a")))
    live = live_from(d)
    fn = f"{NS}--a"
    # (a stack's own tag would say a stack deploys it: tests/unit/export/test_export_stack.py)
    tags = {**live.resources[(Kind.FUNCTION, fn)].tags, "aws:createdBy": "IAMUser:AIDA:someone"}
    assert plan(d, bend(live, Kind.FUNCTION, fn, tags=tags)).actions == ()
