"""Secrets: resolved once per execution environment into os.environ, never in a record, a log
line or a DLQ message."""

from __future__ import annotations

import json
import logging

import pytest
from runtime_helpers import (
    Env,
    FakeLambdaContext,
    count_calls,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime import entry
from cronplane.runtime.secrets import Scrubber
from cronplane.runtime.wrapper import Clock

DB_PASSWORD = "s3cr3t-db-pass"
API_TOKEN = "tok-9f8e7d6c5b"

LEAKY = """
    import logging, os
    log = logging.getLogger("team.leaky")

    def handler(event, context):
        log.warning("connecting with %s", os.environ["DB_PASSWORD"])
        if event["fail"]:
            raise PermissionError(f"login refused for token {os.environ['API_TOKEN']}")
        return {"password": os.environ["DB_PASSWORD"], "token": os.environ["API_TOKEN"]}
"""


@pytest.fixture
def secret_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    env.client("ssm").put_parameter(Name="/acme/db", Value=DB_PASSWORD, Type="SecureString")
    env.client("secretsmanager").create_secret(Name="acme/api", SecretString=API_TOKEN)
    for name in ("DB_PASSWORD", "API_TOKEN"):
        monkeypatch.setenv(name, "placeholder")  # restored after the test
    return env


SPEC = {"DB_PASSWORD": "ssm:/acme/db", "API_TOKEN": "secretsmanager:acme/api"}


def test_secrets_resolved_once_into_the_environment(secret_env: Env) -> None:
    ssm_calls = count_calls(secret_env.client("ssm"))
    sm_calls = count_calls(secret_env.client("secretsmanager"))
    source = """
        import os
        def handler(event, context):
            return len(os.environ["DB_PASSWORD"]) + len(os.environ["API_TOKEN"])
    """
    for n in range(2):  # a second wrapper in the same execution environment reuses the cache
        record = secret_env.wrapper(source, secrets=SPEC).handle(schedule_event(f"evt-{n}"), FakeLambdaContext())
    assert record["result"] == str(len(DB_PASSWORD) + len(API_TOKEN))
    assert ssm_calls() == ["GetParameter"] and sm_calls() == ["GetSecretValue"]


def test_secret_values_never_reach_records_logs_or_the_dlq(secret_env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    wrapper = secret_env.wrapper(
        LEAKY, secrets=SPEC, payload={"fail": True}, retry={"max_attempts": 2, "backoff_base": 0}
    )
    failed = wrapper.handle(schedule_event("evt-1"), FakeLambdaContext())
    ok = wrapper.handle({"cronplane": {"trigger": "manual", "payload": {"fail": False}}}, FakeLambdaContext())

    assert failed["status"] == "failed" and ok["status"] == "succeeded"
    assert "login refused for token ***" in failed["error"]
    assert json.loads(ok["result"]) == {"password": "***", "token": "***"}
    everything = json.dumps([secret_env.runs(), secret_env.dead_letters(), secret_env.lines]) + caplog.text
    assert "connecting with ***" in caplog.text
    assert DB_PASSWORD not in everything and API_TOKEN not in everything


def test_unreadable_secret_fails_the_run_with_a_clear_message(env: Env) -> None:
    settings = env.settings(
        env.job_module("def handler(event, context):\n    return 1\n"), secrets={"DB": "ssm:/missing"}
    )
    wrapper = entry.build(settings, env.client, clock=Clock(sleep=env.sleeps.append), emit=env.lines.append)
    record = wrapper.handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "failed" and len(record["attempts"]) == 1
    assert "secret DB: could not read ssm:/missing (ParameterNotFound)" in record["error"]


def test_scrubber_masks_escaped_spellings_and_longest_first() -> None:
    scrubber = Scrubber({"A": 'pa"ss\nword', "B": 'pa"ss'})
    assert scrubber.scrub(json.dumps({"v": 'pa"ss\nword'})) == '{"v": "***"}'
    assert scrubber.scrub('x pa"ss y') == "x *** y"
    assert Scrubber({"short": "abc"}).scrub("abc") == "abc"  # too short to mask safely


class ExceptionObjectHandler(logging.Handler):
    """Formats like Lambda's JSON log format: from the exception object, not ``exc_text``."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        self.lines.append(json.dumps({"message": record.getMessage(), "errorMessage": str(error) if error else None}))


def test_fields_of_a_json_secret_are_masked_in_errors_tracebacks_prints_and_logs(
    env: Env, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Secrets Manager's usual JSON secret: the job uses one field; that field alone must not leak
    through the exception message, the chained exception, the traceback, a print or a log line."""
    password = "hunter2-pw-77"
    env.client("secretsmanager").create_secret(
        Name="acme/db", SecretString=json.dumps({"username": "svc_acme", "password": password})
    )
    source = """
        import json, logging, os
        log = logging.getLogger("team.db")

        def handler(event, context):
            creds = json.loads(os.environ["DB_CREDS"])
            print("connecting as", creds["username"], "with", creds["password"])
            try:
                raise KeyError(creds["password"])
            except KeyError as exc:
                log.exception("login with %s failed", creds["password"])
                raise ValueError("database refused password " + creds["password"]) from exc
    """
    caplog.set_level(logging.ERROR)
    monkeypatch.setenv("DB_CREDS", "placeholder")  # restored after the test
    json_like = ExceptionObjectHandler()
    logging.getLogger().addHandler(json_like)
    try:
        wrapper = env.wrapper(source, secrets={"DB_CREDS": "secretsmanager:acme/db"}, retry={"max_attempts": 1})
        record = wrapper.handle(schedule_event(), FakeLambdaContext())
    finally:
        logging.getLogger().removeHandler(json_like)
    printed = capsys.readouterr()
    [attempt] = record["attempts"]
    assert record["error"] == "ValueError: database refused password ***"
    assert (
        "KeyError: '***'" in attempt["traceback"]
        and "ValueError: database refused password ***" in attempt["traceback"]
    )
    assert "login with *** failed" in caplog.text and "KeyError: '***'" in caplog.text
    assert "connecting as *** with ***" in printed.out
    assert json_like.lines and all("***" in line for line in json_like.lines)
    everything = (
        json.dumps([env.runs(), env.dead_letters(), env.lines, json_like.lines])
        + caplog.text
        + printed.out
        + printed.err
    )
    assert password not in everything and "svc_acme" not in everything
