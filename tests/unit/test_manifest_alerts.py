"""``alerts:`` in jobs.yaml: merged like ``retries`` (defaults, then ``teams.TEAM``, then the
job), turned off with ``on: []``, and refused with FILE:LINE where a route cannot work: an
unknown kind, a webhook URL in plain text, an email that is not an address, a topic in
another region, a duration out of order, a ``teams:`` entry no job belongs to."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cronplane.errors import ManifestError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import AlertPolicy
from cronplane.runtime.alerts import ON_KINDS, Route

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "arn:aws:sns:eu-west-1:123456789012:billing-oncall"
HEAD = """\
namespace: acme-jobs
region: eu-west-1
jobs:
  report:
    handler: billing/nightly_report.py:handler
    schedule: cron(0 2 * * ? *)
"""  # lines 1-6; a test's own lines start at 7


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs")
    return tmp_path


def load(project: Path, text: str) -> dict[str, AlertPolicy | None]:
    path = project / "jobs.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return {job.name: job.alerts for job in load_manifest(path).jobs}


def problems(project: Path, text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ManifestError) as info:
        load(project, text)
    return [(p.line, p.path, p.message) for p in info.value.problems]


def test_defaults_team_and_job_merge_key_by_key(project: Path) -> None:
    alerts = load(
        project,
        f"""
        namespace: acme-jobs
        region: eu-west-1
        defaults:
          alerts:
            notify: [email:platform@example.com]
            late_after: 10m
        teams:
          billing:
            alerts:
              notify: ["sns:{TOPIC}", "webhook:ssm:/billing/slack-webhook"]
              missed_after: 2h
        jobs:
          report:
            handler: billing/nightly_report.py:handler
            schedule: cron(0 2 * * ? *)
            alerts:
              on: [failed, missed]
          cleanup:
            handler: infra/tmp_cleanup.py:handler
            schedule: rate(1 hour)
          quiet:
            handler: infra/tmp_cleanup.py:handler
            schedule: rate(1 hour)
            alerts: {{on: []}}
        """,
    )
    assert alerts["report"] == AlertPolicy(
        notify=(Route("sns", TOPIC), Route("webhook", "ssm:/billing/slack-webhook")),  # the team's, whole
        on=frozenset({"failed", "missed"}),  # the job's
        late_after_s=600,  # the defaults'
        missed_after_s=7200,  # the team's
    )
    assert alerts["cleanup"] == AlertPolicy(notify=(Route("email", "platform@example.com"),), late_after_s=600)
    assert alerts["cleanup"].on == frozenset(ON_KINDS) and alerts["cleanup"].alarmed
    assert alerts["quiet"] is None  # on: [] turns the defaults' alerts off for one job


def test_a_job_without_alerts_has_none(project: Path) -> None:
    assert load(project, HEAD) == {"report": None}


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ("pager:oncall", "'pager:oncall' is not a route: write sns:TOPIC_ARN, email:ADDRESS or webhook:ssm:/PARAMETER"),
        ("email:billing-oncall", "'billing-oncall' is not an email address (e.g. email:billing-oncall@example.com)"),
        ("email:a@b@example.com", "'a@b@example.com' is not an email address"),
        ("sns:billing-oncall", "'billing-oncall' is not an SNS topic ARN; write sns:arn:aws:sns:REGION:ACCOUNT:TOPIC"),
        ("sns:arn:aws:sns:eu-west-1:123456789012:*", "is not an SNS topic ARN"),
        ("sns:arn:aws:sns:us-east-1:123456789012:pager", "the topic is in us-east-1 but the jobs run in eu-west-1"),
        ("webhook:ssm:/billing/", "must name one parameter or secret"),
        ("webhook:ssm:/billing/*", "must name one parameter or secret"),
        ("webhook:vault:billing", "is not a secret reference; write webhook:ssm:/team/slack-webhook"),
    ],
)
def test_a_route_that_cannot_work_is_refused_at_its_line(project: Path, route: str, message: str) -> None:
    found = problems(
        project, HEAD + f'    alerts:\n      notify:\n        - email:ok@example.com\n        - "{route}"\n'
    )
    assert len(found) == 1, found
    line, path, text = found[0]
    assert (line, path) == (10, "jobs.report.alerts.notify[1]")
    assert text.startswith(message) or message in text


def test_a_webhook_url_in_plain_text_is_refused_without_repeating_it(project: Path) -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"
    [(line, path, message)] = problems(project, HEAD + f"    alerts:\n      notify: [webhook:{url}]\n")
    assert (line, path) == (8, "jobs.report.alerts.notify[0]")
    assert message.startswith("is a webhook URL in plain text") and "webhook:ssm:/team/slack-webhook" in message
    assert "XXXXSECRETXXXX" not in message


def test_durations_must_read_as_late_then_missed(project: Path) -> None:
    [(line, path, message)] = problems(
        project,
        HEAD + "    alerts:\n      notify: [email:a@example.com]\n      late_after: 1h\n      missed_after: 30m\n",
    )
    assert (line, path) == (10, "jobs.report.alerts.missed_after")
    assert message == "missed_after (1800 s) must be longer than late_after (3600 s): a run is late first, then missed"
    [(_, path, message)] = problems(
        project, HEAD + "    alerts:\n      notify: [email:a@example.com]\n      late_after: 5 minutes\n"
    )
    assert path == "jobs.report.alerts.late_after" and "is not a duration" in message
    [(_, _, message)] = problems(
        project, HEAD + "    alerts:\n      notify: [email:a@example.com]\n      late_after: 30\n"
    )
    assert "at least 60" in message


def test_alerts_need_somewhere_to_go_and_known_events(project: Path) -> None:
    [(line, path, message)] = problems(project, HEAD + "    alerts:\n      on: [failed]\n")
    assert (line, path) == (7, "jobs.report.alerts") and message.startswith("has no notify:")
    [(_, path, message)] = problems(
        project, HEAD + "    alerts:\n      notify: [email:a@example.com]\n      on: [crashed]\n"
    )
    assert path == "jobs.report.alerts.on[0]" and "use one of: failed, timed_out, lost, missed, late" in message
    [(_, path, _)] = problems(project, HEAD + "    alerts:\n      notify: []\n")
    assert path == "jobs.report.alerts.notify"


def test_a_teams_entry_no_job_belongs_to_is_refused(project: Path) -> None:
    text = HEAD.replace("jobs:\n", "teams:\n  biling:\n    alerts: {notify: [email:a@example.com]}\njobs:\n")
    [(line, path, message)] = problems(project, text)
    assert (line, path) == (4, "teams.biling")
    assert message.startswith("no job belongs to team 'biling' (did you mean 'billing'?)")


def test_jobctl_validate_prints_file_line_and_exits_1(project: Path) -> None:
    (project / "jobs.yaml").write_text(HEAD + "    alerts:\n      notify: [email:nobody]\n")
    done = subprocess.run(
        [sys.executable, "-m", "cronplane.cli.main", "validate", "-f", str(project / "jobs.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert f"{project / 'jobs.yaml'}:8: jobs.report.alerts.notify[0]: 'nobody' is not an email address" in done.stderr
    assert "Traceback" not in done.stderr
