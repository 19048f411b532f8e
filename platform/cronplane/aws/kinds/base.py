"""What a resource kind is to cronplane: the base class every kind module fills in, the live
resource inventory finds, and the context an applied action runs in.

A kind (``ResourceKind``) owns everything that differs from one kind of AWS resource to the
next, so the deploy stages only iterate and dispatch:

- identity: ``name`` ("iam role"), the string ``Resource.kind`` / ``LiveResource.kind`` /
  ``Action.kind`` hold, looked up with ``aws.kinds.kind_of``;
- planner traits: whether AWS lets it be tagged, whether a list call finds it or it exists only
  as a recorded sub-resource of the job's function, whether it is shared by the namespace, the
  slots it fills in a job's state record and their place in the dependency order;
- reading (``aws.inventory``): the bulk listing, its tags, its hidden details for field diffs;
  for a kind the jobs' state records vouch for (``aws.vouch``), what stands in for the listing
  and one resource read by name;
- applying (``aws.executor``): create / update / delete, each idempotent — an "already exists"
  answer is adopted when the resource carries this namespace's tag and refused otherwise;
- for triggers (rules, schedules): reading, enabling and disabling, for pause / resume / audit;
- exporting (``aws.export``, ``jobctl export``): its CloudFormation resources and Terraform
  blocks (``to_cloudformation`` / ``to_terraform``), from the same desired ``Resource``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.plan import Op
from cronplane.build.resources import CONFIG_TAG, KindAndName, Resource
from cronplane.errors import AwsError
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext
    from cronplane.aws.export.hcl import Block
    from cronplane.aws.plan import Action

# Where a slot no kind places goes in a job's order: after the built-in resources.
LATE = 50


@dataclass(frozen=True)
class LiveResource(KindAndName):
    kind: str
    name: str
    arn: str
    visible: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] | None = None  # None: not read (only read when the planner needs them)
    url: str | None = None  # SQS queues are addressed by URL
    details: Mapping[str, Any] | None = None  # hidden settings, read only to show field diffs
    # True: not read. The job's state record stands in for it (a ``vouched`` kind): it exists, and
    # its settings are known only as the record's hashes (``aws.vouch``).
    vouched: bool = False


@dataclass
class Listing:
    """What one inventory read shares between the kinds it asks, in registry order: the
    namespace, the tags the one tagging-API query returned (by unqualified ARN), and what the
    kinds asked earlier found (a schedule needs its group)."""

    namespace: str
    tagged: Mapping[str, Mapping[str, str]]
    found: dict[tuple[str, str], LiveResource] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return names.listing_prefix(self.namespace)

    def tags_of(self, arn: str) -> Mapping[str, str] | None:
        """Tags the tagging-API query returned for ``arn``; None when it returned none."""
        return self.tagged.get(unqualified(arn))


class TriggerKind(StrEnum):
    """A job's trigger as users see it (``audit --json`` prints it)."""

    RULE = "rule"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class TriggerState:
    """A deployed trigger as ``jobctl pause`` / ``resume`` / ``audit`` read it."""

    kind: str  # a TriggerKind: the ``trigger`` of the kind that read it
    name: str
    group: str | None  # the Scheduler group; None for a rule
    enabled: bool
    created: datetime | None  # Scheduler's CreationDate; rules do not tell
    arn: str = ""  # the rule's / schedule's ARN as the read returned it

    @property
    def label(self) -> str:
        from cronplane.aws.kinds import trigger_kind

        return trigger_kind(self.kind).trigger_label(self)


class ResourceKind:
    """One kind of AWS resource. Subclasses set the class attributes and override what applies
    to them; the defaults describe a listed, tagged, per-job resource with no details to read."""

    name: ClassVar[str]
    # The job (or shared) slots it fills, each with its place in the order: a resource comes
    # after what it depends on; deletes run in reverse.
    slots: ClassVar[Mapping[str, int]]
    tagged: ClassVar[bool] = True  # AWS lets it carry tags
    listed: ClassVar[bool] = True  # False: found by no list call; it exists when the job's
    # function exists and the state record says it was applied; deleting the function deletes it
    tagging_type: ClassVar[str | None] = None  # its tags come with the one tagging-API query
    reads_details: ClassVar[bool] = False  # read_details can show which hidden setting changed
    shared: ClassVar[bool] = False  # one per namespace, not per job
    unused_reason: ClassVar[str] = "no longer needed"  # why a shared one is deleted
    kept: ClassVar[str | None] = None  # never pruned; destroy deletes it only when asked (why)
    holds_job_record: ClassVar[bool] = False  # carries the job's state record (the function)
    trigger: ClassVar[str | None] = None  # a TriggerKind: pause / resume switch it
    # Holds data a delete loses (a dead-letter queue's messages): the planner reads its details
    # before planning its delete, to say so (``loss_note``), and hands a rename's delete the
    # resource replacing it (``Action.desired``), which the kind's delete moves the data to first.
    holds_data: ClassVar[bool] = False
    # The job's state record stands in for its listing (``aws.vouch``): a deploy lists it only
    # with --refresh, or when the records cannot vouch (``aws.inventory``). One slot per job.
    vouched: ClassVar[bool] = False
    list_page: ClassVar[int] = 100  # AWS's page size of its list call: reading one by one or listing?
    # Created before and deleted after a job's vouched resources (its DLQ): one whose job has no
    # state record shows a deploy or prune cut short, and the vouched kinds are listed then.
    witness: ClassVar[bool] = False

    @property
    def tags_listed(self) -> bool:
        """Its tags come with the bulk read, so they are compared as they are, not hashed."""
        return self.tagging_type is not None

    def slot_of(self, name: str) -> str:
        """The slot a live resource of this kind fills (no desired resource to ask)."""
        return next(iter(self.slots))

    def position(self, slot: str) -> int:
        return self.slots.get(slot, LATE)

    def owner(self, namespace: str) -> tuple[str, str] | None:
        """The (kind, name) whose tags say whose this resource is, when it cannot carry tags
        itself (a schedule belongs to whoever owns its group)."""
        return None

    # -- reading (aws.inventory) ------------------------------------------------------------
    def list_live(self, client: AwsClient, scope: Listing) -> Iterable[LiveResource]:
        """Every resource of this kind in the namespace, with its visible settings, in as few
        calls as AWS allows (one paginated list). Unlisted kinds find nothing."""
        return ()

    def named_for(self, namespace: str, job: str) -> str:
        """The name of ``job``'s resource of this kind (for a vouched or a witness kind)."""
        raise NotImplementedError(f"{self.name}: named_for")

    def stand_in(self, scope: Listing, job: str, function: LiveResource) -> LiveResource | None:
        """For a vouched kind: ``job``'s resource as its state record vouches for it, unread
        (``vouched``: named and addressed as the listing would, no settings); None when it cannot
        be (then the planner asks for a read)."""
        raise NotImplementedError(f"{self.name}: stand_in")

    def read_one(self, client: AwsClient, scope: Listing, name: str) -> LiveResource | None:
        """For a vouched kind: one resource read by name as the listing would find it, with its
        tags when the planner would ask for them; None when it does not exist."""
        raise NotImplementedError(f"{self.name}: read_one")

    # A shared kind that records its hash where its listing shows it (``recorded_hash``).
    records_in_listing: ClassVar[bool] = False

    def recorded_hash(self, res: LiveResource) -> str | None:
        """For a shared kind whose listing returns no tags: the settings' hash its last deploy
        recorded where the listing shows it (a shared role's description), else None. Equal to
        the desired hash, it vouches that the resource is this namespace's and as desired."""
        return None

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        """Its tags, when the listing did not return them: one read, only for resources the
        planner is about to touch."""
        return {}

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any] | None:
        """Its hidden settings in the shape of ``Resource.hidden``, so a plan can show which
        one changed; None when there is nothing to read."""
        return None

    def loss_note(self, res: LiveResource, replacement: Resource | None) -> str | None:
        """For a kind that ``holds_data``: the plan's note before ``res`` (read with its details)
        is deleted, saying what it holds and whether ``replacement`` gets it first; None when it
        holds nothing."""
        return None

    # -- applying (aws.executor) ------------------------------------------------------------
    def apply(self, ctx: ApplyContext) -> None:
        if ctx.op == Op.DELETE:
            self.delete(ctx)
        elif ctx.op == Op.RECORD:
            self.record(ctx)
        elif ctx.op == Op.CREATE:
            self.create(ctx)
        else:
            self.update(ctx)

    def create(self, ctx: ApplyContext) -> None:
        raise NotImplementedError(f"{self.name}: create")

    def update(self, ctx: ApplyContext) -> None:
        raise NotImplementedError(f"{self.name}: update")

    def delete(self, ctx: ApplyContext) -> None:
        raise NotImplementedError(f"{self.name}: delete")

    def record(self, ctx: ApplyContext) -> None:
        raise NotImplementedError(f"{self.name} holds no state record")

    # -- switching a trigger (ops pause / resume / audit) ------------------------------------
    def read_trigger(self, client: AwsClient, namespace: str, job: str) -> TriggerState | None:
        """The job's trigger of this kind as deployed; None when there is none."""
        raise NotImplementedError(f"{self.name} is not a trigger")

    def set_enabled(self, client: AwsClient, state: TriggerState, enabled: bool) -> None:
        raise NotImplementedError(f"{self.name} is not a trigger")

    def trigger_owner_tags(self, client: AwsClient, state: TriggerState) -> Mapping[str, str]:
        """The tags that say whose the trigger is (its own, or its owner's when it has none):
        ops commands check the namespace tag in them before acting (``ops.switch``)."""
        raise NotImplementedError(f"{self.name} is not a trigger")

    def trigger_label(self, state: TriggerState) -> str:
        return f"{self.name} {state.name}"

    # -- exporting (aws.export: jobctl export) -----------------------------------------------
    # A kind writes its own CloudFormation resources and Terraform blocks from a desired
    # ``Resource``; ``ctx`` turns values into each format (placeholders into inputs, ARNs of
    # other exported resources into references).
    export_word: ClassVar[str] = ""  # its part of a CloudFormation logical id ("Function"); "": none
    tf_type: ClassVar[str] = ""  # its main Terraform resource type, which others reference
    export_output: ClassVar[str | None] = None  # the output listing its ARN per job ("function_arns")

    def export_word_of(self, res: Resource) -> str:
        return self.export_word

    def cfn_arn(self, logical_id: str) -> Any:
        """How a CloudFormation template refers to this kind's ARN."""
        return {"Fn::GetAtt": [logical_id, "Arn"]}

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        """Its CloudFormation resources, by logical id."""
        raise NotImplementedError(f"{self.name}: export to CloudFormation")

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        """Its Terraform resource blocks."""
        raise NotImplementedError(f"{self.name}: export to Terraform")


class ApplyContext:
    """One action being applied: the client, the action, the namespace, and the steps every
    kind's create / update / delete share."""

    def __init__(
        self, client: AwsClient, action: Action, namespace: str, report: Callable[[str], None] | None = None
    ) -> None:
        self.client = client
        self.action = action
        self.ns = namespace
        # A line for the deploy's progress, under the action's own (what a step did beyond its
        # name: the messages a renamed DLQ handed on).
        self.report = report or (lambda line: None)

    @property
    def res(self) -> Resource:
        assert self.action.desired is not None, self.action
        return self.action.desired

    @property
    def op(self) -> Op:
        return self.action.op

    @property
    def creating(self) -> bool:
        return self.op == Op.CREATE

    @property
    def live(self) -> LiveResource | None:
        return self.action.live

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        return self.client.call(service, operation, **params)

    def ignore_missing(self, service: str, operation: str, **params: Any) -> None:
        try:
            self.call(service, operation, **params)
        except AwsCallError as exc:
            if not exc.not_found:
                raise

    def needs(self, *names_: str) -> bool:
        """Whether any of these settings must be (re)applied: on create, when the plan names
        one of them, or when it names only the opaque "settings" (hash changed, details
        unknown — e.g. a stale state record), which re-applies everything."""
        return self.op == Op.CREATE or any(self.action.changed(n) for n in (*names_, "settings"))

    def retag(
        self, put: Callable[[dict[str, str]], Any], remove: Callable[[list[str]], Any], force: bool = False
    ) -> None:
        """Make the live tags the manifest's: remove the keys no longer wanted (a tag deleted
        from jobs.yaml, an owner dropped), set those that are new or changed. With the live
        tags unknown, set them all (``force``, or a "tags" change without old values)."""
        change = next((f for f in self.action.fields if f.name == "tags"), None)
        want = dict(self.res.tags)
        if change is not None and isinstance(change.old, dict):
            stale = sorted(k for k in change.old if k not in want and k != CONFIG_TAG and not k.startswith("aws:"))
            if stale:
                remove(stale)
            updated = {k: v for k, v in want.items() if change.old.get(k) != v}
            if updated:
                put(updated)
        elif change is not None or force or self.action.changed("settings"):
            put(want)

    def adopt(self, tags: Mapping[str, str]) -> None:
        """An "already exists" answer: carry on only if the resource is ours."""
        if tags.get(names.NAMESPACE_TAG) != self.ns:
            raise AwsError(
                f"{self.res.label} already exists and is not managed by cronplane namespace {self.ns} "
                f"(no {names.NAMESPACE_TAG}={self.ns} tag). Rename the job or delete that resource."
            )

    def wait_for(self, check: Callable[[], bool], what: str, attempts: int = 60) -> None:
        for _ in range(attempts):
            if check():
                return
            self.client.sleep(1.0)
        raise AwsError(f"{self.res.label}: timed out waiting until {what}")


def unqualified(arn: str) -> str:
    """An ARN without a Lambda version/alias qualifier."""
    parts = arn.split(":")
    if len(parts) == 8 and parts[2] == "lambda":
        return ":".join(parts[:7])
    return arn


def json_document(doc: Any) -> Any:
    """IAM returns policy documents URL-decoded as dicts through boto3; some emulators hand
    back the string. Either way: a dict."""
    if isinstance(doc, str):
        import json
        from urllib.parse import unquote

        try:
            return json.loads(doc)
        except ValueError:
            return json.loads(unquote(doc))
    return doc


def tag_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """Tags as the list of pairs most AWS APIs take."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def tag_dict(pairs: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """Tags from the list of {"Key", "Value"} pairs most AWS APIs return."""
    return {t["Key"]: t["Value"] for t in pairs}


__all__ = [
    "ApplyContext",
    "Listing",
    "LiveResource",
    "ResourceKind",
    "TriggerKind",
    "TriggerState",
    "json_document",
    "tag_dict",
    "tag_list",
    "unqualified",
]
