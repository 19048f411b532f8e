"""The triggers ``jobctl dev`` fires, read back from the emulator through the ordinary AWS
APIs (events ``list_rules`` / ``list_targets_by_rule``, scheduler ``list_schedules`` /
``get_schedule``), and the exact input AWS delivers when one fires: an EventBridge "Scheduled
Event" passed through the target's Input / InputPath / InputTransformer, or a Scheduler input
with its ``<aws.scheduler.*>`` context attributes filled in.

Pure functions and values, plus the two read calls; the firing loop is ``scheduler.py``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cronplane.aws.kinds.base import TriggerKind
from cronplane.runtime.schema import iso, parse_iso

if TYPE_CHECKING:
    from mypy_boto3_events.type_defs import RuleTypeDef
    from mypy_boto3_scheduler.type_defs import GetScheduleOutputTypeDef, ScheduleSummaryTypeDef

    from cronplane.aws.client import AwsClient

# get_schedule answers kept between reads, by (group, name, last modification).
ScheduleCache = dict[tuple[str | None, str, str], "GetScheduleOutputTypeDef"]


@dataclass(frozen=True)
class Target:
    arn: str
    input: str | None = None
    input_path: str | None = None
    input_paths_map: tuple[tuple[str, str], ...] = ()
    input_template: str | None = None
    dead_letter_arn: str | None = None

    @property
    def is_lambda(self) -> bool:
        return ":lambda:" in self.arn


@dataclass(frozen=True)
class DeployedTrigger:
    """A rule (classic EventBridge, UTC) or a Scheduler schedule (with a timezone) as the
    emulator holds it, with its targets."""

    kind: TriggerKind
    name: str
    arn: str
    expression: str
    enabled: bool
    targets: tuple[Target, ...]
    group: str | None = None
    timezone: str | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind.value, self.group or "", self.name)

    @property
    def timing(self) -> tuple[str | datetime | None, ...]:
        """What decides the fire times: a change here restarts the trigger's calendar."""
        return (self.expression, self.timezone, self.start_date, self.end_date)


# -- reading the triggers back from the emulator ---------------------------------------------


def read_triggers(aws: AwsClient, cache: ScheduleCache | None = None) -> list[DeployedTrigger]:
    """Every scheduled rule (default bus) and every Scheduler schedule, with their targets."""
    rules: list[RuleTypeDef] = aws.paginate("events", "list_rules", "Rules")
    triggers = [_rule_trigger(aws, rule) for rule in rules if rule.get("ScheduleExpression")]
    cache = {} if cache is None else cache
    summaries: list[ScheduleSummaryTypeDef] = aws.paginate("scheduler", "list_schedules", "Schedules")
    for summary in summaries:
        # get_schedule only when the schedule changed: the summary has no expression.
        stamp = (summary.get("GroupName"), summary["Name"], str(summary.get("LastModificationDate")))
        if stamp not in cache:
            cache[stamp] = aws.scheduler.get_schedule(
                Name=summary["Name"], GroupName=summary.get("GroupName") or "default"
            )
        triggers.append(_schedule_trigger(cache[stamp], summary.get("State")))
    return triggers


def _rule_trigger(aws: AwsClient, rule: RuleTypeDef) -> DeployedTrigger:
    targets = []
    listed = aws.paginate(
        "events", "list_targets_by_rule", "Targets", Rule=rule["Name"], EventBusName=rule.get("EventBusName", "default")
    )
    for t in listed:
        transformer = t.get("InputTransformer")
        targets.append(
            Target(
                arn=t["Arn"],
                input=t.get("Input"),
                input_path=t.get("InputPath"),
                input_paths_map=tuple(sorted(transformer.get("InputPathsMap", {}).items())) if transformer else (),
                input_template=transformer.get("InputTemplate") if transformer else None,
                dead_letter_arn=t.get("DeadLetterConfig", {}).get("Arn"),
            )
        )
    return DeployedTrigger(
        kind=TriggerKind.RULE,
        name=rule["Name"],
        arn=rule["Arn"],
        expression=rule["ScheduleExpression"],
        enabled=rule.get("State", "ENABLED") == "ENABLED",
        targets=tuple(targets),
    )


def _schedule_trigger(schedule: GetScheduleOutputTypeDef, state: str | None) -> DeployedTrigger:
    target = schedule.get("Target")
    return DeployedTrigger(
        kind=TriggerKind.SCHEDULE,
        name=schedule["Name"],
        group=schedule.get("GroupName") or "default",
        arn=schedule["Arn"],
        expression=schedule["ScheduleExpression"],
        timezone=schedule.get("ScheduleExpressionTimezone") or None,
        enabled=(state or schedule.get("State", "ENABLED")) == "ENABLED",
        start_date=_as_datetime(schedule.get("StartDate")),
        end_date=_as_datetime(schedule.get("EndDate")),
        targets=(
            Target(
                arn=target["Arn"],
                input=target.get("Input"),
                dead_letter_arn=target.get("DeadLetterConfig", {}).get("Arn"),
            ),
        )
        if target and target.get("Arn")
        else (),
    )


def _as_datetime(value: datetime | str | float | None) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    return parse_iso(str(value))


# -- what AWS delivers -----------------------------------------------------------------------


def scheduled_event(
    trigger: DeployedTrigger, scheduled_for: datetime, account: str, region: str, event_id: str | None = None
) -> dict[str, Any]:
    """The event EventBridge puts on the bus when a scheduled rule fires."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": iso(scheduled_for),
        "region": region,
        "resources": [trigger.arn],
        "detail": {},
    }


def rule_target_input(trigger: DeployedTrigger, target: Target, event: dict[str, Any]) -> str:
    """The payload a rule target receives: Input, InputPath or InputTransformer applied."""
    if target.input is not None:
        return target.input
    if target.input_path is not None:
        return json.dumps(json_path(event, target.input_path))
    if target.input_template is not None:
        values: dict[str, Any] = {name: json_path(event, path) for name, path in target.input_paths_map}
        values.update(
            {
                "aws.events.rule-arn": trigger.arn,
                "aws.events.rule-name": trigger.name,
                "aws.events.event.ingestion-time": event["time"],
                "aws.events.event": event,
                "aws.events.event.json": event,
            }
        )
        return fill_template(target.input_template, values)
    return json.dumps(event)


_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")


def fill_template(template: str, values: dict[str, Any]) -> str:
    """EventBridge's InputTemplate substitution: a placeholder inside a JSON string gets the
    value's text; outside a string it gets the value as JSON (so ``<id>`` becomes ``"..."``)."""
    out: list[str] = []
    in_string = False
    i = 0
    while i < len(template):
        char = template[i]
        match = _PLACEHOLDER.match(template, i) if char == "<" else None
        if match and match.group(1) in values:
            value = values[match.group(1)]
            if in_string:
                out.append(json.dumps(value)[1:-1] if isinstance(value, str) else json.dumps(value).replace('"', '\\"'))
            else:
                out.append(json.dumps(value))
            i = match.end()
            continue
        if char == "\\" and in_string:
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        i += 1
    return "".join(out)


def json_path(document: Any, path: str) -> Any:
    """The JSONPath subset EventBridge accepts in InputPath / InputPathsMap: ``$.a.b[0]``.
    A path that does not exist yields None, as EventBridge leaves it empty."""
    if not path.startswith("$"):
        raise ValueError(f"not a JSONPath: {path!r}")
    current = document
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path[1:]):
        try:
            current = current[int(index)] if index else current[name]
        except (KeyError, IndexError, TypeError):
            return None
    return current


def scheduler_input(
    trigger: DeployedTrigger, target: Target, scheduled_for: datetime, execution_id: str, attempt: int = 1
) -> str:
    """A Scheduler target's Input with its context attributes filled in, as plain text."""
    text = target.input if target.input is not None else "{}"
    attributes = {
        "<aws.scheduler.schedule-arn>": trigger.arn,
        "<aws.scheduler.scheduled-time>": iso(scheduled_for),
        "<aws.scheduler.execution-id>": execution_id,
        "<aws.scheduler.attempt-number>": str(attempt),
    }
    for placeholder, value in attributes.items():
        text = text.replace(placeholder, value)
    return text
