"""Exports of the repo's jobs.yaml and of a manifest that uses every field (every_field.yaml,
with the repo's jobs/ folder), made once per test process; and what ``plan`` wants for each."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from cronplane.aws.export.writer import ExportFormat, export
from cronplane.build.packaging import build_packages
from cronplane.build.resources import DesiredState, desired_state
from cronplane.build.watchdog import watchdog_code
from cronplane.manifest.loader import load_manifest
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


@pytest.fixture(scope="session")
def manifest_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    every = copy_project(
        tmp_path_factory.mktemp("every-field"), (Path(__file__).parent / "every_field.yaml").read_text()
    )
    return {"example": ROOT / "jobs.yaml", "every-field": every}


@pytest.fixture(scope="session")
def exports(tmp_path_factory: pytest.TempPathFactory, manifest_paths: dict[str, Path]) -> dict[tuple[str, str], Exported]:
    out = {}
    root = tmp_path_factory.mktemp("exports")
    for name, path in manifest_paths.items():
        manifest = load_manifest(str(path))
        for fmt in ExportFormat:
            folder = root / name / fmt.value
            export(manifest, fmt, folder)
            out[(name, fmt.value)] = Exported(manifest, folder)
    return out
