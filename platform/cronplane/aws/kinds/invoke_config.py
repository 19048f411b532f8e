"""A function's event-invoke configuration: no Lambda retries (the runtime retries the job) and
failures to the job's dead-letter queue. A sub-resource no list call shows: it exists when its
function does and the job's state record says it was applied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from cronplane.aws.kinds.base import ApplyContext, ResourceKind
from cronplane.build.resources import JOB_ORDER, Kind


class InvokeConfig(ResourceKind):
    name = Kind.INVOKE_CONFIG
    slots: ClassVar[Mapping[str, int]] = {"inv": JOB_ORDER["inv"]}
    tagged = False
    listed = False

    def delete(self, ctx: ApplyContext) -> None:
        ctx.ignore_missing("lambda", "delete_function_event_invoke_config", FunctionName=ctx.action.name)

    def create(self, ctx: ApplyContext) -> None:
        h = ctx.res.hidden
        qualifier = {"Qualifier": h["qualifier"]} if h["qualifier"] else {}
        ctx.call(
            "lambda",
            "put_function_event_invoke_config",
            FunctionName=ctx.res.name,
            MaximumRetryAttempts=h["max_retry_attempts"],
            DestinationConfig={"OnFailure": {"Destination": h["on_failure"]}},
            **qualifier,
        )

    update = create  # put_function_event_invoke_config replaces the whole configuration


KIND = InvokeConfig()
