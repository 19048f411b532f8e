"""Who deploys a live resource of the namespace, for the planner (``aws.planner``, stage 5 of
the deploy pipeline) before it plans any change: a resource a CloudFormation stack or a
``jobctl export`` module deploys is never changed (``ManagedElsewhereError``, naming the tool),
and a name this namespace needs that another namespace's tag claims is a ``NameClashError``.
Both are raised while planning, so before anything is written."""

from __future__ import annotations

from collections.abc import Mapping

from cronplane.aws.export.context import EXPORT_TAG
from cronplane.errors import CronplaneError


class ManagedElsewhereError(CronplaneError):
    """Live resources of this namespace belong to a CloudFormation stack or a Terraform module
    (``jobctl export``): jobctl changes none of them."""


class NameClashError(CronplaneError):
    """A name this namespace needs belongs to another cronplane namespace."""


def deploying_tool(tags: Mapping[str, str] | None, *, kept: bool = False) -> str | None:
    """The tool that deploys a resource, from its tags: CloudFormation tags what a stack creates
    with the stack's name; Terraform tags nothing, so only a ``jobctl export`` module's own mark
    (``cronplane:exported-to``) tells (docs/export.md). A ``kept`` resource (the history table)
    outlives its stack with the stack's tag, which no one can remove: there only the mark counts,
    and removing it hands the table over to jobctl."""
    if not tags:
        return None
    stack = tags.get("aws:cloudformation:stack-name")
    tool = tags.get(EXPORT_TAG)
    if stack and (tool or not kept):
        return f"CloudFormation stack {stack}"
    return {"terraform": "Terraform", "cloudformation": "CloudFormation"}.get(tool, tool) if tool else None


def elsewhere_message(namespace: str, owned: Mapping[str, list[str]]) -> str:
    lines = []
    for tool, labels in sorted(owned.items()):
        shown = ", ".join(labels[:3]) + (f" and {len(labels) - 3} more" if len(labels) > 3 else "")
        lines.append(
            f"namespace {namespace} is deployed by {tool} ({shown}); jobctl changes nothing another tool deploys."
        )
    lines.append(
        "Change jobs.yaml, run `jobctl export --format terraform|cloudformation` and apply it with that tool; "
        "or remove the resources from that tool first to deploy them with jobctl."
    )
    return "\n".join(lines)
