"""``jobctl run-now`` and ``jobctl history`` against a moto server on 127.0.0.1 (the HTTP path
boto3 takes to AWS).

moto's Invoke does not run code here (``use_docker: false``: an Event invocation is accepted
and dropped), so the remote test checks the Invoke request the command sends and plays the
function's part for ``--wait`` by writing the run record from the test when the Invoke goes
out. Full remote runs are ``jobctl dev``'s e2e tests, whose server runs functions. The local
test runs the real package and wrapper, which write to the server's history table."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer

from cronplane.aws.client import AwsClient
from cronplane.runtime.schema import table_definition
from testkit import jobctl

pytestmark = pytest.mark.e2e

TABLE = "qa-jobs-history"
MANIFEST = """\
namespace: qa-jobs
region: eu-west-1
defaults:
  timeout: 10
  retries: {max_attempts: 2, backoff_base: 0.1, backoff_cap: 0.1}
jobs:
  ok-job:
    handler: qa/tasks.py:ok
    schedule: rate(1 hour)
    team: qa
    payload: {n: 2}
  bad-job:
    handler: qa/tasks.py:bad
    schedule: rate(1 hour)
    team: qa
"""
TASKS = """\
def ok(event, context):
    print("working on", event["n"])
    return {"double": event["n"] * 2}

def bad(event, context):
    raise ValueError("bad input")
"""


@pytest.fixture
def server(moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "jobs" / "qa").mkdir(parents=True)
    (tmp_path / "jobs.yaml").write_text(MANIFEST)
    (tmp_path / "jobs" / "qa" / "tasks.py").write_text(TASKS)
    monkeypatch.chdir(tmp_path)
    boto3.client("dynamodb", endpoint_url=moto_server, region_name="eu-west-1").create_table(**table_definition(TABLE))
    yield moto_server


def set_use_docker(endpoint: str, value: bool) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config", method="POST", data=json.dumps({"lambda": {"use_docker": value}}).encode()
    )
    urllib.request.urlopen(request, timeout=5)


def deploy_functions(endpoint: str) -> None:
    """Just enough of a deploy for Invoke: a role and the two functions (moto without Docker)."""
    set_use_docker(endpoint, False)
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="eu-west-1")
    role = iam.create_role(
        RoleName="qa-exec", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "")
    lam = boto3.client("lambda", endpoint_url=endpoint, region_name="eu-west-1")
    for job in ("ok-job", "bad-job"):
        lam.create_function(
            FunctionName=f"qa-jobs--{job}",
            Runtime="python3.11",
            Role=role["Role"]["Arn"],
            Handler="cronplane.runtime.entry.handler",
            Code={"ZipFile": code.getvalue()},
            Tags={"cronplane:namespace": "qa-jobs"},  # run-now invokes only its namespace's function
        )


REAL_CLIENT = AwsClient.boto3_client


def spy_invokes(monkeypatch: pytest.MonkeyPatch, on_invoke: Callable[[dict[str, Any]], None]) -> list[dict[str, Any]]:
    """Record the parameters of every Lambda Invoke the CLI's clients send (botocore hooks)."""
    sent: list[dict[str, Any]] = []
    original = REAL_CLIENT  # not the current attribute: a second spy replaces the first

    hooked: list[Any] = []  # the door builds a client once and hands it out on every call

    def client(self: AwsClient, service: str) -> Any:
        made = original(self, service)
        if service == "lambda" and not any(known is made for known in hooked):
            hooked.append(made)

            def hook(params: dict[str, Any], **_: Any) -> None:
                sent.append(dict(params))
                on_invoke(params)

            made.meta.events.register("before-parameter-build.lambda.Invoke", hook)
        return made

    monkeypatch.setattr(AwsClient, "boto3_client", client)
    return sent


def play_function(endpoint: str, record: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """What the deployed wrapper would do: write the run's record a moment after the invoke."""
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="eu-west-1")
    serializer = TypeSerializer()

    def on_invoke(params: dict[str, Any]) -> None:
        envelope = json.loads(params["Payload"])["cronplane"]
        item = {**record, "run_id": envelope["run_id"], "triggered_by": envelope.get("triggered_by")}

        def write() -> None:
            time.sleep(0.5)
            ddb.put_item(TableName=TABLE, Item={k: serializer.serialize(v) for k, v in item.items() if v is not None})

        threading.Thread(target=write, daemon=True).start()

    return on_invoke


def final_record(job: str, status: str, **extra: Any) -> dict[str, Any]:
    base = {
        "job": job,
        "kind": "run",
        "gsi_pk": "run",
        "trigger": "manual",
        "status": status,
        "started_at": "2026-11-27T09:00:00Z",
        "finished_at": "2026-11-27T09:00:01Z",
        "duration_ms": 1234,
        "attempts": [{"attempt": 1, "started_at": "2026-11-27T09:00:00Z", "duration_ms": 1234}],
    }
    return {**base, **extra}


def test_remote_run_now_invokes_async_with_the_manual_envelope_and_waits(
    server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    deploy_functions(server)
    # queued: no wait, exit 0 once Lambda accepted the event
    sent = spy_invokes(monkeypatch, lambda params: None)
    code, out, _ = jobctl(capsys, "run-now", "ok-job", "--endpoint-url", server, "--payload", '{"n": 7}')
    assert code == 0
    (params,) = sent
    assert params["FunctionName"] == "qa-jobs--ok-job" and params["InvocationType"] == "Event"
    envelope = json.loads(params["Payload"])["cronplane"]
    assert envelope["trigger"] == "manual" and envelope["payload"] == {"n": 7}
    assert envelope["triggered_by"] == "arn:aws:sts::123456789012:user/moto"  # STS caller identity
    run_id = envelope["run_id"]
    assert f"run {run_id} of ok-job queued (manual, by arn:aws:sts::123456789012:user/moto)" in out
    assert f"jobctl history ok-job --run {run_id}" in out

    # --wait: follows the record until it is final; exit 0 only when it succeeded
    sent = spy_invokes(monkeypatch, play_function(server, final_record("ok-job", "succeeded")))
    code, out, _ = jobctl(capsys, "run-now", "ok-job", "--endpoint-url", server, "--wait")
    assert code == 0 and "succeeded in 1.2 s after 1 attempt" in out
    assert "payload" not in json.loads(sent[0]["Payload"])["cronplane"]  # the job's own payload

    failed = final_record(
        "bad-job",
        "failed",
        error="ValueError: bad input",
        attempts=[
            {"attempt": 1, "error_type": "ValueError", "error_message": "bad input"},
            {"attempt": 2, "error_type": "ValueError", "error_message": "bad input"},
        ],
    )
    spy_invokes(monkeypatch, play_function(server, failed))
    code, out, _ = jobctl(capsys, "run-now", "bad-job", "--endpoint-url", server, "--wait", "-o", "json")
    assert code == 1
    shown = json.loads(out)
    assert shown["status"] == "failed" and shown["record"]["error"] == "ValueError: bad input"
    assert len(shown["record"]["attempts"]) == 2 and shown["invocation_type"] == "Event"

    # nothing ever writes the record: --wait gives up with one clear message
    spy_invokes(monkeypatch, lambda params: None)
    code, _, err = jobctl(capsys, "run-now", "ok-job", "--endpoint-url", server, "--wait", "--timeout-wait", "1")
    assert code == 1 and "gave up waiting after 1 s: its record never appeared" in err

    # --sync: RequestResponse; the wrapper answers with the run's record (queued in moto here)
    monkeypatch.setattr("cronplane.runs.invoke.new_manual_run_id", lambda now=None: "20261127T090000Z-msync01")
    answer = {**final_record("ok-job", "succeeded"), "run_id": "20261127T090000Z-msync01"}
    queue = {"results": [json.dumps(answer)], "region": "eu-west-1"}
    urllib.request.urlopen(
        urllib.request.Request(
            f"{server}/moto-api/static/lambda-simple/response", data=json.dumps(queue).encode(), method="POST"
        ),
        timeout=5,
    )
    sent = spy_invokes(monkeypatch, lambda params: None)
    code, out, _ = jobctl(capsys, "run-now", "ok-job", "--endpoint-url", server, "--sync")
    assert code == 0 and sent[0]["InvocationType"] == "RequestResponse"
    assert "run 20261127T090000Z-msync01 of ok-job ran synchronously" in out and "succeeded in 1.2 s" in out

    # a job that is not deployed (moto's Docker-less backend answers for any name: switch back to
    # the regular one, which holds no function and checks the name as Lambda does)
    set_use_docker(server, True)
    code, _, err = jobctl(capsys, "run-now", "ok-job", "--endpoint-url", server)
    assert code == 1 and "function qa-jobs--ok-job does not exist here: deploy the job first" in err


def test_run_now_json_that_gives_up_waiting_still_prints_the_run(
    server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # -o json used to print nothing on stdout here: a script lost the id of the run it queued.
    deploy_functions(server)
    running = {
        **final_record("ok-job", "running"),
        "finished_at": None,
        "duration_ms": None,
        "deadline": "2199-01-01T00:00:00Z",
    }  # not past its deadline: not shown as lost
    spy_invokes(monkeypatch, play_function(server, running))
    code, out, err = jobctl(
        capsys, "run-now", "ok-job", "--endpoint-url", server, "--wait", "--timeout-wait", "1", "-o", "json"
    )
    shown = json.loads(out)
    assert code == 1 and "gave up waiting after 1 s" in err
    assert shown["run_id"].startswith("2") and f"--run {shown['run_id']}" in err
    assert shown["status"] == "running" and shown["record"]["run_id"] == shown["run_id"]


def test_local_run_writes_its_record_to_the_reachable_table(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    sqs = boto3.client("sqs", endpoint_url=server, region_name="eu-west-1")
    dlq = sqs.create_queue(QueueName="qa-jobs--bad-job-dlq")["QueueUrl"]
    code, out, err = jobctl(capsys, "run-now", "ok-job", "--local", "--endpoint-url", server)
    assert code == 0 and "ok-job | working on 2" in err
    assert "succeeded (local; record in qa-jobs-history)" in out
    code, out, err = jobctl(capsys, "run-now", "bad-job", "--local", "--endpoint-url", server)
    assert code == 1 and "failed (local; record in qa-jobs-history)" in out
    messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
    assert len(messages) == 1 and json.loads(messages[0]["Body"])["job"] == "bad-job"  # on the emulator's DLQ, once

    code, out, _ = jobctl(capsys, "history", "--endpoint-url", server, "-o", "json")
    assert code == 0
    runs = {r["job"]: r for r in json.loads(out)}
    assert runs["ok-job"]["status"] == "succeeded" and runs["ok-job"]["result"] == {"double": 4}
    assert runs["ok-job"]["triggered_by"] == "arn:aws:sts::123456789012:user/moto"
    assert runs["bad-job"]["status"] == "failed" and len(runs["bad-job"]["attempts"]) == 2
    code, out, _ = jobctl(capsys, "history", "bad-job", "--endpoint-url", server)
    assert code == 0 and "bad-job: 1 run, 0% succeeded" in out
