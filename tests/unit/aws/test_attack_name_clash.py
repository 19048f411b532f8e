"""Attack: two namespaces whose names run into each other (issue 10, item 5).

Namespace ``acme`` with job ``jobs-x`` and namespace ``acme-jobs`` with job ``x`` used to produce
the same AWS names (``acme-jobs-x``): the second manifest's job was silently never deployed,
``plan`` said "No changes", ``audit`` judged the other namespace's rule and ``pause`` disabled the
other namespace's trigger. Now names join namespace and job with ``--`` (never part of either),
a clash left by the old naming is a plan error naming both namespaces before any write, and
every ops command checks the ``cronplane:namespace`` tag before it acts.

All through ``jobctl`` against moto in-process, both manifests in one account.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.aws.client import AwsClient
from cronplane.manifest import names
from cronplane.manifest.loader import NAME_RE
from cronplane.runtime.schema import create_table
from testkit import jobctl

REGION = "eu-west-1"


def project(root: Path, namespace: str, job: str) -> str:
    """A manifest of one job on a classic EventBridge rule, with its handler file."""
    folder = root / namespace
    (folder / "jobs" / "team").mkdir(parents=True)
    (folder / "jobs" / "team" / "job.py").write_text("def handler(event, context):\n    return 1\n")
    (folder / "jobs.yaml").write_text(
        f"namespace: {namespace}\nregion: {REGION}\njobs:\n"
        f"  {job}:\n    handler: team/job.py:handler\n    schedule: rate(5 minutes)\n    team: team\n"
    )
    return str(folder / "jobs.yaml")


@pytest.fixture
def first(tmp_path: Path) -> str:
    return project(tmp_path, "acme", "jobs-x")


@pytest.fixture
def second(tmp_path: Path) -> str:
    return project(tmp_path, "acme-jobs", "x")


@pytest.fixture
def invokes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every Lambda Invoke any jobctl command sends (function names), recorded before it is sent."""
    sent: list[str] = []
    original = AwsClient.boto3_client

    def client(self: AwsClient, service: str) -> Any:
        made = original(self, service)
        if service == "lambda":
            made.meta.events.register(
                "before-call.lambda.Invoke", lambda params, **_: sent.append(params["FunctionName"])
            )
        return made

    monkeypatch.setattr(AwsClient, "boto3_client", client)
    yield sent


@pytest.fixture
def legacy_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names as cronplane made them before the "--" join (the state an older deploy left)."""
    monkeypatch.setattr(names, "SEPARATOR", names.LEGACY_SEPARATOR)


def rule_state(name: str) -> str:
    return str(boto3.client("events", region_name=REGION).describe_rule(Name=name)["State"])


def test_generated_names_never_collide_between_namespaces() -> None:
    """Every name of every (namespace, job) pair over a set of hyphenated words is its own."""
    words = ["a", "b", "a-b", "b-a", "a-b-a", "acme", "jobs", "acme-jobs", "jobs-x", "x", "x-dlq", "x-exec"]
    assert all(NAME_RE.match(w) for w in words)
    seen: dict[tuple[str, str], tuple[str, str]] = {}
    for namespace, job in itertools.product(words, words):
        for name in names.job_names(namespace, job):
            # Names of one kind share one AWS name space (a function and a queue may share a name).
            owner = seen.setdefault((name.kind, name.value), (namespace, job))
            assert owner == (namespace, job), f"{name.kind} {name.value!r} is made by {owner} and {(namespace, job)}"
    assert names.function_name("acme", "jobs-x") != names.function_name("acme-jobs", "x")


def test_both_namespaces_deploy_side_by_side_and_pause_touches_only_its_own(
    aws: None, first: str, second: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for manifest in (first, second):
        code, out, err = jobctl(capsys, "deploy", "-f", manifest, "--yes")
        assert code == 0, err
        assert "Deploy complete" in out
    functions = {f["FunctionName"] for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]}
    assert functions == {"acme--jobs-x", "acme-jobs--x"}
    for manifest in (first, second):
        code, out, _ = jobctl(capsys, "plan", "-f", manifest, "--detailed-exitcode")
        assert code == 0 and "No changes" in out

    code, _, err = jobctl(capsys, "pause", "x", "-f", second)
    assert code == 0, err
    assert rule_state("acme-jobs--x") == "DISABLED"
    assert rule_state("acme--jobs-x") == "ENABLED"  # the other namespace's job keeps running


def test_a_clash_left_by_the_old_naming_fails_the_plan_naming_both(
    aws: None, first: str, second: str, capsys: pytest.CaptureFixture[str], legacy_names: None
) -> None:
    code, _, err = jobctl(capsys, "deploy", "-f", first, "--yes")
    assert code == 0, err
    assert rule_state("acme-jobs-x") == "ENABLED"  # namespace acme's, under the old join
    before = boto3.client("lambda", region_name=REGION).get_function(FunctionName="acme-jobs-x")

    for command in ("plan", "deploy"):
        args = [command, "-f", second] + (["--yes"] if command == "deploy" else [])
        code, out, err = jobctl(capsys, *args)
        assert code == 1, (command, out)
        assert "No changes" not in out
        assert "Error: name clash: job x of namespace 'acme-jobs' needs the lambda function acme-jobs-x" in err
        assert "belongs to namespace 'acme' (cronplane:namespace=acme)" in err
        assert "nothing was deployed" in err and "Traceback" not in err

    # Nothing was written: not even the second namespace's history table, and the first
    # namespace's function is exactly as its own deploy left it.
    assert "acme-jobs-history" not in boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"]
    after = boto3.client("lambda", region_name=REGION).get_function(FunctionName="acme-jobs-x")
    assert after["Configuration"]["LastModified"] == before["Configuration"]["LastModified"]
    assert after["Tags"] == before["Tags"] and after["Tags"][names.NAMESPACE_TAG] == "acme"
    assert rule_state("acme-jobs-x") == "ENABLED"


def test_ops_commands_of_the_second_namespace_refuse_the_first_namespaces_resources(
    aws: None, first: str, second: str, capsys: pytest.CaptureFixture[str], legacy_names: None, invokes: list[str]
) -> None:
    code, _, err = jobctl(capsys, "deploy", "-f", first, "--yes")
    assert code == 0, err
    # Namespace acme-jobs exists too (its history table, from its other jobs' deploys).
    create_table(boto3.client("dynamodb", region_name=REGION), "acme-jobs-history")

    refusals = {
        "pause": (["pause", "x"], "EventBridge rule acme-jobs-x", "refusing to act on it"),
        "resume": (["resume", "x"], "EventBridge rule acme-jobs-x", "refusing to act on it"),
        "audit": (["audit", "x"], "EventBridge rule acme-jobs-x", "refusing to act on it"),
        "backfill": (
            ["backfill", "x", "--from", "2020-01-01T00:00:00Z", "--to", "2020-01-01T01:00:00Z", "--yes"],
            "EventBridge rule acme-jobs-x",
            "refusing to act on it",
        ),
        "run-now": (["run-now", "x"], "Lambda function acme-jobs-x", "refusing to invoke it"),
        "dlq list": (["dlq", "list", "x"], "SQS queue acme-jobs-x-dlq", "refusing to read or replay its messages"),
        "dlq replay": (
            ["dlq", "replay", "x", "--all", "--yes"],
            "SQS queue acme-jobs-x-dlq",
            "refusing to read or replay its messages",
        ),
    }
    for name, (args, what, refusal) in refusals.items():
        code, out, err = jobctl(capsys, *args, "-f", second)
        assert code == 1, (name, out, err)
        assert (
            f"Error: {what} belongs to cronplane namespace 'acme' (cronplane:namespace=acme), not to 'acme-jobs'" in err
        )
        assert refusal in err and "Nothing was changed" in err and err.count("\n") == 1, (name, err)

    # The first namespace's job was neither switched, invoked nor marked paused.
    assert rule_state("acme-jobs-x") == "ENABLED"
    assert invokes == []
    for table in ("acme-history", "acme-jobs-history"):
        assert boto3.client("dynamodb", region_name=REGION).scan(TableName=table)["Items"] == []


def test_a_deployment_with_the_old_names_is_replaced_under_the_new_ones(
    aws: None, first: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What an existing deployment sees after the upgrade: the next plan replaces each old name
    (new first, then the old one deleted) and says why; the history table keeps its name."""
    monkeypatch.setattr(names, "SEPARATOR", names.LEGACY_SEPARATOR)
    code, _, err = jobctl(capsys, "deploy", "-f", first, "--yes")
    assert code == 0, err
    monkeypatch.setattr(names, "SEPARATOR", "--")

    code, out, err = jobctl(capsys, "plan", "-f", first)
    assert code == 0, err
    assert "  + lambda function acme--jobs-x  (new job)" in out
    assert "  - lambda function acme-jobs-x  (replaced by its ---joined name)" in out
    assert "  - eventbridge rule acme-jobs-x  (replaced by its ---joined name)" in out
    assert "renamed: 5 resources of namespace acme still have names from before" in out
    assert "dynamodb table acme-history" not in out  # run history and pauses stay where they are

    code, out, err = jobctl(capsys, "deploy", "-f", first, "--yes")
    assert code == 0, err
    functions = [f["FunctionName"] for f in boto3.client("lambda", region_name=REGION).list_functions()["Functions"]]
    rules = [r["Name"] for r in boto3.client("events", region_name=REGION).list_rules()["Rules"]]
    assert functions == ["acme--jobs-x"] and rules == ["acme--jobs-x"]
    code, out, _ = jobctl(capsys, "plan", "-f", first, "--detailed-exitcode")
    assert code == 0 and "No changes" in out
