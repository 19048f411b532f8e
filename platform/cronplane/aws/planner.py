"""Stage 5 of the deploy pipeline: desired resources vs live state -> a Plan. Pure: no I/O.

The plan is data (``aws.plan``): ordered frozen actions with the changed fields old -> new,
notes for the reader (resources that look like ours but are not tagged so, paused jobs kept
paused) and the drift a deploy keeps on purpose. ``jobctl plan`` prints it and ``jobctl deploy``
hands the very same value to the executor, so the two can never disagree.

Rules the planner enforces:

- only resources tagged with this namespace are updated or deleted; a resource with one of our
  names but not our tags is reported ("not managed: ... skipped") and its job left alone;
- a resource another tool deploys, or one of our names tagged with *another* namespace, fails
  planning before anything is written (``aws.ownership``: ``ManagedElsewhereError``, ``NameClashError``);
- resources still named the way cronplane named them before the ``--`` join are replaced: the
  new ones are created first, then the old ones deleted, with a note saying why;
- a resource that holds data (a DLQ's messages: ``ResourceKind.holds_data``) is read before it is
  deleted, so a note says what goes with it; a renamed one's delete carries the resource that
  replaces it (``Action.desired``), which gets the data first;
- visible settings are compared field by field; hidden settings by the hash recorded in the
  job's ``cronplane:config`` tag (a RECORD action rewrites that tag after the job's changes);
- a job paused with ``jobctl pause`` stays paused unless ``--unpause`` names it; when its
  manifest says ``enabled: true`` that is drift the plan names (a note and a ``Drift`` value),
  not a change: the user chooses between resuming and setting ``enabled: false``;
- tags are the manifest's: a "tags" change lists old -> new, and the applier removes keys no
  longer wanted (AWS's own ``aws:`` tags are never compared). Tags of kinds the bulk read does
  not return are read only when that resource's recorded hash changed;
- a vouched resource (not listed: the job's record stands in, ``aws.vouch``) is as desired when
  the record's hashes are the desired ones; otherwise, or when its job is paused or it is to be
  created, it is read (``needs_details``) and compared as a listed one.

What differs between kinds (taggable? listed, or a recorded sub-resource of the function?
shared? where in a job's order?) the planner asks the kind (``aws.kinds.kind_of``). Facts the
bulk inventory does not hold (tags of a role it would delete, old values of a changed policy) it
lists in ``Plan.needs_tags`` / ``Plan.needs_details``; the deployer fetches them and plans again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from cronplane.aws.inventory import LiveResource, LiveState
from cronplane.aws.kinds import KINDS, kind_of
from cronplane.aws.ownership import ManagedElsewhereError, NameClashError, deploying_tool, elsewhere_message
from cronplane.aws.plan import Action, Drift, FieldChange, Op, Plan
from cronplane.aws.plan_order import order_job, position
from cronplane.aws.vouch import record_of, vouches
from cronplane.build.resources import (
    CONFIG_TAG,
    DesiredState,
    Resource,
    canonical_json,
    decode_state,
    encode_state,
)
from cronplane.manifest import names


def plan(
    desired: DesiredState,
    live: LiveState,
    *,
    unpause: Iterable[str] = (),
    destroy: bool = False,
    include_history: bool = False,
) -> Plan:
    """Compare and order. ``destroy`` plans the removal of everything of the namespace (the
    history table only with ``include_history``)."""
    p = _Planner(desired, live, frozenset(unpause))
    if destroy:
        p.destroy(include_history)
    else:
        p.deploy()
    return p.result()


class _Planner:
    def __init__(self, desired: DesiredState, live: LiveState, unpause: frozenset[str]) -> None:
        self.desired = desired
        self.live = live
        self.ns = desired.namespace
        self.unpause = unpause
        self.first: list[Action] = []
        self.per_job: dict[str, list[Action]] = {}
        self.last: list[Action] = []
        self.notes: list[str] = []
        self.drift: list[Drift] = []
        self.needs_tags: set[tuple[str, str]] = set()
        self.needs_details: set[tuple[str, str]] = set()
        self.clashes: list[str] = []
        self.elsewhere: dict[str, list[str]] = {}  # deploying tool -> labels of what it owns
        self.renamed = 0  # resources with pre-"--" names being replaced

    # -- ownership --------------------------------------------------------------------------
    def ours(self, res: LiveResource) -> bool | None:
        """True / False from its tags; None when the tags were not read yet."""
        if res.tags is None:
            return None
        return res.tags.get(names.NAMESPACE_TAG) == self.ns

    def ours_by(self, key: tuple[str, str]) -> bool:
        """Whether the resource ``key`` names exists and is ours."""
        owner = self.live.get(*key)
        return owner is not None and bool(self.ours(owner))

    def managed_elsewhere(self, res: LiveResource) -> bool:
        """Whether another tool deploys ``res`` (it is noted, and planning fails in ``result``)."""
        tool = deploying_tool(res.tags, kept=kind_of(res.kind).kept is not None)
        if tool is not None:
            self.elsewhere.setdefault(tool, []).append(res.label)
        return tool is not None

    def not_managed(self, res: LiveResource, why: str) -> None:
        if res.tags and res.tags.get(names.MANAGED_BY_TAG) == names.MANAGED_BY_VALUE:
            return  # another cronplane namespace sharing our prefix: not ours to mention
        self.notes.append(f"not managed: {res.label} has no {names.NAMESPACE_TAG}={self.ns} tag; {why}")

    def occupied(self, res: LiveResource, wanted_by: str, why: str) -> None:
        """A name the manifest needs is taken by a resource that is not ours: another
        namespace's is a clash (an error), anything else a note."""
        owner = names.owner_namespace(res.tags)
        if owner is not None and owner != self.ns:
            self.clashes.append(
                f"name clash: {wanted_by} of namespace {self.ns!r} needs the {res.label}, which belongs to "
                f"namespace {owner!r} ({names.NAMESPACE_TAG}={owner}); nothing was deployed. Redeploy "
                f"namespace {owner!r} with this cronplane (its names become {names.job_prefix(owner)}...) "
                "or rename the job"
            )
            return
        self.notes.append(f"not managed: {res.label} has no {names.NAMESPACE_TAG}={self.ns} tag; {why}")

    # -- deploy -----------------------------------------------------------------------------
    def deploy(self) -> None:
        for res in self.desired.shared():
            self.shared(res)
        desired_keys = {r.key for r in self.desired.resources}
        for job in self.desired.jobs():
            self.job(job)
        self.prune(desired_keys)

    def shared(self, res: Resource) -> None:
        lr = self.live.get(res.kind, res.name)
        if lr is None:
            self.first.append(Action(Op.CREATE, res.kind, res.name, None, "shared resource missing", desired=res))
            return
        if lr.tags is None and kind_of(res.kind).recorded_hash(lr) == res.hidden_hash():
            return  # its last deploy recorded these settings where the listing shows them
        owned = self.ours(lr)
        if owned is None:
            self.needs_tags.add(lr.key)  # a kind whose listing does not return tags
            return
        if not owned:
            self.occupied(lr, "the shared resources", "it cannot be used; tag it or remove it")
            return
        if self.managed_elsewhere(lr):
            return
        fields = _tag_changes(res.tags, lr.tags or {})
        old, kind = (lr.tags or {}).get(CONFIG_TAG), kind_of(res.kind)
        if old != res.hidden_hash():
            fields.append(FieldChange("settings", old, res.hidden_hash()))
        elif kind.records_in_listing and kind.recorded_hash(lr) != old:  # put the listing's record back
            fields.append(FieldChange("record", kind.recorded_hash(lr), old))
        if fields:
            self.first.append(Action(Op.UPDATE, res.kind, res.name, None, "settings differ", tuple(fields), res, lr))

    def job(self, job: str) -> None:
        resources = self.desired.of_job(job)
        # The job's function: it carries the job's state record.
        fn = next(r for r in resources if kind_of(r.kind).holds_job_record)
        live_fn = self.live.get(fn.kind, fn.name)
        if live_fn is not None and live_fn.tags is None:
            self.needs_tags.add(live_fn.key)  # not in the namespace's tag query: read its own tags
            return
        if live_fn is not None and not self.ours(live_fn):
            self.occupied(live_fn, f"job {job}", f"job {job} skipped (rename the job or tag the function)")
            return
        if live_fn is not None and self.managed_elsewhere(live_fn):
            return
        state = decode_state((live_fn.tags or {}).get(CONFIG_TAG)) if live_fn else {}
        paused = self.live.paused.get(job)
        actions: list[Action] = []
        for res in resources:
            keep_paused = paused is not None and job not in self.unpause
            is_trigger = kind_of(res.kind).trigger is not None
            if is_trigger and keep_paused and res.visible.get("state") == "ENABLED":
                assert paused is not None
                self.notes.append(
                    f"job {job}: paused by {paused.actor} since {paused.at}; the manifest says `enabled: true` "
                    f"but the {res.kind} stays disabled by the pause. Deploy keeps it paused — "
                    f"`jobctl resume {job}` or `jobctl deploy --unpause {job}` to enable it, "
                    f"or set `enabled: false` in the manifest to keep it off"
                )
                self.drift.append(
                    Drift(job, "enabled", True, False, f"paused by {paused.actor} since {paused.at}", "paused")
                )
                # The trigger stays as `jobctl pause` left it.
                res = replace(res, visible={**res.visible, "state": "DISABLED"})
            action = self.compare(res, live_fn, state)
            if isinstance(action, str):  # "conflict"
                return  # the whole job waits until the name clash is resolved
            if action is not None:
                actions.append(action)
        # Sub-resources recorded earlier but no longer wanted (e.g. provisioned concurrency
        # dropped, or the job moved from a rule to Scheduler).
        wanted = {r.slot for r in resources}
        for kind in KINDS.values():
            for slot in kind.slots if live_fn is not None and not kind.listed else ():
                if slot in state and slot not in wanted:
                    why = "no longer needed by the job"
                    actions.append(Action(Op.DELETE, kind.name, fn.name, job, why, live=live_fn))
        new_state = record_of(resources)
        if new_state != state:
            record = FieldChange(CONFIG_TAG, encode_state(state) or None, encode_state(new_state))
            actions.append(Action(Op.RECORD, fn.kind, fn.name, job, "record applied settings", (record,), fn, live_fn))
        if actions:
            self.per_job.setdefault(job, []).extend(actions)

    def compare(self, res: Resource, live_fn: LiveResource | None, state: dict[str, str]) -> Action | str | None:
        kind = kind_of(res.kind)
        if not kind.listed:
            if live_fn is None or res.slot not in state:
                reason = "new job" if live_fn is None else "missing"
                # live: the function exists, so an interrupted deploy may have made this already
                return Action(Op.CREATE, res.kind, res.name, res.job, reason, desired=res, live=live_fn)
            if state[res.slot] != res.hidden_hash():
                return Action(
                    Op.UPDATE,
                    res.kind,
                    res.name,
                    res.job,
                    "settings differ",
                    (FieldChange("settings", state[res.slot], res.hidden_hash()),),
                    res,
                    live_fn,
                )
            return None
        lr = self.live.get(res.kind, res.name)
        if lr is not None and lr.vouched and res.job not in self.live.paused and vouches(state, res):
            return None  # its job's record says it is as desired (a pause may have changed it)
        if (lr is not None and lr.vouched) or (lr is None and self.live.unknown(res.kind, res.name)):
            self.needs_details.add(res.key)  # read it, then compare
            return None
        if lr is None:
            reason = "new job" if live_fn is None else "missing"
            return Action(Op.CREATE, res.kind, res.name, res.job, reason, desired=res)
        recorded = res.slot in state
        owner = kind.owner(self.ns)
        if owner is not None:  # untaggable: it is ours when what it belongs to is
            recorded = recorded and bool(self.ours_by(owner))
        if not recorded and not kind.holds_job_record:
            owned = self.ours(lr)
            if owned is None:
                self.needs_tags.add(lr.key)
                return None
            if not owned:
                why = f"job {res.job} skipped (rename the job or delete/tag the resource)"
                self.occupied(lr, f"job {res.job}", why)
                return "conflict"
        fields = [
            FieldChange(k, lr.visible.get(k), v)
            for k, v in res.visible.items()
            if canonical_json(lr.visible.get(k)) != canonical_json(v)
        ]
        if kind.tags_listed:
            fields += _tag_changes(res.tags, lr.tags or {})
        old_hash = state.get(res.slot)
        if old_hash != res.hidden_hash():
            fields += self.hidden_changes(res, lr, old_hash)
            if kind.tagged and not kind.tags_listed:
                # The hash covers the tags: read them, so the plan shows which keys change and
                # the applier can remove keys no longer wanted (a tag deleted from jobs.yaml).
                if lr.tags is None:
                    self.needs_tags.add(lr.key)
                else:
                    tag_fields = _tag_changes(res.tags, lr.tags)
                    fields = [f for f in fields if f.name != "tags"] + tag_fields
                    if not fields:  # only the recorded hash is stale: re-apply, nothing else differs
                        fields = [FieldChange("settings", old_hash, res.hidden_hash())]
        if not fields:
            return None
        reason = "settings differ" if recorded or kind.holds_job_record else "found unrecorded; adopting"
        if {f.name for f in fields} == {"code_sha256"}:
            reason = "new code"
        return Action(Op.UPDATE, res.kind, res.name, res.job, reason, tuple(fields), res, lr)

    def hidden_changes(self, res: Resource, lr: LiveResource, old_hash: str | None) -> list[FieldChange]:
        if old_hash is None:
            # Never recorded (an interrupted deploy, or adoption): re-apply every hidden setting.
            return [FieldChange(k, None, v) for k, v in res.hidden.items()] or [
                FieldChange("tags", None, dict(res.tags))
            ]
        if not res.hidden:
            return []  # only tags are hashed (a log group): the tag diff says it all
        if lr.details is None:
            if kind_of(res.kind).reads_details:
                self.needs_details.add(lr.key)
            return [FieldChange("settings", old_hash, res.hidden_hash())]
        fields = [
            FieldChange(k, lr.details.get(k), v)
            for k, v in res.hidden.items()
            if canonical_json(lr.details.get(k)) != canonical_json(v)
        ]
        # Details equal but hash differs: tags (not in details) changed.
        return fields or [FieldChange("tags", None, dict(res.tags))]

    def prune(self, desired_keys: set[tuple[str, str]], destroying: bool = False) -> None:
        for key, lr in sorted(self.live.resources.items()):
            kind = kind_of(lr.kind)
            if key in desired_keys or kind.kept:
                continue
            if kind.shared:
                if lr.tags is None:
                    self.needs_tags.add(key)  # whose it is decides whether it goes: read its tags
                elif self.ours(lr) and not self.managed_elsewhere(lr):
                    why = f"destroy namespace {self.ns}" if destroying else kind.unused_reason
                    self.last.append(Action(Op.DELETE, lr.kind, lr.name, None, why, live=lr))
                continue
            owner = kind.owner(self.ns)
            if owner is not None and not self.ours_by(owner):
                continue
            owned = self.ours(lr)
            if owned is None:
                self.needs_tags.add(key)
                continue
            if not owned:
                self.not_managed(lr, "skipped")
                continue
            if self.managed_elsewhere(lr):
                continue
            job = (lr.tags or {}).get(names.JOB_TAG) or names.job_of(self.ns, lr.name) or lr.name
            in_manifest = job in self.desired.jobs()
            reason = "no longer needed by the job" if in_manifest else f"job {job} is no longer in the manifest"
            replacement = None
            if destroying:
                reason = f"destroy namespace {self.ns}"
            elif in_manifest and lr.name in names.legacy_names(self.ns, job):
                reason = f"replaced by its {names.SEPARATOR}-joined name"
                self.renamed += 1
                if kind.holds_data:  # its delete hands what it holds to the new one first
                    slot = kind.slot_of(lr.name)
                    replacement = next(
                        (r for r in self.desired.of_job(job) if r.kind == lr.kind and r.slot == slot), None
                    )
            if kind.holds_data:
                if lr.details is None:
                    self.needs_details.add(key)  # how much it holds: one read, only for what is deleted
                elif (note := kind.loss_note(lr, replacement)) is not None:
                    self.notes.append(note)
            action = Action(Op.DELETE, lr.kind, lr.name, job, reason, desired=replacement, live=lr)
            self.per_job.setdefault(job, []).append(action)

    # -- destroy ----------------------------------------------------------------------------
    def destroy(self, include_history: bool) -> None:
        self.prune(set(), destroying=True)
        for lr in self.live.resources.values():
            kept = kind_of(lr.kind).kept
            if kept is None:
                continue
            if include_history and self.ours(lr) and not self.managed_elsewhere(lr):
                self.last.append(Action(Op.DELETE, lr.kind, lr.name, None, "destroy --include-history", live=lr))
            else:
                self.notes.append(f"kept: {lr.label} ({kept}); add --include-history to delete it")

    def result(self) -> Plan:
        if self.clashes:
            raise NameClashError("\n".join(dict.fromkeys(self.clashes)))
        if self.elsewhere:
            raise ManagedElsewhereError(elsewhere_message(self.ns, self.elsewhere))
        if self.renamed:
            self.notes.append(
                f"renamed: {self.renamed} resources of namespace {self.ns} still have names from before cronplane "
                f"joined namespace and job with {names.SEPARATOR!r} (two namespaces could share such a name); "
                "deploy creates each under its new name, then deletes the old one. An old dead-letter queue's "
                "messages are moved to the new queue first; an old log group's logs are deleted with it: save "
                "them first if you need them"
            )
        self.notes.extend(self.desired.notes)
        ordered: list[Action] = sorted(self.first, key=position)
        for job in sorted(self.per_job):
            ordered.extend(order_job(self.per_job[job]))
        ordered.extend(sorted(self.last, key=position, reverse=True))
        notes, needs = tuple(dict.fromkeys(self.notes)), (frozenset(self.needs_tags), frozenset(self.needs_details))
        return Plan(self.ns, tuple(ordered), notes, *needs, tuple(self.drift))


def _tag_changes(want: Mapping[str, str], have: Mapping[str, str]) -> list[FieldChange]:
    """A "tags" change (old -> new) when the live tags differ from the manifest's. The state
    record and AWS's own ``aws:`` tags (which no one may change) are not compared."""
    wanted = dict(want)
    had = {k: v for k, v in dict(have).items() if k != CONFIG_TAG and not k.startswith("aws:")}
    return [] if wanted == had else [FieldChange("tags", had, wanted)]


__all__ = ["Action", "Drift", "FieldChange", "Op", "Plan", "order_job", "plan"]
