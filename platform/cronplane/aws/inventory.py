"""Stage 4 of the deploy pipeline: what exists in AWS right now. Reads only.

No state file: live state is found by name prefix (one paginated list call per kind) and by
tags (one Resource Groups Tagging API query for the kinds that carry the namespace tag there —
the functions, with each job's ``cronplane:config`` record, and the history table). Per-resource
reads (tags of a role, a queue's attributes) happen only for resources the planner is about to
touch (``fetch_tags``, ``fetch_details``).

The vouched kinds (log groups, Scheduler schedules: ``aws.vouch``) are not listed: each job's
state record stands in for them (``LiveResource.vouched``), which keeps an unchanged deploy of
10,000 jobs under 400 calls. They are listed as before with ``refresh`` (``jobctl plan/deploy
--refresh``, and always for ``destroy``), or when the records cannot vouch: a function of ours
whose tags the tagging API does not return yet, with a name from before the ``--`` join or
without a record (a first deploy cut short), a DLQ whose job has no record (a deploy or prune
cut short: ``ResourceKind.witness``), or a record written before that kind was vouched for. A
vouched resource the plan needs (its hash differs, its job is paused, it is to be created) is read
one by one, or its whole kind listed when that takes fewer calls (``fetch_details``).

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
from cronplane.aws.vouch import vouches_for_kind
from cronplane.build.resources import CONFIG_TAG, Kind, decode_state
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
    unlisted: frozenset[str] = frozenset()  # vouched kinds the records stood in for
    absent: frozenset[tuple[str, str]] = frozenset()  # of those, read one by one: not there

    def get(self, kind: str, name: str) -> LiveResource | None:
        return self.resources.get((kind, name))

    def unknown(self, kind: str, name: str) -> bool:
        """Whether only a read can tell if it exists: of a kind not listed, and no record
        vouches for it nor a read found it missing."""
        return kind in self.unlisted and (kind, name) not in self.resources and (kind, name) not in self.absent

    def with_resources(self, updated: Iterable[LiveResource]) -> LiveState:
        merged = dict(self.resources)
        for res in updated:
            merged[res.key] = res
        return replace(self, resources=merged)


class Inventory:
    def __init__(self, client: AwsClient, *, refresh: bool = False) -> None:
        self.client = client
        self.refresh = refresh  # list the vouched kinds too: find what changed behind our back

    def load(self, namespace: str) -> LiveState:
        """Everything of ``namespace`` in AWS, with its pause markers. A failure raises the
        error of the first read in registry order (the tagging query first), as read one by one."""
        table = names.history_table(namespace)
        pool = ThreadPoolExecutor(LIST_WORKERS, "inventory", initializer=leave_signals_to_the_main_thread)
        unlisted: set[str] = set()
        try:
            tagged = pool.submit(self._tagged, namespace)
            listed: dict[str, Future[list[LiveResource]]] = {}
            for kind in KINDS.values():
                # Listing.found is a dict for the kinds' sake; they only read it.
                scope = Listing(
                    namespace, _Awaited(tagged), cast("dict[tuple[str, str], LiveResource]", _Found(listed))
                )
                if kind.vouched and not self.refresh:
                    listed[kind.name] = pool.submit(_stand_in, kind, self.client, scope, unlisted)
                else:
                    listed[kind.name] = pool.submit(_list, kind, self.client, scope)
            found = _Found(listed)

            def paused_if_table() -> dict[str, Pause]:
                return self._paused(table) if (Kind.TABLE, table) in found else {}

            paused = pool.submit(paused_if_table)
            tagged.result()
            return LiveState(namespace, dict(found), paused.result(), frozenset(unlisted))
        finally:
            # Normally all done; after a failure or Ctrl-C, do not start the reads still queued.
            pool.shutdown(wait=False, cancel_futures=True)

    def _tagged(self, namespace: str) -> dict[str, dict[str, str]]:
        """Tags of this namespace's resources of the kinds the tagging API serves (functions and
        the history table), in one paginated query. Both page limits at their most: 100
        resources (ResourcesPerPage, the one AWS recommends) and 500 tags (TagsPerPage; our
        functions carry ~6 tags, so ~83 a page; moto, given no TagsPerPage, stops at 100 tags:
        ~14 functions). At 10,000 jobs: ~120 calls."""
        types = [kind.tagging_type for kind in KINDS.values() if kind.tagging_type]
        if not types:
            return {}
        items = self.client.paginate(
            "resourcegroupstaggingapi",
            "get_resources",
            "ResourceTagMappingList",
            TagFilters=[{"Key": names.NAMESPACE_TAG, "Values": [namespace]}],
            ResourceTypeFilters=types,
            ResourcesPerPage=100,
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
        ``Resource.hidden``, so ``jobctl plan`` can show which field changed and how; and the
        vouched resources the plan needs, read (``LiveState.unknown``, ``LiveResource.vouched``)."""
        wanted = sorted(set(keys))
        unread = [k for k in wanted if live.unknown(*k) or _vouched(live.resources.get(k))]
        live = self._read_vouched(live, unread)
        updated = []
        for key in wanted:
            res = live.resources.get(key)
            if res is None or res.details is not None or key in unread:
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

    def _read_vouched(self, live: LiveState, keys: list[tuple[str, str]]) -> LiveState:
        """Read what the records stood in for (or could not): one by one, or the whole kind
        when its listing takes fewer calls (a first deploy: every resource is to be created)."""
        scope = Listing(live.namespace, {}, dict(live.resources))
        for kind_name in sorted({kind for kind, _ in keys}):
            kind = kind_of(kind_name)
            names_ = [name for k, name in keys if k == kind_name]
            known = sum(1 for k, _ in live.resources if k == kind_name)
            if len(names_) > max(1, -(-known // kind.list_page)):  # more reads than listing pages
                asked = set(names_)
                listed = {
                    res.key: self._complete(kind, res, live.namespace) if res.name in asked else res
                    for res in kind.list_live(self.client, scope)
                }
                kept = {k: r for k, r in live.resources.items() if k[0] != kind_name}
                live = replace(live, resources=kept | listed, unlisted=live.unlisted - {kind_name})
                continue
            found: list[LiveResource] = []
            absent: set[tuple[str, str]] = set()
            for name in names_:
                res = kind.read_one(self.client, scope, name)
                if res is None:
                    absent.add((kind_name, name))  # deleted behind our back, or never made
                else:
                    found.append(res)
            kept = {k: r for k, r in live.resources.items() if k not in absent}
            live = replace(live, resources=kept, absent=live.absent | absent).with_resources(found)
        return live

    def _complete(self, kind: ResourceKind, res: LiveResource, namespace: str) -> LiveResource:
        """A listed resource the plan asked for, with what the planner asks next (its tags when
        the hash holds them, its details): one round of planning less."""
        if kind.tagged and not kind.tags_listed and res.tags is None:
            res = replace(res, tags=kind.read_tags(self.client, res))
        if kind.reads_details and res.details is None:
            res = replace(res, details=kind.read_details(self.client, res, namespace))
        return res


LIST_WORKERS = 8  # reads at once: one per listed kind, well under every service's rate limit


def _list(kind: ResourceKind, client: AwsClient, scope: Listing) -> list[LiveResource]:
    return list(kind.list_live(client, scope))


def _stand_in(kind: ResourceKind, client: AwsClient, scope: Listing, unlisted: set[str]) -> list[LiveResource]:
    """A vouched kind: the resources the jobs' state records vouch for, unread; listed when the
    records cannot vouch for this kind."""
    records = _records(scope)
    if records is None or not all(vouches_for_kind(state, kind.slots) for _, state in records.values()):
        return _list(kind, client, scope)
    unlisted.add(kind.name)  # one thread per kind: no other writer of this name
    out = []
    for job, (function, state) in sorted(records.items()):
        if any(slot in state for slot in kind.slots):
            res = kind.stand_in(scope, job, function)
            if res is not None:
                out.append(res)
    return out


def _records(scope: Listing) -> dict[str, tuple[LiveResource, dict[str, str]]] | None:
    """Every job's function and state record, by job; None when the records cannot vouch for
    the namespace (see the module's docstring). Waits for the kinds read before."""
    ns = scope.namespace
    prefix = names.job_prefix(ns)
    records: dict[str, tuple[LiveResource, dict[str, str]]] = {}
    witnesses: list[tuple[ResourceKind, str]] = []
    for res in list(scope.found.values()):
        kind = kind_of(res.kind)
        if kind.holds_job_record:
            if res.tags is None:
                if res.name.startswith(prefix):
                    return None  # ours, maybe, and the tagging API does not have its tags yet
                continue  # not tagged with our namespace: a look-alike
            job = res.tags.get(names.JOB_TAG) or names.job_of(ns, res.name)
            state = decode_state(res.tags.get(CONFIG_TAG))
            if job is None or res.name != names.function_name(ns, job) or not state:
                return None  # named before the `--` join, or never recorded
            records[job] = (res, state)
        elif kind.witness and res.name.startswith(prefix):
            witnesses.append((kind, res.name))
    kinds = {kind.name: kind for kind, _ in witnesses}.values()
    recorded = {(kind.name, kind.named_for(ns, job)) for kind in kinds for job in records}
    if any((kind.name, name) not in recorded for kind, name in witnesses):
        return None
    return records


def _vouched(res: LiveResource | None) -> bool:
    return res is not None and res.vouched


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
