"""Deploys paced to AWS's documented API rates: a token bucket per operation family, taken before
every call ``AwsClient.call`` sends (every attempt, reads too where AWS's rate covers them), shared
by the executor's worker threads. Retries after throttling stay as the backstop; pacing is what
keeps a 10,000-job deploy from being throttled in the first place.

A *family* is the set of operations that share one AWS rate quota: all of Lambda's control plane
(but GetFunction and GetPolicy, which have their own), or a single API (CloudWatch Logs'
PutRetentionPolicy). Its bucket holds ``burst`` tokens — one second of its rate, at least one:
AWS describes its throttles as token buckets refilled every second (IAM: the second source
below) — and refills at ``rate`` tokens a second. Calls that AWS meters by capacity or
concurrency rather than by request rate are not paced: Lambda Invoke, DynamoDB's data plane
(GetItem, PutItem, Query, transactions ...), SQS messages, SNS Publish, KMS cryptography, STS.

Family (its operations)                                       rate/s  burst  source
Lambda control plane: every call but Invoke, GetFunction, GetPolicy  15     15  [lambda]
Lambda GetFunction                                              100    100  [lambda]
Lambda GetPolicy                                                 15     15  [lambda]
Logs CreateLogGroup, DeleteLogGroup, DescribeLogGroups (each)    10     10  [logs]
Logs Put-/DeleteRetentionPolicy, Tag-/UntagResource,
  ListTagsForResource, Tag-/UntagLogGroup, ListTagsLogGroup (each) 5     5  [logs]
Logs, any other call (one bucket)                                 5      5  [logs]
EventBridge: every call but PutEvents (one bucket)               50     50  [events]
Scheduler Create-/Update-/Delete-/GetSchedule (each)            250    250  [scheduler] (1)
Scheduler ListSchedules                                          50     50  [scheduler]
Scheduler schedule-group calls, ListTagsForResource (each)       10     10  [scheduler]
Scheduler, any other call (one bucket)                           10     10  [scheduler]
IAM reads (Get*, List*, Describe*; one bucket)                   20     20  none published (2)
IAM writes (one bucket)                                          10     10  none published (2)
SQS TagQueue, UntagQueue, ListQueueTags (one bucket)              5      5  [sqs-tags] (3)
SQS control plane: CreateQueue, Get-/SetQueueAttributes ...      10     10  none published (3)
DynamoDB TagResource, UntagResource (each)                        5      5  [ddb-tag]
DynamoDB ListTagsOfResource                                      10     10  [ddb-list-tags]
DynamoDB control plane: DescribeTable, UpdateTimeToLive ...      10     10  none published (4)
SNS control plane: CreateTopic, SetTopicAttributes ...           10     10  none found (3)
KMS CreateKey, Create-/Update-/DeleteAlias, PutKeyPolicy,
  EnableKeyRotation, Tag-/UntagResource, ScheduleKeyDeletion ... (each) 5  5  [kms]
KMS DescribeKey, ListResourceTags, ListAliases (each)           100    100  [kms]
KMS GetKeyPolicy, GetKeyRotationStatus (each)                    30     30  [kms]
CloudWatch PutMetricAlarm, DeleteAlarms (each)                    3      3  [cloudwatch]
CloudWatch DescribeAlarms                                         9      9  [cloudwatch]
CloudWatch ListTagsForResource                                   10     10  [cloudwatch]
CloudWatch TagResource, UntagResource (each)                     20     20  [cloudwatch]
Resource Groups Tagging API, any other service (a bucket each)    5      5  none found (3)

[lambda]        https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
[logs]          https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html
[events]        https://docs.aws.amazon.com/eventbridge/latest/userguide/cloudwatch-limits-eventbridge.html
[scheduler]     https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html
[iam]           https://aws.amazon.com/blogs/security/how-to-monitor-and-query-iam-resources-at-scale-part-2/
[sqs-tags]      https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_TagQueue.html
[ddb-tag]       https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TagResource.html
[ddb-list-tags] https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListTagsOfResource.html
[kms]           https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html
[cloudwatch]    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html

(1) 250 is the default in most Regions; the eleven largest allow 1,000 (CreateSchedule 5,000). We
    pace at the lowest, which no Region throttles.
(2) IAM throttles each API with its own token bucket but publishes no numbers [iam], and its rates
    cannot be raised: 10 writes and 20 reads a second is our conservative choice.
(3) AWS documents no number for these (or we could not read one): a conservative choice of ours.
    SQS tagging's 5/s is from TagQueue's reference (the current page no longer states a number).
(4) DynamoDB limits its control plane by concurrency (500 table operations in flight, answered
    with a LimitExceededException that ``failures`` retries), not by a published rate.

Clock and sleep are injectable, so tests pace with a fake clock and never sleep.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cronplane.errors import AwsError

PACING_ENV = "CRONPLANE_PACING"  # unset: pace real AWS only; "aws": pace everywhere; "off": never

_LAMBDA = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
_LOGS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/cloudwatch_limits_cwl.html"
_EVENTS = "https://docs.aws.amazon.com/eventbridge/latest/userguide/cloudwatch-limits-eventbridge.html"
_SCHEDULER = "https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html"
_IAM = "https://aws.amazon.com/blogs/security/how-to-monitor-and-query-iam-resources-at-scale-part-2/"
_SQS_TAGS = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_TagQueue.html"
_DDB_TAG = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TagResource.html"
_DDB_LIST_TAGS = "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_ListTagsOfResource.html"
_KMS = "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html"
_CLOUDWATCH = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html"
_OURS = "no published rate: cronplane's conservative choice"

DEFAULT_RATE = 5.0  # any service or operation nothing above speaks for


@dataclass(frozen=True)
class Family:
    """The operations that share one AWS rate quota, and so one token bucket."""

    name: str
    rate: float  # tokens a second
    source: str  # where AWS documents the rate

    @property
    def burst(self) -> int:
        """The bucket's size: one second of the rate, at least one token."""
        return max(1, math.ceil(self.rate))


_Rates = dict[tuple[str, str], Family]


def _camel(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def _each(service: str, rate: float, source: str, *operations: str) -> _Rates:
    """Operations with a quota each (CloudWatch Logs, KMS, Scheduler ...): a bucket each."""
    return {(service, op): Family(f"{service} {_camel(op)}", rate, source) for op in operations}


def _shared(service: str, name: str, rate: float, source: str, *operations: str) -> _Rates:
    family = Family(name, rate, source)
    return {(service, op): family for op in operations}


_LOGS_5 = (
    *("put_retention_policy", "delete_retention_policy", "tag_resource", "untag_resource"),
    *("list_tags_for_resource", "tag_log_group", "untag_log_group", "list_tags_log_group"),
)
_KMS_5 = (
    *("create_key", "create_alias", "update_alias", "delete_alias", "enable_key_rotation", "put_key_policy"),
    *("schedule_key_deletion", "cancel_key_deletion", "tag_resource", "untag_resource", "update_key_description"),
)
_SCHEDULE_GROUPS = ("create_schedule_group", "delete_schedule_group", "get_schedule_group", "list_schedule_groups")

READS = "*reads"
# (service, operation) -> its family; (service, READS) -> that of its other Get* / List* / Describe*
# operations; (service, "*") -> that of all its other operations.
AWS_RATES: _Rates = {
    **_shared("lambda", "lambda control plane", 15, _LAMBDA, "*"),
    **_each("lambda", 100, _LAMBDA, "get_function"),
    **_each("lambda", 15, _LAMBDA, "get_policy"),
    **_each("logs", 10, _LOGS, "create_log_group", "delete_log_group", "describe_log_groups"),
    **_each("logs", 5, _LOGS, *_LOGS_5),
    **_shared("logs", "logs other", 5, _LOGS, "*"),
    **_shared("events", "events API", 50, _EVENTS, "*"),
    **_each("scheduler", 250, _SCHEDULER, "create_schedule", "update_schedule", "delete_schedule", "get_schedule"),
    **_each("scheduler", 50, _SCHEDULER, "list_schedules"),
    **_each("scheduler", 10, _SCHEDULER, *_SCHEDULE_GROUPS, "list_tags_for_resource"),
    **_shared("scheduler", "scheduler other", 10, _SCHEDULER, "*"),
    **_shared("iam", "iam reads", 20, _IAM, READS),
    **_shared("iam", "iam writes", 10, _IAM, "*"),
    **_shared("sqs", "sqs tagging", 5, _SQS_TAGS, "tag_queue", "untag_queue", "list_queue_tags"),
    **_shared("sqs", "sqs control plane", 10, _OURS, "*"),
    **_each("dynamodb", 5, _DDB_TAG, "tag_resource", "untag_resource"),
    **_each("dynamodb", 10, _DDB_LIST_TAGS, "list_tags_of_resource"),
    **_shared("dynamodb", "dynamodb control plane", 10, _OURS, "*"),
    **_shared("sns", "sns control plane", 10, _OURS, "*"),
    **_each("kms", 5, _KMS, *_KMS_5),
    **_each("kms", 100, _KMS, "describe_key", "list_resource_tags", "list_aliases"),
    **_each("kms", 30, _KMS, "get_key_policy", "get_key_rotation_status"),
    **_shared("kms", "kms other", 5, _KMS, "*"),
    **_each("cloudwatch", 3, _CLOUDWATCH, "put_metric_alarm", "delete_alarms"),
    **_each("cloudwatch", 9, _CLOUDWATCH, "describe_alarms"),
    **_each("cloudwatch", 10, _CLOUDWATCH, "list_tags_for_resource"),
    **_each("cloudwatch", 20, _CLOUDWATCH, "tag_resource", "untag_resource"),
    **_shared("cloudwatch", "cloudwatch other", 3, _CLOUDWATCH, "*"),
}
# Metered by capacity or concurrency, not by a request rate: never paced.
UNPACED = frozenset(
    {
        ("lambda", "invoke"),
        ("sns", "publish"),
        ("sns", "publish_batch"),
        *(("dynamodb", op) for op in ("get_item", "put_item", "update_item", "delete_item", "query", "scan")),
        *(("dynamodb", op) for op in ("batch_get_item", "batch_write_item", "transact_get_items")),
        ("dynamodb", "transact_write_items"),
        *(("sqs", op) for op in ("send_message", "send_message_batch", "receive_message", "delete_message")),
        *(("sqs", op) for op in ("delete_message_batch", "change_message_visibility")),
        ("sqs", "change_message_visibility_batch"),
        *(("kms", op) for op in ("encrypt", "decrypt", "generate_data_key", "re_encrypt")),
    }
)
UNPACED_SERVICES = frozenset({"sts"})


def family_of(service: str, operation: str, rates: Mapping[tuple[str, str], Family] = AWS_RATES) -> Family | None:
    """The family whose bucket a call takes its token from; None for calls that are not paced."""
    if (service, operation) in UNPACED or service in UNPACED_SERVICES:
        return None
    found = rates.get((service, operation))
    if found is None and operation.startswith(("get_", "list_", "describe_")):
        found = rates.get((service, READS))
    found = found or rates.get((service, "*"))
    return found or Family(f"{service} (default)", DEFAULT_RATE, _OURS)


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` held. A taker that finds none still takes one
    (the balance goes below zero) and is told how long to wait for it: waits are handed out in
    order, so threads sharing the bucket never wake together and overshoot."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it (0.0: go now)."""
        with self._lock:
            now = max(self._clock(), self._updated)
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class Pacer:
    """One bucket per family, made on first use; ``acquire`` before every call. ``waited`` says
    how long calls waited, per family (a benchmark prints it)."""

    def __init__(
        self,
        rates: Mapping[tuple[str, str], Family] = AWS_RATES,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        enabled: bool = True,
    ) -> None:
        self.rates = rates
        self.enabled = enabled
        self._clock = clock
        self._sleep = sleep or _sleep
        self._buckets: dict[str, TokenBucket] = {}
        self._waited: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def off(cls) -> Pacer:
        return cls(enabled=False)

    def acquire(self, service: str, operation: str) -> float:
        """Wait until the call's family has a token; the seconds waited."""
        if not self.enabled:
            return 0.0
        family = family_of(service, operation, self.rates)
        if family is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(family.name)
            if bucket is None:
                bucket = self._buckets[family.name] = TokenBucket(family.rate, family.burst, self._clock)
        wait = bucket.reserve()
        if wait > 0:
            with self._lock:
                self._waited[family.name] = self._waited.get(family.name, 0.0) + wait
            self._sleep(wait)
        return wait

    @property
    def waited(self) -> dict[str, float]:
        """Seconds spent waiting so far, by family name (families that never waited are absent)."""
        with self._lock:
            return dict(self._waited)

    @property
    def total_waited(self) -> float:
        return sum(self.waited.values())


def pacing_wanted(endpoint_url: str | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Pace at AWS's rates when talking to real AWS (no endpoint URL); through an endpoint (`jobctl
    dev`, moto) only when ``CRONPLANE_PACING=aws`` asks for it; ``CRONPLANE_PACING=off``: never."""
    value = environ.get(PACING_ENV, "").strip().lower()
    if value in ("", "auto"):
        return not endpoint_url
    if value in ("aws", "off"):
        return value == "aws"
    raise AwsError(
        f"{PACING_ENV}={value!r} is not a pacing mode: use `aws` (pace every deploy at AWS's documented "
        "rates) or `off` (no pacing), or leave it unset (pace real AWS only)"
    )


def default_pacer(endpoint_url: str | None, environ: Mapping[str, str] = os.environ) -> Pacer:
    return Pacer(enabled=pacing_wanted(endpoint_url, environ))


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can stand in for time.sleep
