"""IAM policy documents: exactly the grants each kind of job needs, no wildcard except the
documented VPC ENI statement, well-formed documents that IAM (moto) accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cronplane.build import iam
from cronplane.build.iam import (
    PolicyError,
    execution_policy,
    lambda_trust_policy,
    scheduler_policy,
    scheduler_trust_policy,
)
from cronplane.build.policy_checks import find_wildcards, policy_problems
from cronplane.manifest.models import Job, Manifest, Permission, Secret, Vpc

ACCOUNT = "123456789012"
REGION = "eu-west-1"
FN_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:acme--report"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/acme-history"
BASE_SIDS = [
    "WriteOwnLogs",
    "OwnRunRecords",
    "SendToOwnDeadLetterQueue",
    "InvokeSelfForRetries",
]


def make_job(**kwargs: Any) -> Job:
    return Job(name="report", handler="billing/report.py:handler", schedule=object(), team="billing", **kwargs)  # type: ignore[arg-type]


def policy_for(job: Job, **kwargs: Any) -> dict[str, Any]:
    manifest = Manifest(namespace="acme", region=REGION, jobs=(job,), path="jobs.yaml")
    return execution_policy(manifest, job, account_id=ACCOUNT, region=kwargs.pop("region", REGION), **kwargs)


def by_sid(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def test_plain_job_gets_exactly_its_own_resources() -> None:
    policy = policy_for(make_job())
    assert policy["Version"] == "2012-10-17"
    statements = by_sid(policy)
    assert list(statements) == BASE_SIDS
    assert statements["WriteOwnLogs"]["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert statements["WriteOwnLogs"]["Resource"] == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/acme--report:*"
    ]
    records = statements["OwnRunRecords"]
    assert records["Resource"] == [TABLE_ARN]
    # Exactly the item calls of runtime/store.py; no Query, and nothing on the table's indexes.
    assert set(records["Action"]) == {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:DeleteItem"}
    assert records["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["report"]}}
    assert not [r for s in policy["Statement"] for r in s["Resource"] if "/index/" in r]
    assert statements["SendToOwnDeadLetterQueue"]["Resource"] == [f"arn:aws:sqs:{REGION}:{ACCOUNT}:acme--report-dlq"]
    assert statements["InvokeSelfForRetries"]["Resource"] == [FN_ARN, f"{FN_ARN}:*"]
    assert find_wildcards(policy) == []
    assert policy_problems(policy) == []
    # No secrets, no key, no VPC: none of those grants (and the log group is deploy's job).
    all_actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert not all_actions & {
        "ssm:GetParameter", "secretsmanager:GetSecretValue", "kms:Decrypt",
        "ec2:CreateNetworkInterface", "logs:CreateLogGroup",
    }  # fmt: skip


def test_ssm_secrets_are_granted_one_by_one_without_kms_by_default() -> None:
    policy = policy_for(make_job(secrets=(
        Secret(env="DB_URL", source="ssm", name="/billing/db"),
        Secret(env="TOKEN", source="ssm", name="billing-token"),
        Secret(env="DUP", source="ssm", name="/billing/db"),
    )))  # fmt: skip
    statement = by_sid(policy)["ReadSsmSecrets"]
    assert statement["Action"] == ["ssm:GetParameter"]
    assert statement["Resource"] == [
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing/db",
        f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/billing-token",
    ]
    assert "DecryptWithJobKey" not in by_sid(policy)
    assert "ReadSecretsManagerSecrets" not in by_sid(policy)
    assert find_wildcards(policy) == [] and policy_problems(policy) == []


def test_secrets_manager_secrets_match_only_the_random_suffix() -> None:
    given_arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shared/api-AbC123"
    policy = policy_for(make_job(secrets=(
        Secret(env="API", source="secretsmanager", name="billing/api"),
        Secret(env="SHARED", source="secretsmanager", name=given_arn),
    )))  # fmt: skip
    statement = by_sid(policy)["ReadSecretsManagerSecrets"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == [f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:billing/api-??????", given_arn]
    assert "ReadSsmSecrets" not in by_sid(policy)
    assert find_wildcards(policy) == []


def test_kms_key_grants_decrypt_on_that_key_only() -> None:
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    policy = policy_for(make_job(kms_key=key_arn, secrets=(Secret("DB", "ssm", "/db"),)))
    assert by_sid(policy)["DecryptWithJobKey"] == {
        "Sid": "DecryptWithJobKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [key_arn],
    }  # fmt: skip
    from_id = policy_for(make_job(kms_key="1234abcd-12ab-34cd-56ef-1234567890ab"))
    assert by_sid(from_id)["DecryptWithJobKey"]["Resource"] == [key_arn]
    assert find_wildcards(policy) == []


def test_kms_alias_is_refused_with_a_fix() -> None:
    with pytest.raises(PolicyError, match=r"jobs.yaml:7: job 'report': kms_key 'alias/billing' must be a key ARN"):
        policy_for(make_job(kms_key="alias/billing", line=7))


def test_vpc_job_gets_eni_actions_the_only_star_resource() -> None:
    policy = policy_for(make_job(vpc=Vpc(subnets=("subnet-1",), security_groups=("sg-1",))))
    statement = by_sid(policy)["ManageVpcNetworkInterfaces"]
    assert statement["Resource"] == "*"
    assert set(statement["Action"]) == {
        "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
    }  # fmt: skip
    assert find_wildcards(policy) == ["ManageVpcNetworkInterfaces: Resource *"]
    assert policy_problems(policy) == []
    # The module says which statement carries the only "*" resource.
    assert "DescribeNetworkInterfaces" in (iam.__doc__ or "") and '"*"' in (iam.__doc__ or "")


def test_declared_permissions_are_appended_in_order() -> None:
    policy = policy_for(make_job(permissions=(
        Permission(actions=("s3:GetObject",), resources=("arn:aws:s3:::reports/*",)),
        Permission(actions=("s3:PutObject",), resources=("arn:aws:s3:::private/*",), effect="Deny"),
    )))  # fmt: skip
    statements = policy["Statement"]
    assert [s["Sid"] for s in statements] == [*BASE_SIDS, "JobDeclared1", "JobDeclared2"]
    assert statements[-2] == {
        "Sid": "JobDeclared1", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::reports/*"],
    }  # fmt: skip
    assert statements[-1]["Effect"] == "Deny"
    assert find_wildcards(policy) == []


def test_declared_action_on_every_service_is_refused_even_with_an_exception() -> None:
    permission = Permission(actions=("*",), resources=("arn:aws:s3:::reports",))
    job = make_job(permissions=(permission,), line=3, allow_privileged="reviewed: needs everything, says who")
    with pytest.raises(
        PolicyError, match=r"jobs.yaml:3: job 'report': permissions\[0\]: action '\*' grants every action"
    ):
        policy_for(job)


def test_declared_service_wide_action_is_refused_without_an_exception() -> None:
    job = make_job(permissions=(Permission(actions=("s3:*",), resources=("arn:aws:s3:::reports",)),), line=3)
    with pytest.raises(PolicyError, match=r"jobs.yaml:3: job 'report': permissions.0.actions.0: 's3:\*' is a wildcard"):
        policy_for(job)


def test_unknown_secret_source_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"secret source 'vault' is not known"):
        policy_for(make_job(secrets=(Secret("X", "vault", "x"),)))


def test_partition_and_region_are_used_in_every_arn() -> None:
    policy = policy_for(make_job(secrets=(Secret("A", "ssm", "/a"), Secret("B", "secretsmanager", "b"))),
                        region="cn-north-1", partition="aws-cn")  # fmt: skip
    arns = [r for s in policy["Statement"] for r in s["Resource"]]
    assert arns and all(a.startswith("arn:aws-cn:") and ":cn-north-1:" in a for a in arns)


def test_policies_are_deterministic() -> None:
    job = make_job(secrets=(Secret("A", "ssm", "/a"),), vpc=Vpc(("s",), ("g",)))
    assert json.dumps(policy_for(job)) == json.dumps(policy_for(job))


def test_oversized_policy_is_refused() -> None:
    secrets = tuple(Secret(f"S{i}", "ssm", f"/billing/a-rather-long-parameter-name-{i:04d}") for i in range(200))
    with pytest.raises(PolicyError, match=r"IAM allows 10240 per inline policy"):
        policy_for(make_job(secrets=secrets))


def test_lambda_trust_policy() -> None:
    policy = lambda_trust_policy()
    assert policy["Statement"] == [{
        "Sid": "LambdaAssumesRole", "Effect": "Allow",
        "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
    }]  # fmt: skip
    assert policy_problems(policy) == []


GROUP_ARN = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/acme-jobs"


def test_scheduler_trust_policy_is_limited_to_the_account_and_the_namespace_group() -> None:
    """Confused-deputy guard: a schedule of another account, or of another namespace's group,
    cannot have Scheduler assume this role."""
    policy = scheduler_trust_policy(ACCOUNT, GROUP_ARN)
    [statement] = policy["Statement"]
    assert statement["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnEquals": {"aws:SourceArn": GROUP_ARN},
    }
    assert policy_problems(policy) == []


def test_scheduler_policy_invokes_function_and_alias_and_sends_to_dlq() -> None:
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:acme--report-dlq"
    policy = scheduler_policy(FN_ARN, dlq)
    statements = by_sid(policy)
    assert statements["InvokeJobFunction"]["Action"] == ["lambda:InvokeFunction"]
    assert statements["InvokeJobFunction"]["Resource"] == [FN_ARN, f"{FN_ARN}:*"]
    assert statements["SendToJobDeadLetterQueue"]["Action"] == ["sqs:SendMessage"]
    assert statements["SendToJobDeadLetterQueue"]["Resource"] == [dlq]
    assert find_wildcards(policy) == [] and policy_problems(policy) == []


def test_find_wildcards_reports_broad_grants_only() -> None:
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "A", "Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Action": ["s3:Get*"], "Resource": ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*"]},
        {"Sid": "Fine", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": [f"{FN_ARN}:*", f"{TABLE_ARN}/index/*", "arn:aws:s3:::bucket/*"]},
        {"Sid": "Fn", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
         "Resource": [f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:*"]},
    ]}  # fmt: skip
    assert find_wildcards(policy) == [
        "A: Action *", "A: Resource *", "B: Action s3:Get*", "B: Resource arn:aws:s3:::*",
        f"Statement3: Resource arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/*",
        f"Fn: Resource arn:aws:lambda:{REGION}:{ACCOUNT}:function:*",
    ]  # fmt: skip


def test_policy_problems_catches_malformed_documents() -> None:
    bad = {"Version": "2008-10-17", "Statement": [
        {"Sid": "Same", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/k"]},
        {"Sid": "Same", "Effect": "Permit", "Action": ["GetObject"], "Resource": ["bucket"]},
        {"Sid": "has-dash", "Effect": "Allow", "Action": ["s3:GetObject"]},
    ]}  # fmt: skip
    assert policy_problems(bad) == [
        "Version must be '2012-10-17', not '2008-10-17'",
        "Statement 2: Sid 'Same' is used twice",
        "Statement 2: Effect must be Allow or Deny",
        "Statement 2: Action must be one or more 'service:Action' strings",
        "Statement 2: Resource must be one or more ARNs",
        "Statement 3: Sid 'has-dash' must be letters and digits only",
        "Statement 3: Resource must be one or more ARNs",
    ]
    assert policy_problems({"Version": "2012-10-17", "Statement": []}) == ["Statement must be a non-empty list"]


def test_iam_accepts_the_documents(aws: None) -> None:
    """moto's IAM runs AWS's document validation on managed policies and trust policies."""
    import boto3

    client = boto3.client("iam")
    role = client.create_role(RoleName="acme--report-exec", AssumeRolePolicyDocument=json.dumps(lambda_trust_policy()))
    client.create_role(
        RoleName="acme--report-sched", AssumeRolePolicyDocument=json.dumps(scheduler_trust_policy(ACCOUNT, GROUP_ARN))
    )
    full = policy_for(make_job(
        secrets=(Secret("A", "ssm", "/a"), Secret("B", "secretsmanager", "b")),
        kms_key="1234abcd-12ab-34cd-56ef-1234567890ab",
        vpc=Vpc(("subnet-1",), ("sg-1",)),
        permissions=(Permission(("s3:GetObject",), ("arn:aws:s3:::reports/*",)),),
    ))  # fmt: skip
    for name, document in [("exec", full), ("sched", scheduler_policy(FN_ARN, "arn:aws:sqs:eu-west-1:1:q"))]:
        created = client.create_policy(PolicyName=name, PolicyDocument=json.dumps(document))
        client.attach_role_policy(RoleName="acme--report-exec", PolicyArn=created["Policy"]["Arn"])
    client.put_role_policy(RoleName="acme--report-exec", PolicyName="inline", PolicyDocument=json.dumps(full))
    stored = client.get_role_policy(RoleName="acme--report-exec", PolicyName="inline")["PolicyDocument"]
    assert stored == full
    assert role["Role"]["AssumeRolePolicyDocument"] == lambda_trust_policy()
    # The validator really runs: a malformed document is rejected.
    with pytest.raises(client.exceptions.MalformedPolicyDocumentException):
        client.create_policy(PolicyName="bad", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetObject"]}]}))  # fmt: skip
