"""The attacks on the `jobctl dev` port against the real thing: `jobctl dev` in its own process,
the example jobs deployed, a web page's request and another local user's request sent to its
port. Each is refused with 403 and leaves no run record; then the developer's own `jobctl`
and boto3, which use the session key, work as before."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from test_dev_e2e import NAMESPACE, REGION, Dev, copy_project, start_dev, stop_dev

from cronplane.manifest import names
from support.signing import send, send_signed

pytestmark = pytest.mark.e2e

JOB = "nightly-report"
FUNCTION = names.function_name(NAMESPACE, JOB)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    server = start_dev(copy_project(tmp_path_factory.mktemp("attacked")), "--no-schedule")
    try:
        yield server
    finally:
        assert stop_dev(server) == 0, server.output()


def invocations(dev: Dev) -> str:
    return f"{dev.url}/2015-03-31/functions/{FUNCTION}/invocations"


def test_a_web_pages_simple_post_runs_no_job(dev: Dev) -> None:
    answer = send(
        invocations(dev),
        body=json.dumps({"invoices": [{"currency": "EUR", "amount_cents": 1, "status": "paid"}]}).encode(),
        headers={"Content-Type": "text/plain;charset=UTF-8", "Origin": "http://evil.example"},
    )
    assert answer.status == 403 and answer.json()["__type"] == "AccessDeniedException"
    # RequestResponse: had it run, its record would exist by the time the answer came.
    assert dev.history(JOB) == []
    dev.wait_for("refused a request to the emulator")


def test_another_users_create_function_and_invoke_are_refused(dev: Dev, tmp_path: Path) -> None:
    marker = tmp_path / "attacker-ran"
    source = f"open({str(marker)!r}, 'w').write('ran')\ndef handler(event, context):\n    return 1\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", source)
    attacker = boto3.client(
        "lambda",
        region_name=REGION,
        endpoint_url=dev.url,
        aws_access_key_id="AKIAATTACKER00000000",
        aws_secret_access_key="guess",
        config=Config(retries={"max_attempts": 1}),
    )
    with pytest.raises(ClientError) as created:
        attacker.create_function(
            FunctionName="planted",
            Runtime="python3.12",
            Role=f"arn:aws:iam::123456789012:role/{names.role_name(NAMESPACE, JOB)}",
            Handler="app.handler",
            Code={"ZipFile": buffer.getvalue()},
        )
    assert created.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError):
        attacker.invoke(FunctionName=FUNCTION, Payload=b"{}")
    functions = {f["FunctionName"] for f in dev.client("lambda").list_functions()["Functions"]}
    assert "planted" not in functions and FUNCTION in functions
    assert not marker.exists()
    assert dev.history(JOB) == []


def test_a_rebound_host_name_is_refused_even_when_signed(dev: Dev) -> None:
    key = dev.credentials
    answer = send_signed(
        invocations(dev),
        key.access_key_id,
        key.secret_access_key,
        body=b"{}",
        headers={"Host": f"evil.example:{dev.port}"},
    )
    assert answer.status == 403
    assert dev.history(JOB) == []


def test_the_developers_own_tools_still_work(dev: Dev) -> None:
    """Control for the tests above: the same job does run (and leaves a record) for jobctl,
    which finds the session key by itself."""
    done = dev.jobctl("run-now", JOB, "--sync")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["status"] for r in dev.jobctl_history(JOB)] == ["succeeded"]
