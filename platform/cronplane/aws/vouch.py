"""What a job's state record (its function's ``cronplane:config`` tag) vouches for, so a deploy
need not list every kind to know it.

Listing every kind costs pages (AWS fixes their size: 50 log groups, 100 schedules a call), and at
10,000 jobs the listings alone would be ~700 calls for a deploy that changes nothing. For a
*vouched* kind (``ResourceKind.vouched``: log groups and Scheduler schedules) the record holds,
next to the slot's hash of the hidden settings (and tags), the hash of its visible settings under
``SLOT+`` (e.g. ``log+=1f2e...``). With both, the record says everything the planner would
compare: the resource exists (its slot is recorded) and was made as desired when both hashes are
the desired ones. The inventory then stands the record in for the listing
(``aws.inventory``), and reads a vouched resource only when the plan needs it (a hash differs,
a job is paused, or a resource is to be created).

The two entries keep the record within Lambda's 256-character tag value (every slot at once and
both entries: 208 characters). What the record cannot see is a change made behind cronplane's
back (a log group's retention edited in the console, a schedule deleted): ``jobctl plan
--refresh`` / ``deploy --refresh`` list every kind and find it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cronplane.aws.kinds import kind_of
from cronplane.build.resources import Resource, config_hash

VISIBLE = "+"  # suffix of the record entry holding a vouched slot's visible-settings hash


def visible_entry(slot: str) -> str:
    """The record entry that vouches for the visible settings of ``slot``."""
    return slot + VISIBLE


def visible_hash(res: Resource) -> str:
    return config_hash({"visible": dict(res.visible)})


def record_of(resources: Iterable[Resource]) -> dict[str, str]:
    """The state record a job's deploy leaves: every slot's hash of what list calls do not show,
    and for the vouched kinds also the hash of what they do."""
    record: dict[str, str] = {}
    vouched: dict[str, str] = {}
    for res in resources:
        record[res.slot] = res.hidden_hash()
        if kind_of(res.kind).vouched:
            vouched[visible_entry(res.slot)] = visible_hash(res)
    return record | vouched


def vouches(record: Mapping[str, str], res: Resource) -> bool:
    """Whether ``record`` says ``res`` exists exactly as desired (for a vouched kind)."""
    return record.get(res.slot) == res.hidden_hash() and record.get(visible_entry(res.slot)) == visible_hash(res)


def vouches_for_kind(record: Mapping[str, str], slots: Iterable[str]) -> bool:
    """Whether every slot of a kind that ``record`` holds comes with its visible-settings hash
    (a record written before cronplane vouched for the kind does not)."""
    return all(visible_entry(slot) in record for slot in slots if slot in record)


__all__ = ["VISIBLE", "record_of", "visible_entry", "visible_hash", "vouches", "vouches_for_kind"]
