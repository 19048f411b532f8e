"""The namespace's customer-managed KMS key that encrypts its alert topic (``build.alerting``),
named by its alias ``alias/NAMESPACE--alerts`` (the key's own id is AWS's to pick). Found
through the one tagging-API query with its tags (no call of its own: a deploy without alerts
pays nothing for this kind); its description, rotation and key policy are applied, then the
hash of those settings goes on last in its own ``cronplane:config`` tag, so a key interrupted
half-way (created, no alias yet) is finished next time.

A KMS key cannot be deleted at once: pruning or destroying it deletes its alias and schedules
the key's deletion after the shortest window AWS allows (7 days). Its tags stay on a key
pending deletion, so the tagging query still finds it: a ``cronplane:deleting`` tag, put on
just before the deletion is scheduled (a key pending deletion takes no new tags), marks it as
gone, and it is never planned again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.client import AwsCallError
from cronplane.aws.export.context import Skip, skipped, tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, Listing, LiveResource, ResourceKind, tag_list
from cronplane.build.resources import CONFIG_TAG, Kind, Resource
from cronplane.manifest import names

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient
    from cronplane.aws.export.context import CfnContext, TfContext

DELETING_TAG = "cronplane:deleting"  # on a key whose deletion is scheduled: not ours any more
DELETION_WINDOW_DAYS = 7  # the shortest AWS allows
# cloudformation's checkov flags any "*" principal; Terraform's accepts one under a Condition.
SKIPS: list[Skip] = [
    (
        "CKV_AWS_33",
        "the '*' principal is limited by conditions to this account's namespace roles, through SNS only",
        "cloudformation",
    )
]


def _kms_tags(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return tag_list(tags, key="TagKey", value="TagValue")


class KmsKeyKind(ResourceKind):
    name = Kind.KEY
    slots: ClassVar[Mapping[str, int]] = {"key": 2}  # before the topic it encrypts
    tagging_type = "kms:key"
    shared = True
    unused_reason = "no job has alerts"

    def list_live(self, client: AwsClient, scope: Listing) -> list[LiveResource]:
        alias = names.alert_key_alias(scope.namespace)
        keys = sorted(
            (arn, tags)
            for arn, tags in scope.tagged.items()
            if arn.split(":")[2:3] == ["kms"] and ":key/" in arn and DELETING_TAG not in tags
        )
        # One key per namespace; the one carrying its settings' hash first, should an
        # interrupted create have left a second.
        keys.sort(key=lambda item: CONFIG_TAG not in item[1])
        return [LiveResource(self.name, alias, arn, tags=tags) for arn, tags in keys[:1]]

    def read_tags(self, client: AwsClient, res: LiveResource) -> dict[str, str]:
        listed = client.call("kms", "list_resource_tags", KeyId=res.arn).get("Tags", [])
        return {t["TagKey"]: t["TagValue"] for t in listed}

    def _alias_target(self, ctx: ApplyContext, alias: str) -> str | None:
        """The ARN of the key ``alias`` points at; None when there is no such alias."""
        try:
            return str(ctx.call("kms", "describe_key", KeyId=alias)["KeyMetadata"]["Arn"])
        except AwsCallError as exc:
            if exc.not_found:
                return None
            raise

    def delete(self, ctx: ApplyContext) -> None:
        assert ctx.live is not None
        key = ctx.live.arn
        if self._alias_target(ctx, ctx.action.name) == key:
            ctx.ignore_missing("kms", "delete_alias", AliasName=ctx.action.name)
        ctx.call("kms", "tag_resource", KeyId=key, Tags=_kms_tags({DELETING_TAG: "true"}))
        key_id = key.rsplit("/", 1)[-1]  # (moto takes no ARN here; AWS takes either)
        ctx.call("kms", "schedule_key_deletion", KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)

    def create(self, ctx: ApplyContext) -> None:
        res = ctx.res
        # An alias of that name may exist already: its key is used only if it is ours.
        existing = self._alias_target(ctx, res.name)
        if existing is not None:
            ctx.adopt(self.read_tags(ctx.client, LiveResource(self.name, res.name, existing)))
            self._settings(ctx, existing)
            ctx.call("kms", "tag_resource", KeyId=existing, Tags=_kms_tags(res.tags))
        else:
            created = ctx.call(
                "kms",
                "create_key",
                Description=res.hidden["description"],
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
                Policy=res.hidden["policy"],
                Tags=_kms_tags(res.tags),
            )
            existing = str(created["KeyMetadata"]["Arn"])
            ctx.call("kms", "enable_key_rotation", KeyId=existing)
            ctx.call("kms", "create_alias", AliasName=res.name, TargetKeyId=existing)
        self._record(ctx, existing)

    def update(self, ctx: ApplyContext) -> None:
        assert ctx.live is not None
        key = ctx.live.arn
        if ctx.needs("policy", "rotation", "description"):
            self._settings(ctx, key)
        if ctx.needs("alias"):  # a create interrupted before its alias: point it here
            if self._alias_target(ctx, ctx.res.name) is None:
                ctx.call("kms", "create_alias", AliasName=ctx.res.name, TargetKeyId=key)
            else:
                ctx.call("kms", "update_alias", AliasName=ctx.res.name, TargetKeyId=key)
        ctx.retag(
            lambda tags: ctx.call("kms", "tag_resource", KeyId=key, Tags=_kms_tags(tags)),
            lambda keys: ctx.call("kms", "untag_resource", KeyId=key, TagKeys=keys),
        )
        self._record(ctx, key)

    def _settings(self, ctx: ApplyContext, key: str) -> None:
        hidden = ctx.res.hidden
        ctx.call("kms", "put_key_policy", KeyId=key, PolicyName="default", Policy=hidden["policy"])
        ctx.call("kms", "update_key_description", KeyId=key, Description=hidden["description"])
        if hidden["rotation"]:
            ctx.call("kms", "enable_key_rotation", KeyId=key)

    def _record(self, ctx: ApplyContext, key: str) -> None:
        """The settings' hash, last: a key interrupted before it is re-applied."""
        ctx.call("kms", "tag_resource", KeyId=key, Tags=_kms_tags({CONFIG_TAG: ctx.res.hidden_hash()}))

    # -- export ---------------------------------------------------------------------------------
    export_word = "AlertKey"
    tf_type = "aws_kms_key"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        import json

        hidden = res.hidden
        key_id = ctx.logical_id(res)
        props = {
            "Description": ctx.text(hidden["description"]),
            "EnableKeyRotation": hidden["rotation"],
            "PendingWindowInDays": DELETION_WINDOW_DAYS,
            "KeyPolicy": ctx.text(json.loads(hidden["policy"])),
            "Tags": ctx.tags(res),
        }
        alias = {"AliasName": ctx.text(res.name), "TargetKeyId": {"Ref": key_id}}
        body = {
            "Type": "AWS::KMS::Key",
            # As jobctl deploy does: the key's deletion is scheduled (PendingWindowInDays).
            "DeletionPolicy": "Delete",
            "UpdateReplacePolicy": "Delete",
            "Properties": props,
            "Metadata": skipped(ctx.applicable(SKIPS)),
        }
        return {
            key_id: body,
            ctx.logical_id(res, "Alias"): {"Type": "AWS::KMS::Alias", "Properties": alias},
        }

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        import json

        hidden = res.hidden
        name = tf_key_name(res)
        key = Block("resource", (self.tf_type, name)).attr("description", ctx.text(hidden["description"]))
        key.attr("enable_key_rotation", hidden["rotation"]).attr("deletion_window_in_days", DELETION_WINDOW_DAYS)
        key.attr("policy", ctx.document(json.loads(hidden["policy"]))).attr("tags", ctx.tags(res))
        alias = Block("resource", ("aws_kms_alias", name)).attr("name", ctx.text(res.name))
        return [key, alias.attr("target_key_id", Raw(f"{self.tf_type}.{name}.key_id"))]


def tf_key_name(res: Resource) -> str:
    """The key's Terraform name: its alias's, without ``alias/`` (not allowed in a name)."""
    return tf_name(replace(res, name=res.name.removeprefix("alias/")))


KIND = KmsKeyKind()
