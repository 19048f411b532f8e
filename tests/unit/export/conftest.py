"""Fixtures of the export tests: exports of the repo's jobs.yaml and of every_field.yaml, made once
per test process (helpers and constants: export_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_fixtures import ROOT, Exported, copy_project

from cronplane.aws.export.writer import ExportFormat, export
from cronplane.manifest.loader import load_manifest


@pytest.fixture(scope="session")
def manifest_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    every = copy_project(
        tmp_path_factory.mktemp("every-field"), (Path(__file__).parent / "every_field.yaml").read_text()
    )
    return {"example": ROOT / "jobs.yaml", "every-field": every}


@pytest.fixture(scope="session")
def exports(
    tmp_path_factory: pytest.TempPathFactory, manifest_paths: dict[str, Path]
) -> dict[tuple[str, str], Exported]:
    out = {}
    root = tmp_path_factory.mktemp("exports")
    for name, path in manifest_paths.items():
        manifest = load_manifest(str(path))
        for fmt in ExportFormat:
            folder = root / name / fmt.value
            export(manifest, fmt, folder)
            out[(name, fmt.value)] = Exported(manifest, folder)
    return out
