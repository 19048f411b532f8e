"""The plan as data: what ``aws.planner`` returns, ``jobctl plan`` prints and ``aws.executor``
applies. An ordered tuple of frozen ``Action`` values (create / update with the changed fields
old -> new / delete / record, each with its reason) plus notes for the reader and the drift a
deploy keeps on purpose. The very same value goes to the printer and to the executor, so plan
and deploy can never disagree.

An action names its resource kind by the kind's registered name (``aws.kinds``); nothing here
knows which kinds exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from cronplane.build.resources import canonical_json

if TYPE_CHECKING:
    from cronplane.aws.kinds.base import LiveResource
    from cronplane.build.resources import Resource


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
    kind: str  # a registered kind's name (``aws.kinds.kind_of``)
    name: str
    job: str | None
    reason: str
    fields: tuple[FieldChange, ...] = ()
    desired: Resource | None = None
    live: LiveResource | None = None

    @property
    def label(self) -> str:
        return f"{self.op.value} {self.kind} {self.name}"

    def changed(self, name: str) -> bool:
        return any(f.name == name for f in self.fields)

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.op.value,
            "resource": f"{self.kind} {self.name}",
            "kind": str(self.kind),
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
    needs_tags: frozenset[tuple[str, str]] = frozenset()
    needs_details: frozenset[tuple[str, str]] = frozenset()
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


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else canonical_json(value)
    if value is None:
        text = "(none)"
    return text if len(text) <= limit else text[: limit - 1] + "…"
