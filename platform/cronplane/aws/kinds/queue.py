"""SQS queues: each job's dead-letter queue. Addressed by URL, listed by name prefix; tags and
attributes are read only when the planner needs them.

A DLQ holds failed runs waiting for ``jobctl dlq replay``, so deleting one is never silent: the
plan says how many messages go with it (one GetQueueAttributes per queue being deleted), and when
a job's queue is replaced by one under a new name (the ``--`` rename) its messages are moved to
the new queue first. A move that fails leaves the old queue in place; the next deploy continues.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, checkov_skips, skipped, tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, json_document
from cronplane.build.resources import JOB_ORDER, Kind, Resource, canonical_json
from cronplane.errors import AwsError
from cronplane.manifest import names

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, SendMessageBatchRequestEntryTypeDef

    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext

# The attributes cronplane sets, so a plan compares only those.
KEPT_ATTRIBUTES = ("SqsManagedSseEnabled", "MessageRetentionPeriod", "Policy")
# Messages waiting, being read, delayed: all lost when the queue is deleted.
COUNT_ATTRIBUTES = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# SSE-SQS: EventBridge and Scheduler cannot send to a queue under the AWS managed KMS key.
SKIPS: tuple[Skip, ...] = (("CKV_AWS_27", "encrypted with SSE-SQS (SqsManagedSseEnabled)", "cloudformation"),)
MOVE_BATCH = 10  # SQS's most per receive / send / delete batch
MOVE_HOLD_S = 30  # a message received but not yet moved is visible again this soon if the deploy dies
SEND_BATCH_BYTES = 256 * 1024  # SQS's limit on one send_message_batch request
# A short poll asks a sample of SQS's servers: an empty answer while the queue still counts
# waiting messages is asked again, this many times, before the deploy gives up.
MOVE_EMPTY_POLLS = 5


class QueueKind(ResourceKind):
    name = Kind.QUEUE
    slots: ClassVar[Mapping[str, int]] = {"dlq": JOB_ORDER["dlq"]}
    reads_details = True
    holds_data = True  # failed runs waiting for `jobctl dlq replay`
    # Made before a job's log group and schedule, deleted after them: a DLQ whose job has no state
    # record means a deploy or prune was cut short, and those kinds are listed (aws.vouch).
    witness = True

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        # 1,000 a page (ListQueues' most): 10 calls for 10,000 jobs.
        urls = client.paginate("sqs", "list_queues", "QueueUrls", QueueNamePrefix=scope.prefix, MaxResults=1000)
        return [LiveResource(self.name, url.rstrip("/").rsplit("/", 1)[-1], "", url=url) for url in urls]

    def named_for(self, namespace: str, job: str) -> str:
        return names.dlq_name(namespace, job)

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return dict(client.call("sqs", "list_queue_tags", QueueUrl=res.url).get("Tags", {}))

    def read_details(self, client: AwsClient, res: LiveResource, namespace: str) -> dict[str, Any]:
        attrs = client.call("sqs", "get_queue_attributes", QueueUrl=res.url, AttributeNames=["All"]).get(
            "Attributes", {}
        )
        kept = {k: attrs[k] for k in KEPT_ATTRIBUTES if k in attrs}
        if "Policy" in kept:  # SQS hands the policy back re-serialised: compare documents, not text
            kept["Policy"] = canonical_json(json_document(kept["Policy"]))
        # The same read tells how many messages a delete would lose (never compared: only
        # ``Resource.hidden``'s keys are).
        return {"attributes": kept, "messages": sum(int(attrs.get(k, 0)) for k in COUNT_ATTRIBUTES)}

    def loss_note(self, res: LiveResource, replacement: Resource | None) -> str | None:
        count = int((res.details or {}).get("messages", 0))
        if not count:
            return None
        if replacement is not None:
            return f"renamed: deploy moves {count} messages of {res.label} to the new DLQ {replacement.name}, then deletes it"
        return (
            f"deleting DLQ {res.name} with {count} messages: failed runs, lost with it. If you need them, "
            "replay them first (`jobctl dlq replay JOB`, while the job is still in jobs.yaml)"
        )

    def delete(self, ctx: ApplyContext) -> None:
        assert ctx.live is not None
        replacement = ctx.action.desired  # set by the planner only when a renamed queue is replaced
        if replacement is not None and replacement.name != ctx.live.name:
            moved = _Move(ctx, str(ctx.live.url), ctx.live.name, replacement.name).run()
            if moved:
                ctx.report(f"      moved {moved} messages from {ctx.live.name} to the new DLQ {replacement.name}")
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

    # -- export ---------------------------------------------------------------------------------
    export_word = "DeadLetterQueue"
    tf_type = "aws_sqs_queue"
    export_output = "queue_arns"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        attrs = res.hidden["attributes"]
        queue_id = ctx.logical_id(res)
        props = {
            "QueueName": ctx.text(res.name),
            "MessageRetentionPeriod": int(attrs["MessageRetentionPeriod"]),
            "SqsManagedSseEnabled": attrs["SqsManagedSseEnabled"] == "true",
            "Tags": ctx.tags(res),
        }
        body = {
            "Type": "AWS::SQS::Queue",
            "DeletionPolicy": "Delete",  # as jobctl deploy deletes a removed job's DLQ
            "UpdateReplacePolicy": "Delete",
            "Properties": props,
            "Metadata": skipped(ctx.applicable(SKIPS)),
        }
        out: dict[str, Any] = {queue_id: body}
        if "Policy" in attrs:
            policy = {"Queues": [{"Ref": queue_id}], "PolicyDocument": ctx.text(json_document(attrs["Policy"]))}
            out[ctx.logical_id(res, "Policy")] = {"Type": "AWS::SQS::QueuePolicy", "Properties": policy}
        return out

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        attrs = res.hidden["attributes"]
        name = tf_name(res)
        queue = Block("resource", (self.tf_type, name), comments=checkov_skips(ctx.applicable(SKIPS)))
        queue.attr("name", ctx.text(res.name))
        queue.attr("message_retention_seconds", int(attrs["MessageRetentionPeriod"]))
        queue.attr("sqs_managed_sse_enabled", attrs["SqsManagedSseEnabled"] == "true")
        queue.attr("tags", ctx.tags(res))
        if "Policy" not in attrs:
            return [queue]
        policy = Block("resource", ("aws_sqs_queue_policy", name))
        policy.attr("queue_url", Raw(f"{self.tf_type}.{name}.id"))
        policy.attr("policy", ctx.document(json_document(attrs["Policy"])))
        return [queue, policy]


class _Move:
    """Every message of the old queue into the new one, in batches: received with a short
    visibility timeout, sent with its body and message attributes, then deleted from the old
    queue. A failure releases what it holds and stops the deploy before the old queue goes."""

    def __init__(self, ctx: ApplyContext, old_url: str, old_name: str, new_name: str) -> None:
        self.ctx = ctx
        self.old_url = old_url
        self.old_name = old_name
        self.new_name = new_name
        self.moved = 0

    def run(self) -> int:
        try:
            new_url = str(self.ctx.call("sqs", "get_queue_url", QueueName=self.new_name)["QueueUrl"])
            empty_polls = 0
            while True:
                batch = self.receive()
                if batch:
                    self.move(new_url, batch)
                    continue
                left = self.left()
                if not left:
                    return self.moved
                empty_polls += 1
                if empty_polls >= MOVE_EMPTY_POLLS:
                    raise AwsError(
                        f"{left} messages could not be received now (being read, e.g. by `jobctl dlq list`, or "
                        "delayed); run deploy again in a minute"
                    )
        except AwsError as exc:
            raise AwsError(
                f"moving the messages of DLQ {self.old_name} to the new DLQ {self.new_name} stopped after "
                f"{self.moved} of them: {exc}. {self.old_name} was not deleted, so no message is lost; fix the "
                "cause and run deploy again to move the rest"
            ) from exc

    def receive(self) -> list[Mapping[str, Any]]:
        try:
            answer = self.ctx.call(
                "sqs",
                "receive_message",
                QueueUrl=self.old_url,
                MaxNumberOfMessages=MOVE_BATCH,
                VisibilityTimeout=MOVE_HOLD_S,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
            )
        except AwsCallError as exc:
            if exc.not_found:  # gone already (an earlier deploy deleted it): nothing to move
                return []
            raise
        return list(answer.get("Messages", []))

    def left(self) -> int:
        try:
            attrs = self.ctx.call(
                "sqs", "get_queue_attributes", QueueUrl=self.old_url, AttributeNames=list(COUNT_ATTRIBUTES)
            ).get("Attributes", {})
        except AwsCallError as exc:
            if exc.not_found:
                return 0
            raise
        return sum(int(attrs.get(k, 0)) for k in COUNT_ATTRIBUTES)

    def move(self, new_url: str, batch: list[Mapping[str, Any]]) -> None:
        entries = {str(i): _entry(str(i), message) for i, message in enumerate(batch)}
        sent: list[str] = []
        try:
            for chunk in _by_size(list(entries.values())):
                answer = self.ctx.call("sqs", "send_message_batch", QueueUrl=new_url, Entries=chunk)
                sent += [ok["Id"] for ok in answer.get("Successful", [])]
                failed = answer.get("Failed", [])
                if failed:
                    raise AwsError(
                        f"AWS sqs send_message_batch failed for {len(failed)} messages: "
                        f"{failed[0].get('Code')}: {failed[0].get('Message', '')}"
                    )
        finally:
            # What reached the new queue leaves the old one; the rest is visible there again at
            # once, for the next deploy (on failure it comes back after MOVE_HOLD_S by itself).
            unsent = [batch[int(i)] for i in entries if i not in sent]
            if unsent:
                self.release(unsent)
            if sent:
                self.moved += len(sent)
                self.remove([batch[int(i)] for i in sent])

    def remove(self, messages: Sequence[Mapping[str, Any]]) -> None:
        answer = self.ctx.call(
            "sqs",
            "delete_message_batch",
            QueueUrl=self.old_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
        failed = answer.get("Failed", [])
        if failed:
            self.moved -= len(failed)
            raise AwsError(
                f"{len(failed)} messages copied to {self.new_name} could not be removed from {self.old_name} "
                f"({failed[0].get('Code')}: {failed[0].get('Message', '')}); the next deploy copies them again"
            )

    def release(self, messages: Sequence[Mapping[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0} for i, m in enumerate(messages)
        ]
        with contextlib.suppress(AwsError):
            self.ctx.call("sqs", "change_message_visibility_batch", QueueUrl=self.old_url, Entries=entries)


def _entry(entry_id: str, message: Mapping[str, Any]) -> SendMessageBatchRequestEntryTypeDef:
    """A received message as a send entry: the same body and message attributes."""
    entry: SendMessageBatchRequestEntryTypeDef = {"Id": entry_id, "MessageBody": message["Body"]}
    attributes: dict[str, MessageAttributeValueTypeDef] = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        kept: MessageAttributeValueTypeDef = {"DataType": value["DataType"]}
        if "StringValue" in value:
            kept["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            kept["BinaryValue"] = value["BinaryValue"]
        attributes[name] = kept
    if attributes:
        entry["MessageAttributes"] = attributes
    return entry


def _size(entry: SendMessageBatchRequestEntryTypeDef) -> int:
    """Bytes an entry counts towards SQS's request limit: body, attribute names, types, values."""
    size = len(entry["MessageBody"].encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        binary = value.get("BinaryValue", b"")  # bytes, as receive_message returns it
        data = len(binary) if isinstance(binary, bytes) else 0
        size += len(name.encode()) + len(value["DataType"].encode()) + len(value.get("StringValue", "").encode()) + data
    return size


def _by_size(entries: list[SendMessageBatchRequestEntryTypeDef]) -> Iterator[list[SendMessageBatchRequestEntryTypeDef]]:
    """The entries in as few send batches as SQS takes (a message may be up to the whole limit)."""
    chunk: list[SendMessageBatchRequestEntryTypeDef] = []
    total = 0
    for entry in entries:
        size = _size(entry)
        if chunk and total + size > SEND_BATCH_BYTES:
            yield chunk
            chunk, total = [], 0
        chunk.append(entry)
        total += size
    if chunk:
        yield chunk


KIND = QueueKind()
