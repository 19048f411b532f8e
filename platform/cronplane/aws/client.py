"""The one door to AWS for everything but the Lambda runtime: deploy (inventory, executor,
lock), the ops commands, run-now, history and the demo get their clients here, and every call
goes through ``AwsClient.call(service, operation, **params)``; callers that read better as
``aws.dynamodb.query(TableName=...)`` use the typed service accessors, which go through
``call`` all the same.

What it owns, so no caller has to:

- building: one botocore session per AWS settings in a process (``AwsConfig.session``), and a
  client per service only when a command first uses that service (boto3 is not imported:
  its clients are botocore's, and its resources are not used);
- counting: every call is recorded as a read or a write (the no-change deploy must make zero
  writes, and the benchmarks report the split), and per operation (``operation_counts``);
- pacing: every attempt first takes a token from its operation family's bucket
  (``cronplane.aws.pacing``, AWS's documented rates), shared by all threads using the client.
  ``pacer`` None: pace when talking to real AWS (no ``endpoint_url``); through an endpoint
  (`jobctl dev`, moto) only if ``CRONPLANE_PACING=aws``; ``CRONPLANE_PACING=off``: never.
  ``pacer.waited`` is the time spent waiting, per family;
- retries with backoff and an injectable ``sleep`` for throttling, server errors and IAM's
  propagation delay ("The role defined for the function cannot be assumed by Lambda" right
  after ``create_role``); botocore's own retries are off, so every attempt is counted. A quota
  error (``AwsCallError.quota_exceeded``: rules on a bus, roles in the account) is not retried;
- errors: botocore failures become ``AwsError`` with one clear line (``cronplane.aws.failures``);
  a failed call keeps its AWS error code in ``AwsCallError.code`` so callers can branch on
  "already exists" or "not found" without importing botocore;
- a ``before_write`` hook, which tests use to kill a deploy after its k-th write.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from cronplane.aws.failures import NO_CREDENTIALS, NO_REGION, readable, retryable, translate, unreachable
from cronplane.aws.failures import NOT_FOUND_CODES as NOT_FOUND_CODES  # the one definition, handed on
from cronplane.aws.failures import AwsCallError as AwsCallError
from cronplane.aws.pacing import Pacer, default_pacer
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError

if TYPE_CHECKING:
    import botocore.session
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sts import STSClient

READ_PREFIXES = ("list_", "get_", "describe_", "query", "scan", "batch_get")
# A synchronous Invoke lasts as long as the job (Lambda's limit: 15 minutes); other calls
# answer in seconds, and a hung one should fail in a minute.
READ_TIMEOUT_S = 60
LAMBDA_READ_TIMEOUT_S = 15 * 60 + 30
# Sent, but the answer was lost: a second Invoke would start a second run of the job.
NOT_RESENT = frozenset({("lambda", "invoke")})


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    write: bool


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES)


class ServiceCalls:
    """``aws.dynamodb.query(...)`` is ``aws.call("dynamodb", "query", ...)``: an operation read
    as an attribute is a function that goes through the door (counted, retried, translated).
    ``meta`` is the botocore client's, for tests that hook botocore's events; ``exceptions``,
    paginators and waiters are not offered: catch ``AwsCallError`` and use ``AwsClient.paginate``."""

    def __init__(self, aws: AwsClient, service: str) -> None:
        self._aws = aws
        self._service = service

    def __getattr__(self, operation: str) -> Any:
        if operation.startswith("_"):
            raise AttributeError(operation)
        if operation == "meta":
            return self._aws.boto3_client(self._service).meta
        if operation in ("exceptions", "get_paginator", "get_waiter", "can_paginate"):
            raise AttributeError(
                f"{self._service}.{operation} bypasses cronplane's AWS door: catch AwsCallError and test its "
                ".code (or .not_found), and page with AwsClient.paginate"
            )
        aws, service = self._aws, self._service

        def through_the_door(**params: Any) -> dict[str, Any]:
            return aws.call(service, operation, **params)

        through_the_door.__name__ = operation
        setattr(self, operation, through_the_door)  # found directly the next time
        return through_the_door


class AwsClient:
    def __init__(
        self,
        config: AwsConfig,
        *,
        sleep: Callable[[float], None] | None = None,
        max_attempts: int = 6,
        before_write: Callable[[Call], None] | None = None,
        session: botocore.session.Session | None = None,
        connect_timeout: float = 10,
        read_timeout: float | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        """``read_timeout`` None: a minute, and a synchronous Invoke's whole length for Lambda.
        A quick probe (``run-now --local`` asking whether the history table answers) passes
        ``max_attempts=1`` and short timeouts. ``pacer`` None: see the module's docstring."""
        self.config = config
        self.pacer = pacer if pacer is not None else default_pacer(config.endpoint_url)
        self.sleep = sleep or _sleep
        self.max_attempts = max_attempts
        self.before_write = before_write
        self._session = session
        self._timeouts = (connect_timeout, read_timeout)
        self._clients: dict[str, Any] = {}
        self._services: dict[str, ServiceCalls] = {}
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self._identity: dict[str, Any] | None = None

    # -- counting -------------------------------------------------------------------------
    @property
    def reads(self) -> int:
        return sum(1 for c in self.calls if not c.write)

    @property
    def writes(self) -> int:
        return sum(1 for c in self.calls if c.write)

    def write_calls(self) -> list[str]:
        return [f"{c.service}.{c.operation}" for c in self.calls if c.write]

    def operation_counts(self) -> dict[str, int]:
        """Calls so far by ``"service.Operation"`` (``"dynamodb.Query": 2``), every attempt counted."""
        return dict(Counter(f"{c.service}.{_camel(c.operation)}" for c in self.calls))

    def count(self, service: str) -> int:
        """Calls made to one service so far (e.g. ``"dynamodb"``)."""
        return sum(1 for c in self.calls if c.service == service)

    def reset_counts(self) -> None:
        with self._lock:
            self.calls = []

    # -- services, typed as the boto3 clients they stand for --------------------------------
    def service(self, name: str) -> ServiceCalls:
        with self._lock:
            if name not in self._services:
                self._services[name] = ServiceCalls(self, name)
            return self._services[name]

    @property
    def dynamodb(self) -> DynamoDBClient:
        return cast("DynamoDBClient", self.service("dynamodb"))

    @property
    def lambda_(self) -> LambdaClient:
        return cast("LambdaClient", self.service("lambda"))

    @property
    def sqs(self) -> SQSClient:
        return cast("SQSClient", self.service("sqs"))

    @property
    def events(self) -> EventBridgeClient:
        return cast("EventBridgeClient", self.service("events"))

    @property
    def scheduler(self) -> EventBridgeSchedulerClient:
        return cast("EventBridgeSchedulerClient", self.service("scheduler"))

    @property
    def sts(self) -> STSClient:
        return cast("STSClient", self.service("sts"))

    @property
    def iam(self) -> IAMClient:
        return cast("IAMClient", self.service("iam"))

    @property
    def logs(self) -> CloudWatchLogsClient:
        return cast("CloudWatchLogsClient", self.service("logs"))

    # -- raw calls --------------------------------------------------------------------------
    @property
    def region(self) -> str:
        region = self._shared_session().get_config_variable("region")
        if not region:
            raise AwsError(NO_REGION)
        return str(region)

    def _shared_session(self) -> botocore.session.Session:
        # Not under self._lock: boto3_client takes the module's lock first, then this one.
        if self._session is None:
            self._session = _shared_session(self.config)
        return self._session

    def boto3_client(self, service: str) -> Any:
        """The botocore client behind ``service``, built on first use. Only this module calls it
        (and tests that stub or hook botocore); everything else goes through ``call``."""
        with self._lock:
            client = self._clients.get(service)
        if client is not None:
            return client
        session = self._shared_session()
        # Creating clients from one session is not thread-safe; the module's lock comes first.
        with _SESSIONS_LOCK, self._lock:
            if service not in self._clients:
                self._clients[service] = _boto_client(self.config, service, session, self._timeouts)
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

        client = self.boto3_client(service)
        write = is_write(operation)
        call = Call(service, operation, write)
        if write and self.before_write is not None:
            self.before_write(call)
        method = getattr(client, operation)
        for attempt in range(1, self.max_attempts + 1):
            self.pacer.acquire(service, operation)  # every attempt is a request AWS meters
            with self._lock:
                self.calls.append(call)
            try:
                return method(**params)  # type: ignore[no-any-return]
            except ClientError as exc:
                err = exc.response.get("Error", {})
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                code, detail = readable(
                    str(err.get("Code", "Unknown")), str(err.get("Message", "")) or str(exc), status
                )
                if attempt < self.max_attempts and (retryable(code, detail, service) or status >= 500):
                    self.sleep(_backoff(attempt))
                    continue
                raise translate(service, operation, code, detail) from exc
            except (NoCredentialsError, PartialCredentialsError) as exc:
                raise AwsError(NO_CREDENTIALS) from exc
            except NoRegionError as exc:
                raise AwsError(NO_REGION) from exc
            except (EndpointConnectionError, ConnectTimeoutError) as exc:
                raise AwsError(self._unreachable(service, client)) from exc
            except (ResponseParserError, ConnectionClosedError, ReadTimeoutError) as exc:
                # A 5xx page or a dropped connection: transient. A retried create that did
                # succeed answers "already exists", which the appliers adopt.
                if attempt < self.max_attempts and (service, operation) not in NOT_RESENT:
                    self.sleep(_backoff(attempt))
                    continue
                raise AwsError(f"AWS {service} {operation} failed: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    def paginate(self, service: str, operation: str, key: str, **params: Any) -> list[Any]:
        """All items of a paginated list call, one counted call per page."""
        client = self.boto3_client(service)
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
    def _caller_identity(self) -> dict[str, Any]:
        if self._identity is None:
            self._identity = self.call("sts", "get_caller_identity")
        return self._identity

    def account_id(self) -> str:
        return str(self._caller_identity()["Account"])

    def caller_arn(self) -> str:
        """Who is acting (recorded on pause / resume / backfill / replay / manual runs); one
        STS call per client, shared with ``account_id``."""
        return str(self._caller_identity()["Arn"])

    def frozen_credentials(self) -> Any:
        """The session's credentials as plain values (a child process that must reach the same
        AWS gets them); None when there are none."""
        try:
            credentials = self._shared_session().get_credentials()
            return credentials.get_frozen_credentials() if credentials is not None else None
        except AwsError:
            raise
        except Exception as exc:  # botocore's credential providers: a broken profile, an expired SSO
            raise AwsError(f"AWS settings: {exc}") from exc

    def _unreachable(self, service: str, client: Any) -> str:
        url = getattr(client.meta, "endpoint_url", "") or ""
        region = getattr(client.meta, "region_name", "") or ""
        through_endpoint = bool(self.config.endpoint_url)
        known = through_endpoint or not region or region in _known_regions()
        return unreachable(service, url, region, through_endpoint=through_endpoint, region_known=known)


def _sleep(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can stand in for time.sleep


def _boto_client(
    config: AwsConfig, service: str, session: botocore.session.Session, timeouts: tuple[float, float | None]
) -> Any:
    """A botocore client with its own retries off: ``AwsClient`` retries (throttling,
    5xx, IAM propagation) itself, so every attempt is counted, waits go through the injectable
    ``sleep``, and an unreachable endpoint fails in seconds instead of after 8 silent tries."""
    from botocore.config import Config

    connect_timeout, read_timeout = timeouts
    if read_timeout is None:
        read_timeout = LAMBDA_READ_TIMEOUT_S if service == "lambda" else READ_TIMEOUT_S
    cfg = Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        max_pool_connections=32,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    return session.create_client(service, endpoint_url=config.endpoint_url, config=cfg)


def _known_regions() -> set[str]:
    import botocore.session

    session = botocore.session.get_session()
    regions: set[str] = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("sts", partition))
        regions.update(session.get_available_regions("lambda", partition))
    return regions


_SESSIONS: dict[tuple[AwsConfig, str, str], botocore.session.Session] = {}
_SESSIONS_LOCK = threading.Lock()


def _shared_session(config: AwsConfig) -> botocore.session.Session:
    """One botocore session per AWS settings in a process: a session caches the service models,
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


def _backoff(attempt: int) -> float:
    """Full jitter: random(0, min(20, 0.5 * 2**attempt)) seconds."""
    return random.uniform(0, min(20.0, 0.5 * 2**attempt))
