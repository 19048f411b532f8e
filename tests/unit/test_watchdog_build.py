"""The watchdog as deploy builds it (``build.watchdog``): a deterministic zip whose code imports
from the unpacked zip alone, with deploy-time libraries blocked; the watched jobs as JSON in it;
and its desired resources (only when some job has alerts, least privilege, linted)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from parliament import analyze_policy_string

from cronplane.build import watchdog
from cronplane.build.policy_checks import find_wildcards
from cronplane.build.resources import Kind, desired_state
from cronplane.manifest import names
from cronplane.manifest.models import AlertPolicy, Job, Manifest
from cronplane.manifest.watch_config import WatchConfig
from cronplane.runtime.alerts import Route
from cronplane.schedule.expression import parse_schedule

ACCOUNT, REGION, NS = "123456789012", "eu-west-1", "acme-jobs"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:{names.alert_topic(NS)}"
PAGER = "arn:aws:sns:eu-west-1:123456789012:billing-pager"
ROUTES = (Route("email", "oncall@example.com"), Route("sns", PAGER), Route("webhook", "ssm:/billing/slack"))


def job(name: str, *, alerts: AlertPolicy | None = None, schedule: str = "cron(0 * * * ? *)") -> Job:
    return Job(
        name=name,
        handler="billing/report.py:handler",
        schedule=parse_schedule(schedule),
        team="billing",
        owner="oncall@example.com",
        alerts=alerts,
    )


def manifest(*jobs: Job) -> Manifest:
    return Manifest(namespace=NS, region=REGION, jobs=jobs)


WATCHED = manifest(job("report", alerts=AlertPolicy(ROUTES, late_after_s=120, missed_after_s=900)), job("quiet"))


def resources(m: Manifest) -> dict[tuple[str, str], object]:
    code = {j.name: ("sha", None) for j in m.jobs} | watchdog.watchdog_code(m, build=False)
    state = desired_state(m, account_id=ACCOUNT, region=REGION, code=code)
    return {r.key: r for r in state.resources if r.job == names.WATCHDOG}


def test_no_alerts_no_watchdog() -> None:
    quiet = manifest(job("quiet"))
    assert watchdog.watchdog_package(quiet) is None
    assert watchdog.watchdog_code(quiet) == {}
    assert resources(quiet) == {}


def test_the_package_is_byte_for_byte_the_same_and_carries_the_watched_jobs() -> None:
    first, second = watchdog.watchdog_package(WATCHED), watchdog.watchdog_package(WATCHED)
    assert first is not None and second is not None
    assert first.zip_bytes == second.zip_bytes and first.sha256 == second.sha256
    with zipfile.ZipFile(io.BytesIO(first.zip_bytes)) as archive:
        config = WatchConfig.from_dict(json.loads(archive.read(watchdog.CONFIG_ENTRY)))
        names_in_zip = set(archive.namelist())
    assert config == watchdog.watch_config(WATCHED)
    assert [j.name for j in config.jobs] == ["report"]  # only the jobs with alerts
    assert (config.jobs[0].late_after_s, config.jobs[0].missed_after_s, config.jobs[0].routes) == (120, 900, ROUTES)
    assert "cronplane/watchdog/entry.py" in names_in_zip and "cronplane/runtime/alerts.py" in names_in_zip
    assert not any(n.startswith(("cronplane/aws/", "cronplane/build/", "cronplane/cli/")) for n in names_in_zip)
    changed = watchdog.watchdog_package(manifest(job("report", alerts=AlertPolicy(ROUTES))))
    assert changed is not None and changed.sha256 != first.sha256  # another grace is another config


BLOCKED = ("yaml", "jsonschema", "click", "cron_descriptor", "moto")
IMPORT_CHECK = textwrap.dedent(
    """
    import importlib.abc, json, sys
    BLOCKED = set(sys.argv[2].split(","))

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked: the watchdog's Lambda does not have it")
            return None

    sys.meta_path.insert(0, Block())
    sys.path.insert(0, sys.argv[1])
    import cronplane.watchdog.entry as entry
    from datetime import datetime, UTC
    # The check itself, on the zip's config: its watch start (no AWS needed to judge).
    from cronplane.ops.watch_findings import JobItems, observe
    verdict = observe(entry.CONFIG.jobs[0], JobItems(), None, datetime(2026, 11, 27, tzinfo=UTC))
    loaded = sorted(m for m in sys.modules if m == "cronplane" or m.startswith("cronplane."))
    outside = [m for m in loaded if not (getattr(sys.modules[m], "__file__", "") or "").startswith(sys.argv[1])]
    print(json.dumps({"loaded": loaded, "outside": outside, "starts": verdict.starts_watch}))
    """
)


def test_the_zip_imports_on_its_own_with_deploy_time_libraries_blocked(tmp_path: Path) -> None:
    package = watchdog.watchdog_package(WATCHED)
    assert package is not None
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
        archive.extractall(tmp_path / "task")
    env = {**os.environ, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, str(tmp_path / "task"), ",".join(BLOCKED)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outside"] == []  # every cronplane module came from the zip
    assert "cronplane.ops.watchdog" in result["loaded"] and result["starts"] is True
    assert not [m for m in result["loaded"] if m.split(".")[1:2] in (["aws"], ["build"], ["cli"], ["local"])]


def test_resources_reuse_the_job_kinds_under_the_watchdog_names() -> None:
    found = resources(WATCHED)
    fn = names.watchdog_function(NS)
    assert set(found) == {
        (Kind.ROLE, names.role_name(NS, names.WATCHDOG)),
        (Kind.LOG_GROUP, names.log_group_name(NS, names.WATCHDOG)),
        (Kind.FUNCTION, fn),
        (Kind.PERMISSION, fn),
        (Kind.RULE, names.rule_name(NS, names.WATCHDOG)),
    }
    function = found[(Kind.FUNCTION, fn)]
    assert function.visible["handler"] == "cronplane.watchdog.entry.handler"  # type: ignore[attr-defined]
    assert function.visible["environment"]["CRONPLANE_ALERT_TOPIC"] == TOPIC  # type: ignore[attr-defined]
    rule = found[(Kind.RULE, names.rule_name(NS, names.WATCHDOG))]
    assert rule.visible["expression"] == "rate(1 minute)"  # type: ignore[attr-defined]
    assert rule.hidden["target"]["Arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}"  # type: ignore[attr-defined]


def test_the_watchdogs_role_may_read_histories_record_alerts_and_publish_nothing_else() -> None:
    role = resources(WATCHED)[(Kind.ROLE, names.role_name(NS, names.WATCHDOG))]
    policy = role.hidden["policy"]  # type: ignore[attr-defined]
    grants = {s["Sid"]: (sorted(s["Action"]), s["Resource"]) for s in policy["Statement"]}
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{NS}-history"
    assert grants == {
        "WriteOwnLogs": (
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{NS}--_watchdog:*"],
        ),
        "ReadJobHistories": (["dynamodb:Query"], [table, f"{table}/index/by-time"]),
        "RecordAlerts": (["dynamodb:PutItem"], [table]),
        "PublishAlerts": (["sns:Publish"], sorted([TOPIC, PAGER])),
        "ReadWebhookUrls": (["ssm:GetParameter"], [f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing/slack"]),
    }
    (record,) = [s for s in policy["Statement"] if s["Sid"] == "RecordAlerts"]
    written = record["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]
    assert "status" not in written and "started_at" not in written  # it cannot write a run record
    assert find_wildcards(policy) == []
    findings = analyze_policy_string(json.dumps(policy), include_community_auditors=True).findings
    assert [(f.issue, f.detail) for f in findings] == []


@pytest.mark.parametrize("field", ["late_after_s", "missed_after_s"])
def test_the_zip_changes_only_with_what_the_watchdog_reads(field: str) -> None:
    policy = AlertPolicy(ROUTES, late_after_s=120, missed_after_s=900)
    base = manifest(job("report", alerts=policy))
    moved = manifest(job("report", alerts=replace(policy, **{field: 1000})))
    described = replace(base, jobs=(replace(base.jobs[0], description="now with words"),))
    sha = {m_id: watchdog.watchdog_package(m).sha256 for m_id, m in (("base", base), ("moved", moved))}  # type: ignore[union-attr]
    assert sha["base"] != sha["moved"]
    assert watchdog.watchdog_package(described).sha256 == sha["base"]  # type: ignore[union-attr]


def test_a_start_window_is_added_to_the_graces_the_watchdog_reads() -> None:
    policy = AlertPolicy(ROUTES, late_after_s=120, missed_after_s=900)
    windowed = manifest(replace(job("report", alerts=policy), start_window=10))
    (watched,) = watchdog.watch_config(windowed).jobs
    assert (watched.start_window_s, watched.late_grace_s, watched.missed_grace_s) == (600, 720, 1500)
    assert (watched.late_after_s, watched.missed_after_s) == (120, 900)  # as the manifest says them
    (plain,) = watchdog.watch_config(manifest(job("report", alerts=policy))).jobs
    assert (plain.start_window_s, plain.late_grace_s) == (0, 120)
    # A config written before start windows existed reads as none.
    data = watchdog.watch_config(windowed).to_dict()
    del data["jobs"][0]["start_window_s"]
    assert WatchConfig.from_dict(data).jobs[0].late_grace_s == 120


def test_the_function_gets_more_memory_and_so_cpu_for_thousands_of_jobs() -> None:
    assert [watchdog.memory_mb(n) for n in (1, 999, 1000, 4999, 5000, 10000)] == [256, 256, 1024, 1024, 1769, 1769]
    function = resources(WATCHED)[(Kind.FUNCTION, names.watchdog_function(NS))]
    assert function.visible["memory"] == 256  # type: ignore[attr-defined]


def test_every_item_the_watchdog_writes_fits_the_attributes_its_role_may_write() -> None:
    from datetime import UTC, datetime

    from cronplane.ops.watch_reads import watch_item
    from cronplane.runtime.schema import AlertRecord, WatchStart

    now = datetime(2026, 11, 27, 9, tzinfo=UTC)
    record = AlertRecord.new(
        "report", "missed", "2026-11-27T08:00:00Z", moment=now, now=now, retention_days=30, routes=("x",), note="n"
    )
    for item in (watch_item(record), watch_item(WatchStart("report", "2026-11-27T08:00:00Z", "cron(0 * * * ? *) UTC"))):
        assert set(item) <= set(watchdog.ALERT_ATTRIBUTES)
