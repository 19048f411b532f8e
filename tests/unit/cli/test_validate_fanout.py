"""``jobctl validate`` warns of fan-out (more jobs in one minute than Lambda can start at once)
on stderr and still exits 0; ``--concurrency`` sets the account's limit. Through click's
CliRunner, as the exit-code tests do."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cronplane.cli.main import cli

ROOT = Path(__file__).resolve().parents[3]
NOW = "2026-12-01T00:00:00"

HEAD = """\
namespace: acme-jobs
region: eu-west-1
x-job: &job
  handler: infra/tmp_cleanup.py:handler
  schedule: cron(0 9 * * ? *)
jobs:
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(project: Path, jobs: str) -> None:
    (project / "jobs.yaml").write_text(HEAD + jobs)


def validate(*args: str) -> Result:
    return CliRunner().invoke(cli, ["validate", "--now", NOW, *args], catch_exceptions=False)


def test_a_crowded_minute_is_a_warning_not_an_error(project: Path) -> None:
    write(project, "".join(f"  job-{i}: *job\n" for i in range(3)) + "  other: {<<: *job, schedule: '5 9 * * *'}\n")
    result = validate("--concurrency", "2")
    assert result.exit_code == 0
    assert result.stdout == "jobs.yaml: 4 jobs valid (1 team, 0 on Scheduler)\n"
    assert result.stderr == (
        "jobs.yaml: warning: fan-out: 3 jobs fire at 09:00 UTC every day, more than the 2 concurrent executions "
        "the account allows (--concurrency); spread them: give some `start_window: 5` (Scheduler starts each "
        "within 5 minutes) or move some to other minutes (e.g. 09:01)\n"
    )


def test_the_default_limit_is_lambdas_1000(project: Path) -> None:
    write(project, "".join(f"  job-{i}: *job\n" for i in range(1001)))
    result = validate()
    assert result.exit_code == 0
    assert result.stdout == "jobs.yaml: 1001 jobs valid (1 team, 0 on Scheduler)\n"
    assert result.stderr.startswith(
        "jobs.yaml: warning: fan-out: 1,001 jobs fire at 09:00 UTC every day, more than the 1,000 concurrent "
        "executions Lambda allows by default; spread them:"
    )


def test_a_raised_limit_is_not_warned_about(project: Path) -> None:
    write(project, "".join(f"  job-{i}: *job\n" for i in range(3)))
    assert validate("--concurrency", "2").stderr != ""
    result = validate("--concurrency", "3")
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_start_window_spreads_them_and_the_warning_goes(project: Path) -> None:
    write(project, "".join(f"  job-{i}: {{<<: *job, start_window: 2}}\n" for i in range(4)))
    result = validate("--concurrency", "2")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == "jobs.yaml: 4 jobs valid (1 team, 4 on Scheduler)\n"  # a window needs Scheduler


def test_no_crowd_no_warning(project: Path) -> None:
    write(project, "  one: *job\n  two: {<<: *job, schedule: rate(1 hour)}\n")
    result = validate()
    assert (result.exit_code, result.stdout, result.stderr) == (
        0,
        "jobs.yaml: 2 jobs valid (1 team, 0 on Scheduler)\n",
        "",
    )


def test_an_invalid_manifest_fails_without_fan_out_warnings(project: Path) -> None:
    write(project, "".join(f"  job-{i}: *job\n" for i in range(3)) + "  bad: {<<: *job, start_window: 2000}\n")
    result = validate("--concurrency", "2")
    assert result.exit_code == 1
    assert result.stderr == (
        "jobs.yaml:10: jobs.bad.start_window: 2000 minutes is more than Scheduler's flexible time window allows (1440)\n"
    )


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_concurrency_must_be_a_positive_number(project: Path, value: str) -> None:
    write(project, "  one: *job\n")
    result = validate("--concurrency", value)
    assert result.exit_code == 2
    assert "--concurrency" in result.stderr
