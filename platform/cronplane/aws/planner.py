"""Stage 5 of the deploy pipeline: desired resources vs live state -> a Plan. Pure: no I/O.

A Plan is data: an ordered tuple of frozen ``Action`` values (create / update with the changed
fields old -> new / delete, each with its reason) plus notes for the reader (resources that
look like ours but are not tagged so, paused jobs kept paused) and the drift a deploy keeps on
purpose (``Plan.drift``: a paused job whose manifest says ``enabled: true``). ``jobctl plan`` prints it and
``jobctl deploy`` hands the very same value to the executor, so the two can never disagree.

Rules the planner enforces:

- only resources tagged with this namespace are updated or deleted; a resource with one of our
  names but not our tags is reported ("not managed: ... skipped") and its job left alone;
- visible settings are compared field by field; hidden settings by the hash recorded in the
  job's ``cronplane:config`` tag (a RECORD action rewrites that tag after the job's changes);
- a job paused with ``jobctl pause`` stays paused unless ``--unpause`` names it; when its
  manifest says ``enabled: true`` that is drift the plan names (a note and a ``Drift`` value),
  not a change: the user chooses between resuming and setting ``enabled: false``;
- tags are the manifest's: a "tags" change lists old -> new, and the applier removes keys no
  longer wanted (AWS's own ``aws:`` tags are never compared). Tags of kinds the bulk read does
  not return are read only when that resource's recorded hash changed.

When the planner needs facts the bulk inventory does not hold (tags of a role it would delete,
old values of a changed policy), it lists them in ``Plan.needs_tags`` / ``Plan.needs_details``;
the deployer fetches them and plans again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from cronplane.aws.inventory import LiveResource, LiveState
from cronplane.build.resources import (
    CONFIG_TAG,
    JOB_ORDER,
    TAGS_VISIBLE,
    DesiredState,
    Kind,
    Resource,
    canonical_json,
    decode_state,
    encode_state,
)
from cronplane.manifest import names

# Sub-resources AWS lists nowhere: they exist when their function does and the job's state
# record says they were applied. Deleting the function deletes them.
UNLISTED = frozenset({Kind.INVOKE_CONFIG, Kind.ALIAS, Kind.PERMISSION})
# Kinds AWS lets us tag (a Scheduler schedule cannot be; it belongs to its tagged group).
TAGGED = frozenset({Kind.TABLE, Kind.SCHEDULE_GROUP, Kind.ROLE, Kind.QUEUE, Kind.LOG_GROUP, Kind.FUNCTION, Kind.RULE})
SHARED_FIRST = (Kind.TABLE, Kind.SCHEDULE_GROUP)


class Op(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    RECORD = "record"  # rewrite a job's cronplane:config tag after its changes

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "record": "*"}[self.value]


@dataclass(frozen=True)
class FieldChange:
    name: str
    old: Any
    new: Any

    def describe(self) -> str:
        if isinstance(self.old, dict) and isinstance(self.new, dict):
            # Environment, tags: name only the keys that changed.
            keys = sorted(k for k in set(self.old) | set(self.new) if self.old.get(k) != self.new.get(k))
            parts = [f"{k}: {_short(self.old.get(k))} → {_short(self.new.get(k))}" for k in keys]
            return f"{self.name}: " + "; ".join(parts)
        return f"{self.name}: {_short(self.old)} → {_short(self.new)}"


@dataclass(frozen=True)
class Action:
    op: Op
    kind: Kind
    name: str
    job: str | None
    reason: str
    fields: tuple[FieldChange, ...] = ()
    desired: Resource | None = None
    live: LiveResource | None = None

    @property
    def label(self) -> str:
        return f"{self.op.value} {self.kind.value} {self.name}"

    def changed(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.op.value,
            "resource": f"{self.kind.value} {self.name}",
            "kind": self.kind.value,
            "name": self.name,
            "job": self.job,
            "reason": self.reason,
            "fields": {f.name: {"old": f.old, "new": f.new} for f in self.fields},
        }


@dataclass(frozen=True)
class Drift:
    """A difference between the manifest and AWS that a deploy keeps on purpose (today: a
    job paused with ``jobctl pause`` whose manifest says ``enabled: true``). Not a change: a
    deploy does not touch it, so ``--detailed-exitcode`` does not count it."""

    job: str
    field: str
    manifest: Any
    live: Any  # the trigger's state as a deploy leaves it (the pause keeps it disabled)
    reason: str
    why: str  # the kind of drift, one word for the summary line ("paused")

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "field": self.field,
            "manifest": self.manifest,
            "live": self.live,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Plan:
    namespace: str
    actions: tuple[Action, ...]
    notes: tuple[str, ...] = ()
    needs_tags: frozenset[tuple[Kind, str]] = frozenset()
    needs_details: frozenset[tuple[Kind, str]] = frozenset()
    drift: tuple[Drift, ...] = ()

    @property
    def changes(self) -> tuple[Action, ...]:
        """What a person reviews: everything except the bookkeeping RECORD writes."""
        return tuple(a for a in self.actions if a.op != Op.RECORD)

    @property
    def has_changes(self) -> bool:
        return bool(self.actions)

    def count(self, op: Op) -> int:
        return sum(1 for a in self.actions if a.op == op)

    def summary(self) -> str:
        return (
            f"Plan: {self.count(Op.CREATE)} to create, {self.count(Op.UPDATE)} to update, "
            f"{self.count(Op.DELETE)} to delete."
        )

    def drift_summary(self) -> str:
        """The drift in one sentence ("1 job differs from the manifest on purpose: paused (see
        notes)."); empty when there is none."""
        if not self.drift:
            return ""
        jobs = len({d.job for d in self.drift})
        whys = ", ".join(dict.fromkeys(d.why for d in self.drift))
        subject = "1 job differs" if jobs == 1 else f"{jobs} jobs differ"
        return f"{subject} from the manifest on purpose: {whys} (see notes)."

    def verdict(self) -> str:
        """The last line of a printed plan. "AWS matches the manifest" only when it does: a
        paused job is drift a deploy keeps, so it is named, not hidden."""
        if self.changes:
            return " ".join(filter(None, (self.summary(), self.drift_summary())))
        if self.drift:
            return f"No changes to apply. {self.drift_summary()}"
        return "No changes. AWS matches the manifest."

    def to_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "changes": [a.to_json() for a in self.changes],
            "drift": [d.to_json() for d in self.drift],
            "notes": list(self.notes),
            "summary": self.summary(),
        }


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
        self.needs_tags: set[tuple[Kind, str]] = set()
        self.needs_details: set[tuple[Kind, str]] = set()

    # -- ownership --------------------------------------------------------------------------
    def ours(self, res: LiveResource) -> bool | None:
        """True / False from its tags; None when the tags were not read yet."""
        if res.tags is None:
            return None
        return res.tags.get(names.NAMESPACE_TAG) == self.ns

    def not_managed(self, res: LiveResource, why: str) -> None:
        if res.tags and res.tags.get(names.MANAGED_BY_TAG) == names.MANAGED_BY_VALUE:
            return  # another cronplane namespace sharing our prefix: not ours to mention
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
        if not self.ours(lr):
            self.not_managed(lr, "it cannot be used; tag it or remove it")
            return
        fields = _tag_changes(res.tags, lr.tags or {})
        old = (lr.tags or {}).get(CONFIG_TAG)
        if old != res.hidden_hash():
            fields.append(FieldChange("settings", old, res.hidden_hash()))
        if fields:
            self.first.append(Action(Op.UPDATE, res.kind, res.name, None, "settings differ", tuple(fields), res, lr))

    def job(self, job: str) -> None:
        resources = self.desired.of_job(job)
        fn = next(r for r in resources if r.kind == Kind.FUNCTION)
        live_fn = self.live.get(Kind.FUNCTION, fn.name)
        if live_fn is not None and live_fn.tags is None:
            self.needs_tags.add(live_fn.key)  # not in the namespace's tag query: read its own tags
            return
        if live_fn is not None and not self.ours(live_fn):
            self.not_managed(live_fn, f"job {job} skipped (rename the job or tag the function)")
            return
        state = decode_state((live_fn.tags or {}).get(CONFIG_TAG)) if live_fn else {}
        paused = self.live.paused.get(job)
        actions: list[Action] = []
        for res in resources:
            keep_paused = paused is not None and job not in self.unpause
            if res.kind in (Kind.RULE, Kind.SCHEDULE) and keep_paused and res.visible.get("state") == "ENABLED":
                assert paused is not None
                self.notes.append(
                    f"job {job}: paused by {paused.actor} since {paused.at}; the manifest says `enabled: true` "
                    f"but the {res.kind.value} stays disabled by the pause. Deploy keeps it paused — "
                    f"`jobctl resume {job}` or `jobctl deploy --unpause {job}` to enable it, "
                    f"or set `enabled: false` in the manifest to keep it off"
                )
                self.drift.append(
                    Drift(job, "enabled", True, False, f"paused by {paused.actor} since {paused.at}", "paused")
                )
                # The trigger stays as `jobctl pause` left it.
                res = replace(res, visible={**res.visible, "state": "DISABLED"})
            action = self.compare(res, live_fn, state)
            if action == "conflict":
                return  # the whole job waits until the name clash is resolved
            if action is not None:
                actions.append(action)
        # Sub-resources recorded earlier but no longer wanted (e.g. provisioned concurrency
        # dropped, or the job moved from a rule to Scheduler).
        wanted = {r.slot for r in resources}
        for slot, kind in (("alias", Kind.ALIAS), ("perm", Kind.PERMISSION)):
            if live_fn is not None and slot in state and slot not in wanted:
                actions.append(Action(Op.DELETE, kind, fn.name, job, "no longer needed by the job", live=live_fn))
        new_state = {r.slot: r.hidden_hash() for r in resources}
        if new_state != state:
            actions.append(
                Action(
                    Op.RECORD,
                    Kind.FUNCTION,
                    fn.name,
                    job,
                    "record applied settings",
                    (FieldChange(CONFIG_TAG, encode_state(state) or None, encode_state(new_state)),),
                    fn,
                    live_fn,
                )
            )
        if actions:
            self.per_job.setdefault(job, []).extend(actions)

    def compare(self, res: Resource, live_fn: LiveResource | None, state: dict[str, str]) -> Action | str | None:
        if res.kind in UNLISTED:
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
        if lr is None:
            reason = "new job" if live_fn is None else "missing"
            return Action(Op.CREATE, res.kind, res.name, res.job, reason, desired=res)
        recorded = res.slot in state
        if res.kind == Kind.SCHEDULE:
            group = self.live.get(Kind.SCHEDULE_GROUP, names.schedule_group(self.ns))
            recorded = recorded and group is not None and bool(self.ours(group))
        if not recorded and res.kind != Kind.FUNCTION:
            owned = self.ours(lr)
            if owned is None:
                self.needs_tags.add(lr.key)
                return None
            if not owned:
                self.not_managed(lr, f"job {res.job} skipped (rename the job or delete/tag the resource)")
                return "conflict"
        fields = [
            FieldChange(k, lr.visible.get(k), v)
            for k, v in res.visible.items()
            if canonical_json(lr.visible.get(k)) != canonical_json(v)
        ]
        if res.kind in TAGS_VISIBLE:
            fields += _tag_changes(res.tags, lr.tags or {})
        old_hash = state.get(res.slot)
        if old_hash != res.hidden_hash():
            fields += self.hidden_changes(res, lr, old_hash)
            if res.kind in TAGGED and res.kind not in TAGS_VISIBLE:
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
        reason = "settings differ" if recorded or res.kind == Kind.FUNCTION else "found unrecorded; adopting"
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
            if res.kind in (Kind.ROLE, Kind.QUEUE, Kind.RULE, Kind.SCHEDULE, Kind.FUNCTION):
                self.needs_details.add(lr.key)
            return [FieldChange("settings", old_hash, res.hidden_hash())]
        fields = [
            FieldChange(k, lr.details.get(k), v)
            for k, v in res.hidden.items()
            if canonical_json(lr.details.get(k)) != canonical_json(v)
        ]
        # Details equal but hash differs: tags (not in details) changed.
        return fields or [FieldChange("tags", None, dict(res.tags))]

    def prune(self, desired_keys: set[tuple[Kind, str]], destroying: bool = False) -> None:
        group = self.live.get(Kind.SCHEDULE_GROUP, names.schedule_group(self.ns))
        for key, lr in sorted(self.live.resources.items(), key=lambda kv: (kv[0][0].value, kv[0][1])):
            if key in desired_keys or lr.kind == Kind.TABLE:
                continue
            if lr.kind == Kind.SCHEDULE_GROUP:
                if self.ours(lr):
                    why = f"destroy namespace {self.ns}" if destroying else "no job uses Scheduler"
                    self.last.append(Action(Op.DELETE, lr.kind, lr.name, None, why, live=lr))
                continue
            if lr.kind == Kind.SCHEDULE and not (group is not None and self.ours(group)):
                continue
            owned = self.ours(lr)
            if owned is None:
                self.needs_tags.add(key)
                continue
            if not owned:
                self.not_managed(lr, "skipped")
                continue
            job = (lr.tags or {}).get(names.JOB_TAG) or _job_from_name(self.ns, lr)
            in_manifest = job in self.desired.jobs()
            reason = "no longer needed by the job" if in_manifest else f"job {job} is no longer in the manifest"
            if destroying:
                reason = f"destroy namespace {self.ns}"
            self.per_job.setdefault(job, []).append(Action(Op.DELETE, lr.kind, lr.name, job, reason, live=lr))

    # -- destroy ----------------------------------------------------------------------------
    def destroy(self, include_history: bool) -> None:
        self.prune(set(), destroying=True)
        table = self.live.get(Kind.TABLE, names.history_table(self.ns))
        if table is not None and include_history and self.ours(table):
            self.last.append(Action(Op.DELETE, Kind.TABLE, table.name, None, "destroy --include-history", live=table))
        elif table is not None:
            self.notes.append(f"kept: {table.label} (run history); add --include-history to delete it")

    def result(self) -> Plan:
        ordered: list[Action] = sorted(self.first, key=lambda a: SHARED_FIRST.index(a.kind))
        for job in sorted(self.per_job):
            ordered.extend(order_job(self.per_job[job]))
        ordered.extend(sorted(self.last, key=lambda a: -SHARED_FIRST.index(a.kind)))
        return Plan(
            self.ns,
            tuple(ordered),
            tuple(dict.fromkeys(self.notes)),
            frozenset(self.needs_tags),
            frozenset(self.needs_details),
            tuple(self.drift),
        )


def order_job(actions: list[Action]) -> list[Action]:
    """Creates and updates in dependency order, then deletes in reverse order, then the
    state record (written last, so an interrupted deploy re-applies what it may have missed)."""

    def slot(a: Action) -> int:
        return JOB_ORDER.get(_slot_of(a), 50)

    ups = sorted((a for a in actions if a.op in (Op.CREATE, Op.UPDATE)), key=slot)
    downs = sorted((a for a in actions if a.op == Op.DELETE), key=slot, reverse=True)
    # Deleting the function removes its invoke config, alias and permission with it.
    if any(a.kind == Kind.FUNCTION for a in downs):
        downs = [a for a in downs if a.kind not in UNLISTED]
    records = [a for a in actions if a.op == Op.RECORD]
    return ups + downs + records


def _slot_of(a: Action) -> str:
    if a.desired is not None:
        return a.desired.slot
    by_kind = {
        Kind.QUEUE: "dlq",
        Kind.LOG_GROUP: "log",
        Kind.FUNCTION: "fn",
        Kind.INVOKE_CONFIG: "inv",
        Kind.ALIAS: "alias",
        Kind.PERMISSION: "perm",
        Kind.RULE: "rule",
        Kind.SCHEDULE: "sched",
    }
    if a.kind == Kind.ROLE:
        return "srole" if a.name.endswith("-sched") else "role"
    return by_kind.get(a.kind, "fn")


def _job_from_name(ns: str, lr: LiveResource) -> str:
    name = lr.name.removeprefix(names.log_group_name(ns, "")).removeprefix(f"{ns}-")
    for suffix in ("-exec", "-sched", "-dlq"):
        name = name.removesuffix(suffix)
    return name


def _tag_changes(want: Any, have: Any) -> list[FieldChange]:
    """A "tags" change (old -> new) when the live tags differ from the manifest's. The state
    record and AWS's own ``aws:`` tags (which no one may change) are not compared."""
    want = dict(want)
    have = {k: v for k, v in dict(have).items() if k != CONFIG_TAG and not k.startswith("aws:")}
    if want == have:
        return []
    return [FieldChange("tags", have, want)]


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    if value is None:
        text = "(none)"
    return text if len(text) <= limit else text[: limit - 1] + "…"
