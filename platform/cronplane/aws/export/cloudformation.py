"""The CloudFormation export: one JSON template from the export's desired state, each resource
written by its kind (``ResourceKind.to_cloudformation``), plus the parameters for what differs
per environment and the outputs teams wire other stacks to.

Region and account are the stack's own (``AWS::Region``, ``AWS::AccountId``); extra tags go on
as stack tags (``aws cloudformation deploy --tags``), which CloudFormation hands on to every
resource. The packages are uploaded to ``PackageBucket`` under their content hash before the
stack is deployed (``upload_steps``).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from cronplane.aws.export.context import PACKAGE_DIR, CfnContext, ExportError, camel
from cronplane.aws.export.inputs import ExportState
from cronplane.aws.kinds import kind_of
from cronplane.manifest.loader import NAME_RE

TEMPLATE_FILE = "template.json"
KMS_KEY_PATTERN = "^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$"
# Why the template is as it is, where a reader (or cfn-lint) could wonder.
NOTES = (
    "Exported by `jobctl export --format cloudformation` from jobs.yaml: edit jobs.yaml and export again "
    "rather than this file. It creates what `jobctl deploy` would, with the same names and tags.",
    "Region and account are the stack's; Namespace prefixes every name. Extra tags: pass them as stack tags "
    "(aws cloudformation deploy --tags KEY=VALUE), which CloudFormation puts on every resource.",
    "Upload the packages (packages/<sha256>.zip, named by content hash) to PackageBucket before deploying: "
    "an unchanged job keeps its S3 key, so CloudFormation leaves its function alone.",
    "One-time at() jobs: Scheduler's ActionAfterCompletion is left at its default, NONE, as jobctl deploy sets it "
    "(AWS::Scheduler::Schedule has no such property).",
    "The history table has DeletionPolicy Retain: the run history outlives the stack, as it outlives "
    "`jobctl destroy` without --include-history.",
    "Resources tagged cronplane:exported-to=cloudformation are this stack's: jobctl plan / deploy / destroy "
    "refuse to change them.",
    "cfn-lint W1020 is off for a resource whose jobs.yaml values contain '${': each such value is an Fn::Sub "
    "with '${!' that gives the text back as it is; as a plain string cfn-lint would take it for a forgotten "
    "Fn::Sub (E1029).",
    "cfn-lint I3042 (a hardcoded partition in an ARN) can only come from a job's own permissions in jobs.yaml; "
    "cronplane's own ARNs use AWS::Partition.",
)
LITERAL_SUB_LINT = {"cfn-lint": {"config": {"ignore_checks": ["W1020"]}}}


def template(state: ExportState, ctx: CfnContext) -> dict[str, Any]:
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for res in _ordered(state):
        kind = kind_of(res.kind)
        for logical_id, body in kind.to_cloudformation(res, ctx).items():
            if logical_id in resources:
                raise ExportError(
                    f"two resources get the CloudFormation logical id {logical_id} ({res.label} is one): "
                    "rename one of the jobs (names that differ only in hyphens before a digit collide)"
                )
            body = {k: v for k, v in body.items() if v != {}}
            if "Properties" in body:
                # Every value through ctx.text once more: a placeholder in any string a kind
                # wrote as it is (a description naming the namespace) still becomes its input.
                converted = ctx.text(body["Properties"])
                body["Properties"] = literal(converted)
                if body["Properties"] != converted:
                    body["Metadata"] = {**body.get("Metadata", {}), **LITERAL_SUB_LINT}
            resources[logical_id] = body
        if kind.export_output and res.job:
            logical_id = ctx.logical_id(res)
            outputs[f"{logical_id}Arn"] = {
                "Description": f"{kind.name} of job {res.job}",
                "Value": kind.cfn_arn(logical_id),
            }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "cronplane scheduled jobs (exported from jobs.yaml by jobctl export)",
        "Metadata": {"cronplane": {"notes": list(NOTES)}},
        "Parameters": _parameters(state),
        "Resources": resources,
        "Outputs": outputs,
    }


def literal(value: Any) -> Any:
    """``value`` with every plain string holding ``${`` made an ``Fn::Sub`` that gives it back
    as it is (``${!``): CloudFormation would keep it anyway, but cfn-lint takes a ``${AWS::Region}``
    in a job's payload for a forgotten ``Fn::Sub``."""
    if isinstance(value, str):
        return {"Fn::Sub": value.replace("${", "${!")} if "${" in value else value
    if isinstance(value, dict):
        if "Fn::Sub" in value or "Ref" in value or "Fn::GetAtt" in value:
            return value
        return {k: literal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [literal(v) for v in value]
    return value


def _ordered(state: ExportState) -> list[Any]:
    desired = state.desired
    return [*desired.shared(), *(res for job in desired.jobs() for res in desired.of_job(job))]


def _parameters(state: ExportState) -> dict[str, Any]:
    inputs = state.inputs
    params: dict[str, Any] = {
        CfnContext.NAMESPACE: {
            "Type": "String",
            "Default": inputs.namespace,
            "Description": "Prefix of every name (cronplane namespace): lowercase letters, digits, single hyphens",
            "AllowedPattern": NAME_RE.pattern,
            "MinLength": 1,
            "MaxLength": inputs.namespace_max_length(state.desired.jobs()),
        },
        CfnContext.PACKAGE_BUCKET: {
            "Type": "String",
            "Description": f"S3 bucket in the stack's region holding {PACKAGE_DIR}/<sha256>.zip (upload them first)",
            "MinLength": 3,
            "MaxLength": 63,
        },
    }
    for job, key in sorted(inputs.kms_keys.items()):
        params[f"{camel(job)}KmsKeyArn"] = {
            "Type": "String",
            "Default": key,
            "Description": f"KMS key of job {job} (environment, secrets)",
            "AllowedPattern": KMS_KEY_PATTERN,
        }
    for job, vpc in sorted(inputs.vpcs.items()):
        params[f"{camel(job)}SubnetIds"] = {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Default": ",".join(vpc.subnets),
            "Description": f"Subnets job {job} runs in",
        }
        params[f"{camel(job)}SecurityGroupIds"] = {
            "Type": "List<AWS::EC2::SecurityGroup::Id>",
            "Default": ",".join(vpc.security_groups),
            "Description": f"Security groups of job {job}",
        }
    return params


def render(template_: dict[str, Any]) -> str:
    """Stable text: sorted keys, two-space indent, one newline at the end."""
    return json.dumps(template_, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def upload_steps(out_dir: Path, namespace: str) -> list[str]:
    """What to run to deploy the export: upload the packages, then deploy the template."""
    folder = shlex.quote(str(out_dir / PACKAGE_DIR))
    template_path = shlex.quote(str(out_dir / TEMPLATE_FILE))
    return [
        "Upload the packages (S3 keys named by content hash), then deploy the stack:",
        f"  aws s3 sync {folder} s3://BUCKET/{PACKAGE_DIR}/ --exclude '*' --include '*.zip'",
        f"  aws cloudformation deploy --template-file {template_path} --stack-name {namespace} "
        "--capabilities CAPABILITY_NAMED_IAM --parameter-overrides PackageBucket=BUCKET",
        "(BUCKET: an S3 bucket of yours in the stack's region; add --tags KEY=VALUE for extra tags.)",
    ]


__all__ = ["TEMPLATE_FILE", "render", "template", "upload_steps"]
