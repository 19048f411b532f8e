"""The Terraform export: a root module (``terraform init && terraform apply``) from the export's
desired state, each resource written by its kind (``ResourceKind.to_terraform``).

- ``versions.tf``: Terraform and the AWS provider, pinned;
- ``providers.tf``: the provider (region, extra tags as ``default_tags``) and the account and
  partition lookups the names and ARNs use; delete it to use the folder as a child module;
- ``variables.tf``: region, namespace, tags, each job's KMS key and VPC, defaulting to jobs.yaml;
- ``main.tf``: the resources, shared ones first, then job by job;
- ``outputs.tf``: the function and dead-letter queue ARNs by job.
"""

from __future__ import annotations

from typing import Any

from cronplane.aws.export.context import TfContext
from cronplane.aws.export.hcl import Attr, Block, Raw, render_file
from cronplane.aws.export.inputs import ExportState
from cronplane.aws.kinds import kind_of
from cronplane.manifest.loader import NAME_RE

AWS_PROVIDER = "~> 5.70"  # state, logging and Scheduler arguments used here are all in 5.70
TERRAFORM_VERSION = ">= 1.5.0"
HEADER = (
    "Exported by `jobctl export --format terraform` from jobs.yaml: edit jobs.yaml and export",
    "again rather than this file. Resources tagged cronplane:exported-to=terraform are this",
    "module's: jobctl plan / deploy / destroy refuse to change them.",
)


def files(state: ExportState, ctx: TfContext) -> dict[str, str]:
    """File name -> content."""
    blocks: list[Block] = []
    outputs: dict[str, dict[str, Any]] = {}
    for res in [*state.desired.shared(), *(r for job in state.desired.jobs() for r in state.desired.of_job(job))]:
        kind = kind_of(res.kind)
        blocks.extend(_inputs_everywhere(block, ctx) for block in kind.to_terraform(res, ctx))
        if kind.export_output and res.job:
            outputs.setdefault(kind.export_output, {})[res.job] = Raw(f"{ctx.address(res)}.arn")
    _check_unique(blocks)
    return {
        "versions.tf": render_file([_versions()]),
        "providers.tf": render_file(_providers()),
        "variables.tf": render_file(_variables(state)),
        "main.tf": render_file(blocks, HEADER),
        "outputs.tf": render_file(_outputs(outputs)),
    }


def _inputs_everywhere(block: Block, ctx: TfContext) -> Block:
    """Every value through ``ctx.text`` once more: a placeholder in any string a kind wrote as it
    is (a description naming the namespace) still becomes its input."""
    for index, item in enumerate(block.body):
        if isinstance(item, Block):
            _inputs_everywhere(item, ctx)
        elif isinstance(item, Attr):
            block.body[index] = Attr(item.name, ctx.text(item.value))
    return block


def _check_unique(blocks: list[Block]) -> None:
    seen: set[tuple[str, ...]] = set()
    for block in blocks:
        if block.labels in seen:  # names are injective (tf_name): a kind emitting a name twice
            raise AssertionError(f"Terraform address {'.'.join(block.labels)} written twice")
        seen.add(block.labels)


def _versions() -> Block:
    aws = {"source": "hashicorp/aws", "version": AWS_PROVIDER}
    providers = Block("required_providers").attr("aws", aws)
    return Block("terraform").attr("required_version", TERRAFORM_VERSION).block(providers)


def _providers() -> list[Block]:
    tags = Block("default_tags").attr("tags", Raw("var.tags"))
    return [
        Block("provider", ("aws",)).attr("region", Raw("var.region")).block(tags),
        Block("data", ("aws_caller_identity", "current")),
        Block("data", ("aws_partition", "current")),
    ]


def _variables(state: ExportState) -> list[Block]:
    inputs = state.inputs
    limit = inputs.namespace_max_length(state.desired.jobs())
    namespace_check = (
        Block("validation")
        .attr(
            "condition",
            Raw(f"can(regex({_hcl_regex(NAME_RE.pattern)}, var.namespace)) && length(var.namespace) <= {limit}"),
        )
        .attr("error_message", f"Use lowercase letters, digits and single hyphens, at most {limit} characters.")
    )
    kms = {job: key for job, key in sorted(inputs.kms_keys.items())}
    vpcs = {
        job: {"subnet_ids": list(vpc.subnets), "security_group_ids": list(vpc.security_groups)}
        for job, vpc in sorted(inputs.vpcs.items())
    }
    return [
        _variable("region", "string", inputs.region, "AWS region the jobs run in."),
        _variable(
            "namespace", "string", inputs.namespace, "Prefix of every name (cronplane namespace).", namespace_check
        ),
        _variable("tags", "map(string)", {}, "Extra tags for every resource (provider default_tags)."),
        _variable(
            "kms_key_arns",
            "map(string)",
            kms,
            "KMS key by job, for the jobs with kms_key in jobs.yaml (environment and secrets).",
        ),
        _variable(
            "vpc_configs",
            "map(object({ subnet_ids = list(string), security_group_ids = list(string) }))",
            vpcs,
            "Subnets and security groups by job, for the jobs with vpc in jobs.yaml.",
        ),
    ]


def _variable(name: str, type_: str, default: Any, description: str, *checks: Block) -> Block:
    block = Block("variable", (name,)).attr("description", description).attr("type", Raw(type_))
    block.attr("default", default)
    for check in checks:
        block.block(check)
    return block


def _hcl_regex(pattern: str) -> str:
    return '"' + pattern.replace("\\", "\\\\") + '"'


def _outputs(outputs: dict[str, dict[str, Any]]) -> list[Block]:
    described = {"function_arns": "Lambda function ARN by job.", "queue_arns": "Dead-letter queue ARN by job."}
    blocks = []
    for name, values in sorted(outputs.items()):
        block = Block("output", (name,)).attr("description", described.get(name, f"{name} by job."))
        blocks.append(block.attr("value", dict(sorted(values.items()))))
    return blocks


__all__ = ["AWS_PROVIDER", "files"]
