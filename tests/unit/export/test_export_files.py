"""What `jobctl export` writes: the same files every time, packages byte for byte those deploy
uploads, a one-job change confined to that job's blocks, and the command line around it."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from export_fixtures import ROOT, copy_project

from cronplane.aws.export.writer import ExportFormat, export
from cronplane.build.packaging import build_packages
from cronplane.manifest.loader import load_manifest
from testkit import jobctl


def contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_exporting_twice_writes_identical_files(tmp_path: Path, fmt: ExportFormat) -> None:
    manifest = load_manifest(str(ROOT / "jobs.yaml"))
    first = export(manifest, fmt, tmp_path / "a")
    second = export(manifest, fmt, tmp_path / "b")
    assert first.files == second.files
    assert contents(tmp_path / "a") == contents(tmp_path / "b")
    again = export(manifest, fmt, tmp_path / "a")  # over an earlier export: nothing to remove
    assert again.removed == () and contents(tmp_path / "a") == contents(tmp_path / "b")


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_packages_are_the_zips_deploy_uploads(exports, fmt: ExportFormat) -> None:
    exported = exports[("example", fmt.value)]
    built = build_packages(exported.manifest)
    written = {p.name: p.read_bytes() for p in (exported.folder / "packages").iterdir()}
    assert written == {f"{hashlib.sha256(p.zip_bytes).hexdigest()}.zip": p.zip_bytes for p in built.values()}
    text = "".join(p.read_text() for p in exported.folder.glob("*.tf")) + "".join(
        p.read_text() for p in exported.folder.glob("*.json")
    )
    for package in built.values():  # referenced by content hash (and Terraform by CodeSha256 too)
        assert f"packages/{hashlib.sha256(package.zip_bytes).hexdigest()}.zip" in text
        assert (package.sha256 in text) == (fmt == ExportFormat.TERRAFORM)


def blocks(folder: Path, fmt: ExportFormat) -> dict[str, str]:
    """Each resource of the export, by Terraform address or CloudFormation logical id."""
    if fmt == ExportFormat.CLOUDFORMATION:
        template = json.loads((folder / "template.json").read_text())
        return {k: json.dumps(v, sort_keys=True) for k, v in template["Resources"].items()}
    text = (folder / "main.tf").read_text()
    found = re.findall(r'^resource "(\S+)" "(\S+)" \{\n(.*?)^\}\n', text, flags=re.M | re.S)
    return {f"{t}.{n}": body for t, n, body in found}


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_a_one_job_change_changes_only_that_jobs_blocks(tmp_path: Path, fmt: ExportFormat) -> None:
    text = (ROOT / "jobs.yaml").read_text()
    before = load_manifest(str(copy_project(tmp_path / "before", text)))
    changed = text.replace("    timeout: 5\n", "    timeout: 7\n    memory: 1024\n    log_retention_days: 60\n")
    assert changed != text
    after = load_manifest(str(copy_project(tmp_path / "after", changed)))
    export(before, fmt, tmp_path / "out-before")
    export(after, fmt, tmp_path / "out-after")
    old, new = blocks(tmp_path / "out-before", fmt), blocks(tmp_path / "out-after", fmt)
    assert old.keys() == new.keys()
    differ = sorted(k for k in old if old[k] != new[k])
    if fmt == ExportFormat.CLOUDFORMATION:
        assert differ == ["SearchReindexFunction", "SearchReindexLogGroup"]
    else:
        assert differ == ["aws_cloudwatch_log_group.search_reindex", "aws_lambda_function.search_reindex"]
    for name in ("outputs.tf", "variables.tf", "versions.tf", "providers.tf"):
        if fmt == ExportFormat.TERRAFORM:
            assert (tmp_path / "out-before" / name).read_bytes() == (tmp_path / "out-after" / name).read_bytes()


def test_packages_no_longer_used_are_removed_and_nothing_else(tmp_path: Path) -> None:
    manifest = load_manifest(str(ROOT / "jobs.yaml"))
    out = tmp_path / "tf"
    (out / "packages").mkdir(parents=True)
    stale = out / "packages" / f"{'0' * 64}.zip"
    stale.write_bytes(b"old")
    mine = out / "packages" / "README.txt"
    mine.write_text("not an export's")
    result = export(manifest, ExportFormat.TERRAFORM, out)
    assert result.removed == (f"packages/{stale.name}",)
    assert not stale.exists() and mine.exists()


def test_jobctl_export_writes_and_says_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy_project(tmp_path / "project", (ROOT / "jobs.yaml").read_text())
    out = tmp_path / "cfn"
    code, stdout, _ = jobctl(capsys, "export", "--format", "cloudformation", "--output", str(out), "-f", str(path))
    assert code == 0
    assert f"Wrote 3 files to {out}:" in stdout and "  template.json" in stdout
    assert f"aws s3 sync {out}/packages s3://BUCKET/packages/" in stdout
    assert "--capabilities CAPABILITY_NAMED_IAM --parameter-overrides PackageBucket=BUCKET" in stdout
    assert (out / "template.json").is_file()

    code, stdout, _ = jobctl(
        capsys, "export", "--format", "terraform", "--output", str(tmp_path / "tf"), "-f", str(path)
    )
    assert code == 0 and "terraform init && terraform apply" in stdout
    assert (tmp_path / "tf" / "main.tf").is_file()


def test_jobctl_export_needs_a_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, stderr = jobctl(capsys, "export", "-f", str(ROOT / "jobs.yaml"), "--output", str(tmp_path))
    assert code == 2 and "Missing option '--format'" in stderr
    assert list(tmp_path.iterdir()) == []


def test_jobctl_export_of_a_bad_manifest_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = copy_project(tmp_path, (ROOT / "jobs.yaml").read_text().replace("timeout: 5", "timeout: 5000"))
    code, _, stderr = jobctl(
        capsys, "export", "--format", "terraform", "-f", str(path), "--output", str(tmp_path / "o")
    )
    assert code != 0 and "Traceback" not in stderr and "900" in stderr
    assert not (tmp_path / "o").exists()
