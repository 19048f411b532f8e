"""The CloudFormation export deployed into moto (in-process), where moto's CloudFormation knows
the resource types; and jobctl's plan / deploy / destroy refusing to touch what a stack or a
Terraform module deploys."""

from __future__ import annotations

import ast
import json
import sys
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from export_fixtures import REGION

from cronplane.aws.client import AwsClient
from cronplane.aws.deployer import Deployer
from cronplane.aws.export.context import EXPORT_TAG
from cronplane.aws.ownership import ManagedElsewhereError
from cronplane.aws.planner import plan
from cronplane.aws.session import AwsConfig
from cronplane.build.resources import Kind

sys.path.insert(0, str(Path(__file__).parents[1] / "aws"))
from deploy_builders import desired_for, example_manifest, live_from

# What moto's CloudFormation creates (it skips the types it does not know, with a warning).
CREATED_BY_MOTO = {
    "AWS::DynamoDB::Table",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Lambda::Permission",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
    "AWS::Events::Rule",
}
STACK_TAG = "aws:cloudformation:stack-name"
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")  # moto: a type it skips


def deploy_stack(folder: Path, stack: str) -> dict:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="packages", CreateBucketConfiguration={"LocationConstraint": REGION})
    for package in (folder / "packages").iterdir():  # the printed upload step
        s3.put_object(Bucket="packages", Key=f"packages/{package.name}", Body=package.read_bytes())
    cfn = boto3.client("cloudformation", region_name=REGION)
    cfn.create_stack(
        StackName=stack,
        TemplateBody=(folder / "template.json").read_text(),
        Parameters=[{"ParameterKey": "PackageBucket", "ParameterValue": "packages"}],
        Capabilities=["CAPABILITY_NAMED_IAM"],
    )
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]


def test_the_template_deploys_and_creates_what_deploy_would(aws: None, exports) -> None:
    exported = exports[("example", "cloudformation")]
    template = json.loads((exported.folder / "template.json").read_text())
    stack = deploy_stack(exported.folder, "acme-jobs")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    summaries = boto3.client("cloudformation", region_name=REGION).list_stack_resources(StackName="acme-jobs")
    created = {r["LogicalResourceId"] for r in summaries["StackResourceSummaries"]}
    expected = {k for k, v in template["Resources"].items() if v["Type"] in CREATED_BY_MOTO}
    assert expected <= created

    desired = exported.desired()
    lam, iam = boto3.client("lambda", region_name=REGION), boto3.client("iam", region_name=REGION)
    functions = [r for r in desired.resources if r.kind == Kind.FUNCTION]
    assert functions
    for fn in functions:
        got = lam.get_function(FunctionName=fn.name)
        config = got["Configuration"]
        v = fn.visible
        assert config["CodeSha256"] == v["code_sha256"]  # the package deploy would upload
        assert (config["Role"], config["Handler"], config["Runtime"]) == (v["role"], v["handler"], v["runtime"])
        assert (config["Timeout"], config["MemorySize"]) == (v["timeout"], v["memory"])
        assert config["Environment"]["Variables"] == v["environment"]
        assert stack_outputs(stack)[f"{camel(fn.job)}FunctionArn"] == fn.arn
    for role in (r for r in desired.resources if r.kind == Kind.ROLE):
        live = iam.get_role(RoleName=role.name)["Role"]
        assert (live["Path"], live["Arn"]) == (role.visible["path"], role.arn)
        assert live["AssumeRolePolicyDocument"] == role.visible["trust"]
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role.name)["Tags"]}
        assert tags == {**role.tags, EXPORT_TAG: "cloudformation"}  # what run-now, pause... look for
        policy = iam.get_role_policy(RoleName=role.name, PolicyName="cronplane")["PolicyDocument"]
        if isinstance(policy, str):  # moto's CloudFormation stores the document as Python's repr
            policy = ast.literal_eval(policy)
        assert policy == role.hidden["policy"]
    sqs, logs = boto3.client("sqs", region_name=REGION), boto3.client("logs", region_name=REGION)
    for queue in (r for r in desired.resources if r.kind == Kind.QUEUE):
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attrs["MessageRetentionPeriod"] == queue.hidden["attributes"]["MessageRetentionPeriod"]
    for group in (r for r in desired.resources if r.kind == Kind.LOG_GROUP):
        [live_group] = logs.describe_log_groups(logGroupNamePrefix=group.name)["logGroups"]
        assert live_group["retentionInDays"] == group.visible["retention"]
    events = boto3.client("events", region_name=REGION)
    for rule in (r for r in desired.resources if r.kind == Kind.RULE):
        live_rule = events.describe_rule(Name=rule.name)
        assert (live_rule["ScheduleExpression"], live_rule["State"]) == (rule.visible["expression"], "ENABLED")
    [table] = [r for r in desired.resources if r.kind == Kind.TABLE]
    described = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table.name)["Table"]
    assert described["KeySchema"] == table.hidden["definition"]["KeySchema"]


def stack_outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def camel(name: str | None) -> str:
    return "".join(w.capitalize() for w in str(name).split("-"))


def test_jobctl_plan_refuses_a_namespace_a_stack_deploys(aws: None, exports) -> None:
    exported = exports[("example", "cloudformation")]
    deploy_stack(exported.folder, "acme-jobs")
    deployer = Deployer(AwsClient(AwsConfig(region=REGION)))
    with pytest.raises(ManagedElsewhereError) as refused:
        deployer.plan(exported.manifest)
    message = str(refused.value)
    assert "namespace acme-jobs is deployed by CloudFormation" in message
    # (moto's CloudFormation tags no Lambda function; the table carries the export's mark)
    assert "dynamodb table acme-jobs-history" in message and "jobctl changes nothing another tool deploys" in message
    with pytest.raises(ManagedElsewhereError):
        deployer.plan(exported.manifest, destroy=True, include_history=True)


def tagged(live, kind: str, **tags: str):
    """``live`` with extra tags on every resource of ``kind``."""
    changed = [replace(r, tags={**(r.tags or {}), **tags}) for r in live.resources.values() if r.kind == kind]
    return live.with_resources(changed)


@pytest.mark.parametrize(
    ("tags", "tool"),
    [
        ({STACK_TAG: "jobs-stack"}, "CloudFormation stack jobs-stack"),
        ({EXPORT_TAG: "terraform"}, "Terraform"),
    ],
)
def test_plan_and_destroy_refuse_what_another_tool_deploys(tags: dict[str, str], tool: str) -> None:
    desired = desired_for(example_manifest())
    live = tagged(live_from(desired, with_tags=True), Kind.FUNCTION, **tags)
    for options in ({}, {"destroy": True}):
        with pytest.raises(ManagedElsewhereError) as refused:
            plan(desired, live, **options)
        assert f"namespace acme-jobs is deployed by {tool} (lambda function acme-jobs--" in str(refused.value)
        assert "and 0 more" not in str(refused.value)


def test_a_history_table_a_deleted_stack_left_behind_is_jobctls_again() -> None:
    """CloudFormation keeps its tag on a retained table, and no one can remove an aws: tag: there
    only the export's own mark counts, which can be removed to hand the table over."""
    desired = desired_for(example_manifest())
    live = live_from(desired, with_tags=True)
    retained = tagged(live, Kind.TABLE, **{STACK_TAG: "gone"})
    assert plan(desired, retained).actions == plan(desired, live).actions
    marked = tagged(retained, Kind.TABLE, **{EXPORT_TAG: "cloudformation"})
    with pytest.raises(ManagedElsewhereError, match="dynamodb table acme-jobs-history"):
        plan(desired, marked)
