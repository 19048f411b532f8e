"""A function's event-invoke configuration: no Lambda retries (the runtime retries the job) and
no on-failure destination (the wrapper sends a failed run's one DLQ message itself, then ends the
invocation as an error: a destination would be a second message). A sub-resource no list call
shows: it exists when its function does and the job's state record says it was applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from cronplane.aws.export.context import tf_name
from cronplane.aws.export.hcl import Block, Raw
from cronplane.aws.kinds.base import ApplyContext, ResourceKind
from cronplane.build.resources import JOB_ORDER, Kind, Resource

if TYPE_CHECKING:
    from cronplane.aws.export.context import CfnContext, TfContext


class InvokeConfigKind(ResourceKind):
    name = Kind.INVOKE_CONFIG
    slots: ClassVar[Mapping[str, int]] = {"inv": JOB_ORDER["inv"]}
    tagged = False
    listed = False

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("lambda", "delete_function_event_invoke_config", FunctionName=ctx.action.name)

    def create(self, ctx: ApplyContext) -> None:
        h = ctx.res.hidden
        qualifier = {"Qualifier": h["qualifier"]} if h["qualifier"] else {}
        # Without DestinationConfig the put also removes a destination an older deploy set.
        destination = {"OnFailure": {"Destination": h["on_failure"]}} if h.get("on_failure") else None
        ctx.call(
            "lambda",
            "put_function_event_invoke_config",
            FunctionName=ctx.res.name,
            MaximumRetryAttempts=h["max_retry_attempts"],
            **({"DestinationConfig": destination} if destination else {}),
            **qualifier,
        )

    update = create  # put_function_event_invoke_config replaces the whole configuration

    # -- export ---------------------------------------------------------------------------------
    export_word = "InvokeConfig"
    tf_type = "aws_lambda_function_event_invoke_config"

    def to_cloudformation(self, res: Resource, ctx: CfnContext) -> dict[str, Any]:
        h = res.hidden
        function = ctx.id_of(Kind.FUNCTION, res.name)
        props: dict[str, Any] = {
            "FunctionName": {"Ref": function},
            "Qualifier": h["qualifier"] or "$LATEST",  # required here; unqualified is $LATEST
            "MaximumRetryAttempts": h["max_retry_attempts"],
        }
        if h.get("on_failure"):
            props["DestinationConfig"] = {"OnFailure": {"Destination": ctx.arn(h["on_failure"])}}
        out: dict[str, Any] = {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": props}
        if h["qualifier"]:
            out["DependsOn"] = [ctx.id_of(Kind.ALIAS, res.name)]
        return {ctx.logical_id(res): out}

    def to_terraform(self, res: Resource, ctx: TfContext) -> list[Block]:
        h = res.hidden
        config = Block("resource", (self.tf_type, tf_name(res)))
        config.attr("function_name", Raw(f"{ctx.address_of(Kind.FUNCTION, res.name)}.function_name"))
        if h["qualifier"]:
            config.attr("qualifier", Raw(f"{ctx.address_of(Kind.ALIAS, res.name)}.name"))
        config.attr("maximum_retry_attempts", h["max_retry_attempts"])
        if h.get("on_failure"):
            failure = Block("on_failure").attr("destination", ctx.arn(h["on_failure"]))
            config.block(Block("destination_config").block(failure))
        return [config]


KIND = InvokeConfigKind()
