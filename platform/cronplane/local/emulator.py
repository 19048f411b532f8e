"""The embedded AWS emulator of ``jobctl dev``: moto in server mode on 127.0.0.1 with one
layer in front of it that answers Lambda ``Invoke`` itself.

moto stores functions but cannot run them without Docker, so ``LambdaInvokeMiddleware``
intercepts ``POST /2015-03-31/functions/{name}/invocations`` (exactly the request boto3 and the
AWS CLI send), looks the function up in moto's in-process Lambda backend (``functions.py``:
code zip, handler, environment, timeout, memory), unpacks the zip once per CodeSha256 and runs it through
``cronplane.local.runner.invoke_local`` in a child process. Every other request goes to moto
untouched, so DynamoDB history, SQS dead-letter queues, EventBridge rules and Scheduler
schedules all live in the same emulator.

In front of both sits ``auth.RequestGuard``: the port is open to every local user and every web
page, so only requests signed with this session's key (``Emulator.credentials``, generated at
start, handed to jobctl, the scheduler and the functions it runs), addressed to the loopback
port, without an ``Origin``, get to moto or the runner.

Flow: ``jobctl dev`` (devserver) ─▶ Emulator.start() ─▶ deploy into it ─▶ scheduler /
run-now / boto3 send signed Invoke ─▶ RequestGuard ─▶ this middleware ─▶ invoke_local ─▶
listeners (run lines).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from cronplane.aws.client import AwsClient
from cronplane.aws.session import AwsConfig, DevCredentials, register_emulator
from cronplane.errors import CronplaneError
from cronplane.local.auth import RequestGuard

# FunctionSpec is part of this module's listener API (LogListener, InvocationDone): re-exported.
from cronplane.local.functions import CodeCache, read_function
from cronplane.local.functions import FunctionSpec as FunctionSpec
from cronplane.local.functions import destination_record as destination_record
from cronplane.local.invoke_http import (
    ASYNC_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    InvocationType,
    InvokeError,
    LambdaInvokeMiddleware,
    header,
    log_result,
    read_body,
    request_region_account,
)
from cronplane.local.processes import kill_child_processes
from cronplane.local.server import listen

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from cronplane.local.runner import Invocation, InvocationResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvocationDone:
    """Handed to listeners when an invocation (one attempt) has finished."""

    function: FunctionSpec
    invocation_type: InvocationType
    request_id: str
    event: Any  # the JSON event the function was invoked with
    result: InvocationResult
    attempt: int = 1  # Lambda's own async retry counter (1 = first delivery)


LogListener = Callable[[FunctionSpec, str, str], None]  # (function, request id, line)
DoneListener = Callable[[InvocationDone], None]
RefusedListener = Callable[[str], None]  # why a request was refused at the door


class Runner(Protocol):
    """Runs one invocation to completion: ``runner.invoke_local``, or a stand-in in tests."""

    def __call__(self, invocation: Invocation, /, *, on_log: Callable[[str], None]) -> InvocationResult: ...


class Emulator:
    """moto server + Lambda invoke handling, on 127.0.0.1. ``start()`` binds the port;
    ``stop()`` stops the server, kills running functions and frees the port."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        *,
        runner: Runner | None = None,
        async_retry_delay_s: float = 1.0,
        work_dir: Path | None = None,
        credentials: DevCredentials | None = None,
    ) -> None:
        self.host = host
        # The one key the emulator serves requests for (a fresh one per session).
        self.credentials = credentials or DevCredentials.generate()
        self.requested_port = port
        self._runner = runner
        self.async_retry_delay_s = async_retry_delay_s
        self._own_work_dir = work_dir is None
        self.work_dir = work_dir or Path(tempfile.mkdtemp(prefix="cronplane-dev-"))
        self.code_cache = CodeCache(self.work_dir)
        self.log_listeners: list[LogListener] = []
        self.done_listeners: list[DoneListener] = []
        self.refused_listeners: list[RefusedListener] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._inflight: set[threading.Thread] = set()
        self._inflight_lock = threading.Lock()
        self._aws: dict[str, AwsClient] = {}
        self._aws_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Emulator:
        try:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        except ImportError as exc:
            raise CronplaneError(
                f"jobctl dev needs the AWS emulator (moto[server]), which is not installed ({exc}); "
                "install the dev extras: pip install -e '.[dev]' (scripts/demo does this by itself)"
            ) from exc

        guard = RequestGuard(
            LambdaInvokeMiddleware(DomainDispatcherApplication(create_backend_app), self),
            self.credentials,
            on_refused=self._refused,
        )
        self._server = listen(self.host, self.requested_port, guard)
        guard.listen_on(self.host, self.port)  # before serve_forever: no request is handled earlier
        register_emulator(self.endpoint_url, self.credentials)  # jobctl commands run in this process
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="emulator", daemon=True
        )
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("Emulator.start() has not been called")
        return int(self._server.server_port)

    @property
    def stopped(self) -> bool:
        return self._stopping.is_set()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving, kill every function still running, free the port, remove unpacked code."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._server is not None:
            register_emulator(self.endpoint_url, None)
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        kill_child_processes()
        with self._inflight_lock:
            inflight = list(self._inflight)
        for thread in inflight:
            thread.join(timeout=5)
        if self._own_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def aws_config(self, region: str) -> AwsConfig:
        """AWS settings for this emulator: its endpoint, signing with its session key."""
        return AwsConfig(region=region, endpoint_url=self.endpoint_url, credentials=self.credentials)

    def aws(self, region: str) -> AwsClient:
        """The one door to this emulator for the dev tools (scheduler, console, destinations):
        calls counted, retried and their errors translated like every other command's. One
        client per region, kept for the emulator's life (building botocore clients is slow)."""
        with self._aws_lock:
            if region not in self._aws:
                self._aws[region] = AwsClient(self.aws_config(region))
            return self._aws[region]

    # -- the Invoke API --------------------------------------------------------------------

    def handle_invoke(self, raw_name: str, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        qualifier = (query.get("Qualifier") or [None])[0]
        region, account_id = request_region_account(environ)
        spec = read_function(raw_name, qualifier, region, account_id)
        try:
            invocation_type = InvocationType(header(environ, "x-amz-invocation-type") or "RequestResponse")
        except ValueError as exc:
            raise InvokeError(
                400, "InvalidParameterValueException", f"InvocationType must be RequestResponse, Event or DryRun: {exc}"
            ) from exc
        body = read_body(environ)
        limit = ASYNC_PAYLOAD_LIMIT if invocation_type is InvocationType.EVENT else SYNC_PAYLOAD_LIMIT
        if len(body) > limit:
            raise InvokeError(
                413,
                "RequestTooLargeException",
                f"Request must be smaller than {limit} bytes for the {invocation_type.value} invocation type",
            )
        try:
            event = json.loads(body) if body.strip() else {}
        except ValueError as exc:
            raise InvokeError(
                400, "InvalidRequestContentException", f"Could not parse request body into json: {exc}"
            ) from exc

        version_header = [("X-Amz-Executed-Version", spec.version)]
        if invocation_type is InvocationType.DRY_RUN:
            return 204, version_header, b""
        request_id = str(uuid.uuid4())
        if invocation_type is InvocationType.EVENT:
            self._start_async(spec, event, request_id)
            return 202, [], b""
        result = self.run(spec, event, request_id, InvocationType.REQUEST_RESPONSE)
        headers = [*version_header, ("Content-Type", "application/json")]
        if result.function_error:
            headers.append(("X-Amz-Function-Error", result.function_error))
        if (header(environ, "x-amz-log-type") or "").lower() == "tail":
            headers.append(("X-Amz-Log-Result", log_result(result)))
        return 200, headers, json.dumps(result.payload).encode()

    def run(
        self, spec: FunctionSpec, event: Any, request_id: str, invocation_type: InvocationType, attempt: int = 1
    ) -> InvocationResult:
        """Run one attempt of the function in a child process and tell the listeners."""
        from cronplane.local.runner import Invocation, invoke_local

        runner: Runner = self._runner or invoke_local
        invocation = Invocation(
            code_dir=self.code_cache.code_dir(spec),
            handler=spec.handler,
            env=self.function_env(spec),
            event=event,
            timeout_s=spec.timeout_s,
            memory_mb=spec.memory_mb,
            function_name=spec.name,
            request_id=request_id,
            region=spec.region,
        )

        lines: list[tuple[int, str]] = []

        def on_log(line: str) -> None:
            lines.append((int(time.time() * 1000), line))
            for listener in list(self.log_listeners):
                listener(spec, request_id, line)

        result = runner(invocation, on_log=on_log)
        if not self._stopping.is_set():
            self._write_logs(spec, request_id, lines)
            done = InvocationDone(spec, invocation_type, request_id, event, result, attempt)
            for listener in list(self.done_listeners):
                try:
                    listener(done)
                except Exception:  # a broken printer must not break the emulator
                    log.exception("invocation listener failed")
        return result

    def _write_logs(self, spec: FunctionSpec, request_id: str, lines: list[tuple[int, str]]) -> None:
        """The invocation's log into CloudWatch Logs, where Lambda puts it, so ``aws logs
        tail /aws/lambda/<function>`` works against the emulator too."""
        if not lines:
            return
        from moto.logs.models import logs_backends

        backend = logs_backends[spec.account_id][spec.region]
        group = f"/aws/lambda/{spec.name}"
        stream = time.strftime("%Y/%m/%d", time.gmtime()) + f"/[{spec.version}]{request_id.replace('-', '')}"
        try:
            backend.ensure_log_group(group)  # Lambda creates a missing group on first log
            if stream not in backend.groups[group].streams:  # async retries share a request id
                backend.create_log_stream(group, stream)
            backend.put_log_events(group, stream, [{"timestamp": ts, "message": text} for ts, text in lines])
        except Exception as exc:  # logging must never fail an invocation
            log.debug("could not write CloudWatch logs for %s: %s", spec.name, exc)

    def function_env(self, spec: FunctionSpec) -> dict[str, str]:
        """The function's own variables plus what makes its AWS calls land in this emulator:
        where Lambda hands a function its role's credentials, the emulator hands it the session
        key, never the developer's own keys, token or AWS config files."""
        env = dict(spec.env)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_REGION": spec.region,
                "AWS_DEFAULT_REGION": spec.region,
                "AWS_ACCESS_KEY_ID": self.credentials.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.credentials.secret_access_key,
                "AWS_SESSION_TOKEN": "",  # empty: botocore sends none (overrides the parent's)
                "AWS_SECURITY_TOKEN": "",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        return env

    def _refused(self, reason: str) -> None:
        for listener in list(self.refused_listeners):
            listener(reason)

    # -- asynchronous invocations ----------------------------------------------------------

    def _start_async(self, spec: FunctionSpec, event: Any, request_id: str) -> None:
        thread = threading.Thread(
            target=self._run_async, args=(spec, event, request_id), name=f"invoke-{spec.name}", daemon=True
        )
        with self._inflight_lock:
            self._inflight.add(thread)
        thread.start()

    def _run_async(self, spec: FunctionSpec, event: Any, request_id: str) -> None:
        try:
            # Lambda retries a failed async invocation MaximumRetryAttempts times (cronplane
            # deploys 0: its wrapper owns retries), then sends it to the on-failure destination.
            result = None
            for attempt in range(1, spec.max_async_retries + 2):
                if attempt > 1 and self._stopping.wait(self.async_retry_delay_s):
                    return
                if self._stopping.is_set():
                    return
                result = self.run(spec, event, request_id, InvocationType.EVENT, attempt)
                if not result.function_error:
                    break
            if result is None or self._stopping.is_set():
                return
            destination = spec.on_failure if result.function_error else spec.on_success
            if destination:
                self._deliver(destination, destination_record(spec, request_id, event, result, attempt))
        except Exception:
            log.exception("async invocation of %s failed inside the emulator", spec.name)
        finally:
            with self._inflight_lock:
                self._inflight.discard(threading.current_thread())

    def _deliver(self, destination_arn: str, record: dict[str, Any]) -> None:
        parts = destination_arn.split(":")
        service, region = parts[2], parts[3]
        body = json.dumps(record)
        if service == "sqs":
            sqs = self.aws(region).sqs
            queue_url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)
        elif service == "sns":
            self.aws(region).service("sns").publish(TopicArn=destination_arn, Message=body)
        elif service == "lambda":
            self.aws(region).lambda_.invoke(FunctionName=destination_arn, InvocationType="Event", Payload=body.encode())
        else:
            log.warning("destination %s is not supported by the emulator; record dropped", destination_arn)
