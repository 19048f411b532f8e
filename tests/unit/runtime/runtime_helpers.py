"""Helpers and fixtures for the runtime tests (a uniquely named module, not a conftest.py, so
`from conftest import ...` elsewhere in the suite never picks these up): a history table and DLQ in moto, tmp job modules on
sys.path, a Lambda-like context with a controllable remaining time, and a spy for the one
call moto cannot really perform here (the continuation's lambda.invoke)."""

from __future__ import annotations

import json
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.runtime import entry
from cronplane.runtime.schema import create_table, from_item
from cronplane.runtime.settings import RuntimeSettings
from cronplane.runtime.wrapper import Clock, Wrapper

REGION = "eu-west-1"
TABLE = "acme-history"
ROOT_JOBS = Path(__file__).resolve().parents[3] / "jobs"
FUNCTION_ARN = "arn:aws:lambda:eu-west-1:123456789012:function:acme-job"


class FakeLambdaContext:
    """Lambda's context with a remaining time the test sets (and that may tick in real time)."""

    def __init__(self, remaining_ms: int = 60_000, *, request_id: str | None = None, ticking: bool = False) -> None:
        import time

        self._time = time.monotonic
        self._start = self._time()
        self.remaining_ms = remaining_ms
        self.ticking = ticking
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.function_name = "acme-job"
        self.function_version = "$LATEST"
        self.invoked_function_arn = FUNCTION_ARN
        self.memory_limit_in_mb = 256
        self.log_group_name = "/aws/lambda/acme-job"
        self.log_stream_name = "2026/11/27/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        if not self.ticking:
            return self.remaining_ms
        return max(0, self.remaining_ms - int((self._time() - self._start) * 1000))


class SpyLambda:
    """Stands in for the lambda client: moto's invoke would not run the code anyway."""

    def __init__(self, status: int = 202) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = status

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"StatusCode": self.status}

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(call["Payload"]) for call in self.calls]


@dataclass
class Env:
    tmp_path: Path
    dlq_url: str
    spy: SpyLambda = field(default_factory=SpyLambda)
    lines: list[str] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service == "lambda":
            return self.spy
        if service not in self.clients:
            self.clients[service] = boto3.client(service, region_name=REGION)
        return self.clients[service]

    def job_module(self, source: str) -> str:
        """Write a job module under a fresh team folder; returns the handler spec."""
        name = f"team_{uuid.uuid4().hex[:8]}"
        folder = self.tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        (folder / "job.py").write_text(textwrap.dedent(source))
        return f"{name}.job:handler"

    def settings(self, handler: str, **overrides: Any) -> RuntimeSettings:
        base = RuntimeSettings(
            job="acme-job",
            namespace="acme",
            handler=handler,
            history_table=TABLE,
            dlq_url=self.dlq_url,
            payload={"batch": 5},
            retry={"max_attempts": 3, "backoff_base": 0.01, "backoff_cap": 0.05},
            timeout=60,
        )
        return replace(base, **overrides)

    def wrapper(self, source: str, *, clock: Clock | None = None, **overrides: Any) -> Wrapper:
        settings = self.settings(self.job_module(source), **overrides)
        clock = clock or Clock(sleep=self.sleeps.append)
        return entry.build(settings, self.client, clock=clock, emit=self.lines.append)

    def records(self, job: str = "acme-job") -> list[dict[str, Any]]:
        items = self.client("dynamodb").query(
            TableName=TABLE,
            KeyConditionExpression="job = :j",
            ExpressionAttributeValues={":j": {"S": job}},
            ConsistentRead=True,
        )["Items"]
        return [from_item(i).as_dict() for i in items]

    def runs(self) -> list[dict[str, Any]]:
        return [r for r in self.records() if not r["run_id"].startswith("~")]

    def dead_letters(self) -> list[dict[str, Any]]:
        sqs = self.client("sqs")
        bodies = []
        while True:
            got = sqs.receive_message(QueueUrl=self.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
                "Messages", []
            )
            if not got:
                return bodies
            for message in got:
                bodies.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=message["ReceiptHandle"])

    def logged(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]


@pytest.fixture
def env(aws: None, tmp_path: Path) -> Iterator[Env]:
    from cronplane.runtime import secrets

    secrets.clear_cache()  # a fresh execution environment per test
    create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
    dlq_url = boto3.client("sqs", region_name=REGION).create_queue(QueueName="acme-job-dlq")["QueueUrl"]
    sys.path.insert(0, str(tmp_path))
    try:
        yield Env(tmp_path=tmp_path, dlq_url=dlq_url)
    finally:
        sys.path.remove(str(tmp_path))
        secrets.clear_cache()


def schedule_event(event_id: str = "evt-1", time: str = "2026-11-27T09:00:00Z") -> dict[str, Any]:
    return {"cronplane": {"trigger": "schedule", "event_id": event_id, "scheduled_for": time}}


def count_calls(client: Any) -> Callable[[], list[str]]:
    """Record every API operation the client sends (botocore event hook)."""
    seen: list[str] = []
    client.meta.events.register("before-call.*.*", lambda model, **_: seen.append(model.name))
    return lambda: list(seen)


# The continuation tests' job: attempt 1 fails with a retryable error; attempt 2 waits for the
# test's GATE, then succeeds.
FLAKY_THEN_SLOW = """
    import threading
    STARTED, GATE = threading.Event(), threading.Event()
    CALLS = []

    class ProviderDown(ConnectionError):
        pass

    def handler(event, context):
        CALLS.append(context.attempt)
        if context.attempt == 1:
            raise ProviderDown("provider reset the connection")
        STARTED.set()
        GATE.wait(10)
        return {"ok": context.attempt}
"""
