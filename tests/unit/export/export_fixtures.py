"""What the export tests share (conftest.py makes the fixtures from it): the manifests, a project
folder for a manifest, and what ``plan`` wants for an exported manifest."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from cronplane.build.packaging import build_packages
from cronplane.build.resources import DesiredState, desired_state
from cronplane.build.watchdog import watchdog_code
from cronplane.manifest.models import Manifest

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"
REGION = "eu-west-1"
MANIFESTS = ("example", "every-field")


@dataclass(frozen=True)
class Exported:
    manifest: Manifest
    folder: Path

    def desired(self) -> DesiredState:
        """What ``plan`` wants for this manifest in ACCOUNT / REGION."""
        code = {name: (p.sha256, p.zip_bytes) for name, p in build_packages(self.manifest).items()}
        code |= watchdog_code(self.manifest)
        return desired_state(self.manifest, account_id=ACCOUNT, region=REGION, code=code)


def copy_project(into: Path, manifest_text: str) -> Path:
    """A project folder: ``manifest_text`` as jobs.yaml, with a copy of the repo's jobs/."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ROOT / "jobs", into / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    (into / "jobs.yaml").write_text(manifest_text)
    return into / "jobs.yaml"
