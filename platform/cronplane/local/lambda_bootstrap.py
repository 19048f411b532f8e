"""The child-process side of the local Lambda runner (``runner.py`` starts it).

Run as a file (``python -I -u lambda_bootstrap.py RESULT_FD``), never imported from the installed
cronplane: the function's code directory goes first on ``sys.path``, so the ``cronplane/runtime``
inside the job's package is what runs, as on Lambda. Standard library only.

Protocol with the parent, mirroring Lambda's init / invoke phases:

1. init: import the handler's module (module-level code, the wrapper's cold start), then write
   ``{"phase": "ready"}`` (or ``{"phase": "init_error", "error": {...}}``) as one JSON line on
   the result pipe.
2. invoke: read one JSON line on stdin, ``{"event", "deadline_ms", "request_id"}``; the deadline
   is set by the parent when init is done, so init time does not count against the timeout (as
   on Lambda), and the parent kills the whole process group when it passes.
3. write ``{"phase": "result", "payload": ...}`` or ``{"phase": "error", "error": {...}}``.

Logs (stdout / stderr of the function) go to the parent's log pipe, never to the result pipe.

If the parent dies without killing us (``kill -9`` of ``jobctl dev`` or of ``run-now --local``),
a watchdog thread notices that our parent changed and kills our whole process group, so no
function outlives the process that started it.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO, Any


class LambdaContext:
    """The attributes and method of the Lambda Python runtime's context object."""

    def __init__(self, request_id: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ.get("_CRONPLANE_FUNCTION_ARN", "")
        # A string on Lambda too: job code that does int(...) works on both.
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)


class _LambdaLogHandler(logging.Handler):
    """Lambda's default log line: ``[LEVEL]\\t<time>Z\\t<request id>\\t<message>``."""

    request_id = ""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            millis = int(record.msecs)
            message = self.format(record).replace("\n", "\r")  # one event per record, as on Lambda
            sys.stdout.write(f"[{record.levelname}]\t{stamp}.{millis:03d}Z\t{self.request_id}\t{message}\n")
            sys.stdout.flush()
        except Exception:  # a log line must never break the function
            self.handleError(record)


def _error_object(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    frames = traceback.extract_tb(exc.__traceback__)
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "stackTrace": traceback.format_list(frames),
    }


def _load_handler(spec: str) -> Callable[[Any, Any], Any]:
    # Lambda's Python runtime accepts "package.module.function" and "path/module.function".
    module_name, _, function_name = spec.replace("/", ".").rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"Bad handler '{spec}': expected module.function")
    module = importlib.import_module(module_name)
    try:
        handler: Callable[[Any, Any], Any] = getattr(module, function_name)
    except AttributeError:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'") from None
    return handler


def _send(result: IO[str], message: dict[str, Any]) -> None:
    result.write(json.dumps(message) + "\n")
    result.flush()


ORPHAN_CHECK_S = 0.5


def _die_with_parent(parent: int) -> None:
    """Kill our process group (us, the function's own children) once ``parent`` is gone."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(ORPHAN_CHECK_S)
        os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=watch, name="orphan-watchdog", daemon=True).start()


def main(argv: list[str]) -> int:
    if os.getpgrp() == os.getpid():  # started in our own group by the runner: the group is ours
        # The runner names itself: were it already gone, getppid() would name the reaper instead.
        _die_with_parent(int(os.environ.get("_CRONPLANE_PARENT_PID") or os.getppid()))
    result = os.fdopen(int(argv[1]), "w", encoding="utf-8")
    code_dir = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, code_dir)

    log_handler = _LambdaLogHandler()
    root = logging.getLogger()
    root.addHandler(log_handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        root.setLevel(level.upper())

    try:
        handler = _load_handler(os.environ["_HANDLER"])
    except Exception as exc:
        error_type = "Runtime.ImportModuleError" if isinstance(exc, ImportError) else "Runtime.HandlerNotFound"
        error = _error_object(exc, error_type)
        error["errorMessage"] = f"Unable to import module '{os.environ['_HANDLER']}': {exc}"
        print(f"[ERROR] {error_type}: {error['errorMessage']}", flush=True)
        _send(result, {"phase": "init_error", "error": error})
        return 1
    _send(result, {"phase": "ready"})

    request = json.loads(sys.stdin.readline())
    log_handler.request_id = request["request_id"]
    context = LambdaContext(request["request_id"], int(request["deadline_ms"]))
    try:
        payload = handler(request["event"], context)
    except Exception as exc:
        error = _error_object(exc)
        print(
            f"[ERROR] {error['errorType']}: {error['errorMessage']}\n{''.join(error['stackTrace'])}", end="", flush=True
        )
        _send(result, {"phase": "error", "error": error})
        return 0
    try:
        text = json.dumps({"phase": "result", "payload": payload})
    except (TypeError, ValueError) as exc:
        error = {
            "errorMessage": f"Unable to marshal response: {exc}",
            "errorType": "Runtime.MarshalError",
            "stackTrace": [],
        }
        _send(result, {"phase": "error", "error": error})
        return 0
    result.write(text + "\n")
    result.flush()
    return 0


if __name__ == "__main__":
    # A process entry point of its own (the runner starts it as a child, like Lambda's runtime
    # process), not a jobctl command: its exit code is what the runner reads, so it exits here
    # rather than through cli/main.py.
    sys.exit(main(sys.argv))
