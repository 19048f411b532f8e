"""What ``jobctl plan``, ``deploy`` and ``destroy`` print: the plan (``aws.plan.Plan``) as a
person reviews it, and the account of what a deploy did. Pure: values in, text out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronplane.cli.views.text import seconds, style

if TYPE_CHECKING:
    from cronplane.aws.deployer import DeployResult
    from cronplane.aws.plan import Plan

SYMBOL_COLOURS = {"+": "green", "~": "yellow", "-": "red"}


def plan_text(plan: Plan, *, colour: bool = False) -> str:
    """One line per change with its reason, the changed fields old → new underneath, notes,
    and the summary line (which names drift kept on purpose, such as a paused job, instead of
    claiming AWS matches the manifest)."""
    lines: list[str] = []
    current_job: object = object()
    for action in plan.changes:
        if action.job != current_job:
            current_job = action.job
            lines.append(f"job {action.job}:" if action.job else "shared:")
        symbol = action.op.symbol
        head = style(f"  {symbol} {action.kind} {action.name}", SYMBOL_COLOURS.get(symbol), colour=colour)
        lines.append(f"{head}  ({action.reason})")
        if action.op.value == "update":
            lines.extend(f"      {change.describe()}" for change in action.fields)
    if plan.notes:
        lines.append("Notes:")
        lines.extend(f"  {note}" for note in plan.notes)
    lines.append(plan.verdict())
    return "\n".join(lines)


def region_note(region: str, manifest_path: str, manifest_region: str) -> str:
    """The AWS settings outrank jobs.yaml (as with the AWS CLI): said, since the namespace then
    lives in another region than the manifest names (stderr)."""
    return (
        f"Note: using AWS region {region} (from --region, AWS_REGION / AWS_DEFAULT_REGION or "
        f"the AWS profile); {manifest_path} says {manifest_region}."
    )


def deploy_report(result: DeployResult, *, verb: str, reads: int, writes: int, elapsed_s: float) -> list[str]:
    """After a deploy or destroy: what it did, in how long and how many AWS calls; or that it
    did nothing (declined, or no changes)."""
    took = seconds(elapsed_s)
    plan = result.plan
    if result.applied is None:
        return ["Nothing applied."] if plan.has_changes else [f"({reads} reads, {writes} writes in {took})"]
    counts = {op: sum(1 for a in plan.actions if a.op.value == op) for op in ("create", "update", "delete")}
    lines = [
        f"{verb} complete: {counts['create']} created, {counts['update']} updated, {counts['delete']} deleted "
        f"in {took} ({reads} reads, {writes} writes)."
    ]
    if plan.drift:
        # The deploy did not make AWS match the manifest everywhere; say where, and that it was meant.
        lines.append(f"Left as it was: {plan.drift_summary()}")
    return lines
