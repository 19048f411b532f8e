"""The exports held to AWS's resource specifications (cfn-lint) and to checkov, offline.

- cfn-lint: no finding at all on the templates, but the informational ones the template's
  Metadata explains; and none but unused-parameter warnings once every parameter and reference
  is resolved to its value, where cfn-lint's patterns and ranges see real names and ARNs.
- checkov (its own virtualenv, see scripts/test; run with --skip-download, which makes no network
  call): no failed check, and every inline skip is one that fails without it, per format.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint
from export_fixtures import ACCOUNT, MANIFESTS, REGION, ROOT
from readback import CfnReader

EXPLAINED = {"I3042"}  # in the template's Metadata notes: a job's own permissions name a partition


def template_of(exports, manifest: str) -> dict:
    return json.loads((exports[(manifest, "cloudformation")].folder / "template.json").read_text())


def findings(template: dict) -> list[str]:
    config = ManualArgs(regions=[REGION], include_checks=["I"])
    return [
        f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in lint(json.dumps(template), config=config)
    ]


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_cfn_lint_finds_nothing_unexplained(exports, manifest: str) -> None:
    template = template_of(exports, manifest)
    found = findings(template)
    assert [f for f in found if f.split()[0] not in EXPLAINED] == []
    notes = " ".join(template["Metadata"]["cronplane"]["notes"])
    for rule in {f.split()[0] for f in found}:
        assert rule in notes


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_cfn_lint_accepts_the_resolved_values(exports, manifest: str) -> None:
    """With the inputs at their defaults and every reference resolved, cfn-lint checks the real
    names, ARNs, ranges and patterns, which it cannot see through Fn::Sub."""
    exported = exports[(manifest, "cloudformation")]
    template = template_of(exports, manifest)
    reader = CfnReader(template, exported.folder, {"account": ACCOUNT, "region": REGION}, {"PackageBucket": "pkgs"})
    resolved = {
        "AWSTemplateFormatVersion": template["AWSTemplateFormatVersion"],
        "Resources": {
            logical_id: {**body, "Properties": reader.props(logical_id)}
            for logical_id, body in template["Resources"].items()
        },
    }
    # A value with a literal "${" is an Fn::Sub on purpose (see the notes); resolved, cfn-lint
    # would take it for a forgotten Fn::Sub, which is the point of writing it as one.
    found = [f for f in findings(resolved) if not f.startswith("E1029 ")]
    assert [f for f in found if f.split()[0] not in EXPLAINED] == []


def checkov_binary() -> str:
    for candidate in (os.environ.get("CRONPLANE_CHECKOV"), str(ROOT / ".venv/tools/checkov/bin/checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("checkov")
    if found is None:
        pytest.fail("checkov is not installed: run scripts/test once (it installs it into .venv/tools/checkov)")
    return found


def without_skips(source: Path, target: Path, fmt: str) -> None:
    target.mkdir(parents=True)
    if fmt == "cloudformation":
        template = json.loads((source / "template.json").read_text())
        for body in template["Resources"].values():
            body.get("Metadata", {}).pop("checkov", None)
        (target / "template.json").write_text(json.dumps(template, indent=2))
        return
    for tf in source.glob("*.tf"):
        (target / tf.name).write_text(re.sub(r"^\s*#checkov:skip=.*\n", "", tf.read_text(), flags=re.M))


def run_checkov(folder: Path, fmt: str) -> dict:
    command = [checkov_binary(), "-d", str(folder), "--framework", fmt, "--skip-download", "--compact", "-o", "json"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some check failed
    report = json.loads(done.stdout)
    return report[0] if isinstance(report, list) else report


def checks(results: list[dict], root: Path) -> set[tuple[str, str, str]]:
    """(which manifest's export, resource, check id)."""
    return {(Path(r["file_abs_path"]).relative_to(root).parts[1], r["resource"], r["check_id"]) for r in results}


@pytest.mark.parametrize("fmt", ["terraform", "cloudformation"])
def test_checkov_passes_and_every_skip_is_needed(exports, tmp_path: Path, fmt: str) -> None:
    for manifest in MANIFESTS:
        source = exports[(manifest, fmt)].folder
        shutil.copytree(source, tmp_path / "as-exported" / manifest, ignore=shutil.ignore_patterns("packages"))
        without_skips(source, tmp_path / "without-skips" / manifest, fmt)
    results = run_checkov(tmp_path, fmt)["results"]
    exported = [r for r in results["failed_checks"] if "/as-exported/" in r["file_abs_path"]]
    assert exported == []
    skipped = checks(results["skipped_checks"], tmp_path)
    failing = checks([r for r in results["failed_checks"] if "/without-skips/" in r["file_abs_path"]], tmp_path)
    assert skipped == failing
    assert all(s["check_result"]["suppress_comment"] for s in results["skipped_checks"])  # each with its reason
