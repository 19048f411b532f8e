"""What a failed AWS call means, in one place: the error codes callers branch on (not found,
throttled, access denied ...), which failures are worth another try, and the one-line message a
user reads. A quota error (a count that is full: rules on a bus, roles in the account, code
storage) is never retried as throttling; its message names the quota and the way out.
``AwsClient.call`` is the only caller of the translation; everything else catches
``AwsCallError`` and looks at its ``code``.

No boto3 or botocore here: this module is plain data and strings.
"""

from __future__ import annotations

import re

from cronplane.aws import quota_facts as facts
from cronplane.errors import AwsError

# "There is no such thing": every service's word for it. Callers test ``exc.not_found``.
NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "NotFound",  # SNS: a topic or subscription
        "ResourceNotFound",  # SNS tags, CloudWatch alarms
    }
)
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "SlowDown",
    }
)
# "Something is full", in each service's words. Not retried: waiting does not empty it.
QUOTA_CODES = frozenset(
    {
        "LimitExceededException",  # EventBridge rules per bus, KMS keys, CloudWatch Logs log groups ...
        "LimitExceeded",  # IAM: roles, policies, policy size; CloudWatch: alarms
        "ServiceQuotaExceededException",  # EventBridge Scheduler: schedules, schedule groups
        "CodeStorageExceededException",  # Lambda: function and layer storage
        "ResourceLimitExceeded",
        "TopicLimitExceeded",  # SNS
        "SubscriptionLimitExceeded",
    }
)
# The same words for a refusal that passes, per service (from each one's API reference):
# DynamoDB answers LimitExceededException when over 500 table operations are in flight at once.
# Lambda's TooManyRequestsException is its throttling (429) and stays in THROTTLING_CODES.
TRANSIENT_LIMITS = frozenset({("dynamodb", "LimitExceededException")})
# A quota code whose message speaks of a request rate is throttling after all (Scheduler files
# "throttling errors on CreateSchedule request rate" under ServiceQuotaExceededException).
RATE_WORDS = ("rate exceeded", "request rate", "throttl", "too many requests", "per second")
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "UnauthorizedException"}
)
BAD_CREDENTIALS_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AuthFailure",
        "IncompleteSignature",
    }
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
SERVER_ERROR_CODES = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceException",
        "InternalServiceError",
        "RequestTimeout",
        "RequestTimeoutException",
        "PriorRequestNotComplete",
        # DynamoDB turns PITR on a little after the table is ACTIVE
        "ContinuousBackupsUnavailableException",
    }
)
BUSY_MARKERS = ("update is in progress", "operation cannot be performed at this time")
# IAM is eventually consistent: a role is usable by Lambda a few seconds after create_role.
PROPAGATION_MARKERS = ("cannot be assumed by Lambda", "role defined for the function cannot be assumed")

# IAM action names that are not simply the service prefix and the API operation in CamelCase.
_IAM_PREFIX = {"resourcegroupstaggingapi": "tag"}
_IAM_ACTION = {
    ("lambda", "invoke"): "InvokeFunction",
    # SQS authorizes a batch by the single-message action.
    ("sqs", "change_message_visibility_batch"): "ChangeMessageVisibility",
    ("sqs", "delete_message_batch"): "DeleteMessage",
    ("sqs", "send_message_batch"): "SendMessage",
    # A transaction is authorized item by item, by the action each item performs.
    (
        "dynamodb",
        "transact_write_items",
    ): "PutItem / dynamodb:UpdateItem / dynamodb:DeleteItem / dynamodb:ConditionCheckItem",
    ("dynamodb", "transact_get_items"): "GetItem",
}
# "... is not authorized to perform: iam:PassRole on resource: ...": AWS names the action it
# refused, which is not always the one the call is named after (CreateFunction needs PassRole).
_DENIED_ACTION = re.compile(r"perform: ([a-z0-9-]+:[A-Za-z0-9]+)")

NO_CREDENTIALS = (
    "No AWS credentials found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
    "pass --profile, or use --endpoint-url for a local emulator."
)
NO_REGION = "No AWS region: pass --region, set AWS_REGION, or set region: in jobs.yaml."


class AwsCallError(AwsError):
    """An AWS call that failed with an error code the caller may handle (``code``); its
    message is the one line a user reads. ``quota_exceeded``: AWS refused because a quota is
    full (the message names it and the way out); another try cannot succeed."""

    def __init__(self, service: str, operation: str, code: str, detail: str, *, quota_exceeded: bool = False) -> None:
        super().__init__(f"AWS {service} {operation} failed: {code}: {detail}")
        self.service = service
        self.operation = operation
        self.code = code
        self.detail = detail
        self.quota_exceeded = quota_exceeded

    @property
    def not_found(self) -> bool:
        return self.code in NOT_FOUND_CODES


def iam_action(service: str, operation: str) -> str:
    """The IAM permission an API call needs, e.g. ``dynamodb:Query``, ``lambda:InvokeFunction``."""
    name = _IAM_ACTION.get((service, operation)) or "".join(part.capitalize() for part in operation.split("_"))
    return f"{_IAM_PREFIX.get(service, service)}:{name}"


def retryable(code: str, detail: str, service: str = "") -> bool:
    if code in THROTTLING_CODES or code in SERVER_ERROR_CODES:
        return True
    if code in QUOTA_CODES:
        return not quota_exceeded(service, code, detail)  # a transient twin, or a rate after all
    if code == "ResourceConflictException" and any(m in detail for m in BUSY_MARKERS):
        return True  # a Lambda update still in progress; "already exists" is not retried
    return code == "InvalidParameterValueException" and any(m in detail for m in PROPAGATION_MARKERS)


def readable(code: str, detail: str, status: int) -> tuple[str, str]:
    """An error botocore could not parse (a proxy's or an emulator's page in another
    protocol) arrives as code "403" and the raw body: dig out the code and message, and keep
    the message on one line."""
    if code.isdigit():
        found_code = re.search(r"<Code>([^<]+)</Code>", detail)
        found_message = re.search(r"<Message>([^<]*)</Message>", detail)
        if found_code:
            code = found_code.group(1)
            detail = found_message.group(1) if found_message else detail
        elif status == 403:
            code = "AccessDenied"
    if status == 429 and code not in THROTTLING_CODES:
        code = "TooManyRequestsException"
    return code, " ".join(detail.split())


def quota_exceeded(service: str, code: str, detail: str) -> bool:
    """Whether the error says a quota is full (and so another try cannot help)."""
    if code not in QUOTA_CODES or (service, code) in TRANSIENT_LIMITS:
        return False
    return not any(word in detail.lower() for word in RATE_WORDS)


def translate(service: str, operation: str, code: str, detail: str) -> AwsCallError:
    if quota_exceeded(service, code, detail):
        return AwsCallError(service, operation, code, quota_message(service, operation, detail), quota_exceeded=True)
    if code in QUOTA_CODES:  # retried as throttling, and still refused
        return AwsCallError(service, operation, code, f"{detail} — still throttled after retries; try again later.")
    return AwsCallError(service, operation, code, hinted(code, detail, denied_action(service, operation, detail)))


# Which quota a refusal is about, by the call that met it ((service, "*"): any other call), and
# the way out. The numbers and Service Quotas codes are in ``quota_facts``.
_QUOTA_FACTS = (
    ("events", "put_rule", facts.RULES_PER_BUS),
    ("iam", "create_role", facts.IAM_ROLES),
    ("iam", "put_role_policy", facts.ROLE_POLICY_SIZE),
    ("scheduler", "create_schedule", facts.SCHEDULES),
    ("scheduler", "create_schedule_group", facts.SCHEDULE_GROUPS),
    ("logs", "create_log_group", facts.LOG_GROUPS),
    ("lambda", "*", facts.CODE_STORAGE),
)
_QUOTA_OF: dict[tuple[str, str], tuple[str, str]] = {
    **{(service, op): (f"the {fact.title} quota", fact.fix) for service, op, fact in _QUOTA_FACTS},
    ("events", "put_targets"): (
        "the EventBridge targets per rule quota",
        "a rule holds at most 5 targets (not adjustable); remove those added to it outside cronplane",
    ),
    ("iam", "attach_role_policy"): (
        "the IAM managed policies per role quota",
        "attach fewer managed policies, or request an increase of Service Quotas code L-0DA4ABF3",
    ),
    ("iam", "*"): ("an IAM quota", "IAM's message names it; `role_mode: per_team` makes fewer roles and policies"),
}


def quota_message(service: str, operation: str, detail: str) -> str:
    """AWS's words, then which quota and the way out: ``... — the EventBridge rules per event bus
    quota is full, and retrying cannot help: set `trigger_mode: scheduler` ...``."""
    quota, fix = (
        _QUOTA_OF.get((service, operation))
        or _QUOTA_OF.get((service, "*"))
        or (
            f"an AWS {service} quota",
            "AWS's message names it; delete what is unused, or request an increase in Service Quotas",
        )
    )
    return f"{detail} — {quota} is full, and retrying cannot help: {fix}."


def denied_action(service: str, operation: str, detail: str) -> str:
    """The permission to ask for: the one AWS says it refused, else the call's own action."""
    found = _DENIED_ACTION.search(detail)
    return found.group(1) if found else iam_action(service, operation)


def hinted(code: str, detail: str, permission: str) -> str:
    """``detail`` with what to do about it, for the error codes a user can act on."""
    if code in BAD_CREDENTIALS_CODES:
        return (
            f"{detail} — AWS does not accept these credentials. Check AWS_ACCESS_KEY_ID / "
            "AWS_SECRET_ACCESS_KEY or the --profile / AWS_PROFILE in use."
        )
    if code in EXPIRED_CODES:
        return f"{detail} — the AWS credentials have expired; refresh them (e.g. `aws sso login`)."
    if code in ACCESS_DENIED_CODES:
        return f"{detail} — access denied. The credentials in use need permission for {permission}."
    if code in THROTTLING_CODES:
        return f"{detail} — still throttled after retries; try again later."
    return detail


def unreachable(service: str, url: str, region: str, *, through_endpoint: bool, region_known: bool) -> str:
    """Why an endpoint cannot be reached, in the user's terms: the emulator is not running,
    or the region is misspelt (AWS has no such endpoint), or the network is down."""
    if through_endpoint:
        return (
            f"Cannot reach {service} at {url}: nothing answers there. Is the emulator (`jobctl dev`) "
            "running? Check --endpoint-url / AWS_ENDPOINT_URL."
        )
    hint = "Check your network connection."
    if not region_known:
        hint = (
            f"'{region}' is not a known AWS region — check --region, AWS_REGION / AWS_DEFAULT_REGION, "
            "the profile's region and region: in jobs.yaml."
        )
    return f"Cannot reach AWS {service} at {url} (region {region}). {hint}"
