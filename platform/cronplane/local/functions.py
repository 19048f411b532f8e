"""The functions ``jobctl dev`` runs, as read from moto's in-process Lambda backend: which
version an Invoke names (name, ``name:qualifier``, partial or full ARN), what it needs to run
(``FunctionSpec``), and its code, unpacked once per CodeSha256 (``CodeCache``).

Used by ``emulator.py``, which also sends ``destination_record`` to an async invocation's
destination.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cronplane.local.invoke_http import InvokeError, split_function_name
from cronplane.runtime import settings as runtime_settings

if TYPE_CHECKING:
    from moto.awslambda.models import LambdaFunction

    from cronplane.local.runner import InvocationResult

DEFAULT_ASYNC_RETRIES = 2  # Lambda's default when no event-invoke config says otherwise


@dataclass(frozen=True)
class FunctionSpec:
    """What the emulator needs to run one function version, read from moto's backend."""

    name: str
    arn: str  # qualified with the version or alias that was invoked
    version: str
    handler: str
    env: dict[str, str]
    timeout_s: int
    memory_mb: int
    code_sha256: str
    code_bytes: bytes = field(repr=False)
    region: str
    account_id: str
    max_async_retries: int = DEFAULT_ASYNC_RETRIES
    on_failure: str | None = None  # destination ARN of async invocations that failed
    on_success: str | None = None

    @property
    def job(self) -> str:
        """The cronplane job behind the function (its function name for foreign functions)."""
        return self.env.get(runtime_settings.JOB) or self.name


class CodeCache:
    """Unpacked function zips, one folder per CodeSha256, so a warm function is not re-extracted
    and a redeploy with new code gets a fresh folder (old runs keep theirs)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()

    def code_dir(self, spec: FunctionSpec) -> Path:
        key = hashlib.sha256(spec.code_sha256.encode()).hexdigest()[:24]
        target = self.root / key
        with self._lock:
            if not target.is_dir():
                staging = Path(tempfile.mkdtemp(dir=self.root, prefix=".unpack-"))
                with zipfile.ZipFile(io.BytesIO(spec.code_bytes)) as archive:
                    archive.extractall(staging)
                staging.rename(target)  # atomic: a reader never sees a half-extracted folder
        return target


def read_function(raw_name: str, qualifier: str | None, region: str, account_id: str) -> FunctionSpec:
    """Read the function (version / alias) from moto's in-process backend."""
    request_account = account_id
    name, region, account_id, qualifier = split_function_name(raw_name, qualifier, region, account_id)
    fn = _find(name, qualifier, region, account_id)
    if fn is None and account_id != request_account:
        # The local runner gives functions a placeholder account in their own ARN; a
        # function invoking itself by that ARN means the caller's account.
        account_id = request_account
        fn = _find(name, qualifier, region, account_id)
    if fn is None:
        arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}" + (f":{qualifier}" if qualifier else "")
        raise InvokeError(404, "ResourceNotFoundException", f"Function not found: {arn}")
    # moto keeps every put (and its Get answers the first): Lambda has only the last one.
    config = fn.event_invoke_config[-1].config if fn.event_invoke_config else {}
    destinations = config.get("DestinationConfig") or {}
    version = str(fn.version) if qualifier and qualifier.lower() != "$latest" else "$LATEST"
    return FunctionSpec(
        name=fn.function_name,
        arn=fn.function_arn + (f":{qualifier}" if qualifier else ""),
        version=version,
        handler=str(fn.handler),
        env={str(k): str(v) for k, v in (fn.environment_vars or {}).items()},
        timeout_s=int(fn.timeout),
        memory_mb=int(fn.memory_size),
        code_sha256=str(fn.code_sha_256),
        code_bytes=bytes(fn.code_bytes),
        region=region,
        account_id=account_id,
        max_async_retries=int(config.get("MaximumRetryAttempts", DEFAULT_ASYNC_RETRIES)),
        on_failure=(destinations.get("OnFailure") or {}).get("Destination"),
        on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
    )


def _find(name: str, qualifier: str | None, region: str, account_id: str) -> LambdaFunction | None:
    from moto.awslambda.models import lambda_backends

    try:
        return lambda_backends[account_id][region].get_function(name, qualifier)
    except Exception:  # moto's UnknownFunctionException and friends
        return None


def destination_record(
    spec: FunctionSpec, request_id: str, event: Any, result: InvocationResult, attempts: int
) -> dict[str, Any]:
    """The invocation record Lambda sends to an async invocation's destination."""
    failed = bool(result.function_error)
    response_context: dict[str, Any] = {"statusCode": 200, "executedVersion": spec.version}
    if failed:
        response_context["functionError"] = result.function_error
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "requestContext": {
            "requestId": request_id,
            "functionArn": spec.arn if spec.arn.count(":") > 6 else f"{spec.arn}:{spec.version}",
            "condition": "RetriesExhausted" if failed else "Success",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": event,
        "responseContext": response_context,
        "responsePayload": result.payload,
    }
