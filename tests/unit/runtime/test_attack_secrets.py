"""Attack (or accident): a job handles its secret in ways the masking did not foresee. Before the
fix, a secret stored with a trailing newline leaked once the job stripped it, a numeric field of a
JSON secret was never masked, and a secret written to stdout in two ``write()`` calls went out in
two unmasked pieces. Each is now masked in the log capture, the record's error and the DLQ
message."""

from __future__ import annotations

import io
import json
import logging

import pytest
from runtime_helpers import (
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.secrets import (
    MIN_SCRUB_NUMBER_LENGTH,
    STREAM_BUFFER_LIMIT,
    Scrubber,
    ScrubbingStream,
)

TOKEN = "tok-9f8e7d6c5b"
PIN = 4821937


def test_secret_stored_with_a_trailing_newline_is_masked_once_the_job_strips_it(
    env: Env, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env.client("ssm").put_parameter(Name="/acme/token", Value=TOKEN + "\n", Type="SecureString")
    monkeypatch.setenv("API_TOKEN", "placeholder")
    source = """
        import logging, os
        log = logging.getLogger("team.token")

        def handler(event, context):
            token = os.environ["API_TOKEN"].strip()
            print("calling the API with", token)
            log.warning("token %s", token)
            raise PermissionError(f"API refused token {token}")
    """
    caplog.set_level(logging.WARNING)
    wrapper = env.wrapper(source, secrets={"API_TOKEN": "ssm:/acme/token"}, retry={"max_attempts": 1})
    record = wrapper.handle(schedule_event(), FakeLambdaContext())

    assert record["status"] == "failed" and record["error"] == "PermissionError: API refused token ***"
    [message] = env.dead_letters()
    assert message["error"] == record["error"] and "***" in message["attempts"][0]["traceback"]
    out = capsys.readouterr().out
    assert "calling the API with ***" in out and "token ***" in caplog.text
    assert TOKEN not in json.dumps([record, env.runs(), message, env.lines]) + caplog.text + out


def test_numeric_field_of_a_json_secret_is_masked_short_ones_and_booleans_are_not(
    env: Env, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = {"user": "svc_acme", "pin": PIN, "port": 5432, "tls": True, "retries": 1}
    env.client("secretsmanager").create_secret(Name="acme/vault", SecretString=json.dumps(secret))
    monkeypatch.setenv("VAULT", "placeholder")
    source = """
        import json, logging, os
        log = logging.getLogger("team.vault")

        def handler(event, context):
            vault = json.loads(os.environ["VAULT"])
            print("unlocking with", vault["pin"], "on port", vault["port"], "tls", vault["tls"], "tries", 1)
            log.warning("pin %d rejected", vault["pin"])
            raise ValueError(f"vault refused pin {vault['pin']}")
    """
    caplog.set_level(logging.WARNING)
    wrapper = env.wrapper(source, secrets={"VAULT": "secretsmanager:acme/vault"}, retry={"max_attempts": 1})
    record = wrapper.handle(schedule_event(), FakeLambdaContext())

    assert record["error"] == "ValueError: vault refused pin ***"
    [message] = env.dead_letters()
    assert message["error"] == record["error"]
    out = capsys.readouterr().out
    # Short numbers and booleans stay readable: masking them would mask every "1" and "true".
    assert "unlocking with *** on port 5432 tls True tries 1" in out and "pin *** rejected" in caplog.text
    assert str(PIN) not in json.dumps([record, env.runs(), message, env.lines]) + caplog.text + out


def test_secret_written_in_pieces_is_masked_and_a_last_partial_line_is_flushed_at_the_end(
    env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env.client("ssm").put_parameter(Name="/acme/token", Value=TOKEN, Type="SecureString")
    monkeypatch.setenv("API_TOKEN", "placeholder")
    source = """
        import os, sys

        def handler(event, context):
            token = os.environ["API_TOKEN"]
            sys.stdout.write("first: " + token[:5])
            sys.stdout.write(token[5:] + "\\n")
            sys.stderr.write("second: " + token[:3])
            sys.stderr.flush()  # a flush in the middle must not let the start out either
            sys.stderr.write(token[3:] + " done\\n")
            for char in "third: " + token:  # one character per write
                sys.stdout.write(char)
            raise RuntimeError("ended in the middle of a line")
    """
    wrapper = env.wrapper(source, secrets={"API_TOKEN": "ssm:/acme/token"}, retry={"max_attempts": 1})
    record = wrapper.handle(schedule_event(), FakeLambdaContext())
    assert record["status"] == "failed"
    out, err = capsys.readouterr()
    assert "first: ***\n" in out and "third: ***\n" in out  # the partial line came out at the run's end
    assert "second: *** done\n" in err
    for piece in (TOKEN, TOKEN[:5], TOKEN[5:], TOKEN[3:]):
        assert piece not in out + err


# -- the pieces on their own -------------------------------------------------------------------
def test_scrubber_masks_stripped_forms_and_long_numbers_only() -> None:
    scrubber = Scrubber({"A": "  padded-secret \r\n", "B": json.dumps({"n": 123456, "f": 98765.4321, "b": False})})
    assert scrubber.scrub("padded-secret") == "***"
    assert scrubber.scrub("123456 98765.4321 false") == "*** *** false"
    small = Scrubber({"B": json.dumps({"id": 10 ** (MIN_SCRUB_NUMBER_LENGTH - 1) - 1, "on": True, "none": None})})
    assert small.scrub("id 99999 on true none null") == "id 99999 on true none null"  # too short to mask


def test_stream_holds_back_only_what_may_be_a_secret() -> None:
    sink = io.StringIO()
    stream = ScrubbingStream(sink, Scrubber({"S": "abcdef"}))
    stream.write("x abc")
    stream.flush()
    assert sink.getvalue() == "x "  # "abc" may be the start of the secret
    stream.write("xyz\n")
    assert sink.getvalue() == "x abcxyz\n"  # it was not
    stream.write("a" * (STREAM_BUFFER_LIMIT + 10) + "abcde")
    assert sink.getvalue().endswith("a" * 10) and not sink.getvalue().endswith("abcde")  # bounded
    stream.write("f tail")
    stream.drain()
    assert sink.getvalue().endswith("a*** tail\n")
    assert "abcdef" not in sink.getvalue()


def test_stream_keeps_a_multi_line_secret_whole() -> None:
    key = "-----BEGIN KEY-----\nMIIEow\n-----END KEY-----"
    sink = io.StringIO()
    stream = ScrubbingStream(sink, Scrubber({"K": key}))
    stream.write(key[:25])  # ends inside the key, after a newline
    stream.write(key[25:] + "\n")
    assert sink.getvalue() == "***\n"
