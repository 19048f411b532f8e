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
from cronplane.runtime import entry, settings
from runtime_helpers import (
    TABLE,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = ("yaml", "jsonschema", "click", "croniter", "cron_descriptor", "moto")
# Third-party code the runtime leans on (Lambda provides it); not counted against our budget.
NOT_OURS = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
IMPORT_BUDGET_US = 150_000


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
    assert record["status"] == "succeeded" and json.loads(record["result"]) == {"job": "acme-job", "payload": {"batch": 9}}
    assert lambda_env.runs()[0]["run_id"] == record["run_id"]


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
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=environ, timeout=60, check=True)
    return done.stdout, done.stderr


def own_import_us(importtime_output: str) -> int:
    """Microseconds spent importing cronplane modules and what they pulled in, except the
    subtrees of third-party packages in NOT_OURS (parsed from ``-X importtime``: children are
    printed before their parent, one indent deeper)."""
    stack: list[tuple[int, int, str]] = []  # (depth, own microseconds, name)
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _cumulative, raw = line[len("import time:") :].split("|")
        depth = (len(raw) - len(raw.lstrip())) // 2
        name = raw.strip()
        children = 0
        while stack and stack[-1][0] > depth:
            children += stack.pop()[1]
        own = 0 if name.split(".")[0] in NOT_OURS else int(self_us) + children
        stack.append((depth, own, name))
    return sum(own for _depth, own, name in stack if name.split(".")[0] == "cronplane")


def test_runtime_imports_no_deploy_libraries_and_stays_in_its_import_budget() -> None:
    # boto3 first (Lambda has it, and its own imports are not the runtime's cost): what remains
    # under cronplane is the runtime's marginal import time.
    code = "import boto3, botocore.config, botocore.exceptions, sys; import cronplane.runtime.entry; "
    samples = []
    for _ in range(3):  # best of three fresh interpreters: a busy CI machine inflates single samples
        out, err = _importtime(code + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))")
        assert out.strip() == "[]"
        samples.append(own_import_us(err))
        if samples[-1] < IMPORT_BUDGET_US:
            break
    own = min(samples)
    assert 0 < own < IMPORT_BUDGET_US, f"cronplane.runtime import took {samples} us of its own (budget {IMPORT_BUDGET_US})"


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
