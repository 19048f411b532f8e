"""The local Lambda runner: a child process per invocation, Lambda's environment, context and
error shapes, logs streamed, hard kill at the timeout."""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path

import pytest

from cronplane.local.runner import BOOTSTRAP, Invocation, invoke_local
from testkit import process_alive


def write_code(tmp_path: Path, source: str, module: str = "app") -> Path:
    code = tmp_path / "code"
    (code / module).parent.mkdir(parents=True, exist_ok=True)
    (code / f"{module}.py").write_text(textwrap.dedent(source))
    return code


def invocation(code: Path, handler: str = "app.handler", **overrides: object) -> Invocation:
    values: dict[str, object] = dict(
        code_dir=code,
        handler=handler,
        env={"GREETING": "hi"},
        event={"n": 2},
        timeout_s=10,
        memory_mb=512,
        function_name="acme-jobs-demo",
        request_id="req-1",
    )
    values.update(overrides)
    return Invocation(**values)  # type: ignore[arg-type]


def test_success_returns_payload_with_lambda_environment_and_context(tmp_path: Path) -> None:
    code = write_code(
        tmp_path,
        """
        import os, sys
        def handler(event, context):
            return {
                "double": event["n"] * 2,
                "greeting": os.environ["GREETING"],
                "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
                "memory_env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
                "timeout_env": os.environ["AWS_LAMBDA_FUNCTION_TIMEOUT"],
                "task_root": os.environ["LAMBDA_TASK_ROOT"],
                "cwd": os.getcwd(),
                "request_id": context.aws_request_id,
                "ctx_function": context.function_name,
                "ctx_memory": context.memory_limit_in_mb,
                "remaining": context.get_remaining_time_in_millis(),
                "parent_only": os.environ.get("CRONPLANE_TEST_PARENT_ONLY"),
                "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
                "key": os.environ.get("AWS_ACCESS_KEY_ID"),
                "arn": context.invoked_function_arn,
            }
    """,
    )
    os.environ["CRONPLANE_TEST_PARENT_ONLY"] = "leaks"
    os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
    try:
        result = invoke_local(invocation(code, region="eu-central-1", account_id="111122223333"))
    finally:
        del os.environ["CRONPLANE_TEST_PARENT_ONLY"], os.environ["AWS_ENDPOINT_URL"]
    assert result.function_error is None and not result.timed_out and result.ok
    payload = result.payload
    assert payload["double"] == 4 and payload["greeting"] == "hi"
    assert payload["function"] == payload["ctx_function"] == "acme-jobs-demo"
    assert payload["memory_env"] == payload["ctx_memory"] == "512"
    assert payload["timeout_env"] == "10"
    assert payload["task_root"] == str(code) and os.path.realpath(payload["cwd"]) == os.path.realpath(code)
    assert payload["request_id"] == result.request_id == "req-1"
    assert 8000 < payload["remaining"] <= 10000
    assert payload["parent_only"] is None  # the function sees Lambda's environment, not ours
    assert payload["endpoint"] == "http://127.0.0.1:1"  # passed through: where AWS calls go
    assert payload["key"] is None  # never the parent's credentials: only those the invocation hands over
    assert payload["arn"] == "arn:aws:lambda:eu-central-1:111122223333:function:acme-jobs-demo"


def test_code_dir_package_shadows_the_installed_cronplane(tmp_path: Path) -> None:
    code = tmp_path / "code"
    (code / "cronplane" / "runtime").mkdir(parents=True)
    (code / "cronplane" / "__init__.py").write_text("")
    (code / "cronplane" / "runtime" / "__init__.py").write_text("")
    (code / "cronplane" / "runtime" / "entry.py").write_text(
        "import cronplane\ndef handler(event, context):\n    return cronplane.__file__\n"
    )
    result = invoke_local(invocation(code, handler="cronplane.runtime.entry.handler"))
    assert result.ok and result.payload == str(code / "cronplane" / "__init__.py")


def test_exception_is_reported_like_lambda_unhandled_error(tmp_path: Path) -> None:
    code = write_code(
        tmp_path,
        """
        class ProviderDown(ConnectionError):
            pass
        def handler(event, context):
            raise ProviderDown("provider reset the connection")
    """,
    )
    result = invoke_local(invocation(code))
    assert result.function_error == "Unhandled" and not result.timed_out
    assert result.payload["errorType"] == "ProviderDown"
    assert result.payload["errorMessage"] == "provider reset the connection"
    assert any("app.py" in frame for frame in result.payload["stackTrace"])
    assert "[ERROR] ProviderDown: provider reset the connection" in result.log_tail


def test_hard_kill_at_timeout_takes_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild-survived"
    code = write_code(
        tmp_path,
        f"""
        import subprocess, sys, time
        def handler(event, context):
            # A grandchild that would write the marker after the timeout unless killed with us.
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5); open({str(marker)!r}, 'w').write('x')"])
            print("sleeping past the timeout", flush=True)
            time.sleep(30)
            return "never"
    """,
    )
    result = invoke_local(invocation(code, timeout_s=1))
    assert result.timed_out and result.function_error == "Unhandled"
    assert result.payload["errorType"] == "TimeoutError"
    assert "req-1 Task timed out after 1.00 seconds" in result.payload["errorMessage"]
    assert 1000 <= result.duration_ms < 10000
    assert "sleeping past the timeout" in result.log_tail
    time.sleep(1.0)  # the grandchild started before the kill; alive, it would have written by now
    assert not marker.exists()


def test_remaining_time_counts_down_from_the_timeout(tmp_path: Path) -> None:
    code = write_code(
        tmp_path,
        """
        import time
        def handler(event, context):
            first = context.get_remaining_time_in_millis()
            time.sleep(0.3)
            return [first, context.get_remaining_time_in_millis()]
    """,
    )
    result = invoke_local(invocation(code, timeout_s=3))
    first, second = result.payload
    assert 2500 < first <= 3000
    assert 250 <= first - second < 1500


def test_logs_stream_line_by_line_apart_from_the_result(tmp_path: Path) -> None:
    code = write_code(
        tmp_path,
        """
        import logging, sys
        log = logging.getLogger("job")
        print("module imported")
        def handler(event, context):
            print("hello from print")
            sys.stderr.write("to stderr\\n")
            log.warning("a warning")
            return {"ok": True}
    """,
    )
    lines: list[str] = []
    result = invoke_local(invocation(code), on_log=lines.append)
    assert result.payload == {"ok": True}  # the result is not mixed with the log lines
    assert lines[0] == "START RequestId: req-1 Version: $LATEST"
    assert "module imported" in lines and "hello from print" in lines and "to stderr" in lines
    warning = next(line for line in lines if "a warning" in line)
    level, stamp, request_id, message = warning.split("\t")
    assert (level, request_id, message) == ("[WARNING]", "req-1", "a warning") and stamp.endswith("Z")
    assert lines[-2] == "END RequestId: req-1" and lines[-1].startswith("REPORT RequestId: req-1\tDuration:")
    assert result.log_tail.splitlines() == lines


def test_import_error_and_exit_and_unserializable_results(tmp_path: Path) -> None:
    code = write_code(
        tmp_path,
        """
        import os, datetime
        def exits(event, context):
            os._exit(3)
        def returns_object(event, context):
            return datetime.datetime(2026, 1, 1)
    """,
    )
    missing = invoke_local(invocation(code, handler="nope.handler"))
    assert missing.function_error == "Unhandled" and missing.payload["errorType"] == "Runtime.ImportModuleError"
    exited = invoke_local(invocation(code, handler="app.exits"))
    assert exited.payload["errorType"] == "Runtime.ExitError" and "exit status 3" in exited.payload["errorMessage"]
    marshal = invoke_local(invocation(code, handler="app.returns_object"))
    assert marshal.function_error == "Unhandled" and marshal.payload["errorType"] == "Runtime.MarshalError"


def test_init_time_does_not_count_against_the_timeout(tmp_path: Path) -> None:
    code = write_code(
        tmp_path,
        """
        import time
        time.sleep(0.8)  # a slow cold start...
        def handler(event, context):
            time.sleep(0.5)  # ...that with this would overrun the timeout if init counted
            return context.get_remaining_time_in_millis()
    """,
    )
    result = invoke_local(invocation(code, timeout_s=1))
    assert result.ok and result.payload > 0


def test_bootstrap_is_standard_library_only() -> None:
    source = BOOTSTRAP.read_text()
    assert "import cronplane" not in source and "from cronplane" not in source


@pytest.mark.parametrize("big", [200_000])
def test_large_result_does_not_deadlock_the_pipe(tmp_path: Path, big: int) -> None:
    code = write_code(
        tmp_path,
        f"""
        def handler(event, context):
            return "x" * {big}
    """,
    )
    result = invoke_local(invocation(code, timeout_s=5))
    assert result.ok and len(result.payload) == big


def test_function_dies_with_a_parent_killed_outright(tmp_path: Path) -> None:
    """kill -9 of `jobctl dev` (or of run-now --local) cannot clean up; the function process
    notices its parent is gone and takes its whole group down, grandchildren included."""
    import json
    import signal
    import subprocess
    import sys

    pids_file = tmp_path / "pids"
    code = write_code(
        tmp_path,
        f"""
        import os, subprocess, sys, time
        def handler(event, context):
            grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open({str(pids_file)!r}, "w").write(f"{{os.getpid()}} {{grandchild.pid}}")
            time.sleep(60)
    """,
    )
    parent_script = (
        "import sys; from pathlib import Path; from cronplane.local.runner import Invocation, invoke_local\n"
        f"invoke_local(Invocation(code_dir=Path({str(code)!r}), handler='app.handler', env={{}}, event={{}}, "
        "timeout_s=120, memory_mb=128, function_name='orphan-check'))\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_script])
    try:
        deadline = time.monotonic() + 20
        while not (pids_file.exists() and pids_file.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.05)
        pids = [int(p) for p in pids_file.read_text().split()]
        assert all(process_alive(pid) for pid in pids)
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while any(process_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = [pid for pid in pids if process_alive(pid)]
    for pid in survivors:  # do not leave them behind when this fails
        os.kill(pid, signal.SIGKILL)
    assert not survivors, json.dumps(pids)
