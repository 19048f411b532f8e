"""The order a job's planned actions are applied in: the planner (``aws.planner``) sorts each
job's (and the shared resources') actions with ``order_job`` before the executor applies them.
Each kind says where it comes in a job (``ResourceKind.position``); the planner names no kind."""

from __future__ import annotations

from cronplane.aws.kinds import kind_of
from cronplane.aws.plan import Action, Op


def order_job(actions: list[Action]) -> list[Action]:
    """Creates and updates in dependency order, then deletes in reverse order, then the
    state record (written last, so an interrupted deploy re-applies what it may have missed)."""
    ups = sorted((a for a in actions if a.op in (Op.CREATE, Op.UPDATE)), key=position)
    downs = sorted((a for a in actions if a.op == Op.DELETE), key=position, reverse=True)
    # Deleting the function removes its unlisted sub-resources (invoke config, alias,
    # permission) with it.
    if any(kind_of(a.kind).holds_job_record for a in downs):
        downs = [a for a in downs if kind_of(a.kind).listed]
    records = [a for a in actions if a.op == Op.RECORD]
    return ups + downs + records


def position(a: Action) -> int:
    """Where the action's resource comes in its job's (or the shared resources') order."""
    kind = kind_of(a.kind)
    return kind.position(a.desired.slot if a.desired is not None else kind.slot_of(a.name))
