"""Stage 4 of the deploy pipeline: what exists in AWS right now. Reads only.

No state file: live state is found by name prefix (one paginated list call per kind) and by
tags (one Resource Groups Tagging API query for the kinds that carry the namespace tag there —
the functions, with each job's ``cronplane:config`` record, and the history table). That keeps an
unchanged deploy of 200 jobs at about 20 calls; per-resource reads (tags of a role, a queue's
attributes) happen only for resources the planner is about to touch (``fetch_tags``,
``fetch_details``).

What to call for which kind is the kind's own business (``aws.kinds``): this module asks every
registered kind in turn. Values come back in the shape of ``Resource.visible`` so the planner
compares like with like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.kinds import KINDS, kind_of
from cronplane.aws.kinds.base import Listing, LiveResource, unqualified
from cronplane.build.resources import Kind
from cronplane.manifest import names
from cronplane.runtime.schema import PAUSED_PARTITION, PauseMarker


@dataclass(frozen=True)
class Pause:
    job: str
    actor: str
    at: str


@dataclass(frozen=True)
class LiveState:
    namespace: str
    resources: Mapping[tuple[str, str], LiveResource]
    paused: Mapping[str, Pause] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> LiveResource | None:
        return self.resources.get((kind, name))

    def with_resources(self, updated: Iterable[LiveResource]) -> LiveState:
        merged = dict(self.resources)
        for res in updated:
            merged[res.key] = res
        return replace(self, resources=merged)


class Inventory:
    def __init__(self, client: AwsClient) -> None:
        self.client = client

    def load(self, namespace: str) -> LiveState:
        scope = Listing(namespace, self._tagged(namespace))
        for kind in KINDS.values():
            for res in kind.list_live(self.client, scope):
                scope.found[res.key] = res
        table = names.history_table(namespace)
        paused = self._paused(table) if scope.found.get((Kind.TABLE, table)) is not None else {}
        return LiveState(namespace, scope.found, paused)

    def _tagged(self, namespace: str) -> dict[str, dict[str, str]]:
        """Tags of this namespace's resources of the kinds the tagging API serves (functions and
        the history table), in one paginated query. TagsPerPage (not ResourcesPerPage) because
        our resources carry ~7 tags each: 500 tags a page is ~70 functions instead of 100 tags
        (~14 functions)."""
        types = [kind.tagging_type for kind in KINDS.values() if kind.tagging_type]
        if not types:
            return {}
        items = self.client.paginate(
            "resourcegroupstaggingapi",
            "get_resources",
            "ResourceTagMappingList",
            TagFilters=[{"Key": names.NAMESPACE_TAG, "Values": [namespace]}],
            ResourceTypeFilters=types,
            TagsPerPage=500,
        )
        return {unqualified(i["ResourceARN"]): {t["Key"]: t["Value"] for t in i.get("Tags", [])} for i in items}

    def _paused(self, table: str) -> dict[str, Pause]:
        items = self.client.paginate(
            "dynamodb",
            "query",
            "Items",
            TableName=table,
            KeyConditionExpression="#j = :p",
            ExpressionAttributeNames={"#j": "job"},
            ExpressionAttributeValues={":p": {"S": PAUSED_PARTITION}},
        )
        markers = [PauseMarker.from_item(item) for item in items]
        return {m.job: Pause(m.job, m.actor, m.at or "?") for m in markers}

    # -- on demand ----------------------------------------------------------------------------
    def fetch_tags(self, live: LiveState, keys: Iterable[tuple[str, str]]) -> LiveState:
        """Tags of the listed resources whose tags the bulk query does not return: one read
        each, only for resources the planner would modify or delete."""
        updated = []
        for key in sorted(set(keys)):
            res = live.resources.get(key)
            if res is None or res.tags is not None:
                continue
            try:
                updated.append(replace(res, tags=kind_of(res.kind).read_tags(self.client, res)))
            except AwsCallError as exc:
                if not exc.not_found:
                    raise
                updated.append(replace(res, tags={}))
        return live.with_resources(updated)

    def fetch_details(self, live: LiveState, keys: Iterable[tuple[str, str]], namespace: str) -> LiveState:
        """Hidden settings of resources whose recorded hash changed, in the shape of
        ``Resource.hidden``, so ``jobctl plan`` can show which field changed and how."""
        updated = []
        for key in sorted(set(keys)):
            res = live.resources.get(key)
            if res is None or res.details is not None:
                continue
            try:
                details = kind_of(res.kind).read_details(self.client, res, namespace)
            except AwsCallError as exc:
                if not exc.not_found:
                    raise
                details = {}
            if details is not None:
                updated.append(replace(res, details=details))
        return live.with_resources(updated)


__all__ = ["Inventory", "LiveResource", "LiveState", "Pause"]
