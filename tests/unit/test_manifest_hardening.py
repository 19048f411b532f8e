"""Manifest entries that validated but could not work, or leaked (issue 10, items 13 and 14):
a timeout the runtime's safety margin eats whole, and secrets written in plain text under
names the old check did not know, or inside values (URLs with passwords, known key shapes)."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from cronplane.errors import ManifestError
from cronplane.manifest.loader import load_manifest, schema
from cronplane.manifest.plaintext_secrets import env_secret, secret_shape
from cronplane.runtime.settings import DEFAULT_SAFETY_MARGIN_MS
from testkit import jobctl

ROOT = Path(__file__).resolve().parents[2]

HEAD = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  report:
    handler: billing/nightly_report.py:handler
    schedule: cron(0 2 * * ? *)
"""  # lines 1-6; a test's own lines start at 7

# Shaped like the real thing, made up here (and split so that no scanner flags this file).
AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"
STRIPE = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"
SLACK = "xoxb-" + "2622513321-2614811612344-wBzWIdoMnIXOlcTRQ2wsZ2DZ"
GITHUB = "ghp_" + "x2Ew7kP9QbY3cVn8mLz4TgHf6DsA1rJ0uWqE"
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\\nMIIEow...\\n-----END RSA PRIVATE KEY-----"
PASSWORD = "hunter2-Sup3rSecret"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def write(project: Path, text: str) -> Path:
    path = project / "jobs.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(project: Path, text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ManifestError) as info:
        load_manifest(write(project, text))
    return [(p.line, p.path, p.message) for p in info.value.problems]


# --- item 13: a timeout the safety margin eats ----------------------------------------------


@pytest.mark.parametrize("timeout", [1, 2])
def test_a_timeout_inside_the_safety_margin_is_refused_with_the_minimum_and_why(project: Path, timeout: int) -> None:
    [(line, path, message)] = problems(project, HEAD + f"    timeout: {timeout}\n")
    assert (line, path) == (7, "jobs.report.timeout")
    assert message == (
        f"{timeout} s leaves the job no time: the runtime stops a job 2 s before the Lambda timeout "
        "to record it as timed_out; use at least 3"
    )


def test_the_smallest_timeout_that_leaves_time_validates(project: Path) -> None:
    manifest = load_manifest(write(project, HEAD + "    timeout: 3\n"))
    assert manifest.jobs[0].timeout == 3


def test_the_schema_minimum_follows_the_runtime_margin() -> None:
    """The schema is static JSON: this keeps its minimum one second above the runtime's margin."""
    timeout = schema()["$defs"]["settings"]["properties"]["timeout"]
    assert timeout["minimum"] == DEFAULT_SAFETY_MARGIN_MS // 1000 + 1
    assert f"{DEFAULT_SAFETY_MARGIN_MS // 1000} s before the Lambda timeout" in timeout["x-messages"]["minimum"]


# --- item 14: plaintext secrets by name and by value ----------------------------------------


def test_secrets_in_env_values_and_payload_are_refused_without_echoing_them(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write(
        project,
        HEAD
        + f"""\
    env:
      DB_PASS: {PASSWORD}
      STRIPE_KEY: {STRIPE}
      DATABASE_URL: postgres://app:{PASSWORD}@db.internal:5432/ledger
      UPSTREAM: https://{AWS_KEY}.example.com/
      NOTIFY: {SLACK}
      REPO: {GITHUB}
      SESSION: {JWT}
      SIGNING: "{PEM}"
      SIGNING_KEY: Zx9Qw8Er7Ty6Ui5Op4As3Df2
    payload:
      source:
        url: redis://:{PASSWORD}@cache:6379/0
      tokens: [fine, "{GITHUB}"]
""",
    )
    code, out, err = jobctl(capsys, "validate", "-f", str(manifest))
    assert code == 1 and out == ""
    lines = err.splitlines()
    where = [line.split(": ", 2)[:2] for line in lines[:-1]]
    assert where == [
        [f"{manifest}:8", "jobs.report.env.DB_PASS"],
        [f"{manifest}:9", "jobs.report.env.STRIPE_KEY"],
        [f"{manifest}:10", "jobs.report.env.DATABASE_URL"],
        [f"{manifest}:11", "jobs.report.env.UPSTREAM"],
        [f"{manifest}:12", "jobs.report.env.NOTIFY"],
        [f"{manifest}:13", "jobs.report.env.REPO"],
        [f"{manifest}:14", "jobs.report.env.SESSION"],
        [f"{manifest}:15", "jobs.report.env.SIGNING"],
        [f"{manifest}:16", "jobs.report.env.SIGNING_KEY"],
        [f"{manifest}:19", "jobs.report.payload.source.url"],
        [f"{manifest}:20", "jobs.report.payload.tokens[1]"],
    ]
    assert lines[-1] == f"{manifest}: 11 problems"
    text = "\n".join(lines)
    assert "DB_PASS looks like a secret in plain text" in lines[0]
    assert "the value of STRIPE_KEY holds a Stripe secret key in plain text" in lines[1]
    assert "the value of DATABASE_URL holds a URL with a password in it" in lines[2]
    assert "an AWS access key id" in lines[3] and "a Slack token" in lines[4] and "a GitHub token" in lines[5]
    assert "a signed token (JWT)" in lines[6] and "a PEM private key" in lines[7]
    assert "SIGNING_KEY holds what looks like a key or token" in lines[8]
    assert "holds a URL with a password in it" in lines[9] and "a GitHub token" in lines[10]
    assert all("secrets:" in line for line in lines[:-1])
    for secret in (PASSWORD, STRIPE, AWS_KEY, SLACK, GITHUB, JWT, "MIIEow", "Zx9Qw8Er7Ty6Ui5Op4As3Df2"):
        assert secret not in text


def test_plan_refuses_them_before_printing_anything(
    aws: None, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = write(project, HEAD + f"    env: {{DATABASE_URL: 'mysql://root:{PASSWORD}@db/app'}}\n")
    code, out, err = jobctl(capsys, "plan", "-f", str(manifest))
    assert code == 1 and out == ""
    assert "the value of DATABASE_URL holds a URL with a password in it" in err
    assert PASSWORD not in out + err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("S3_KEY", "reports/daily/2026-06-01.csv"),
        ("PARTITION_KEY", "invoice-sync-v2"),
        ("CACHE_KEY", "ledger_totals_by_currency_v2"),
        ("CACHE_BYPASS", "true"),
        ("API_URL", "https://api.example.com/v1/invoices?limit=25"),
        ("DATABASE_URL", "postgres://app@db.internal:5432/ledger"),
        ("DB_PASSWORD", "ssm:/billing/db"),  # a reference where a value was expected: harmless
        ("GREETING", "Hello, world"),
        ("BUILD", "eyJ-not-a-token"),
    ],
)
def test_ordinary_values_are_not_mistaken_for_secrets(name: str, value: str) -> None:
    assert env_secret(name, value) is None


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (f"host=db.internal user=app password={PASSWORD} dbname=ledger", "a connection string with a password"),
        (f"Server=db;Database=ledger;Uid=app;Pwd={PASSWORD};", "a connection string with a password"),
        (f"jdbc:postgresql://db/ledger?user=app&password={PASSWORD}", "a connection string with a password"),
        (f"https://api.example.com/v1?password={PASSWORD}", "a connection string with a password"),
        ("Basic YXBwOmh1bnRlcjJodW50ZXIy", "an HTTP Basic credential"),
        ("Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0", "an HTTP Bearer token"),
    ],
)
def test_connection_strings_and_authorization_values_are_refused_without_echoing(
    project: Path, value: str, what: str
) -> None:
    assert (secret_shape(value) or "").startswith(what)
    manifest = write(project, HEAD + f"    env:\n      UPSTREAM: '{value}'\n    payload:\n      headers: ['{value}']\n")
    with pytest.raises(ManifestError) as refused:
        load_manifest(manifest)
    problems = [str(p) for p in refused.value.problems]
    assert [p.split(": ", 2)[1] for p in problems] == ["jobs.report.env.UPSTREAM", "jobs.report.payload.headers[0]"]
    assert all(what in p for p in problems)
    hidden = PASSWORD if PASSWORD in value else value.split(" ", 1)[1]  # the password, or the credential
    assert all(hidden not in p for p in problems)


def test_payload_and_env_keys_named_like_secrets_are_refused_when_they_hold_a_literal(project: Path) -> None:
    manifest = write(
        project,
        HEAD
        + """\
    env:
      api_key: plain-words-only
    payload:
      db: {host: db.internal, Password: plain-words-only, api_key: "", token: "ssm:/billing/token"}
      upstream: {access-token: plain-words-only, tokens: [a, b], secret_santa: bob}
""",
    )
    with pytest.raises(ManifestError) as refused:
        load_manifest(manifest)
    problems = [str(p) for p in refused.value.problems]
    assert [p.split(": ", 2)[1] for p in problems] == [
        "jobs.report.env.api_key",
        "jobs.report.payload.db.Password",
        "jobs.report.payload.upstream.access-token",
    ]
    assert "api_key looks like a secret in plain text" in problems[0]
    assert "holds a value under 'Password', a name that says it is a secret, in plain text" in problems[1]
    assert all("plain-words-only" not in p for p in problems)


@pytest.mark.parametrize(
    "value", ["Basic authentication", "Basic Authentication", "Bearer tokens-are-described-elsewhere", "password="]
)
def test_words_that_merely_mention_authentication_are_not_secrets(value: str) -> None:
    assert secret_shape(value) is None


def test_known_shapes_are_named() -> None:
    assert secret_shape(f"key={AWS_KEY}") == "an AWS access key id"
    assert secret_shape("ASIA" + "Y34FZKBOKMUTVV7A") == "an AWS access key id"
    assert secret_shape("https://hooks.slack.com/services/T000/B000/XXXXXXXX") == "a Slack webhook URL"
    assert secret_shape("AIza" + "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY") == "a Google API key"
    assert secret_shape("amqp://guest:guest@rabbit:5672/") == "a URL with a password in it"
