"""load_manifest: the example manifest, defaults, and every kind of problem with its line."""

from __future__ import annotations

import dataclasses
import os
import shutil
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest
import yaml

from cronplane.errors import ManifestError
from cronplane.manifest.loader import load_manifest, on_scheduler, schema
from cronplane.manifest.models import Architecture, Concurrency, Job, Permission, RetryPolicy, Secret, TriggerMode, Vpc

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, tzinfo=UTC)

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


def write(project: Path, text: str) -> Path:
    path = project / "jobs.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(project: Path, text: str, **kwargs) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ManifestError) as info:
        load_manifest(write(project, text), now=NOW, **kwargs)
    return [(p.line, p.path, p.message) for p in info.value.problems]


def one(project: Path, text: str, **kwargs) -> tuple[int | None, str, str]:
    found = problems(project, text, **kwargs)
    assert len(found) == 1, found
    return found[0]


# --- the valid example -------------------------------------------------------------------


def test_the_example_manifest_validates_into_models() -> None:
    manifest = load_manifest(ROOT / "jobs.yaml")
    assert (manifest.namespace, manifest.region, manifest.trigger_mode) == ("acme-jobs", "eu-west-1", TriggerMode.AUTO)
    assert manifest.root == str(ROOT)
    assert manifest.history.retention_days == 30
    by_name = {job.name: job for job in manifest.jobs}
    assert list(by_name) == ["nightly-report", "invoice-sync", "tmp-cleanup", "search-reindex"]
    report = by_name["nightly-report"]
    assert (report.handler, report.team, report.timezone, report.concurrency) == (
        "billing/nightly_report.py:handler",
        "billing",
        "Europe/Berlin",
        Concurrency.FORBID,
    )
    assert report.line == 18
    assert report.schedule.expression == "cron(0 2 * * ? *)"
    assert on_scheduler(manifest, report)  # a timezone needs EventBridge Scheduler
    # defaults merge key by key into retries
    assert by_name["invoice-sync"].retries == RetryPolicy(3, 1.0, 10.0, ("ConnectionError", "TimeoutError"))
    assert by_name["search-reindex"].retries == RetryPolicy(1, 1.0, 10.0, ())
    assert by_name["search-reindex"].timeout == 5 and by_name["invoice-sync"].timeout == 60
    assert by_name["invoice-sync"].payload == {"fail_attempts": 1, "batch_size": 25}
    assert by_name["tmp-cleanup"].schedule.expression == "cron(0 * * * ? *)"
    assert not on_scheduler(manifest, by_name["tmp-cleanup"])


def test_every_setting_reaches_the_job(project: Path) -> None:
    path = write(
        project,
        HEAD
        + """\
    timezone: America/New_York
    description: Totals
    team: money
    owner: me@example.com
    timeout: 900
    memory: 10240
    retries: {max_attempts: 5, backoff_base: 0.5, backoff_cap: 30, retry_on: [ConnectionError]}
    concurrency: forbid
    enabled: false
    payload: [1, two]
    env: {MODE: fast}
    secrets: {DB_PASSWORD: "ssm:/billing/db-password", API_TOKEN: "secretsmanager:billing/api-token"}
    permissions: [{actions: [s3:PutObject], resources: ["arn:aws:s3:::bucket/*"]}]
    tags: {cost-center: "42"}
    architecture: x86_64
    reserved_concurrency: 2
    provisioned_concurrency: 1
    vpc: {subnets: [subnet-0123456789abcdef0], security_groups: [sg-01234567]}
    kms_key: arn:aws:kms:eu-west-1:123456789012:key/abcd-1234
    log_retention_days: 14
""",
    )
    job = load_manifest(path, now=NOW).jobs[0]
    assert job == Job(
        name="report",
        handler="billing/nightly_report.py:handler",
        schedule=job.schedule,
        team="money",
        owner="me@example.com",
        description="Totals",
        timezone="America/New_York",
        timeout=900,
        memory=10240,
        retries=RetryPolicy(5, 0.5, 30.0, ("ConnectionError",)),
        concurrency=Concurrency.FORBID,
        enabled=False,
        payload=[1, "two"],
        env=(("MODE", "fast"),),
        secrets=(
            Secret("DB_PASSWORD", "ssm", "/billing/db-password"),
            Secret("API_TOKEN", "secretsmanager", "billing/api-token"),
        ),
        permissions=(Permission(("s3:PutObject",), ("arn:aws:s3:::bucket/*",), "Allow"),),
        tags=(("cost-center", "42"),),
        architecture=Architecture.X86_64,
        reserved_concurrency=2,
        provisioned_concurrency=1,
        vpc=Vpc(("subnet-0123456789abcdef0",), ("sg-01234567",)),
        kms_key="arn:aws:kms:eu-west-1:123456789012:key/abcd-1234",
        log_retention_days=14,
        line=4,
    )
    assert job.schedule.timezone == "America/New_York"


def test_defaults_apply_and_mappings_merge_key_by_key(project: Path) -> None:
    path = write(
        project,
        """
        namespace: acme-jobs
        region: eu-west-1
        trigger_mode: scheduler
        history: {retention_days: 90}
        defaults:
          memory: 512
          retries: {max_attempts: 4, backoff_cap: 20}
          env: {LEVEL: info, REGION_NAME: eu}
          tags: {cost-center: "7"}
        jobs:
          a:
            handler: jobs/infra/tmp_cleanup.py:handler
            schedule: rate(1 hour)
            retries: {max_attempts: 1}
            env: {LEVEL: debug}
    """,
    )
    manifest = load_manifest(path, now=NOW)
    job = manifest.jobs[0]
    assert job.handler == "infra/tmp_cleanup.py:handler"  # a leading jobs/ is stripped
    assert job.team == "infra"  # default team: the handler's folder
    assert job.memory == 512
    assert job.retries == RetryPolicy(max_attempts=1, backoff_base=2.0, backoff_cap=20.0)
    assert dict(job.env) == {"LEVEL": "debug", "REGION_NAME": "eu"}
    assert dict(job.tags) == {"cost-center": "7"}
    assert manifest.history.retention_days == 90
    assert on_scheduler(manifest, job)  # trigger_mode: scheduler puts every job on Scheduler


def test_x_keys_hold_anchors_that_jobs_merge(project: Path) -> None:
    path = write(
        project,
        """
        x-common: &common
          handler: billing/nightly_report.py:handler
          memory: 1024
        namespace: acme-jobs
        region: eu-west-1
        jobs:
          a:
            <<: *common
            schedule: "@daily"
          b:
            <<: *common
            schedule: "@hourly"
            memory: 128
    """,
    )
    jobs = load_manifest(path, now=NOW).jobs
    assert [(j.name, j.handler, j.memory) for j in jobs] == [
        ("a", "billing/nightly_report.py:handler", 1024),
        ("b", "billing/nightly_report.py:handler", 128),
    ]


# --- problems, each with file:line and path ----------------------------------------------


def test_the_issue_example_message(project: Path) -> None:
    path = write(project, HEAD + "    timeout: 1200\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(path, now=NOW)
    assert str(info.value) == f"{path}:7: jobs.report.timeout: 1200 is more than the Lambda maximum of 900 seconds"


def test_all_problems_in_one_pass(project: Path) -> None:
    found = problems(
        project,
        """
        namespace: Acme_Jobs
        region: eu-west-1
        defaults:
          timout: 30
        jobs:
          report:
            handler: billing/missing.py:handler
            schedule: cron(0 0 * * 0 *)
            memory: 64
            timeout: 1200
            timeout: 5
          Bad_Name:
            handler: billing/nightly_report.py:handler
            schedule: rate(1 minutes)
          ok:
            handler: billing/nightly_report.py:handler
            schedule: "0 9 * * 1-5"
            timezone: Europe/Berln
    """,
    )
    assert [(line, path) for line, path, _ in found] == [
        (1, "namespace"),
        (4, "defaults.timout"),
        (7, "jobs.report.handler"),
        (8, "jobs.report.schedule"),
        (9, "jobs.report.memory"),
        (10, "jobs.report.timeout"),
        (11, "jobs.report.timeout"),
        (12, "jobs.Bad_Name"),
        (14, "jobs.Bad_Name.schedule"),
        (18, "jobs.ok.timezone"),
    ]
    messages = dict(((line, path), message) for line, path, message in found)
    assert "did you mean 'timeout'" in messages[(4, "defaults.timout")]
    assert "jobs/billing/missing.py does not exist" in messages[(7, "jobs.report.handler")]
    assert "EventBridge counts 1=SUN .. 7=SAT; did you mean SUN?" in messages[(8, "jobs.report.schedule")]
    assert messages[(9, "jobs.report.memory")] == "64 is less than the Lambda minimum of 128 MB"
    assert "duplicate key 'timeout' (first on line 10)" in messages[(11, "jobs.report.timeout")]
    assert "not a valid job name" in messages[(12, "jobs.Bad_Name")]
    assert "rate(1 minute)" in messages[(14, "jobs.Bad_Name.schedule")]
    assert "did you mean 'Europe/Berlin'" in messages[(18, "jobs.ok.timezone")]


def test_unknown_keys_suggest_the_near_miss(project: Path) -> None:
    assert one(project, HEAD + "    retires: {max_attempts: 2}\n") == (
        7,
        "jobs.report.retires",
        "unknown key 'retires' (did you mean 'retries'?)",
    )
    line, path, message = one(project, HEAD + "    colour: blue\n")
    assert (line, path) == (7, "jobs.report.colour")
    assert message.startswith(
        "unknown key 'colour'; allowed keys: alerts, allow_privileged, architecture, concurrency,"
    )
    assert (
        one(project, HEAD + "    retries: {max_attempt: 2}\n")[2]
        == "unknown key 'max_attempt' (did you mean 'max_attempts'?)"
    )


def test_a_job_setting_at_the_top_level_says_where_it_belongs(project: Path) -> None:
    line, path, message = one(project, "timeout: 30\n" + HEAD)
    assert (line, path) == (1, "timeout")
    assert "put it under a job, or under defaults" in message


def test_missing_required_keys_say_what_to_add(project: Path) -> None:
    found = problems(
        project,
        """
        region: eu-west-1
        jobs:
          report:
            handler: billing/nightly_report.py:handler
    """,
    )
    assert found == [
        (1, "", "missing required key 'namespace' (e.g. namespace: acme-jobs)"),
        (3, "jobs.report", "missing required key 'schedule' (e.g. schedule: cron(0 2 * * ? *))"),
    ]


def test_wrong_types_are_explained(project: Path) -> None:
    found = problems(
        project,
        HEAD
        + """\
    timeout: "300"
    enabled: maybe
    tags: {cost-center: 42}
    env: {FLAG: yes}
    memory: 256.5
    owner: 2026-01-01
""",
    )
    assert found == [
        (7, "jobs.report.timeout", "must be a whole number, not text ('300')"),
        (8, "jobs.report.enabled", "must be true or false, not text ('maybe')"),
        (9, "jobs.report.tags.cost-center", "must be text, not a number (42); put it in quotes to keep it as text"),
        (10, "jobs.report.env.FLAG", "must be text, not true/false (true); put it in quotes to keep it as text"),
        (11, "jobs.report.memory", "must be a whole number, not 256.5"),
        (12, "jobs.report.owner", "must be text, not a date (2026-01-01); put it in quotes to keep it as text"),
    ]


def test_a_job_that_is_not_a_mapping(project: Path) -> None:
    assert one(project, HEAD + "  other:\n") == (
        7,
        "jobs.other",
        "must be a mapping of job settings (handler, schedule, timeout, ...), not empty",
    )
    assert one(project, "namespace: a\nregion: eu-west-1\njobs: [a, b]\n")[:2] == (3, "jobs")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[1, 2]\n", "jobs.yaml:1: the document must be a mapping with namespace, region and jobs, not a list"),
        (
            "just text\n",
            "jobs.yaml:1: the document must be a mapping with namespace, region and jobs, not a single value ('just text')",
        ),
        ("", "jobs.yaml:1: the file is empty; it needs a mapping with namespace, region and jobs"),
        ("# only a comment\n\n", "jobs.yaml:1: the file is empty; it needs a mapping with namespace, region and jobs"),
        ("namespace: a\njobs: {a: [}\n", "jobs.yaml:2: YAML syntax error"),
    ],
)
def test_documents_that_are_not_manifests(project: Path, text: str, expected: str) -> None:
    (project / "jobs.yaml").write_text(text)
    os.chdir(project)
    with pytest.raises(ManifestError) as info:
        load_manifest("jobs.yaml")
    assert str(info.value).startswith(expected)


def test_a_missing_file_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path / "nope.yaml")
    assert (
        str(info.value)
        == f"{tmp_path / 'nope.yaml'}: no such file; create it (see the manifest reference in the README) or pass -f FILE"
    )


def test_alias_bomb_in_a_manifest(project: Path) -> None:
    bomb = "\n".join(
        ["x0: &x0 [a, a, a, a, a, a, a, a, a, a]"]
        + [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 9)]
    )
    found = problems(project, bomb + "\n" + HEAD + "    payload: {bomb: *x8}\n")
    assert len(found) == 1 and "more than 500,000 values" in found[0][2]


def test_a_bad_schedule_names_its_line_and_path(project: Path) -> None:
    text = HEAD.replace("cron(0 2 * * ? *)", "cron(0 0 30 2 ? *)")
    line, path, message = one(project, text)
    assert (line, path) == (6, "jobs.report.schedule")
    assert message.startswith("cron(0 0 30 2 ? *): ")
    assert "never" in message


def test_at_in_the_past_uses_now(project: Path) -> None:
    text = HEAD.replace("cron(0 2 * * ? *)", "at(2026-05-01T09:00:00)")
    assert "in the past" in one(project, text)[2]
    future = write(project, HEAD.replace("cron(0 2 * * ? *)", "at(2026-07-01T09:00:00)"))
    manifest = load_manifest(future, now=NOW)
    assert on_scheduler(manifest, manifest.jobs[0])


def test_generated_names_too_long_say_which_and_by_how_much(project: Path) -> None:
    name = "a" * 50  # acme-jobs-- (11) + 50 + -sched (6) = 67 > 64
    text = HEAD.replace("  report:", f"  {name}:")
    assert one(project, text) == (
        4,
        f"jobs.{name}",
        f"the generated Scheduler IAM role name 'acme-jobs--{name}-sched' is 67 characters, 3 over the AWS limit "
        "of 64; shorten the job name by 3 (or the namespace)",
    )
    shorter = write(project, HEAD.replace("  report:", f"  {'a' * 47}:"))
    assert load_manifest(shorter, now=NOW).jobs[0].name == "a" * 47


def test_plaintext_secrets_are_rejected_without_echoing_them(project: Path) -> None:
    found = problems(
        project,
        HEAD
        + """\
    secrets: {DB_PASSWORD: hunter2, TOKEN2: 12345}
    env: {API_TOKEN: s3cr3t-value, SAFE: x}
""",
    )
    assert [(line, path) for line, path, _ in found] == [
        (7, "jobs.report.secrets.DB_PASSWORD"),
        (7, "jobs.report.secrets.TOKEN2"),
        (8, "jobs.report.env.API_TOKEN"),
    ]
    assert "put the value in SSM" in found[0][2]
    assert "put the value in SSM" in found[2][2]
    text = " ".join(message for _, _, message in found)
    assert "hunter2" not in text and "12345" not in text and "s3cr3t" not in text


def test_env_names_reserved_by_aws_lambda_and_cronplane(project: Path) -> None:
    found = problems(
        project,
        HEAD
        + """\
    env: {AWS_REGION: x, CRONPLANE_JOB: y, _HANDLER: z, 1BAD: w}
    secrets: {AWS_SECRET: "ssm:/a", FOO: "ssm:/b"}
    defaults_like: 1
""",
    )
    paths = [path for _, path, _ in found]
    assert paths == [
        "jobs.report.env.1BAD",
        "jobs.report.env.AWS_REGION",
        "jobs.report.env.CRONPLANE_JOB",
        "jobs.report.env._HANDLER",
        "jobs.report.secrets.AWS_SECRET",
        "jobs.report.defaults_like",
    ]
    assert "_HANDLER is reserved by the Lambda runtime" in found[3][2]
    assert "not starting with a digit, AWS_ or CRONPLANE_" in found[1][2]


def test_a_secret_also_in_env_is_ambiguous(project: Path) -> None:
    assert one(project, HEAD + "    env: {FOO: x}\n    secrets: {FOO: 'ssm:/a'}\n") == (
        8,
        "jobs.report.secrets.FOO",
        "FOO is set both in env and in secrets; keep one of them",
    )


def test_wildcard_permissions_are_rejected(project: Path) -> None:
    found = problems(
        project,
        HEAD
        + """\
    permissions:
      - actions: ["*"]
        resources: ["*"]
      - actions: [s3:GetObject, "nonsense"]
        resources: []
      - resources: [arn:aws:s3:::b]
""",
    )
    assert found == [
        (
            8,
            "jobs.report.permissions[0].actions[0]",
            "'*' would allow every action on every service; list the actions the job needs (e.g. s3:PutObject)",
        ),
        (
            9,
            "jobs.report.permissions[0].resources[0]",
            "'*' names every resource of its kind; name the ones the job uses (e.g. arn:aws:s3:::my-bucket/reports/*)"
            '; if the job truly needs it, add allow_privileged: "<why, for the reviewer>" to the job '
            "(jobctl plan shows it)",
        ),
        (
            10,
            "jobs.report.permissions[1].actions[1]",
            "'nonsense' is not an IAM action; write service:Action (e.g. s3:PutObject)",
        ),
        (11, "jobs.report.permissions[1].resources", "is empty; name the resources (ARNs) the actions apply to"),
        (12, "jobs.report.permissions[2]", "missing required key 'actions'"),
    ]


def test_what_the_policy_builder_refuses_is_found_by_validate(project: Path) -> None:
    # iam.py raises PolicyError for both at deploy time; validate used to pass them.
    found = problems(
        project,
        HEAD
        + """\
    kms_key: arn:aws:kms:eu-west-1:123456789012:alias/jobs
    permissions:
      - actions: [s3:GetObject, "sqs:*"]
        resources: [arn:aws:sqs:eu-west-1:123456789012:q]
""",
    )
    assert found == [
        (
            7,
            "jobs.report.kms_key",
            "'arn:aws:kms:eu-west-1:123456789012:alias/jobs' is not a KMS key ARN "
            "(arn:aws:kms:REGION:ACCOUNT:key/ID); an alias cannot scope kms:Decrypt, give the key's ARN",
        ),
        (
            9,
            "jobs.report.permissions[0].actions[1]",
            "'sqs:*' is a wildcard: it grants every action it matches, including ones AWS adds later; list the "
            "actions the job calls (e.g. s3:GetObject, s3:PutObject)"
            '; if the job truly needs it, add allow_privileged: "<why, for the reviewer>" to the job '
            "(jobctl plan shows it)",
        ),
    ]


def test_ranges_enums_and_lambda_limits(project: Path) -> None:
    found = problems(
        project,
        HEAD
        + """\
    log_retention_days: 10
    architecture: arm
    reserved_concurrency: 1
    provisioned_concurrency: 2
    retries: {backoff_base: 30, backoff_cap: 10}
    kms_key: arn:aws:kms:us-east-1:123456789012:key/abc
    concurrency: forbidden
""",
    )
    assert [(line, path) for line, path, _ in found] == [
        (7, "jobs.report.log_retention_days"),
        (8, "jobs.report.architecture"),
        (10, "jobs.report.provisioned_concurrency"),
        (11, "jobs.report.retries.backoff_cap"),
        (12, "jobs.report.kms_key"),
        (13, "jobs.report.concurrency"),
    ]
    messages = [message for _, _, message in found]
    assert messages[0].startswith("10 is not allowed; use one of: 1, 3, 5, 7, 14, 30")
    assert messages[1] == "'arm' is not allowed (did you mean 'arm64'?); use one of: arm64, x86_64"
    assert "cannot keep more warm instances" in messages[2]
    assert "backoff_cap 10 is below backoff_base 30" in messages[3]
    assert "the key is in us-east-1 but the jobs run in eu-west-1" in messages[4]
    assert "did you mean 'forbid'" in messages[5]


def test_top_level_settings_are_checked(project: Path) -> None:
    found = problems(
        project,
        """
        namespace: a-very-long-namespace-name-for-jobs-x
        region: Ireland
        trigger_mode: always
        history: {retention_days: 0}
        defaults:
          handler: x.py:handler
        jobs: {}
    """,
    )
    assert [(line, path) for line, path, _ in found] == [
        (1, "namespace"),
        (2, "region"),
        (3, "trigger_mode"),
        (4, "history.retention_days"),
        (6, "defaults.handler"),
    ]
    assert found[0][2] == "is 37 characters; a namespace has at most 32"
    assert found[4][2] == "cannot have a default: every job names its own handler"


def test_problems_from_defaults_are_reported_once_at_the_defaults_line(project: Path) -> None:
    found = problems(
        project,
        """
        namespace: acme-jobs
        region: eu-west-1
        defaults:
          timezone: Mars/Olympus
        jobs:
          a: {handler: billing/nightly_report.py:handler, schedule: "@daily"}
          b: {handler: billing/nightly_report.py:handler, schedule: "@hourly"}
    """,
    )
    assert [(line, path) for line, path, _ in found] == [(4, "defaults.timezone")]


def test_payload_must_be_json_and_fit_the_environment(project: Path) -> None:
    assert one(project, HEAD + "    payload: {day: 2026-01-01}\n")[:2] == (7, "jobs.report.payload")
    line, path, message = one(project, HEAD + f"    payload: {{blob: {'x' * 5000}}}\n")
    assert (line, path) == (7, "jobs.report.payload")
    assert "more than Lambda's 4096 bytes" in message


# --- handlers: static checks only ------------------------------------------------------------


def handler_problem(project: Path, spec: str, **kwargs) -> str:
    line, path, message = one(project, HEAD.replace("billing/nightly_report.py:handler", spec), **kwargs)
    assert (line, path) == (5, "jobs.report.handler")
    return message


def add_file(project: Path, relative: str, source: str) -> None:
    path = project / "jobs" / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("billing/nope.py:handler", "jobs/billing/nope.py does not exist"),
        ("../outside.py:handler", "leaves the jobs/ folder"),
        ("billing/../../x.py:handler", "leaves the jobs/ folder"),
        ("/etc/passwd.py:handler", "is an absolute path"),
        ("report.py:handler", "a handler file lives in a team folder"),
        ("billing/nightly-report.py:handler", "'nightly-report' cannot be imported"),
        ("billing/nightly_report.py:report", "defines no function 'report' at module level"),
        ("billing/nightly_report.py", "is not FILE.py:FUNCTION"),
        # what packaging leaves out of the zip, or what would break imports inside it
        ("json/task.py:handler", "a team folder named 'json' would hide the 'json' module"),
        ("boto3/task.py:handler", "a team folder named 'boto3' would hide"),
        ("billing/test_report.py:handler", "test files (tests/, test_*.py, *_test.py, conftest.py) are never packaged"),
        ("billing/report_test.py:handler", "are never packaged"),
        ("billing/tests/report.py:handler", "are never packaged"),
        ("billing/conftest.py:handler", "are never packaged"),
    ],
)
def test_handler_paths_and_names(project: Path, spec: str, expected: str) -> None:
    assert expected in handler_problem(project, spec)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "def handler(event):\n    pass\n",
            "handler(event) takes 1 positional parameter; Lambda calls it with exactly two",
        ),
        ("def handler(event, context, extra):\n    pass\n", "takes 3 positional parameters"),
        ("def handler(*, event, context):\n    pass\n", "takes 0 positional parameters"),
        ("def handler(event, context, extra, more=1, *rest):\n    pass\n", "takes 3 positional parameters"),
        ("def handler(event, context, *, key):\n    pass\n", "requires keyword arguments key"),
        ("async def handler(event, context):\n    pass\n", "is 'async def'"),
        ("handler = print\n", "is not defined with def"),
        ("class handler:\n    pass\n", "is not defined with def"),
        (
            "def main():\n    def handler(event, context):\n        pass\n",
            "defines no function 'handler' at module level",
        ),
        ("def handler(event, context):\n  return (\n", "jobs/team_x/job.py line 2: Python syntax error"),
    ],
)
def test_handler_functions_are_checked_statically(project: Path, source: str, expected: str) -> None:
    add_file(project, "team_x/job.py", source)
    assert expected in handler_problem(project, "team_x/job.py:handler")


@pytest.mark.parametrize(
    "signature",
    [
        "event, context",
        "event, context, extra=None",
        "*args",
        "event, *rest",
        "event, context, **kwargs",
        "event, context, /",
        "event, context, *, key=1",
    ],
)
def test_handlers_that_lambda_can_call_with_two_arguments_are_accepted(project: Path, signature: str) -> None:
    add_file(project, "team_x/job.py", f"def handler({signature}):\n    pass\n")
    path = write(project, HEAD.replace("billing/nightly_report.py", "team_x/job.py"))
    assert load_manifest(path, now=NOW).jobs[0].handler == "team_x/job.py:handler"


def test_a_blank_schedule_is_a_problem_not_a_silently_dropped_job(project: Path) -> None:
    text = (
        HEAD
        + """\
  blank:
    handler: billing/nightly_report.py:handler
    schedule: "   "
"""
    )
    line, path, message = one(project, text)
    assert (line, path) == (9, "jobs.blank.schedule")
    assert message.startswith("the schedule is empty; write one of: cron(")


@pytest.mark.parametrize(
    ("settings", "path", "expected"),
    [
        ("handler: 'billing:handler'\n    schedule: '@daily'", "jobs.job.handler", "is not FILE.py:FUNCTION"),
        (
            "handler: billing/nightly_report.py:handler\n    schedule: '@daily'\n    reserved_concurrency: -1\n"
            "    provisioned_concurrency: 0",
            "jobs.job.provisioned_concurrency",
            "less than the minimum of 1",
        ),
        ("handler: billing/nightly_report.py:handler\n    schedule: ''", "jobs.job.schedule", "must not be empty"),
        (
            "handler: billing/nightly_report.py:handler\n    schedule: '@daily'\n    timeout: !!python/name:os.system ''",
            "jobs.job.timeout",
            "cannot read this YAML value",
        ),
    ],
)
def test_a_value_is_reported_once_by_the_first_check_that_rejects_it(
    project: Path, settings: str, path: str, expected: str
) -> None:
    found = problems(project, HEAD + f"  job:\n    {settings}\n")
    at_path = [message for _, where, message in found if where == path]
    assert len(at_path) == 1, found
    assert expected in at_path[0]


def test_handler_code_is_never_imported_or_run(project: Path) -> None:
    marker = project / "ran"
    add_file(
        project,
        "team_x/job.py",
        f"""
        import sys
        open({str(marker)!r}, "w").write("imported")
        sys.exit(3)

        def handler(event, context):
            return 1
    """,
    )
    path = write(project, HEAD.replace("billing/nightly_report.py", "team_x/job.py"))
    assert load_manifest(path, now=NOW).jobs[0].handler == "team_x/job.py:handler"
    assert not marker.exists()


def test_a_symlink_out_of_jobs_is_rejected(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside") / "evil.py"
    outside.write_text("def handler(event, context):\n    pass\n")
    (project / "jobs" / "billing" / "evil.py").symlink_to(outside)
    assert "outside jobs/" in handler_problem(project, "billing/evil.py:handler")


def test_check_handlers_false_skips_the_files_but_not_the_form(project: Path) -> None:
    path = write(project, HEAD.replace("nightly_report.py", "not_written_yet.py"))
    assert load_manifest(path, check_handlers=False, now=NOW).jobs[0].handler == "billing/not_written_yet.py:handler"
    assert "leaves the jobs/ folder" in handler_problem(project, "../x.py:handler", check_handlers=False)


def test_a_missing_jobs_folder_is_explained(project: Path) -> None:
    shutil.rmtree(project / "jobs")
    assert "there is no jobs/ folder next to the manifest" in handler_problem(
        project, "billing/nightly_report.py:handler"
    )


# --- the schema file ---------------------------------------------------------------------------


def test_the_schema_is_valid_draft_2020_12_and_accepts_the_example() -> None:
    shipped = schema()
    jsonschema.Draft202012Validator.check_schema(shipped)
    assert shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    example = yaml.safe_load((ROOT / "jobs.yaml").read_text())
    jsonschema.Draft202012Validator(shipped).validate(example)
    assert (
        (ROOT / "jobs.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=./platform/cronplane/manifest/jobs.schema.json")
    )


def test_the_schema_knows_every_job_field_of_the_model() -> None:
    shipped = schema()
    keys = set(shipped["$defs"]["settings"]["properties"])
    model = {f.name for f in dataclasses.fields(Job)} - {"name", "line"}
    assert keys == model


def test_schema_returns_a_copy() -> None:
    schema()["properties"].clear()
    assert "jobs" in schema()["properties"]


def test_files_that_are_not_text_or_not_files(tmp_path: Path) -> None:
    binary = tmp_path / "jobs.yaml"
    binary.write_bytes(b"namespace: acme\nregion: \xff\xfe\n")
    with pytest.raises(ManifestError) as info:
        load_manifest(binary)
    assert str(info.value) == f"{binary}:2: is not UTF-8 text; save it as UTF-8"
    with pytest.raises(ManifestError) as info:
        load_manifest(tmp_path)
    assert "is a folder" in str(info.value)


def test_tags_use_only_the_characters_aws_accepts(project: Path) -> None:
    # AWS tag keys and values: letters, digits, spaces and _ . : / = + - @ (any script)
    found = problems(
        project,
        HEAD
        + """\
    tags:
      app.io/name: "team value_1:=+-@"
      Größe: "ü"
      cost-center: "4#2"
      "a\\nb": c
""",
    )
    assert found == [
        (
            10,
            "jobs.report.tags.cost-center",
            "'4#2' has a character AWS does not allow in tags; use letters, digits, spaces and _ . : / = + - @",
        ),
        (
            11,
            'jobs.report.tags["a\\nb"]',
            "'a\\nb' has a character AWS does not allow in tags; use letters, digits, spaces and _ . : / = + - @",
        ),
    ]
