"""``jobctl export``: a thin command over ``cronplane.aws.export.writer`` (load, export, print
what was written and what to run next). Reads no AWS."""

from __future__ import annotations

from pathlib import Path

import click

from cronplane.cli.options import manifest_option


@click.command()
@manifest_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["terraform", "cloudformation"]),
    required=True,
    help="A Terraform module, or a CloudFormation template.",
)
@click.option(
    "--output",
    "output_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Folder to write into (default: export/FORMAT).",
)
def export(manifest_path: str, fmt: str, output_dir: str | None) -> None:
    """Write what deploy would create as Terraform or CloudFormation, with the job packages."""
    from cronplane.aws.export.writer import ExportFormat
    from cronplane.aws.export.writer import export as write_export
    from cronplane.manifest.loader import load_manifest

    manifest = load_manifest(manifest_path)
    out_dir = Path(output_dir or Path("export") / fmt)
    result = write_export(manifest, ExportFormat(fmt), out_dir)
    click.echo(f"Wrote {len(result.files)} files to {out_dir}:")
    for name in result.files:
        click.echo(f"  {name}")
    for name in result.removed:
        click.echo(f"  removed {name} (no job uses it any more)")
    click.echo("\n".join(result.next_steps))
