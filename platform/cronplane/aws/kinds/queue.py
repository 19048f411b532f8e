"""SQS queues: each job's dead-letter queue. Addressed by URL, listed by name prefix; tags and
attributes are read only when the planner needs them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, json_document
from cronplane.build.resources import JOB_ORDER, Kind, canonical_json

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient

# The attributes cronplane sets, so a plan compares only those.
KEPT_ATTRIBUTES = ("SqsManagedSseEnabled", "MessageRetentionPeriod", "Policy")


class Queue(ResourceKind):
    name = Kind.QUEUE
    slots: ClassVar[Mapping[str, int]] = {"dlq": JOB_ORDER["dlq"]}
    reads_details = True

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        urls = client.paginate("sqs", "list_queues", "QueueUrls", QueueNamePrefix=scope.prefix, MaxResults=1000)
        return [LiveResource(self.name, url.rstrip("/").rsplit("/", 1)[-1], "", url=url) for url in urls]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return dict(client.call("sqs", "list_queue_tags", QueueUrl=res.url).get("Tags", {}))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        attrs = client.call("sqs", "get_queue_attributes", QueueUrl=res.url, AttributeNames=["All"]).get(
            "Attributes", {}
        )
        kept = {k: attrs[k] for k in KEPT_ATTRIBUTES if k in attrs}
        if "Policy" in kept:  # SQS hands the policy back re-serialised: compare documents, not text
            kept["Policy"] = canonical_json(json_document(kept["Policy"]))
        return {"attributes": kept}

    def delete(self, ctx: ApplyContext) -> None:
        assert ctx.live is not None
        ctx.ignore_missing("sqs", "delete_queue", QueueUrl=ctx.live.url)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        attrs = dict(res.hidden["attributes"])
        try:
            ctx.call("sqs", "create_queue", QueueName=res.name, Attributes=attrs, tags=dict(res.tags))
            return
        except AwsCallError as exc:
            if exc.code not in ("QueueAlreadyExists", "QueueNameExists"):
                raise
        url = ctx.call("sqs", "get_queue_url", QueueName=res.name)["QueueUrl"]
        ctx.adopt(dict(ctx.call("sqs", "list_queue_tags", QueueUrl=url).get("Tags", {})))
        ctx.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes=attrs)
        ctx.call("sqs", "tag_queue", QueueUrl=url, Tags=dict(res.tags))

    def update(self, ctx: ApplyContext) -> None:
        assert ctx.live is not None
        url = str(ctx.live.url)
        if ctx.needs("attributes"):
            ctx.call("sqs", "set_queue_attributes", QueueUrl=url, Attributes=dict(ctx.res.hidden["attributes"]))
        ctx.retag(
            lambda tags: ctx.call("sqs", "tag_queue", QueueUrl=url, Tags=tags),
            lambda keys: ctx.call("sqs", "untag_queue", QueueUrl=url, TagKeys=keys),
        )


KIND = Queue()
