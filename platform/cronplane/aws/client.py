"""The one door to AWS for deploy-side code: inventory, executor, lock and the ops commands
call ``AwsClient.call(service, operation, **params)`` and never touch raw boto3.

What it owns, so no caller has to:

- counting: every call is recorded as a read or a write (the no-change deploy must make zero
  writes, and the benchmark reports the split);
- retries with backoff and an injectable ``sleep`` for throttling and for IAM's propagation
  delay ("The role defined for the function cannot be assumed by Lambda" right after
  ``create_role``);
- errors: botocore failures become ``AwsError`` with one clear message; a failed call keeps its
  AWS error code in ``AwsCallError.code`` so callers can branch on "already exists" or "not
  found" without importing botocore;
- a ``before_write`` hook, which tests use to kill a deploy after its k-th write.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError

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
        "LimitExceededException",
    }
)
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
READ_PREFIXES = ("list_", "get_", "describe_", "query", "scan", "batch_get")

# IAM is eventually consistent: a role is usable by Lambda a few seconds after create_role.
PROPAGATION_MARKERS = ("cannot be assumed by Lambda", "role defined for the function cannot be assumed")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    write: bool


class AwsCallError(AwsError):
    """An AWS call that failed with an error code the caller may handle."""

    def __init__(self, service: str, operation: str, code: str, detail: str) -> None:
        super().__init__(f"AWS {service} {operation} failed: {code}: {detail}")
        self.service = service
        self.operation = operation
        self.code = code
        self.detail = detail


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class AwsClient:
    def __init__(
        self,
        config: AwsConfig,
        *,
        sleep: Callable[[float], None] | None = None,
        max_attempts: int = 6,
        before_write: Callable[[Call], None] | None = None,
        session: Any = None,
    ) -> None:
        self.config = config
        self.sleep = sleep or _sleep
        self.max_attempts = max_attempts
        self.before_write = before_write
        self._session = session
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._account_id: str | None = None

    # -- counting -------------------------------------------------------------------------
    @property
    def reads(self) -> int:
        return sum(1 for c in self.calls if not c.write)

    @property
    def writes(self) -> int:
        return sum(1 for c in self.calls if c.write)

    def write_calls(self) -> list[str]:
        return [f"{c.service}.{c.operation}" for c in self.calls if c.write]

    def reset_counts(self) -> None:
        with self._lock:
            self.calls = []

    # -- raw calls --------------------------------------------------------------------------
    @property
    def region(self) -> str:
        return self._client("sts").meta.region_name  # type: ignore[no-any-return]

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                if self._session is None:
                    self._session = _shared_session(self.config)
                with _SESSIONS_LOCK:  # creating clients from one session is not thread-safe
                    self._clients[service] = _boto_client(self.config, service, self._session)
            return self._clients[service]

    def call(self, service: str, operation: str, **params: Any) -> dict[str, Any]:
        """One AWS API call, counted, retried when throttled, errors made readable."""
        from botocore.exceptions import (
            ClientError,
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            NoCredentialsError,
            NoRegionError,
            PartialCredentialsError,
            ReadTimeoutError,
        )
        from botocore.parsers import ResponseParserError

        client = self._client(service)
        write = is_write(operation)
        call = Call(service, operation, write)
        if write and self.before_write is not None:
            self.before_write(call)
        method = getattr(client, operation)
        for attempt in range(1, self.max_attempts + 1):
            with self._lock:
                self.calls.append(call)
            try:
                return method(**params)  # type: ignore[no-any-return]
            except ClientError as exc:
                err = exc.response.get("Error", {})
                code = str(err.get("Code", "Unknown"))
                detail = str(err.get("Message", "")) or str(exc)
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                code, detail = _readable(code, detail, status)
                if status == 429 and code not in THROTTLING_CODES:
                    code = "TooManyRequestsException"
                if attempt < self.max_attempts and (_retryable(code, detail) or status >= 500):
                    self.sleep(_backoff(attempt))
                    continue
                raise _translate(service, operation, code, detail) from exc
            except (NoCredentialsError, PartialCredentialsError) as exc:
                raise AwsError(
                    "No AWS credentials found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                    "pass --profile, or use --endpoint-url for a local emulator."
                ) from exc
            except NoRegionError as exc:
                raise AwsError("No AWS region: pass --region, set AWS_REGION, or set region: in jobs.yaml.") from exc
            except (EndpointConnectionError, ConnectTimeoutError) as exc:
                raise AwsError(_unreachable(self.config, service, client, exc)) from exc
            except (ResponseParserError, ConnectionClosedError, ReadTimeoutError) as exc:
                # A 5xx page or a dropped connection: transient. A retried create that did
                # succeed answers "already exists", which the appliers adopt.
                if attempt < self.max_attempts:
                    self.sleep(_backoff(attempt))
                    continue
                raise AwsError(f"AWS {service} {operation} failed: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    def paginate(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        """All items of a paginated list call, one counted call per page."""
        client = self._client(service)
        if not client.can_paginate(operation):
            return list(self.call(service, operation, **params).get(key, []))
        token_in, token_out = _tokens(client, operation)
        items: list[Any] = []
        while True:
            page = self.call(service, operation, **params)
            items.extend(page.get(key, []))
            token = page.get(token_out)
            if not token:
                return items
            params[token_in] = token

    # -- identity ---------------------------------------------------------------------------
    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = str(self.call("sts", "get_caller_identity")["Account"])
        return self._account_id


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can stand in for time.sleep


def _boto_client(config: AwsConfig, service: str, session: Any) -> Any:
    """A boto3 client with botocore's own retries off: this client retries (throttling,
    5xx, IAM propagation) itself, so every attempt is counted, waits go through the injectable
    ``sleep``, and an unreachable endpoint fails in seconds instead of after 8 silent tries."""
    from botocore.config import Config

    cfg = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=32,
        connect_timeout=10,
        read_timeout=60,
    )
    return session.client(service, endpoint_url=config.endpoint_url, config=cfg)


def _unreachable(config: AwsConfig, service: str, client: Any, exc: Exception) -> str:
    """Why an endpoint cannot be reached, in the user's terms: the emulator is not running,
    or the region is misspelt (AWS has no such endpoint), or the network is down."""
    url = getattr(client.meta, "endpoint_url", "") or ""
    region = getattr(client.meta, "region_name", "") or ""
    if config.endpoint_url:
        return (
            f"Cannot reach {service} at {url}: nothing answers there. Is the emulator (`jobctl dev`) "
            "running? Check --endpoint-url / AWS_ENDPOINT_URL."
        )
    hint = "Check your network connection."
    if region and region not in _known_regions():
        hint = (
            f"'{region}' is not a known AWS region — check --region, AWS_REGION / AWS_DEFAULT_REGION, "
            "the profile's region and region: in jobs.yaml."
        )
    return f"Cannot reach AWS {service} at {url} (region {region}). {hint}"


def _known_regions() -> set[str]:
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("sts", partition))
        regions.update(session.get_available_regions("lambda", partition))
    return regions


_SESSIONS: dict[tuple[AwsConfig, str, str], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def _shared_session(config: AwsConfig) -> Any:
    """One boto3 session per AWS settings in a process: a session caches the service models,
    which makes every client after the first ~5x cheaper to create (deploy, then plan, then
    the dev loop's redeploys all reuse it)."""
    import os

    key = (config, os.environ.get("AWS_ACCESS_KEY_ID", ""), os.environ.get("AWS_PROFILE", ""))
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            try:
                _SESSIONS[key] = config.session()
            except Exception as exc:  # botocore ProfileNotFound and friends
                raise AwsError(f"AWS settings: {exc}") from exc
        return _SESSIONS[key]


def _tokens(client: Any, operation: str) -> tuple[str, str]:
    """Input and output token names of a paginated operation, from botocore's paginator model."""
    paginator = client.get_paginator(operation)
    cfg = paginator._pagination_cfg
    token_in = cfg["input_token"]
    token_out = cfg["output_token"]
    if isinstance(token_in, list):
        token_in, token_out = token_in[0], token_out[0]
    return str(token_in), str(token_out)


def _camel(operation: str) -> str:
    return "".join(part.capitalize() for part in operation.split("_"))


def _retryable(code: str, detail: str) -> bool:
    if code in THROTTLING_CODES or code in SERVER_ERROR_CODES:
        return True
    if code == "ResourceConflictException" and any(m in detail for m in BUSY_MARKERS):
        return True  # a Lambda update still in progress; "already exists" is not retried
    return code == "InvalidParameterValueException" and any(m in detail for m in PROPAGATION_MARKERS)


def _backoff(attempt: int) -> float:
    """Full jitter: random(0, min(20, 0.5 * 2**attempt)) seconds."""
    return random.uniform(0, min(20.0, 0.5 * 2**attempt))


def _readable(code: str, detail: str, status: int) -> tuple[str, str]:
    """An error botocore could not parse (a proxy's or an emulator's page in another
    protocol) arrives as code "403" and the raw body: dig out the code and message, and keep
    the message on one line."""
    import re

    if code.isdigit():
        found_code = re.search(r"<Code>([^<]+)</Code>", detail)
        found_message = re.search(r"<Message>([^<]*)</Message>", detail)
        if found_code:
            code = found_code.group(1)
            detail = found_message.group(1) if found_message else detail
        elif status == 403:
            code = "AccessDenied"
    return code, " ".join(detail.split())


def _translate(service: str, operation: str, code: str, detail: str) -> AwsError:
    return AwsCallError(service, operation, code, _hinted(code, detail, f"{service}:{_camel(operation)}"))


def _hinted(code: str, detail: str, permission: str) -> str:
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


def explain(exc: BaseException) -> str | None:
    """The same one-line message ``AwsClient.call`` gives, for a botocore failure raised by a
    command that uses boto3 directly (history, run-now, the ops commands); None when ``exc``
    is not an AWS failure. ``cli/main.py`` calls it, so every command words AWS errors alike."""
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        code, detail = _readable(str(err.get("Code", "Unknown")), str(err.get("Message", "")) or str(exc), status)
        # boto3's error does not say which service; the operation is enough to act on.
        return f"AWS {exc.operation_name} failed: {code}: {_hinted(code, detail, exc.operation_name)}"
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return (
            "No AWS credentials found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
            "pass --profile, or use --endpoint-url for a local emulator."
        )
    if isinstance(exc, NoRegionError):
        return "No AWS region: pass --region, set AWS_REGION, or set region: in jobs.yaml."
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
        from urllib.parse import urlsplit

        parts = urlsplit(str(getattr(exc, "kwargs", {}).get("endpoint_url", "")))
        url = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "the endpoint"
        return (
            f"Cannot reach {url}: nothing answers there. Is the emulator (`jobctl dev`) running? "
            "Check --endpoint-url / AWS_ENDPOINT_URL, --region and your network."
        )
    return None
