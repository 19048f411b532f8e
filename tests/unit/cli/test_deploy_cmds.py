"""``jobctl plan / deploy / destroy`` through the real entry point (``cli.main.main``) against
moto in-process: output, exit codes, confirmation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from testkit import jobctl

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def manifest_path(tmp_path: Path) -> str:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return str(tmp_path / "jobs.yaml")


def test_plan_deploy_plan_destroy(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "--detailed-exitcode")
    assert code == 2
    assert "  + lambda function acme-jobs--nightly-report  (new job)" in out
    assert "  + scheduler schedule acme-jobs--nightly-report  (new job)" in out
    assert out.rstrip().endswith("Plan: 30 to create, 0 to update, 0 to delete.")

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "-o", "json")
    data = json.loads(out)
    assert code == 0 and len(data["changes"]) == 30
    assert {"action": "create", "resource": "dynamodb table acme-jobs-history"}.items() <= data["changes"][0].items()

    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path, "--yes")
    assert code == 0
    assert "[1/30] create dynamodb table acme-jobs-history" in out
    assert "[30/30] " in out
    assert "Deploy complete: 30 created, 0 updated, 0 deleted" in out

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "--detailed-exitcode")
    assert code == 0 and "No changes. AWS matches the manifest." in out

    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path, "--yes")
    assert code == 0 and "No changes" in out and "0 writes" in out

    code, out, _ = jobctl(capsys, "destroy", "-f", manifest_path, "--yes")
    assert code == 0 and "Destroy complete: 0 created, 0 updated, 22 deleted" in out
    assert "kept: dynamodb table acme-jobs-history (run history); add --include-history to delete it" in out
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_deploy_without_a_terminal_needs_yes(
    aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = jobctl(capsys, "deploy", "-f", manifest_path)
    assert code == 1
    assert "Error: Deploy needs confirmation, and there is no terminal to ask: pass --yes." in err
    assert "Plan: 30 to create" in out  # the plan was shown first
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_declined_deploy_changes_nothing(
    aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("click.confirm", lambda *a, **k: False)
    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path)
    assert code == 0 and "Nothing applied." in out
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_plan_names_an_unknown_unpause_job(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "plan", "-f", manifest_path, "--unpause", "nope")
    assert code == 1 and "no job named 'nope'" in err


def assert_one_clear_error(code: int, err: str, *expected: str) -> None:
    assert code == 1
    lines = [line for line in err.strip().splitlines() if line and not line.startswith("Note: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    for text in expected:
        assert text in lines[0], err
    assert "Traceback" not in err


def test_no_credentials_is_one_message(
    manifest_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance-metadata lookup: nothing leaves the host
    code, _, err = jobctl(capsys, "plan", "-f", manifest_path)
    assert_one_clear_error(code, err, "No AWS credentials found. Set AWS_PROFILE or AWS_ACCESS_KEY_ID")


def test_credentials_aws_does_not_know_are_one_message(
    aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """moto checking signatures for real: the access key "testing" belongs to no user."""
    from moto.core.authorization import enable_iam_authentication

    with enable_iam_authentication():
        code, _, err = jobctl(capsys, "plan", "-f", manifest_path)
    assert_one_clear_error(
        code,
        err,
        "AWS resourcegroupstaggingapi get_resources failed: InvalidClientTokenId",  # the first read
        "AWS does not accept these credentials. Check AWS_ACCESS_KEY_ID",
    )


class FaultProxy:
    """An HTTP proxy on 127.0.0.1 in front of a moto server. ``fault(method, path, body)``
    may answer a request itself, the way AWS answers when it refuses one; everything else is
    forwarded."""

    def __init__(self, upstream: str, fault: Any) -> None:
        import http.client
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        self.faults = 0
        proxy = self
        target = urlparse(upstream)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, headers: dict[str, str], data: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _relay(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                canned = fault(self.command, self.path, body)
                if canned is not None:
                    proxy.faults += 1
                    self._reply(*canned)
                    return
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                resp = conn.getresponse()
                data = resp.read()
                keep = {
                    k: v
                    for k, v in resp.getheaders()
                    if k.lower() not in ("transfer-encoding", "content-length", "connection")
                }
                conn.close()
                self._reply(resp.status, keep, data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_access_denied_names_the_missing_permission(
    moto_server: str, manifest_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """IAM refusing ListRoles, answered byte for byte the way IAM does."""

    def deny_list_roles(method: str, path: str, body: bytes) -> Any:
        if b"Action=ListRoles" not in body:
            return None
        return (
            403,
            {"Content-Type": "text/xml"},
            (
                b'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
                b"<Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/deployer is not authorized "
                b"to perform: iam:ListRoles on resource: arn:aws:iam::123456789012:role/cronplane/acme-jobs/ because no "
                b"identity-based policy allows the iam:ListRoles action</Message></Error>"
                b"<RequestId>4c6b5a1e-0000-4000-8000-000000000000</RequestId></ErrorResponse>"
            ),
        )

    proxy = FaultProxy(moto_server, deny_list_roles)
    try:
        code, _, err = jobctl(capsys, "plan", "-f", manifest_path, "--endpoint-url", proxy.url)
    finally:
        proxy.close()
    assert_one_clear_error(
        code,
        err,
        "AWS iam list_roles failed: AccessDenied: User: arn:aws:iam::123456789012:user/"
        "deployer is not authorized to perform: iam:ListRoles",
        "access denied. The credentials in use need permission for iam:ListRoles.",
    )
    assert proxy.faults == 1  # refused once, not retried


def test_throttling_is_retried_with_backoff_then_reported(
    moto_server: str, manifest_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda throttling ListFunctions (429 TooManyRequestsException) twice, then for good."""
    slept: list[float] = []
    monkeypatch.setattr("cronplane.aws.client._sleep", slept.append)
    budget = {"left": 2}

    def throttle(method: str, path: str, body: bytes) -> Any:
        if method != "GET" or not path.startswith("/2015-03-31/functions") or budget["left"] <= 0:
            return None
        budget["left"] -= 1
        return (
            429,
            {"x-amzn-ErrorType": "TooManyRequestsException", "Content-Type": "application/json"},
            (b'{"message": "Rate exceeded", "Type": "User", "Reason": "CallerRateLimitExceeded"}'),
        )

    proxy = FaultProxy(moto_server, throttle)
    try:
        code, out, err = jobctl(capsys, "plan", "-f", manifest_path, "--endpoint-url", proxy.url)
        assert code == 0, err
        assert out.rstrip().endswith("Plan: 30 to create, 0 to update, 0 to delete.")
        assert proxy.faults == 2 and len(slept) == 2  # two throttled answers, two waits, then success
        budget["left"] = 100  # throttled for good
        slept.clear()
        code, _, err = jobctl(capsys, "plan", "-f", manifest_path, "--endpoint-url", proxy.url)
        assert_one_clear_error(
            code,
            err,
            "AWS lambda list_functions failed: TooManyRequestsException: Rate exceeded",
            "still throttled after retries; try again later.",
        )
        assert len(slept) == 5 and proxy.faults == 2 + 6  # six attempts in all, a backoff wait between each
    finally:
        proxy.close()


def test_unreachable_endpoint_is_one_message(manifest_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, _, err = jobctl(capsys, "deploy", "-f", manifest_path, "--yes", "--endpoint-url", f"http://127.0.0.1:{port}")
    assert_one_clear_error(
        code,
        err,
        f"Cannot reach resourcegroupstaggingapi at http://127.0.0.1:{port}: nothing answers there.",
        "Is the emulator (`jobctl dev`) running?",
    )


def test_misspelt_region_is_named_in_the_message(
    manifest_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No endpoint override: the name of AWS's endpoint for a region that does not exist does
    not resolve. (Name lookups are refused here, as a missing DNS record would be, so the test
    sends nothing off the machine.)"""
    import socket

    real = socket.getaddrinfo

    def no_dns(host: Any, *args: Any, **kw: Any) -> Any:
        if host in ("127.0.0.1", "localhost"):
            return real(host, *args, **kw)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    code, _, err = jobctl(capsys, "plan", "-f", manifest_path, "--region", "eu-wst-1")
    assert_one_clear_error(
        code,
        err,
        "Cannot reach AWS resourcegroupstaggingapi at https://tagging.eu-wst-1.amazonaws.com (region eu-wst-1).",
        "'eu-wst-1' is not a known AWS region",
    )


def test_region_option_and_environment_decide_where_the_deploy_goes(
    aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test environment sets AWS_DEFAULT_REGION=eu-west-1 (the manifest's region too):
    AWS_REGION beats it, and --region beats both."""
    monkeypatch.setenv("AWS_REGION", "us-east-2")
    code, _, err = jobctl(capsys, "deploy", "-f", manifest_path, "--yes", "--region", "ap-south-1")
    assert code == 0, err
    assert "Note: using AWS region ap-south-1" in err and "jobs.yaml says eu-west-1" in err

    def functions(region: str) -> int:
        return len(boto3.client("lambda", region_name=region).list_functions()["Functions"])

    assert (functions("ap-south-1"), functions("us-east-2"), functions("eu-west-1")) == (4, 0, 0)
    code, out, err = jobctl(capsys, "plan", "-f", manifest_path)  # AWS_REGION now: no function there yet
    # (IAM is global: the roles made for ap-south-1 are seen from here too, so only the functions are asserted)
    assert code == 0 and "  + lambda function acme-jobs--nightly-report  (new job)" in out
    assert "using AWS region us-east-2" in err


def test_unknown_profile_is_one_message(manifest_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "plan", "-f", manifest_path, "--profile", "nope")
    assert_one_clear_error(code, err, "AWS settings: The config profile (nope) could not be found")


def test_plan_shows_updates_old_to_new_and_deletes_with_their_reason(
    aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert jobctl(capsys, "deploy", "-f", manifest_path, "--yes")[0] == 0
    path = Path(manifest_path)
    text = path.read_text().replace("schedule: rate(15 minutes)", "schedule: rate(30 minutes)")
    start, end = text.index("  tmp-cleanup:"), text.index("  search-reindex:")
    path.write_text(text[:start] + text[end:])

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "--detailed-exitcode")
    assert code == 2
    lines = out.splitlines()
    rule = lines.index("  ~ eventbridge rule acme-jobs--invoice-sync  (settings differ)")
    assert lines[rule + 1] == "      expression: rate(15 minutes) → rate(30 minutes)"
    for label in (
        "eventbridge rule acme-jobs--tmp-cleanup",
        "lambda function acme-jobs--tmp-cleanup",
        "log group /aws/lambda/acme-jobs--tmp-cleanup",
        "sqs queue acme-jobs--tmp-cleanup-dlq",
        "iam role acme-jobs--tmp-cleanup-exec",
    ):
        assert f"  - {label}  (job tmp-cleanup is no longer in the manifest)" in lines
    assert lines[-1] == "Plan: 0 to create, 1 to update, 5 to delete."

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "-o", "json")
    changes = json.loads(out)["changes"]
    update = next(c for c in changes if c["action"] == "update")
    assert update["resource"] == "eventbridge rule acme-jobs--invoice-sync" and update["job"] == "invoice-sync"
    assert update["fields"] == {"expression": {"old": "rate(15 minutes)", "new": "rate(30 minutes)"}}
    assert sorted(c["action"] for c in changes) == ["delete"] * 5 + ["update"]


def test_plan_and_deploy_name_a_paused_job_as_drift_not_a_match(
    aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 6: a job paused with `jobctl pause` whose manifest says `enabled: true` is drift the
    plan explains (the user chooses), not "AWS matches the manifest"; it is not a pending change."""
    assert jobctl(capsys, "deploy", "-f", manifest_path, "--yes")[0] == 0
    assert jobctl(capsys, "pause", "tmp-cleanup", "-f", manifest_path)[0] == 0

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "--detailed-exitcode")
    assert code == 0, out  # deploy keeps the pause: nothing to apply, so no exit 2
    lines = out.splitlines()
    assert lines[0] == "Notes:"
    assert lines[1].startswith("  job tmp-cleanup: paused by arn:aws:") and (
        "the manifest says `enabled: true` but the eventbridge rule stays disabled by the pause" in lines[1]
    )
    assert lines[1].endswith(
        "`jobctl resume tmp-cleanup` or `jobctl deploy --unpause tmp-cleanup` to enable it, "
        "or set `enabled: false` in the manifest to keep it off"
    )
    assert lines[-1] == "No changes to apply. 1 job differs from the manifest on purpose: paused (see notes)."
    assert "AWS matches the manifest" not in out

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "-o", "json", "--detailed-exitcode")
    data = json.loads(out)
    assert code == 0 and data["changes"] == []
    (drift,) = data["drift"]
    assert {k: drift[k] for k in ("job", "field", "manifest", "live")} == {
        "job": "tmp-cleanup",
        "field": "enabled",
        "manifest": True,
        "live": False,
    }
    assert drift["reason"].startswith("paused by arn:aws:") and " since 20" in drift["reason"]

    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path, "--yes")
    assert code == 0 and "0 writes" in out
    assert "No changes to apply. 1 job differs from the manifest on purpose: paused (see notes)." in out
    assert "AWS matches the manifest" not in out
    assert boto3.client("events").describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "DISABLED"

    # A deploy that does change something still says the paused job was left as it is.
    path = Path(manifest_path)
    path.write_text(path.read_text().replace("schedule: rate(15 minutes)", "schedule: rate(30 minutes)"))
    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path, "--yes")
    assert code == 0
    assert (
        "Plan: 0 to create, 1 to update, 0 to delete. 1 job differs from the manifest on purpose: paused (see notes)."
    ) in out.splitlines()
    assert out.splitlines()[-1] == "Left as it was: 1 job differs from the manifest on purpose: paused (see notes)."
    assert boto3.client("events").describe_rule(Name="acme-jobs--tmp-cleanup")["State"] == "DISABLED"

    # Resumed: AWS matches the manifest again, and the plan says so.
    assert jobctl(capsys, "resume", "tmp-cleanup", "-f", manifest_path)[0] == 0
    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "-o", "json")
    assert json.loads(out)["drift"] == []
    assert jobctl(capsys, "plan", "-f", manifest_path)[1].splitlines()[-1] == "No changes. AWS matches the manifest."
