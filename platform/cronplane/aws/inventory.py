"""Stage 4 of the deploy pipeline: what exists in AWS right now. Reads only.

No state file: live state is found by name prefix (one paginated list call per kind) and by
tags (one Resource Groups Tagging API query for the kinds that carry the namespace tag there —
the functions, with each job's ``cronplane:config`` record, and the history table). That keeps an
unchanged deploy of 200 jobs at about 20 calls; per-resource reads (tags of a role, a queue's
attributes) happen only for resources the planner is about to touch (``fetch_tags``,
``fetch_details``).

What to call for which kind is the kind's own business (``aws.kinds``): this module asks every
registered kind. Values come back in the shape of ``Resource.visible`` so the planner compares
like with like.

The reads run at once, on a small thread pool: each kind lists another service, so on real AWS
the nine round trips of an unchanged deploy cost about one (and each client is built while the
others wait for their answers). A kind still sees what the kinds before it found, exactly as when
they were read one after the other (a schedule needs its group): looking up an earlier kind's
resource waits for that kind's read; a later kind's results are never visible.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import cast

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.executor import leave_signals_to_the_main_thread
from cronplane.aws.kinds import KINDS, kind_of
from cronplane.aws.kinds.base import Listing, LiveResource, ResourceKind, unqualified
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
        """Everything of ``namespace`` in AWS, with its pause markers. A failure raises the
        error of the first read in registry order (the tagging query first), as read one by one."""
        table = names.history_table(namespace)
        pool = ThreadPoolExecutor(LIST_WORKERS, "inventory", initializer=leave_signals_to_the_main_thread)
        try:
            tagged = pool.submit(self._tagged, namespace)
            listed: dict[str, Future[list[LiveResource]]] = {}
            for kind in KINDS.values():
                # Listing.found is a dict for the kinds' sake; they only read it.
                scope = Listing(
                    namespace, _Awaited(tagged), cast("dict[tuple[str, str], LiveResource]", _Found(listed))
                )
                listed[kind.name] = pool.submit(_list, kind, self.client, scope)
            found = _Found(listed)

            def paused_if_table() -> dict[str, Pause]:
                return self._paused(table) if (Kind.TABLE, table) in found else {}

            paused = pool.submit(paused_if_table)
            tagged.result()
            return LiveState(namespace, dict(found), paused.result())
        finally:
            # Normally all done; after a failure or Ctrl-C, do not start the reads still queued.
            pool.shutdown(wait=False, cancel_futures=True)

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


LIST_WORKERS = 8  # reads at once: one per listed kind, well under every service's rate limit


def _list(kind: ResourceKind, client: AwsClient, scope: Listing) -> list[LiveResource]:
    return list(kind.list_live(client, scope))


class _Awaited(Mapping[str, Mapping[str, str]]):
    """The tagging query's answer, waited for on first use (``Listing.tagged``)."""

    def __init__(self, future: Future[dict[str, dict[str, str]]]) -> None:
        self._future = future

    def __getitem__(self, arn: str) -> Mapping[str, str]:
        return self._future.result()[arn]

    def __iter__(self) -> Iterator[str]:
        return iter(self._future.result())

    def __len__(self) -> int:
        return len(self._future.result())


class _Found(Mapping[tuple[str, str], LiveResource]):
    """What the kinds listed so far found (``Listing.found``), in registry order: a lookup
    waits for the read of the kind it names."""

    def __init__(self, listed: Mapping[str, Future[list[LiveResource]]]) -> None:
        self._listed = dict(listed)  # the kinds before this one: later ones stay invisible
        self._by_kind: dict[str, dict[tuple[str, str], LiveResource]] = {}

    def _of(self, kind: str) -> dict[tuple[str, str], LiveResource]:
        if kind not in self._by_kind:  # two threads may both fill it: with the same value
            future = self._listed.get(kind)
            self._by_kind[kind] = {} if future is None else {res.key: res for res in future.result()}
        return self._by_kind[kind]

    def __getitem__(self, key: tuple[str, str]) -> LiveResource:
        return self._of(key[0])[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for kind in self._listed:
            yield from self._of(kind)

    def __len__(self) -> int:
        return sum(len(self._of(kind)) for kind in self._listed)


__all__ = ["Inventory", "LiveResource", "LiveState", "Pause"]
