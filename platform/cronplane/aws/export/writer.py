"""``jobctl export``: the manifest written as a Terraform module or a CloudFormation template,
with the job packages beside it, byte for byte the zips ``deploy`` uploads.

    jobs.yaml ─▶ manifest ─▶ packages ─▶ inputs.export_state (desired_state with placeholders)
              ─▶ each resource's kind (to_terraform / to_cloudformation) ─▶ files in DIR

Nothing here reads AWS. The same manifest and sources give the same files (sorted keys, names
derived from job names, packages named by content hash), so a change to one job changes only
that job's blocks, and an unchanged package keeps its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cronplane.aws.export import cloudformation, terraform
from cronplane.aws.export.context import PACKAGE_DIR, CfnContext, ExportContext, TfContext
from cronplane.aws.export.inputs import export_state
from cronplane.build.packaging import build_packages
from cronplane.errors import CronplaneError
from cronplane.manifest.models import Manifest

_PACKAGE_NAME = re.compile(r"^[0-9a-f]{64}\.zip$")


class ExportFormat(StrEnum):
    TERRAFORM = "terraform"
    CLOUDFORMATION = "cloudformation"


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    files: tuple[str, ...]  # relative to out_dir: what was written
    removed: tuple[str, ...]  # packages of an earlier export no longer used
    next_steps: tuple[str, ...]  # what to run to deploy it


def export(manifest: Manifest, fmt: ExportFormat, out_dir: Path) -> ExportResult:
    """Write the export of ``manifest`` into ``out_dir`` (created if missing)."""
    from cronplane.build.watchdog import watchdog_code

    code: dict[str, tuple[str, bytes | None]] = {
        n: (p.sha256, p.zip_bytes) for n, p in build_packages(manifest).items()
    }
    code |= watchdog_code(manifest)  # the namespace's watchdog, when some job has alerts (as deploy)
    state = export_state(manifest, code)
    texts: dict[str, str]
    ctx: ExportContext
    if fmt == ExportFormat.CLOUDFORMATION:
        cfn = CfnContext(state)
        texts = {cloudformation.TEMPLATE_FILE: cloudformation.render(cloudformation.template(state, cfn))}
        ctx = cfn
        steps = cloudformation.upload_steps(out_dir, manifest.namespace)
    else:
        tf = TfContext(state)
        texts = terraform.files(state, tf)
        ctx = tf
        steps = [f"  cd {out_dir} && terraform init && terraform apply"]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        packages = out_dir / PACKAGE_DIR
        packages.mkdir(exist_ok=True)
        for name, text in sorted(texts.items()):
            _write(out_dir / name, text.encode("utf-8"))
        for name, data in sorted(ctx.packages.items()):
            _write(packages / name, data)
        removed = [
            f"{PACKAGE_DIR}/{old.name}"
            for old in sorted(packages.iterdir())
            if _PACKAGE_NAME.match(old.name) and old.name not in ctx.packages
        ]
        for old_name in removed:
            (out_dir / old_name).unlink()
    except OSError as exc:
        raise CronplaneError(
            f"{out_dir}: cannot write the export: {exc.strerror or exc}; pick another --output"
        ) from exc
    written = [*sorted(texts), *(f"{PACKAGE_DIR}/{name}" for name in sorted(ctx.packages))]
    return ExportResult(out_dir, tuple(written), tuple(removed), tuple(steps))


def _write(path: Path, data: bytes) -> None:
    """Only when different: an unchanged file keeps its time stamp (make, rsync, s3 sync)."""
    if path.is_file() and path.read_bytes() == data:
        return
    path.write_bytes(data)


__all__ = ["ExportFormat", "ExportResult", "export"]
