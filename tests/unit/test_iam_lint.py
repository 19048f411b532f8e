"""Every IAM document the repository's jobs.yaml deploys, linted by parliament (an independent
IAM policy linter) and checked for wildcard grants: execution policies, Scheduler policies,
trust policies and queue policies, as ``resources.desired_state`` builds them, with the
example jobs on classic rules (``trigger_mode: auto``) and all on Scheduler."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from parliament import analyze_policy_string

from cronplane.build.policy_checks import find_wildcards
from cronplane.build.resources import desired_state
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import TriggerMode

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "eu-west-1"
# parliament lints identity policies; a trust policy names a Principal instead of a Resource,
# which parliament reports as malformed although IAM requires exactly that shape.
TRUST_POLICY_SHAPE = ("MALFORMED", "Statement contains neither Resource nor NotResource")


def documents(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy document inside a resource's settings, also those stored as JSON text."""
    if isinstance(value, str) and '"Statement"' in value:
        value = json.loads(value)
    if isinstance(value, dict):
        if "Version" in value and "Statement" in value:
            yield where, value
            return
        for key, item in value.items():
            yield from documents(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from documents(item, f"{where}[{index}]")


def deployed_documents(mode: TriggerMode) -> list[tuple[str, dict[str, Any]]]:
    manifest = dataclasses.replace(load_manifest(ROOT / "jobs.yaml"), trigger_mode=mode)
    state = desired_state(
        manifest, account_id=ACCOUNT, region=REGION, code={job.name: ("sha", None) for job in manifest.jobs}
    )
    found: list[tuple[str, dict[str, Any]]] = []
    for resource in state.resources:
        found += documents({"visible": dict(resource.visible), "hidden": dict(resource.hidden)}, resource.label)
    return found


@pytest.mark.parametrize("mode", list(TriggerMode))
def test_parliament_finds_nothing_in_any_deployed_policy(mode: TriggerMode) -> None:
    found = deployed_documents(mode)
    kinds = {where.rsplit(".", 1)[-1] for where, _ in found}
    assert {"trust", "policy"} <= kinds  # roles' trust and inline policies, Scheduler's too
    if mode is TriggerMode.AUTO:
        assert "Policy" in kinds  # the dead-letter queues' resource policies
    for where, document in found:
        is_trust = all("Principal" in s for s in document["Statement"]) and where.endswith("trust")
        findings = [
            (f.issue, f.detail)
            for f in analyze_policy_string(json.dumps(document), include_community_auditors=True).findings
            if not (is_trust and (f.issue, f.detail) == TRUST_POLICY_SHAPE)
        ]
        assert findings == [], (where, findings, document)
        assert find_wildcards(document) == [], (where, document)


def test_every_scheduler_role_trusts_only_this_accounts_namespace_group() -> None:
    group = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/acme-jobs"
    trusts = [doc for where, doc in deployed_documents(TriggerMode.SCHEDULER) if where.endswith("trust")]
    scheduler = [doc for doc in trusts if doc["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}]
    assert len(scheduler) == 4
    for doc in scheduler:
        assert doc["Statement"][0]["Condition"] == {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnEquals": {"aws:SourceArn": group},
        }
