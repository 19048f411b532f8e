"""The local Lambda runner: executes one invocation of a function's code the way Lambda would,
for ``jobctl run-now --local`` and for the Invoke requests of ``jobctl dev``'s emulator.

Each invocation runs in a child process (``lambda_bootstrap.py``, run as a file so it imports the
``cronplane/runtime`` inside the package, not the installed one) in its own process group, with a
Lambda-like environment, the event on stdin, the result on a separate pipe, logs streamed line
by line, and a hard kill of the whole group when the timeout passes. As on Lambda, the timeout
counts from the end of init (the module import), not from the process start.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
INIT_TIMEOUT_S = 10.0  # Lambda's limit for the init phase of an on-demand function
LOG_TAIL_BYTES = 4096  # what Lambda returns with LogType=Tail
UNHANDLED = "Unhandled"
PLACEHOLDER_ACCOUNT = "000000000000"

# The only variables taken from the parent: what a program needs to start and to reach the
# endpoint it is pointed at. Never credentials: the function's AWS credentials come in
# ``Invocation.env`` (on Lambda they come from the execution role; ``run-now --local`` hands
# temporary ones scoped to the job's policy, ``jobctl dev`` its session key), and no profile,
# config file, home directory, token or password of the operator's reaches team code.
PASS_THROUGH_PREFIXES = ("AWS_ENDPOINT_URL", "LC_")
PASS_THROUGH = ("AWS_CA_BUNDLE", "PATH", "LANG", "LANGUAGE", "SYSTEMROOT", "TMPDIR")
# Dropped even if a future pass-through name matches: anything named like a credential.
CREDENTIAL_WORDS = frozenset(
    {"TOKEN", "SECRET", "SECRETS", "PASSWORD", "PASSWD", "PASS", "CREDENTIAL", "CREDENTIALS", "KEY", "AUTH", "SESSION"}
)
# Where botocore (and most SDKs) would look for credentials besides the environment: nowhere.
NO_CREDENTIAL_SOURCES = {
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass(frozen=True)
class Invocation:
    code_dir: Path
    handler: str  # "cronplane.runtime.entry.handler"
    env: Mapping[str, str]
    event: Any
    timeout_s: int
    memory_mb: int
    function_name: str
    request_id: str | None = None
    region: str | None = None  # default: the parent's AWS_REGION / AWS_DEFAULT_REGION
    account_id: str | None = None  # for the context's invoked_function_arn; a placeholder if unknown


@dataclass(frozen=True)
class InvocationResult:
    request_id: str
    payload: Any  # the JSON-decoded return value, or Lambda's error object
    function_error: str | None  # "Unhandled" like Lambda's X-Amz-Function-Error, else None
    timed_out: bool
    duration_ms: int
    log_tail: str

    @property
    def ok(self) -> bool:
        return self.function_error is None


def credential_like(name: str) -> bool:
    """``GITHUB_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``: a name one of whose words says
    it holds a credential (``AWS_ENDPOINT_URL_SECRETSMANAGER`` does not)."""
    return not CREDENTIAL_WORDS.isdisjoint(name.upper().split("_"))


def lambda_environment(
    inv: Invocation, request_id: str, parent: Mapping[str, str] | None = None, *, home: str = os.devnull
) -> dict[str, str]:
    """The child's environment: the few start-up variables of the parent (``PASS_THROUGH``), no
    credential source but the function's own variables (``Invocation.env``), then the variables
    Lambda reserves (which a function cannot override there either). ``HOME`` is ``home`` (an
    empty directory of this invocation), so ``~/.aws`` or ``~/.netrc`` are not the operator's."""
    parent = os.environ if parent is None else parent
    env = {
        k: v
        for k, v in parent.items()
        if (k in PASS_THROUGH or k.startswith(PASS_THROUGH_PREFIXES)) and not credential_like(k)
    }
    env.update({"HOME": home, **NO_CREDENTIAL_SOURCES})
    env.update(inv.env)
    region = (
        inv.region
        or env.get("AWS_REGION")
        or parent.get("AWS_REGION")
        or parent.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    env.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
            "AWS_LAMBDA_FUNCTION_NAME": inv.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(inv.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(inv.timeout_s),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{inv.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{request_id.replace('-', '')}",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "LAMBDA_TASK_ROOT": str(inv.code_dir),
            "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
            "_HANDLER": inv.handler,
            "_CRONPLANE_FUNCTION_ARN": f"arn:aws:lambda:{region}:{inv.account_id or PLACEHOLDER_ACCOUNT}:function:{inv.function_name}",
            "_CRONPLANE_PARENT_PID": str(os.getpid()),  # the child dies with us (lambda_bootstrap's watchdog)
            "TZ": ":UTC",
        }
    )
    return env


class _Child:
    """One child process: streams its log lines and its result-pipe messages to the parent."""

    def __init__(
        self, inv: Invocation, env: dict[str, str], on_log: Callable[[str], None] | None, first_line: str
    ) -> None:
        self.tail: deque[str] = deque()
        self._tail_bytes = 0
        self._on_log = on_log
        self._lock = threading.Lock()  # log lines come from the reader thread and the caller
        self.log(first_line)
        read_fd, write_fd = os.pipe()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-u", str(BOOTSTRAP), str(write_fd)],
                cwd=str(inv.code_dir),
                env=env,
                pass_fds=(write_fd,),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: the hard kill takes its children too
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)  # the child holds the only write end: EOF when it dies
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.proc.stdout is not None
        self._log_thread = threading.Thread(target=self._read_logs, args=(self.proc.stdout,), daemon=True)
        self._result_thread = threading.Thread(target=self._read_results, args=(os.fdopen(read_fd, "rb"),), daemon=True)
        self._log_thread.start()
        self._result_thread.start()

    def log(self, line: str) -> None:
        with self._lock:
            self.tail.append(line)
            self._tail_bytes += len(line) + 1
            while self._tail_bytes > LOG_TAIL_BYTES and len(self.tail) > 1:
                self._tail_bytes -= len(self.tail.popleft()) + 1
            if self._on_log is not None:
                self._on_log(line)

    def _read_logs(self, stream: IO[bytes]) -> None:
        for raw in stream:
            self.log(raw.decode("utf-8", "replace").rstrip("\r\n"))

    def _read_results(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                try:
                    self.messages.put(json.loads(raw))
                except ValueError:
                    continue  # a half-written line from a killed child
        self.messages.put(None)  # EOF: the child is gone

    def next_message(self, until: float) -> dict[str, Any] | str | None:
        """The next result-pipe message, None at EOF, or "timeout" when ``until`` passes."""
        try:
            return self.messages.get(timeout=max(until - time.monotonic(), 0.0))
        except queue.Empty:
            return "timeout"

    def send(self, request: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass  # the child died after init; the result pipe's EOF reports it

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def finish(self) -> None:
        """Reap the child and anything it left behind (Lambda freezes or drops them too)."""
        self.kill()
        self.proc.wait()
        self._log_thread.join(timeout=2)
        self._result_thread.join(timeout=2)
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        if self.proc.stdout:
            self.proc.stdout.close()


def invoke_local(inv: Invocation, on_log: Callable[[str], None] | None = None) -> InvocationResult:
    """Run one invocation to completion, or kill it at its timeout. Never raises for a failure
    of the function; failures come back as Lambda reports them (``function_error``)."""
    request_id = inv.request_id or str(uuid.uuid4())
    # The function's HOME: empty, its own, gone afterwards (whatever the function left in it).
    with tempfile.TemporaryDirectory(prefix="cronplane-home-", ignore_cleanup_errors=True) as home:
        return _invoke(inv, request_id, on_log, home)


def _invoke(inv: Invocation, request_id: str, on_log: Callable[[str], None] | None, home: str) -> InvocationResult:
    start_line = f"START RequestId: {request_id} Version: $LATEST"
    child = _Child(inv, lambda_environment(inv, request_id, home=home), on_log, start_line)
    invoked = time.monotonic()
    payload: Any = None
    function_error: str | None = UNHANDLED
    timed_out = False
    try:
        ready = child.next_message(invoked + INIT_TIMEOUT_S)
        invoked = time.monotonic()
        if ready == "timeout":
            timed_out, payload = True, _timeout_error(request_id, INIT_TIMEOUT_S, "Init")
        elif not isinstance(ready, dict) or ready.get("phase") != "ready":
            payload = ready["error"] if isinstance(ready, dict) and "error" in ready else _exit_error(request_id, child)
        else:
            deadline = invoked + inv.timeout_s
            # The child's context counts down to the same instant the parent kills it at.
            child.send(
                {
                    "event": inv.event,
                    "request_id": request_id,
                    "deadline_ms": int(time.time() * 1000) + inv.timeout_s * 1000,
                }
            )
            message = child.next_message(deadline)
            if message == "timeout":
                timed_out, payload = True, _timeout_error(request_id, inv.timeout_s)
            elif isinstance(message, dict) and message.get("phase") == "result":
                payload, function_error = message.get("payload"), None
            elif isinstance(message, dict) and "error" in message:
                payload = message["error"]
            else:
                payload = _exit_error(request_id, child)
        duration_ms = int((time.monotonic() - invoked) * 1000)
    finally:
        child.finish()
    if timed_out:
        child.log(payload["errorMessage"])
    child.log(f"END RequestId: {request_id}")
    child.log(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms} ms" + ("\tStatus: timeout" if timed_out else "")
    )
    return InvocationResult(request_id, payload, function_error, timed_out, duration_ms, "\n".join(child.tail))


def _timeout_error(request_id: str, seconds: float, phase: str = "Task") -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "errorMessage": f"{stamp} {request_id} {phase} timed out after {seconds:.2f} seconds",
        "errorType": "TimeoutError",
    }


def _exit_error(request_id: str, child: _Child) -> dict[str, Any]:
    code = child.proc.poll()
    if code is None:
        try:
            code = child.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = -1
    reason = f"signal: {-code}" if code < 0 else f"exit status {code}"
    return {
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}",
        "errorType": "Runtime.ExitError",
    }
