"""A user whose credentials lack a permission reads the same one line from every command, and
it names the permission: ``jobctl deploy``, ``pause``, ``dlq replay``, ``history`` and ``run-now``
all go through the one AWS door. The AWS here is a real HTTP endpoint on 127.0.0.1 that refuses
every request the way AWS does, in each service's protocol (query XML for STS / IAM, JSON for
DynamoDB / SQS / EventBridge, REST-JSON for Lambda / Scheduler)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from testkit import jobctl

DENIED = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform this action"
MANIFEST = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  nightly-report:
    handler: billing/report.py:handler
    schedule: cron(0 2 * * ? *)
    team: billing
"""
ONE_LINE = re.compile(
    r"Error: AWS (?P<service>[a-z]+) (?P<operation>[a-z_]+) failed: (?P<code>AccessDenied(?:Exception)?): "
    + re.escape(DENIED)
    + r" — access denied\. The credentials in use need permission for (?P<permission>[a-z]+:[A-Za-z]+)\.\n"
)


class RefusingAws(BaseHTTPRequestHandler):
    """Answers every AWS API request with AccessDenied, in the protocol it was asked in."""

    def _refuse(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):  # the query protocol
            body = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
                f"<Message>{DENIED}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
            ).encode()
            self._send(403, "text/xml", body, {})
            return
        body = json.dumps({"__type": "AccessDeniedException", "message": DENIED}).encode()
        status = 400 if "x-amz-json" in (self.headers.get("Content-Type") or "") else 403
        self._send(status, "application/json", body, {"x-amzn-ErrorType": "AccessDeniedException"})

    def _send(self, status: int, content_type: str, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", "r-1")
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _refuse

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def refusing_aws() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingAws)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jobs" / "billing").mkdir(parents=True)
    (tmp_path / "jobs" / "billing" / "report.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    monkeypatch.chdir(tmp_path)
    return tmp_path


COMMANDS = {
    # deploy's first read is the inventory's tagging query (the account id comes from its ARNs)
    "deploy": (["deploy", "--yes"], "tag:GetResources"),
    "pause": (["pause", "nightly-report"], "events:DescribeRule"),
    "dlq replay": (["dlq", "replay", "nightly-report", "--all", "--yes"], "sqs:GetQueueUrl"),
    "history": (["history", "nightly-report"], "dynamodb:Query"),
    # run-now reads the function's tags first: it invokes only its own namespace's function
    "run-now": (["run-now", "nightly-report"], "lambda:GetFunction"),
}


def test_access_denied_reads_the_same_for_every_command_and_names_the_permission(
    project: Path, refusing_aws: str, capsys: pytest.CaptureFixture[str]
) -> None:
    shapes = {}
    for name, (args, permission) in COMMANDS.items():
        code, _out, err = jobctl(capsys, *args, "--endpoint-url", refusing_aws)
        assert code == 1, (name, err)
        assert "Traceback" not in err and err.count("\n") == 1, (name, err)
        line = ONE_LINE.fullmatch(err)
        assert line is not None, (name, err)
        assert line["permission"] == permission, (name, err)
        # What differs between commands is only which call was refused.
        shapes[name] = err.replace(line["service"], "S", 1).replace(line["operation"], "O", 1)
        shapes[name] = shapes[name].replace(line["permission"], "P").replace(line["code"], "C")
    assert len(set(shapes.values())) == 1, shapes
