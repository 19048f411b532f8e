"""The import contracts in pyproject.toml really bite: on a copy of the package with imports
that break them, lint-imports fails and names each one, and an import the layers allow is not
reported. (Whether the tree itself keeps them is the lint-imports gate of scripts/test.)"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# module (relative to the package) -> the line appended to it
INJECTED = {
    "schedule/moments.py": "import cronplane.cli.main",  # a lower layer importing the top one
    "manifest/names.py": "import cronplane.aws.session",  # one layer calling up another
    "runtime/budget.py": "import yaml",  # a deploy-time library in the Lambda runtime
    "runtime/settings.py": "from cronplane import errors",  # the deploy side's errors in the runtime
    "cli/options.py": "import cronplane.schedule.cron",  # downward: allowed
}


def _lint_imports_on_copy(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    package = tmp_path / "platform" / "cronplane"
    shutil.copytree(ROOT / "platform" / "cronplane", package, ignore=shutil.ignore_patterns("__pycache__"))
    for module, line in INJECTED.items():
        with (package / module).open("a", encoding="utf-8") as handle:
            handle.write(f"\n{line}\n")
    (package / "stray").mkdir()  # a new top-level package nobody gave a layer
    (package / "stray" / "__init__.py").write_text("")
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "platform"), "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [str(lint_imports), "--no-logo", "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_lint_imports_reports_each_import_that_breaks_a_contract(tmp_path: Path) -> None:
    result = _lint_imports_on_copy(tmp_path)
    out = result.stdout + result.stderr

    assert result.returncode == 1, out
    assert "cronplane.schedule.moments -> cronplane.cli.main" in out
    assert "cronplane.manifest.names -> cronplane.aws.session" in out
    assert "cronplane.runtime.budget -> yaml" in out
    assert "cronplane.runtime.settings -> cronplane.errors" in out
    assert "- cronplane.stray" in out  # exhaustive: every top-level module has its layer
    assert "cronplane.cli.options -> cronplane.schedule.cron" not in out
