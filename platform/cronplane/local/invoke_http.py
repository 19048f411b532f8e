"""The HTTP side of Lambda's Invoke API as the emulator answers it: the route, how a request
names its function (name, ``name:qualifier``, partial or full ARN), the region and account it
is for, the limits Lambda enforces before any code runs, and the WSGI layer that sends Invoke
requests to the emulator and everything else to moto.

Used by ``emulator.py``; no state here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import uuid
from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from cronplane.local.runner import InvocationResult

INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations/?$")
CREDENTIAL_SCOPE = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/(?P<region>[^/]+)/")
SYNC_PAYLOAD_LIMIT = 6 * 1024 * 1024  # Lambda's limits, so a job that works here fits there
ASYNC_PAYLOAD_LIMIT = 256 * 1024
LOG_TAIL_BYTES = 4096


class InvocationType(str, Enum):
    REQUEST_RESPONSE = "RequestResponse"
    EVENT = "Event"
    DRY_RUN = "DryRun"


class InvokeError(Exception):
    """An Invoke request Lambda itself would reject (before any code runs)."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class InvokeHandler(Protocol):
    def handle_invoke(self, raw_name: str, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]: ...


class LambdaInvokeMiddleware:
    """WSGI layer in front of moto: answers Invoke, forwards everything else."""

    def __init__(self, app: WSGIApplication, emulator: InvokeHandler) -> None:
        self.app = app
        self.emulator = emulator

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = INVOKE_PATH.match(environ.get("PATH_INFO", ""))
        if environ.get("REQUEST_METHOD") != "POST" or match is None:
            return self.app(environ, start_response)
        try:
            status, headers, body = self.emulator.handle_invoke(match.group("name"), environ)
        except InvokeError as exc:
            status, body = exc.status, json.dumps({"Type": "User", "message": exc.message}).encode()
            headers = [("x-amzn-ErrorType", exc.error_type), ("Content-Type", "application/json")]
        headers.append(("Content-Length", str(len(body))))
        headers.append(("x-amzn-RequestId", header(environ, "x-amzn-requestid") or str(uuid.uuid4())))
        start_response(f"{status} {REASONS.get(status, 'OK')}", headers)
        return [body]


REASONS = {
    200: "OK",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    413: "Request Entity Too Large",
}


def split_function_name(
    raw: str, qualifier: str | None, region: str, account_id: str
) -> tuple[str, str, str, str | None]:
    """FunctionName may be a name, ``name:qualifier``, a partial ARN or a full ARN."""
    if raw.startswith("arn:"):
        parts = raw.split(":")
        region, account_id = parts[3] or region, parts[4] or account_id
        name = parts[6]
        qualifier = parts[7] if len(parts) > 7 else qualifier
    elif ":function:" in raw:  # partial ARN: 123456789012:function:name[:qualifier]
        parts = raw.split(":")
        account_id, name = parts[0], parts[2]
        qualifier = parts[3] if len(parts) > 3 else qualifier
    elif ":" in raw:
        name, qualifier = raw.split(":", 1)
    else:
        name = raw
    return name, region, account_id, qualifier


def request_region_account(environ: dict[str, Any]) -> tuple[str, str]:
    """Region from the SigV4 credential scope; account as moto derives it (access key)."""
    from moto.core.models import DEFAULT_ACCOUNT_ID

    match = CREDENTIAL_SCOPE.search(header(environ, "authorization") or "")
    region = match.group("region") if match else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    account_id = os.environ.get("MOTO_ACCOUNT_ID") or header(environ, "x-moto-account-id")
    if not account_id and match:
        from moto.iam.models import get_account_id_from

        account_id = get_account_id_from(match.group("key"))
    return region, account_id or DEFAULT_ACCOUNT_ID


def header(environ: dict[str, Any], name: str) -> str | None:
    key = "HTTP_" + name.upper().replace("-", "_")
    value = environ.get(key)
    return str(value) if value is not None else None


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body. ``wsgi.input`` is the socket itself: reading past Content-Length (or
    reading at all when it is 0, as for an Invoke without Payload) would wait forever."""
    stream = environ["wsgi.input"]
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length:
        try:
            size = int(length)
        except ValueError:
            raise InvokeError(
                400, "InvalidRequestContentException", f"Content-Length {length!r} is not a number"
            ) from None
        return bytes(stream.read(size)) if size > 0 else b""
    if environ.get("wsgi.input_terminated"):  # chunked: the server ends the stream for us
        return bytes(stream.read() or b"")
    return b""


def log_result(result: InvocationResult) -> str:
    """X-Amz-Log-Result: the last 4 KB of the invocation's log (START ... REPORT), base64."""
    return base64.b64encode(str(result.log_tail).encode()[-LOG_TAIL_BYTES:]).decode()
