"""``jobctl plan / deploy / destroy`` through the real entry point (``cli.main.main``) against
moto in-process: output, exit codes, confirmation."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import pytest

from cronplane.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def manifest_path(tmp_path: Path) -> str:
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    return str(tmp_path / "jobs.yaml")


def jobctl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_plan_deploy_plan_destroy(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "--detailed-exitcode")
    assert code == 2
    assert "  + lambda function acme-jobs-nightly-report  (new job)" in out
    assert "  + scheduler schedule acme-jobs-nightly-report  (new job)" in out
    assert out.rstrip().endswith("Plan: 30 to create, 0 to update, 0 to delete.")

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "-o", "json")
    data = json.loads(out)
    assert code == 0 and len(data["changes"]) == 30
    assert {"action": "create", "resource": "dynamodb table acme-jobs-history"}.items() <= data["changes"][0].items()

    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path, "--yes")
    assert code == 0
    assert "[1/30] create dynamodb table acme-jobs-history" in out
    assert "[30/30] " in out
    assert "Deploy complete: 30 created, 0 updated, 0 deleted" in out

    code, out, _ = jobctl(capsys, "plan", "-f", manifest_path, "--detailed-exitcode")
    assert code == 0 and "No changes. AWS matches the manifest." in out

    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path, "--yes")
    assert code == 0 and "No changes" in out and "0 writes" in out

    code, out, _ = jobctl(capsys, "destroy", "-f", manifest_path, "--yes")
    assert code == 0 and "Destroy complete: 0 created, 0 updated, 22 deleted" in out
    assert "kept: dynamodb table acme-jobs-history (run history); add --include-history to delete it" in out
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_deploy_without_a_terminal_needs_yes(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = jobctl(capsys, "deploy", "-f", manifest_path)
    assert code == 1
    assert "Error: Deploy needs confirmation, and there is no terminal to ask: pass --yes." in err
    assert "Plan: 30 to create" in out  # the plan was shown first
    assert boto3.client("lambda").list_functions()["Functions"] == []


def test_declined_deploy_changes_nothing(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("click.confirm", lambda *a, **k: False)
    code, out, _ = jobctl(capsys, "deploy", "-f", manifest_path)
    assert code == 0 and "Nothing applied." in out
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_plan_names_an_unknown_unpause_job(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "plan", "-f", manifest_path, "--unpause", "nope")
    assert code == 1 and "no job named 'nope'" in err


def test_aws_error_is_one_line_without_traceback(aws: None, manifest_path: str, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import NoCredentialsError

    def no_creds(*_: Any, **__: Any) -> None:
        raise NoCredentialsError()

    monkeypatch.setattr("botocore.client.BaseClient._make_api_call", no_creds)
    code, out, err = jobctl(capsys, "plan", "-f", manifest_path)
    assert code == 1
    assert err.strip().startswith("Error: No AWS credentials found.")
    assert "Traceback" not in err
