"""``jobctl dev`` as a user runs it: a separate process on a free port, then the ordinary
commands (``jobctl run-now`` / ``history``) and plain boto3 against it. The functions run for
real (the example jobs in jobs/), the schedules fire on their own, Ctrl-C leaves nothing behind."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from cronplane.aws.session import DevCredentials
from cronplane.manifest import names
from support.motoserver import free_port
from testkit import process_alive

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

NAMESPACE = "acme-jobs"
REGION = "eu-west-1"
READY = "cronplane dev is ready"


@dataclass
class Dev:
    proc: subprocess.Popen[bytes]
    root: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def credentials(self) -> DevCredentials:
        """The session key the dev server serves (it refuses every other one)."""
        from cronplane.aws.session import read_dev_credentials

        key = read_dev_credentials(self.root, self.url)
        assert key is not None, "no .cronplane/dev-credentials for this dev server"
        return key

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.url,
            aws_access_key_id=self.credentials.access_key_id,
            aws_secret_access_key=self.credentials.secret_access_key,
            config=Config(retries={"max_attempts": 2}, read_timeout=60),
        )

    def env_lines(self) -> dict[str, str]:
        """What `eval "$(jobctl dev env)"` exports in the project folder."""
        done = subprocess.run(
            [sys.executable, "-m", "cronplane.cli.main", "dev", "env"],
            cwd=self.root,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        export = next(line for line in done.stdout.splitlines() if line.startswith("export "))
        return dict(word.split("=", 1) for word in shlex.split(export)[1:])

    def jobctl(self, *args: str, endpoint: bool = True) -> subprocess.CompletedProcess[str]:
        extra = ["--endpoint-url", self.url] if endpoint else []
        return subprocess.run(
            [sys.executable, "-m", "cronplane.cli.main", *args, "-f", str(self.root / "jobs.yaml"), *extra],
            cwd=self.root,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    def jobctl_history(self, job: str) -> list[dict[str, Any]]:
        done = self.jobctl("history", job, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    def history(self, job: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
        """The job's run records (their plain form), newest first, read with plain boto3 (one Query)."""
        from cronplane.runtime.schema import RunRecord, from_item

        items = self.client("dynamodb").query(
            TableName=f"{namespace}-history",
            KeyConditionExpression="job = :j",
            ScanIndexForward=False,
            ExpressionAttributeValues={":j": {"S": job}},
        )["Items"]
        return [r.as_dict() for r in map(from_item, items) if isinstance(r, RunRecord)]

    def wait_for(self, text: str, timeout: float = 60.0, after: int = 0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output()[after:]:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"jobctl dev exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear within {timeout}s:\n{self.output()}")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def copy_project(target: Path, manifest: str | None = None) -> Path:
    shutil.copytree(ROOT / "jobs", target / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    (target / "jobs.yaml").write_text(manifest if manifest is not None else (ROOT / "jobs.yaml").read_text())
    return target


def start_dev(root: Path, *args: str, env: dict[str, str] | None = None) -> Dev:
    port = free_port()
    log = root / "dev.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronplane.cli.main", "dev", "-f", str(root / "jobs.yaml"), "--port", str(port), *args],
        cwd=root,
        env={**_env(), **(env or {})},
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    handle.close()
    dev = Dev(proc, root, port, log)
    try:
        dev.wait_for(READY, timeout=90)
    except BaseException:
        stop_dev(dev)
        raise
    return dev


def stop_dev(dev: Dev) -> int:
    if dev.proc.poll() is None:
        dev.proc.send_signal(signal.SIGINT)
        try:
            dev.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            dev.proc.kill()
            dev.proc.wait()
    return dev.proc.returncode


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    root = copy_project(tmp_path_factory.mktemp("devproject"))
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    # The shell names a profile this machine lacks and a DynamoDB endpoint elsewhere: the dev
    # server (deploy, functions, their history writes) must talk only to its own emulator.
    server = start_dev(
        root,
        "--no-schedule",
        env={"AWS_PROFILE": "cronplane-no-such-profile", "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9"},
    )
    try:
        yield server
    finally:
        if server.proc.poll() is None:
            # SIGTERM (what a process manager sends) stops it as cleanly as Ctrl-C does.
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                stop_dev(server)
        assert server.proc.returncode == 0, server.output()
        assert not (root / ".cronplane" / "dev.json").exists()
        assert not (root / ".cronplane" / "dev-credentials").exists()


def test_ready_banner_and_dev_files(dev: Dev) -> None:
    out = dev.output()
    key = dev.credentials
    assert (
        f"export AWS_ENDPOINT_URL={dev.url} AWS_ACCESS_KEY_ID={key.access_key_id} "
        f"AWS_SECRET_ACCESS_KEY={key.secret_access_key} AWS_REGION={REGION} AWS_DEFAULT_REGION={REGION}"
    ) in out
    info = json.loads((dev.root / ".cronplane" / "dev.json").read_text())
    assert info["endpoint_url"] == dev.url and info["pid"] == dev.proc.pid
    assert (dev.root / ".cronplane" / "dev-credentials").stat().st_mode & 0o777 == 0o600
    assert dev.env_lines() == {
        "AWS_ENDPOINT_URL": dev.url,
        "AWS_ACCESS_KEY_ID": key.access_key_id,
        "AWS_SECRET_ACCESS_KEY": key.secret_access_key,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }
    functions = {f["FunctionName"] for f in dev.client("lambda").list_functions()["Functions"]}
    assert {
        names.function_name(NAMESPACE, "nightly-report"),
        names.function_name(NAMESPACE, "search-reindex"),
    } <= functions


def test_run_now_sync_and_async_give_succeeded_records(dev: Dev) -> None:
    sync = dev.jobctl("run-now", "nightly-report", "--sync")
    assert sync.returncode == 0, sync.stdout + sync.stderr
    # No --endpoint-url: jobctl finds the running dev server through .cronplane/dev.json.
    queued = dev.jobctl("run-now", "tmp-cleanup", "--wait", endpoint=False)
    assert queued.returncode == 0, queued.stdout + queued.stderr
    for job in ("nightly-report", "tmp-cleanup"):
        [record] = [r for r in dev.jobctl_history(job) if r["trigger"] == "manual"][:1]
        assert record["status"] == "succeeded"
        assert record["duration_ms"] >= 0
    report = next(r for r in dev.history("nightly-report") if r["trigger"] == "manual")
    assert "totals_cents" in json.dumps(report["result"])  # the job's real return value
    # The job's own log line, prefixed with its name, and the run line from its record.
    dev.wait_for("[nightly-report] report ready")
    assert any(
        line.split()[1:4] == ["nightly-report", "manual", "succeeded"]
        for line in dev.output().splitlines()
        if line[:1].isdigit()
    )


def test_plain_boto3_invoke_runs_the_function(dev: Dev) -> None:
    resp = dev.client("lambda").invoke(
        FunctionName=names.function_name(NAMESPACE, "nightly-report"),
        Payload=json.dumps({"invoices": [{"currency": "EUR", "amount_cents": 500, "status": "paid"}]}).encode(),
    )
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    runs = [r for r in dev.history("nightly-report") if r["status"] == "succeeded"]
    assert any(r["result"] and "500" in json.dumps(r["result"]) for r in runs)


@pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not installed")
def test_aws_cli_lambda_invoke_runs_the_function(dev: Dev, tmp_path: Path) -> None:
    """`aws lambda invoke` in a shell set up by `eval "$(jobctl dev env)"`, as the banner says;
    the same command with any other key is refused."""
    env = {**_env(), **dev.env_lines(), "AWS_PAGER": ""}
    refused = subprocess.run(
        ["aws", "lambda", "list-functions"],
        env={**env, "AWS_ACCESS_KEY_ID": "AKIAOTHERKEY00000000"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "UnrecognizedClientException" in refused.stderr, refused.stderr
    out = tmp_path / "out.json"
    done = subprocess.run(
        [
            "aws",
            "lambda",
            "invoke",
            "--function-name",
            names.function_name(NAMESPACE, "nightly-report"),
            "--payload",
            json.dumps({"invoices": [{"currency": "CHF", "amount_cents": 321, "status": "paid"}]}),
            "--cli-binary-format",
            "raw-in-base64-out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if "cli-binary-format" in done.stderr:  # AWS CLI v1 has no such option and takes raw JSON
        done = subprocess.run(
            [
                "aws",
                "lambda",
                "invoke",
                "--function-name",
                names.function_name(NAMESPACE, "nightly-report"),
                "--payload",
                json.dumps({"invoices": [{"currency": "CHF", "amount_cents": 321, "status": "paid"}]}),
                str(out),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["StatusCode"] == 200
    result = json.loads(out.read_text())["result"]  # the wrapper's answer: the run record
    assert (json.loads(result) if isinstance(result, str) else result)["totals_cents"] == {"CHF": 321}


def test_failing_job_gives_failed_record_and_a_dlq_message(dev: Dev) -> None:
    done = dev.jobctl("run-now", "invoice-sync", "--payload", '{"fail_attempts": 5}', "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    failed = [r for r in dev.history("invoice-sync") if r["status"] == "failed"]
    assert failed and len(failed[0]["attempts"]) == 3  # max_attempts in jobs.yaml
    messages = receive_dlq(dev, "invoice-sync")
    assert any(m.get("run_id") == failed[0]["run_id"] and m.get("status") == "failed" for m in messages)


def test_job_over_its_timeout_is_timed_out(dev: Dev) -> None:
    done = dev.jobctl("run-now", "search-reindex", "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    [record] = dev.history("search-reindex")[:1]
    assert record["status"] == "timed_out"
    assert any(m.get("status") == "timed_out" for m in receive_dlq(dev, "search-reindex"))


def receive_dlq(dev: Dev, job: str) -> list[dict[str, Any]]:
    sqs = dev.client("sqs")
    url = sqs.get_queue_url(QueueName=names.dlq_name(NAMESPACE, job))["QueueUrl"]
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + 10
    while not bodies and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            bodies.append(json.loads(message["Body"]))
        time.sleep(0.2)
    return bodies


def test_reload_redeploys_changes_and_survives_a_broken_manifest(dev: Dev) -> None:
    manifest = dev.root / "jobs.yaml"
    original = manifest.read_text()
    mark = len(dev.output())
    manifest.write_text(original.replace("jobs:\n", "jobs:\n  broken-job:\n    handler: nope\n", 1))
    dev.wait_for("not deployed; the previous deployment keeps running", after=mark)
    mark = len(dev.output())
    manifest.write_text(original.replace("max_age_hours: 24", "max_age_hours: 48"))
    dev.wait_for(f"deployed {manifest}", after=mark)
    env = dev.client("lambda").get_function_configuration(FunctionName=names.function_name(NAMESPACE, "tmp-cleanup"))[
        "Environment"
    ]["Variables"]
    assert json.loads(env["CRONPLANE_PAYLOAD"])["max_age_hours"] == 48
    manifest.write_text(original)
    # A change to a job's code is re-deployed too, and the next run runs the new code.
    code = dev.root / "jobs" / "billing" / "nightly_report.py"
    mark = len(dev.output())
    code.write_text(code.read_text().replace('"report ready: %s"', '"report v2 ready: %s"'))
    dev.wait_for(f"deployed {manifest}", after=mark)
    resp = dev.client("lambda").invoke(FunctionName=names.function_name(NAMESPACE, "nightly-report"), Payload=b"{}")
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    dev.wait_for("[nightly-report] report v2 ready", after=mark)


PER_MINUTE = """\
namespace: tick-jobs
region: eu-west-1
jobs:
  minutely:
    handler: infra/tmp_cleanup.py:handler
    schedule: rate(1 minute)
    team: infra
    timeout: 30
  paused:
    handler: infra/tmp_cleanup.py:handler
    schedule: rate(1 minute)
    team: infra
    enabled: false
  slow:
    handler: infra/search_reindex.py:handler
    schedule: rate(1 day)
    team: infra
    timeout: 120
    payload:
      batches: 100
"""


def test_a_per_minute_job_fires_on_its_own_and_sigint_leaves_nothing_behind(tmp_path: Path) -> None:
    root = copy_project(tmp_path, PER_MINUTE)
    dev = start_dev(root, "--time-scale", "60")  # a minute passes every second
    try:
        deadline = time.monotonic() + 30
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(runs) < 2:
            runs = [
                r
                for r in dev.history("minutely", "tick-jobs")
                if r["trigger"] == "schedule" and r["status"] == "succeeded"
            ]
            time.sleep(0.2)
        assert len(runs) >= 2, dev.output()
        assert all(r["scheduled_for"] for r in runs)
        assert dev.history("paused", "tick-jobs") == []  # disabled trigger: never fires
        assert "minutely" in dev.output() and "schedule" in dev.output()
        # A long run is in flight when Ctrl-C comes: it must die with the server.
        dev.client("lambda").invoke(
            FunctionName=names.function_name("tick-jobs", "slow"), InvocationType="Event", Payload=b"{}"
        )
        children = _wait_children(dev.proc.pid)
    finally:
        code = stop_dev(dev)
    assert code == 0, dev.output()
    for pid in children:
        assert not process_alive(pid), f"child {pid} survived"
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", dev.port))
    assert not (root / ".cronplane" / "dev.json").exists()
    assert "stopped." in dev.output()


def _wait_children(pid: int) -> list[int]:
    from cronplane.local.processes import RUNNER_MARKER, child_pids

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        children = child_pids(pid, RUNNER_MARKER)
        if children:
            return children
        time.sleep(0.05)
    raise AssertionError("no function process was running")
