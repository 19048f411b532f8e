"""Commands that never talk to AWS never pay for boto3: ``jobctl --help`` and ``jobctl validate``
import neither boto3 nor botocore, and neither does importing the AWS door itself (it builds
sessions and clients only when a command makes its first call)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

PROBE = """
import sys
from cronplane.cli.main import main
import cronplane.aws.client, cronplane.aws.session
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = sorted(m for m in ("boto3", "botocore") if m in sys.modules)
print("loaded:", ",".join(loaded) or "none", file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["validate", "-f", str(ROOT / "jobs.yaml")]])
def test_help_and_validate_import_no_aws_sdk(args: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stderr.strip().splitlines()[-1] == "loaded: none", done.stderr
