"""The namespace's alert topic (SNS), shared by its jobs with ``alerts:``; deleted when none has
any. Found through the one tagging-API query (no call of its own: a deploy without alerts pays
nothing for this kind); its attributes and email subscriptions are applied, then the hash of
those settings goes on last in its own ``cronplane:config`` tag, so a topic interrupted half-way
is finished next time.

Email subscriptions: one per address, filtered (``FilterPolicy``) to the messages whose
attribute ``emails`` names it (``runtime.alerts``). Only email subscriptions are managed;
whatever else is subscribed (a queue, a chat bot) is left alone. An address removed from jobs.yaml is
unsubscribed once confirmed (SNS cannot remove a pending one; it expires after three days), and
a pending one is not subscribed again (that would mail a second confirmation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import TfContext, tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, tag_dict, tag_list
from cronplane.build.resources import CONFIG_TAG, Kind, Resource
from cronplane.manifest import names
from cronplane.runtime.alerts import EMAILS_ATTRIBUTE

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext


class TopicKind(ResourceKind):
    name = Kind.TOPIC
    slots: ClassVar[Mapping[str, int]] = {"topic": 3}  # after the table, the Scheduler group, its key
    tagging_type = "sns"
    shared = True
    unused_reason = "no job has alerts"

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        topic = names.alert_topic(scope.namespace)
        return [
            LiveResource(self.name, topic, arn, tags=tags)
            for arn, tags in scope.tagged.items()
            if arn.split(":")[2:3] == ["sns"] and arn.endswith(f":{topic}")
        ]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        return tag_dict(client.call("sns", "list_tags_for_resource", ResourceArn=res.arn).get("Tags", []))

    def delete(self, ctx: ApplyContext) -> None:
        assert ctx.live is not None
        # Deleting a topic deletes its subscriptions too.
        ctx.ignore_missing("sns", "delete_topic", TopicArn=ctx.live.arn)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        try:
            # create_topic answers with the ARN of a topic that exists already: look first, so a
            # topic of that name that is not ours is refused, never taken over.
            existing = self.read_tags(ctx.client, LiveResource(self.name, res.name, res.arn))
        except AwsCallError as exc:
            if not exc.not_found:
                raise
            attributes = dict(res.hidden["attributes"])
            ctx.call("sns", "create_topic", Name=res.name, Attributes=attributes, Tags=tag_list(res.tags))
        else:
            ctx.adopt(existing)
            self._attributes(ctx)
        self._subscriptions(ctx)
        self._record(ctx)

    def update(self, ctx: ApplyContext) -> None:
        if ctx.needs("attributes"):
            self._attributes(ctx)
        if ctx.needs("subscriptions"):
            self._subscriptions(ctx)
        arn = ctx.res.arn
        ctx.retag(
            lambda tags: None,  # set with the hash below
            lambda keys: ctx.call("sns", "untag_resource", ResourceArn=arn, TagKeys=keys),
        )
        self._record(ctx)

    def _attributes(self, ctx: ApplyContext) -> None:
        for key, value in sorted(ctx.res.hidden["attributes"].items()):
            ctx.call("sns", "set_topic_attributes", TopicArn=ctx.res.arn, AttributeName=key, AttributeValue=value)

    def _subscriptions(self, ctx: ApplyContext) -> None:
        arn = ctx.res.arn
        wanted = set(ctx.res.hidden["subscriptions"])
        live = ctx.client.paginate("sns", "list_subscriptions_by_topic", "Subscriptions", TopicArn=arn)
        emails = [s for s in live if s.get("Protocol") == "email"]
        for sub in emails:
            address, sub_arn = str(sub.get("Endpoint", "")), str(sub.get("SubscriptionArn", ""))
            confirmed = sub_arn.startswith("arn:")
            if address not in wanted:
                if confirmed:
                    ctx.ignore_missing("sns", "unsubscribe", SubscriptionArn=sub_arn)
            elif confirmed:
                ctx.call(
                    "sns",
                    "set_subscription_attributes",
                    SubscriptionArn=sub_arn,
                    AttributeName="FilterPolicy",
                    AttributeValue=filter_policy(address),
                )
        # A pending address is not subscribed again: that would mail it a second confirmation.
        subscribed = {str(s.get("Endpoint", "")) for s in emails}
        for address in sorted(wanted - subscribed):
            ctx.call(
                "sns",
                "subscribe",
                TopicArn=arn,
                Protocol="email",
                Endpoint=address,
                Attributes={"FilterPolicy": filter_policy(address)},
                ReturnSubscriptionArn=True,
            )

    def _record(self, ctx: ApplyContext) -> None:
        """The tags, with the settings' hash last: a topic interrupted before it is re-applied."""
        tags = tag_list({**ctx.res.tags, CONFIG_TAG: ctx.res.hidden_hash()})
        ctx.call("sns", "tag_resource", ResourceArn=ctx.res.arn, Tags=tags)

    # -- export ---------------------------------------------------------------------------------
    export_word = "AlertTopic"
    tf_type = "aws_sns_topic"

    def cfn_arn(self, logical_id: str) -> Any:
        return {"Ref": logical_id}  # a topic's Ref is its ARN

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        attrs = res.hidden["attributes"]
        topic_id = ctx.logical_id(res)
        props = {
            "TopicName": ctx.text(res.name),
            "DisplayName": ctx.text(attrs["DisplayName"]),
            "KmsMasterKeyId": self._key(attrs, ctx),
            "Tags": ctx.tags(res),
        }
        policy = {"Topics": [{"Ref": topic_id}], "PolicyDocument": ctx.text(json.loads(attrs["Policy"]))}
        out: dict[str, Any] = {
            topic_id: {"Type": "AWS::SNS::Topic", "Properties": props},
            ctx.logical_id(res, "Policy"): {"Type": "AWS::SNS::TopicPolicy", "Properties": policy},
        }
        for address in sorted(res.hidden["subscriptions"]):
            subscription = {
                "TopicArn": {"Ref": topic_id},
                "Protocol": "email",
                "Endpoint": address,
                "FilterPolicy": json.loads(filter_policy(address)),
            }
            out[ctx.logical_id(res, f"Email{_address_id(address)}")] = {
                "Type": "AWS::SNS::Subscription",
                "Properties": subscription,
            }
        return out

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        attrs = res.hidden["attributes"]
        name = tf_name(res)
        topic = Block("resource", (self.tf_type, name)).attr("name", ctx.text(res.name))
        topic.attr("display_name", ctx.text(attrs["DisplayName"])).attr("kms_master_key_id", self._key(attrs, ctx))
        topic.attr("tags", ctx.tags(res))
        policy = Block("resource", ("aws_sns_topic_policy", name)).attr("arn", Raw(f"{self.tf_type}.{name}.arn"))
        out = [topic, policy.attr("policy", ctx.document(json.loads(attrs["Policy"])))]
        for address in sorted(res.hidden["subscriptions"]):
            email = Block("resource", ("aws_sns_topic_subscription", f"{name}_email_{_address_id(address).lower()}"))
            email.attr("topic_arn", Raw(f"{self.tf_type}.{name}.arn")).attr("protocol", "email")
            out.append(email.attr("endpoint", address).attr("filter_policy", filter_policy(address)))
        return out

    @staticmethod
    def _key(attrs: Mapping[str, Any], ctx: CfnContext | TfContext) -> Any:
        """The key's alias, as deploy sets it; a reference to the exported alias when the
        export holds it (the namespace's alert key), so the topic comes after it."""
        key = ctx.find(Kind.KEY, attrs["KmsMasterKeyId"])
        if key is None:
            return attrs["KmsMasterKeyId"]
        if isinstance(ctx, TfContext):
            from cronplane.aws.kinds.kms_key import tf_key_name

            return Raw(f"aws_kms_alias.{tf_key_name(key)}.name")
        return {"Ref": ctx.logical_id(key, "Alias")}  # an alias's Ref is its name


def _address_id(address: str) -> str:
    """A stable id for an email subscription (addresses hold characters ids may not)."""
    import hashlib

    return hashlib.sha256(address.encode()).hexdigest()[:8].upper()


def filter_policy(address: str) -> str:
    """An email subscription gets the alerts addressed to it only: the wrapper and the watchdog
    list a job's email routes in the message attribute ``emails`` (one value per filter, so any
    number of jobs fits SNS's limits); alarm state changes carry none."""
    return json.dumps({EMAILS_ATTRIBUTE: [address]}, separators=(",", ":"))


KIND = TopicKind()
