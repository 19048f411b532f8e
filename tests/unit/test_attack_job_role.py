"""Attack: a job's code reads every other job's run history (issue 10, item 4).

The execution role used to allow ``dynamodb:Query`` on the history table's ``index/*`` without a
condition, and the by-time index holds every job's results, tracebacks and callers: one Query
from a hostile handler read them all. IAM policy simulation is not available in moto, so these
tests hold the documents themselves to what the runtime does:

- no statement grants an index (or any resource under the table) and no Query at all;
- every history grant carries the job's own partition (``dynamodb:LeadingKeys``);
- every platform action of the policy is a call found in the runtime's source, and every call
  the runtime's source makes is in the policy: an unused grant, or a new call without its
  grant, fails here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name

import cronplane.runtime
from cronplane.build import iam
from cronplane.build.resources import desired_state
from cronplane.manifest.models import AlertPolicy, Job, Manifest, Permission, Secret, TriggerMode, Vpc
from cronplane.runtime.alerts import Route

ACCOUNT, REGION = "123456789012", "eu-west-1"
RUNTIME = Path(cronplane.runtime.__file__).parent
# Runtime code that never runs inside a job's Lambda, with its reason (kept honest below).
NOT_IN_LAMBDA = {
    ("schema/layout.py", "create_table"): "creates the table for tests and the dev server; deploy creates it on AWS",
}
# The runtime's own methods whose names happen to be API operations too (not boto3 calls).
RUNTIME_METHODS = {"invoke_async": "dispatch.Dispatcher.invoke_async (sends lambda.invoke)"}
# IAM action names that differ from the API operation's name.
IAM_ACTION_OF = {("lambda", "Invoke"): "InvokeFunction"}
# TransactWriteItems has no IAM action: each item is authorised as its own operation.
TRANSACT_ITEMS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


ALERTS = AlertPolicy(
    notify=(
        Route("email", "billing-oncall@example.com"),
        Route("sns", f"arn:aws:sns:{REGION}:{ACCOUNT}:billing-pager"),
        Route("webhook", "ssm:/billing/slack-webhook"),
    )
)


def full_job(**changes: Any) -> Job:
    """A job with every platform feature that adds a grant: both secret stores, a KMS key, a
    VPC, alerts."""
    job = Job(
        name="report",
        handler="billing/report.py:handler",
        schedule=object(),  # type: ignore[arg-type]
        team="billing",
        secrets=(Secret("DB", "ssm", "/billing/db"), Secret("API", "secretsmanager", "billing/api")),
        kms_key=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        vpc=Vpc(("subnet-0123456789abcdef0",), ("sg-0123456789abcdef0",)),
        alerts=ALERTS,
    )
    return replace(job, **changes)


def policy_of(job: Job) -> dict[str, Any]:
    manifest = Manifest(namespace="acme", region=REGION, jobs=(job,))
    return iam.execution_policy(manifest, job, account_id=ACCOUNT, region=REGION)


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy["Statement"])


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


# -- the runtime's calls, read from its source -----------------------------------------------------


def runtime_sources() -> Iterator[tuple[str, ast.AST]]:
    """Every module of the runtime as (relative path, tree), without the functions that do not
    run in Lambda."""
    for path in sorted(RUNTIME.rglob("*.py")):
        relative = path.relative_to(RUNTIME).as_posix()
        tree = ast.parse(path.read_text(), str(path))
        skipped = {name for (file, name) in NOT_IN_LAMBDA if file == relative}
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in skipped:
                node.body = [ast.Pass()]
        yield relative, tree


def runtime_services() -> set[str]:
    """Services the runtime asks its client factory for: ``clients("dynamodb")``,
    ``client_for("ssm")``, ``self._client_for("sqs")``."""
    found: set[str] = set()
    for _, tree in runtime_sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if re.fullmatch(r"_?clients?(_for)?", name) and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
    return found


def runtime_iam_actions() -> set[str]:
    """The IAM actions the runtime's source needs: each operation of a service it creates a
    client for that the source calls (``client.send_message(``) or names (``_call("put_item"``)."""
    session = botocore.session.get_session()
    services = runtime_services()
    operations: dict[str, set[tuple[str, str]]] = {}
    for service in services:
        for operation in session.get_service_model(service).operation_names:
            operations.setdefault(xform_name(operation), set()).add((service, operation))
    words: set[str] = set()
    dict_keys: set[str] = set()
    for _, tree in runtime_sources():
        exported = {
            id(value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)
            for value in ast.walk(node.value)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr not in RUNTIME_METHODS:
                words.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exported:
                words.add(node.value)
            elif isinstance(node, ast.Dict):
                dict_keys |= {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    actions: set[str] = set()
    for word in words & set(operations):
        for service, operation in operations[word]:
            if (service, operation) == ("dynamodb", "TransactWriteItems"):
                actions |= {f"dynamodb:{TRANSACT_ITEMS[k]}" for k in dict_keys & set(TRANSACT_ITEMS)}
            else:
                actions.add(f"{service}:{IAM_ACTION_OF.get((service, operation), operation)}")
    return actions


def test_the_source_scan_sees_what_the_runtime_does() -> None:
    """The scan itself works: it finds the calls of store.py, dispatch.py and secrets.py, and
    each function excluded as not running in Lambda still exists."""
    assert runtime_services() == {"dynamodb", "sqs", "lambda", "ssm", "secretsmanager", "sns"}
    assert {"dynamodb:PutItem", "sqs:SendMessage", "lambda:InvokeFunction", "ssm:GetParameter"} <= (
        runtime_iam_actions()
    )
    for file, function in NOT_IN_LAMBDA:
        tree = ast.parse((RUNTIME / file).read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == function for n in ast.walk(tree)), (file, function)
    defined = {n.name for _, tree in runtime_sources() for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert set(RUNTIME_METHODS) <= defined


def test_every_platform_action_is_a_call_the_runtime_makes_and_back() -> None:
    used = runtime_iam_actions()
    granted = {
        action
        for statement in statements(policy_of(full_job()))
        if not statement["Sid"].startswith("JobDeclared")
        for action in as_list(statement["Action"])
    }
    unused = granted - used - iam.LAMBDA_SERVICE_ACTIONS
    missing = used - granted
    assert not unused, f"granted but never called by cronplane/runtime: {sorted(unused)}"
    assert not missing, f"called by cronplane/runtime but not granted: {sorted(missing)}"
    assert used == iam.RUNTIME_ACTIONS  # the constant the policy is built from says the same


@pytest.mark.parametrize(
    "job",
    [
        full_job(),
        full_job(secrets=(), kms_key=None, vpc=None),
        full_job(provisioned_concurrency=2),
        full_job(permissions=(Permission(("s3:GetObject",), ("arn:aws:s3:::reports/*",)),)),
    ],
    ids=["everything", "plain", "provisioned", "declared"],
)
def test_no_grant_reaches_another_jobs_history(job: Job) -> None:
    policy = policy_of(job)
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/acme-history"
    for statement in statements(policy):
        resources = as_list(statement["Resource"])
        assert not [r for r in resources if "/index/" in r or r.startswith(f"{table}/")], statement
        actions = as_list(statement["Action"])
        assert "dynamodb:Query" not in actions and "dynamodb:Scan" not in actions, statement
        if any(a.startswith("dynamodb:") for a in actions):
            # Only the table itself, only the job's own partition.
            assert resources == [table], statement
            assert statement["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["report"]}}


def test_every_deployed_execution_policy_of_the_example_jobs_keeps_to_its_partition() -> None:
    from cronplane.manifest.loader import load_manifest

    root = Path(__file__).resolve().parents[2]
    manifest = replace(load_manifest(root / "jobs.yaml"), trigger_mode=TriggerMode.SCHEDULER)
    state = desired_state(
        manifest, account_id=ACCOUNT, region=REGION, code={j.name: ("x", None) for j in manifest.jobs}
    )
    roles = [r for r in state.resources if r.slot == "role"]
    assert len(roles) == len(manifest.jobs)
    for role in roles:
        for statement in statements(role.hidden["policy"]):
            for resource in as_list(statement["Resource"]):
                assert "/index/" not in resource, (role.name, statement)
            if any(a.startswith("dynamodb:") for a in as_list(statement["Action"])):
                assert statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == [role.job]
