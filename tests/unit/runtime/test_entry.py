"""Lambda's entry point: cold start from the environment, and what it imports."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from runtime_helpers import (
    TABLE,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime import entry, settings
from support.importtime import NOT_OURS, own_import_us

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("yaml", "jsonschema", "click", "croniter", "cron_descriptor", "moto")
IMPORT_BUDGET_US = 200_000  # ~8x the idle figure
IMPORT_SAMPLES = 5


@pytest.fixture
def lambda_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    handler = env.job_module("def handler(event, context):\n    return {'job': context.job, 'payload': event}\n")
    values = {
        settings.JOB: "acme-job",
        settings.NAMESPACE: "acme",
        settings.HANDLER: handler,
        settings.HISTORY_TABLE: TABLE,
        settings.DLQ_URL: env.dlq_url,
        settings.PAYLOAD: json.dumps({"batch": 9}),
        settings.RETRY: json.dumps({"max_attempts": 2}),
        settings.TIMEOUT: "30",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    yield env
    entry._wrapper = None  # leave no cold-started wrapper behind for other tests


def test_cold_start_at_import_builds_the_wrapper_once(lambda_env: Env) -> None:
    module = importlib.reload(entry)
    built = module._wrapper
    assert built is not None and built.setup_error is None
    assert built.settings.timeout == 30 and built.retry.max_attempts == 2
    record = module.handler(schedule_event(), FakeLambdaContext())
    assert module._wrapper is built  # no rebuild per invocation
    assert record["status"] == "succeeded" and json.loads(record["result"]) == {
        "job": "acme-job",
        "payload": {"batch": 9},
    }
    assert lambda_env.runs()[0]["run_id"] == record["run_id"]


def test_clients_are_created_once_at_cold_start_not_per_invocation(
    lambda_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3.session

    created: list[str] = []
    real_client = boto3.session.Session.client

    def counting_client(self: object, service: str, *args: object, **kwargs: object) -> object:
        created.append(service)
        return real_client(self, service, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(boto3.session.Session, "client", counting_client)
    module = importlib.reload(entry)  # the cold start
    at_init = sorted(created)
    for n in range(3):
        assert module.handler(schedule_event(f"evt-{n}"), FakeLambdaContext())["status"] == "succeeded"
    assert at_init == ["dynamodb", "lambda", "sqs"] and sorted(created) == at_init


def test_missing_environment_raises_on_invocation_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.JOB, raising=False)
    module = importlib.reload(entry)
    assert module._wrapper is None
    monkeypatch.setenv(settings.JOB, "acme-job")  # but no CRONPLANE_HANDLER
    with pytest.raises(KeyError, match="CRONPLANE_HANDLER"):
        module.handler({}, FakeLambdaContext())


def _importtime(code: str) -> tuple[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLANE_")}
    environ["PYTHONPATH"] = str(ROOT / "platform")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=True,
    )
    return done.stdout, done.stderr


# What importing the runtime loads, after boto3: every module, and those new since boto3.
PROBE = """
import json, sys
import boto3, botocore.config, botocore.exceptions
before = set(sys.modules)
import cronplane.runtime.entry
print(json.dumps({"all": sorted(sys.modules), "new": sorted(set(sys.modules) - before)}))
"""


def test_runtime_imports_only_stdlib_boto3_and_itself() -> None:
    """The hard check: deterministic, whatever the machine's load."""
    out, _err = _importtime(PROBE)
    loaded = json.loads(out)
    assert [m for m in loaded["all"] if m.split(".")[0] in FORBIDDEN] == []
    strays = [
        m
        for m in loaded["new"]
        if not (
            m.split(".")[0] in sys.stdlib_module_names
            or m.split(".")[0] in NOT_OURS
            or m in ("cronplane", "cronplane.runtime")
            or m.startswith("cronplane.runtime.")
        )
    ]
    # Anything else (a deploy-side cronplane module, any other third-party package) would have
    # to be shipped in every zip and paid for at every cold start.
    assert strays == []
    assert "cronplane.runtime.entry" in loaded["new"]


def test_runtime_import_time_stays_in_its_budget() -> None:
    """The soft check: the runtime's own cumulative import time on top of boto3 (about 25 ms on
    an idle machine), from ``-X importtime``, best of up to five fresh interpreters so that a
    loaded CI machine (one sample once took 157 ms with 8 processes on 2 cores) does not fail
    it, while a gross regression (heavy imports or work at module level) still does."""
    samples = []
    for _ in range(IMPORT_SAMPLES):
        _out, err = _importtime(PROBE)
        samples.append(own_import_us(err))
        if samples[-1] < IMPORT_BUDGET_US:
            break
    assert 0 < min(samples) < IMPORT_BUDGET_US, (
        f"cronplane.runtime import took {samples} us of its own (budget {IMPORT_BUDGET_US})"
    )


def test_import_time_parser_excludes_third_party_subtrees() -> None:
    sample = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |     json.decoder",
            "import time:        50 |        150 |   json",
            "import time:      9000 |       9000 |     botocore.x",
            "import time:        10 |       9010 |   boto3",
            "import time:         7 |       9167 | cronplane.runtime.entry",
            "import time:         3 |          3 | unrelated",
        ]
    )
    assert own_import_us(sample) == 157
