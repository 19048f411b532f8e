"""jobctl validate / list / next / schema through cli.main.main (exit codes included)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from cronplane.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    shutil.copy(ROOT / "jobs.yaml", tmp_path / "jobs.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- validate -------------------------------------------------------------------------------


def test_validate_the_example(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["validate"], capsys) == (0, "jobs.yaml: 4 jobs valid (2 teams, 1 on Scheduler)\n", "")


def test_validate_prints_every_problem_one_per_line(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (project / "jobs.yaml").read_text()
    text = text.replace("timeout: 5\n", "timeout: 1200\n").replace("rate(15 minutes)", "rate(1 minutes)")
    (project / "bad.yaml").write_text(text)
    code, out, err = run(["validate", "-f", "bad.yaml"], capsys)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "bad.yaml:30: jobs.invoice-sync.schedule: rate(1 minutes): use the singular for 1: rate(1 minute)",
        "bad.yaml:55: jobs.search-reindex.timeout: 1200 is more than the Lambda maximum of 900 seconds",
        "bad.yaml: 2 problems",
    ]


EVERY_CLASS = """\
namespace: acme-jobs
region: eu-west-1
defaults:
  memmory: 256
jobs:
  nightly-report:
    handler: billing/nightly_report.py:handler
    schedule: cron(0 2 * * 1 *)
    timeout: 1200
    timezone: Europe/Pariss
    secrets: {DB_PASSWORD: hunter2hunter2}
    env: {AWS_REGION: x}
    permissions: [{actions: ["*"], resources: ["*"]}]
  cleanup:
    handler: ../outside.py:handler
    schedule: rate(1 minutes)
  Bad_Name:
    handler: billing/missing.py:handler
    schedule: "0 9 * * 1-5"
  one-off:
    handler: /etc/evil.py:handler
    schedule: at(2020-01-01T00:00:00)
    memory: lots
  this-job-name-is-far-too-long-for-the-aws-names-cronplane-makes-from-it:
    handler: billing/nightly_report.py:nothere
    schedule: cron(0 0 ? * 0 *)
    log_retention_days: 31
  cleanup:
    handler: infra/tmp_cleanup.py:handler
    schedule: "@daily"
"""


def test_validate_reports_every_class_of_problem_as_file_line_path_message(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "every.yaml").write_text(EVERY_CLASS)
    code, out, err = run(["validate", "-f", "every.yaml"], capsys)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    *problems, summary = lines
    assert summary == f"every.yaml: {len(problems)} problems"
    # every problem on one line, FILE:LINE: path: message, in line order
    parsed = [re.fullmatch(r"every\.yaml:(\d+): ([A-Za-z0-9_.\[\]-]+): (.+)", line) for line in problems]
    assert all(parsed), [line for line, match in zip(problems, parsed, strict=False) if not match]
    where = [(int(m.group(1)), m.group(2)) for m in parsed if m]
    assert where == sorted(where, key=lambda w: w[0])
    expected = {
        (4, "defaults.memmory"): "unknown key 'memmory' (did you mean 'memory'?)",  # unknown key
        (8, "jobs.nightly-report.schedule"): "one of day-of-month or day-of-week must be ?",  # schedule
        (9, "jobs.nightly-report.timeout"): "1200 is more than the Lambda maximum of 900 seconds",  # range
        (10, "jobs.nightly-report.timezone"): "did you mean 'Europe/Paris'?",  # timezone
        (11, "jobs.nightly-report.secrets.DB_PASSWORD"): "put the value in SSM",  # plaintext secret
        (12, "jobs.nightly-report.env.AWS_REGION"): "AWS_ or CRONPLANE_ (reserved)",  # env name
        (13, "jobs.nightly-report.permissions[0].actions[0]"): "would allow every action",  # IAM *
        (15, "jobs.cleanup.handler"): "leaves the jobs/ folder",  # handler path escapes
        (16, "jobs.cleanup.schedule"): "use the singular for 1: rate(1 minute)",
        (17, "jobs.Bad_Name"): "is not a valid job name",  # job name
        (18, "jobs.Bad_Name.handler"): "jobs/billing/missing.py does not exist",  # handler file
        (21, "jobs.one-off.handler"): "is an absolute path",
        (22, "jobs.one-off.schedule"): "is in the past",  # at() in the past
        (23, "jobs.one-off.memory"): "must be a whole number",  # type
        (
            24,
            "jobs.this-job-name-is-far-too-long-for-the-aws-names-cronplane-makes-from-it",
        ): "over the AWS limit of 64",
        (
            25,
            "jobs.this-job-name-is-far-too-long-for-the-aws-names-cronplane-makes-from-it.handler",
        ): "defines no function 'nothere'",
        (
            26,
            "jobs.this-job-name-is-far-too-long-for-the-aws-names-cronplane-makes-from-it.schedule",
        ): "did you mean SUN?",
        (
            27,
            "jobs.this-job-name-is-far-too-long-for-the-aws-names-cronplane-makes-from-it.log_retention_days",
        ): "31 is not allowed",
        (28, "jobs.cleanup"): "duplicate key 'cleanup' (first on line 14)",  # duplicate key
    }
    got = {(m.group(1), m.group(2)): m.group(3) for m in parsed if m}
    for (line, path), needle in expected.items():
        assert needle in got.get((str(line), path), ""), (line, path, got.get((str(line), path)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "bad.yaml:1: the file is empty"),
        ("- a\n- b\n", "bad.yaml:1: the document must be a mapping"),
        ("namespace: acme\nregion: [\n", "bad.yaml:3: YAML syntax error"),
        ("namespace: acme\nregion: x\x07\n", "bad.yaml:2: YAML error: control character U+0007"),
        (
            "\n".join(
                ["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
                + [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
            )
            + "\n",
            "bad.yaml:",
        ),
    ],
)
def test_validate_fatal_problems_are_one_line_with_file_and_line(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    (project / "bad.yaml").write_text(text)
    code, out, err = run(["validate", "-f", "bad.yaml"], capsys)
    assert (code, out) == (1, "")
    assert len(err.splitlines()) == 1 and err.startswith(expected)
    assert re.match(r"bad\.yaml:\d+: ", err)


def test_validate_keeps_a_multi_line_schedule_problem_on_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        (project / "jobs.yaml")
        .read_text()
        .replace("schedule: cron(30 3 ? * MON-FRI *)", "schedule: |\n      cron(30 3 * * MON-FRI *)")
    )
    (project / "bad.yaml").write_text(text)
    code, _, err = run(["validate", "-f", "bad.yaml"], capsys)
    assert code == 1
    assert err.splitlines() == [
        "bad.yaml:52: jobs.search-reindex.schedule: cron(30 3 * * MON-FRI *): day-of-month is * and "
        "day-of-week is MON-FRI: one of day-of-month or day-of-week must be ?; write cron(30 3 ? * MON-FRI *)"
    ]


def test_validate_a_missing_file(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["validate", "-f", "nope.yaml"], capsys)
    assert (code, out) == (1, "")
    assert err == "nope.yaml: no such file; create it (see the manifest reference in the README) or pass -f FILE\n"


def test_validate_usage_error_exits_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["validate", "--frobnicate"], capsys)
    assert code == 2 and "No such option" in err


def test_the_installed_jobctl_exit_codes(project: Path) -> None:
    jobctl = Path(sys.executable).with_name("jobctl")
    ok = subprocess.run([str(jobctl), "validate"], capture_output=True, text=True, cwd=project)
    assert (ok.returncode, ok.stdout) == (0, "jobs.yaml: 4 jobs valid (2 teams, 1 on Scheduler)\n")
    (project / "jobs.yaml").write_text("namespace: [\n")
    bad = subprocess.run([str(jobctl), "validate"], capture_output=True, text=True, cwd=project)
    assert bad.returncode == 1 and bad.stderr.startswith("jobs.yaml:2: YAML syntax error")
    assert "Traceback" not in bad.stderr


# --- list -------------------------------------------------------------------------------------


def test_list_table(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["list", "--now", "2026-11-27T16:20:00+00:00"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "JOB             TEAM     SCHEDULE                  WHEN                                   TIMEZONE       NEXT RUN                       ENABLED",
        "nightly-report  billing  cron(0 2 * * ? *)         At 02:00 (Europe/Berlin)               Europe/Berlin  2026-11-28 02:00 CET (+01:00)  yes",
        "invoice-sync    billing  rate(15 minutes)          Every 15 minutes (UTC)                 UTC            2026-11-27 16:30 UTC           yes",
        "tmp-cleanup     infra    0 * * * *                 Every hour (UTC)                       UTC            2026-11-27 17:00 UTC           yes",
        "search-reindex  infra    cron(30 3 ? * MON-FRI *)  At 03:30, Monday through Friday (UTC)  UTC            2026-11-30 03:30 UTC           yes",
    ]


def test_list_json_and_disabled_jobs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (
        (project / "jobs.yaml")
        .read_text()
        .replace(
            "    team: infra\n    owner: infra-oncall@example.com\n    payload:\n      max_age_hours",
            "    team: infra\n    enabled: false\n    owner: infra-oncall@example.com\n    payload:\n      max_age_hours",
        )
    )
    (project / "jobs.yaml").write_text(text)
    code, out, _ = run(["list", "-o", "json", "--now", "2026-06-30T12:00:00Z"], capsys)
    rows = {row["name"]: row for row in json.loads(out)}
    assert code == 0
    assert rows["nightly-report"] == {
        "name": "nightly-report",
        "team": "billing",
        "owner": "billing-oncall@example.com",
        "description": "Totals yesterday's paid invoices per currency.",
        "handler": "billing/nightly_report.py:handler",
        "schedule": "cron(0 2 * * ? *)",
        "expression": "cron(0 2 * * ? *)",
        "when": "At 02:00 (Europe/Berlin)",
        "timezone": "Europe/Berlin",
        "trigger": "scheduler",
        "next_run": "2026-07-01T02:00:00+02:00",
        "enabled": True,
    }
    assert rows["tmp-cleanup"]["enabled"] is False
    assert rows["tmp-cleanup"]["expression"] == "cron(0 * * * ? *)" and rows["tmp-cleanup"]["trigger"] == "rule"
    code, out, _ = run(["list", "--now", "2026-07-01T00:00:00Z"], capsys)
    assert next(line for line in out.splitlines() if line.startswith("tmp-cleanup")).split()[-3:] == [
        "-",
        "(disabled)",
        "no",
    ]


def test_a_one_time_job_that_already_fired_is_listed_not_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # validate (and deploy) refuse an at() in the past; list and next used to refuse too, so one
    # finished one-off job hid every other job from the on-call engineer.
    with (project / "jobs.yaml").open("a") as manifest:
        manifest.write(
            "\n  one-off:\n    handler: infra/tmp_cleanup.py:handler\n    schedule: at(2026-01-01T09:00:00)\n"
        )
    code, _, err = run(["validate"], capsys)
    assert code == 1 and "is in the past" in err
    code, out, _ = run(["list", "--now", "2026-11-27T16:20:00+00:00"], capsys)
    assert code == 0
    assert next(line for line in out.splitlines() if line.startswith("one-off")).split()[-2:] == ["never", "yes"]
    code, out, _ = run(["next", "one-off", "--after", "2026-11-27T00:00Z"], capsys)
    assert code == 0 and "no fire times after 2026-11-27T00:00:00+00:00" in out


def test_list_of_an_invalid_manifest_fails_with_the_problems(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "jobs.yaml").write_text(
        "namespace: acme\nregion: eu-west-1\njobs:\n  a: {handler: billing/x.py:handler, schedule: '@daily'}\n"
    )
    code, out, err = run(["list"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("Error: jobs.yaml:4: jobs.a.handler: jobs/billing/x.py does not exist")


# --- next -------------------------------------------------------------------------------------


def test_next_of_a_job_in_its_timezone_across_dst(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["next", "nightly-report", "-n", "3", "--after", "2026-03-27T12:00:00", "-o", "json"], capsys)
    assert code == 0
    assert json.loads(out) == ["2026-03-28T02:00:00+01:00", "2026-03-30T02:00:00+02:00", "2026-03-31T02:00:00+02:00"]


def test_next_table_shows_words_and_utc(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["next", "nightly-report", "-n", "2", "--after", "2026-11-27T12:00:00Z"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "nightly-report: cron(0 2 * * ? *): At 02:00 (Europe/Berlin)",
        "   1  Sat 2026-11-28 02:00 CET (+01:00)  = 2026-11-28 01:00 UTC",
        "   2  Sun 2026-11-29 02:00 CET (+01:00)  = 2026-11-29 01:00 UTC",
    ]


def test_next_of_a_job_shown_in_another_zone(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["next", "nightly-report", "-n", "1", "--after", "2026-11-27T12:00:00Z", "--tz", "UTC", "-o", "json"], capsys
    )
    assert (code, json.loads(out)) == (0, ["2026-11-28T01:00:00+00:00"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["0 9 * * 1-5", "--tz", "America/New_York", "--after", "2026-03-06T12:00:00"],
            ["2026-03-09T09:00:00-04:00", "2026-03-10T09:00:00-04:00"],
        ),
        (
            ["cron(0 10 * * ? *)", "--after", "2026-01-01T10:00:00Z"],
            ["2026-01-02T10:00:00+00:00", "2026-01-03T10:00:00+00:00"],
        ),
        (
            ["rate(15 minutes)", "--after", "2026-01-01T10:07:00Z"],
            ["2026-01-01T10:15:00+00:00", "2026-01-01T10:30:00+00:00"],
        ),
        (["@monthly", "--after", "2026-01-15T00:00:00Z"], ["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"]),
        (
            ["at(2027-01-01T09:00:00)", "--tz", "Europe/Berlin", "--after", "2026-12-01T00:00:00"],
            ["2027-01-01T09:00:00+01:00"],
        ),
    ],
)
def test_next_of_bare_expressions(args: list[str], expected: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["next", *args, "-n", "2", "-o", "json"], capsys)
    assert (code, json.loads(out)) == (0, expected)


def test_next_table_of_a_unix_expression(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["next", "0 9 * * 1-5", "-n", "1", "--after", "2026-11-27T12:00:00Z"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "0 9 * * 1-5 = cron(0 9 ? * 2-6 *): At 09:00, Monday through Friday (UTC)",
        "   1  Mon 2026-11-30 09:00 UTC",
    ]


def test_next_of_an_invalid_expression_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["next", "cron(0 0 * * 0 *)"], capsys)
    assert (code, out) == (1, "")
    assert err.startswith("Error: cron(0 0 * * 0 *): day-of-week 0 is not valid")
    assert "did you mean SUN?" in err and "Traceback" not in err


def test_next_of_an_unknown_job_suggests_the_near_one(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["next", "nightly-reprot"], capsys)
    assert code == 1
    assert "no job named 'nightly-reprot' (did you mean 'nightly-report'?)" in err


def test_next_of_a_job_name_without_a_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["next", "nightly-report"], capsys)
    assert code == 1
    assert err.startswith("Error: 'nightly-report' looks like a job name, but there is no manifest jobs.yaml")
    code, _, err = run(["next", "daily"], capsys)
    assert code == 1 and "(for the schedule, write @daily)" in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["next", "@daily", "--after", "yesterday"], "'yesterday' is not an ISO 8601 time"),
        (["next", "@daily", "--tz", "Europe/Berln"], "did you mean 'Europe/Berlin'?"),
        (["next", "@daily", "-n", "0"], "-n"),
        # used to end in "Error: OverflowError: date value out of range"
        (["next", "@daily", "--after", "9999-12-31T23:59"], "outside the years schedules can fire in (1970-2199)"),
        (["next", "rate(5 minutes)", "--after", "0001-01-01"], "outside the years schedules can fire in"),
    ],
)
def test_next_usage_errors_exit_2(args: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(args, capsys)
    assert code == 2 and expected in err


# --- schema and help ------------------------------------------------------------------------


def test_schema_prints_the_shipped_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema"], capsys)
    printed = json.loads(out)
    assert code == 0
    jsonschema.Draft202012Validator.check_schema(printed)
    assert printed == json.loads((ROOT / "platform/cronplane/manifest/jobs.schema.json").read_text())


@pytest.mark.parametrize("command", ["validate", "list", "next", "schema"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0 and f"Usage: jobctl {command}" in out


def test_debug_shows_the_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from cronplane.errors import ScheduleError

    with pytest.raises(ScheduleError):
        main(["next", "cron(0 0 * * 0 *)", "--debug"])
