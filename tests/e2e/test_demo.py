"""``scripts/demo`` in a fresh copy of the project, as a newcomer runs it: it must set itself up,
run every example job once through the emulator and exit 0 with the history on screen.

The copy reuses the test virtualenv through CRONPLANE_VENV (scripts/_venv.sh honours it) so the
suite does not reinstall moto. It is a thin stand-in venv whose ``python`` execs the real one:
pointing CRONPLANE_VENV at the shared .venv itself would make _venv.sh ``pip install -e`` the
temporary copy into it (its stamp is missing or older), re-pointing every other test at tmp."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", ".pytest_cache", ".hypothesis", ".cronplane", "*.egg-info", ".mypy_cache"
)


def stand_in_venv(target: Path) -> Path:
    """A venv folder whose python is the running interpreter, already holding cronplane[dev]."""
    bin_dir = target / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    jobctl = bin_dir / "jobctl"
    jobctl.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cronplane.cli.main "$@"\n')
    jobctl.chmod(0o755)
    (target / ".cronplane-dev.stamp").touch()  # newer than the copied pyproject.toml: no pip run
    return target


def test_scripts_demo_in_a_fresh_copy(tmp_path: Path) -> None:
    project = tmp_path / "cronplane"
    shutil.copytree(ROOT, project, ignore=SKIP)  # copy2 keeps mtimes, as a clone's files are older than the stamp
    venv = stand_in_venv(tmp_path / "venv")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no AWS account at all
    # ... but a shell that still names a profile this machine lacks (or whose SSO login expired)
    # and a service endpoint elsewhere: the demo talks only to its own emulator.
    env.update(
        {
            "CRONPLANE_VENV": str(venv),
            "HOME": str(tmp_path),
            "AWS_PROFILE": "cronplane-no-such-profile",
            "AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:9",
        }
    )

    done = subprocess.run(
        [str(project / "scripts" / "demo")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )

    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "installing the project" not in done.stderr  # the stand-in venv was reused
    assert "$ jobctl history" in out
    history = out.split("$ jobctl history", 1)[1]
    for job, status in [
        ("nightly-report", "succeeded"),
        ("invoice-sync", "succeeded"),
        ("tmp-cleanup", "succeeded"),
        ("search-reindex", "timed_out"),
    ]:
        assert any(line.startswith(job) and f" {status} " in line for line in history.splitlines()), history
    assert "invoice-sync: succeeded, 2 attempts" in out
    # The real `jobctl dlq` against the emulator, before it stops: the message the wrapper sent.
    dlq = out.split("$ jobctl dlq search-reindex", 1)[1]
    assert "search-reindex: 1 message(s) in the dead-letter queue" in dlq
    assert any(" wrapper " in line and "SoftDeadline" in line for line in dlq.splitlines())
    assert "Next:" in out and "jobctl dev" in out.split("Next:", 1)[1]
    assert "What just happened" in out
    assert "[invoice-sync] WARNING attempt 1: provider connection dropped" in out  # the job's own log, prefixed
    assert not (project / ".cronplane" / "dev.json").exists()


def test_demo_exits_1_when_an_expected_outcome_does_not_happen(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "jobs", tmp_path / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    # search-reindex given enough time succeeds, which is not what the demo promises.
    (tmp_path / "jobs.yaml").write_text(
        "namespace: demo-check\nregion: eu-west-1\njobs:\n  search-reindex:\n"
        "    handler: infra/search_reindex.py:handler\n    schedule: rate(1 day)\n    team: infra\n"
        "    timeout: 60\n    payload:\n      batches: 1\n      seconds_per_batch: 0.1\n"
    )
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL", None)

    done = subprocess.run(
        [sys.executable, "-m", "cronplane.cli.main", "dev", "--demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1, done.stdout + done.stderr
    assert "search-reindex: expected timed_out, got succeeded" in done.stdout


def test_scripts_demo_says_which_python_it_needs(tmp_path: Path) -> None:
    """On a machine whose python3 is too old, scripts/demo stops at once with what to do,
    instead of a pip error about requires-python after creating a useless .venv."""
    project = tmp_path / "cronplane"
    shutil.copytree(ROOT / "scripts", project / "scripts")
    shutil.copy2(ROOT / "pyproject.toml", project / "pyproject.toml")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    old = fake_bin / "python3"
    old.write_text('#!/bin/sh\nif [ "$1" = "--version" ]; then echo "Python 3.9.18"; exit 0; fi\nexit 1\n')
    old.chmod(0o755)
    for tool in ("dirname", "rm"):
        (fake_bin / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    env = {"PATH": str(fake_bin), "HOME": str(tmp_path)}

    done = subprocess.run(
        ["/bin/bash", str(project / "scripts" / "demo")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert "needs Python 3.11 or newer; found Python 3.9.18" in done.stderr
    assert "PYTHON=" in done.stderr
    assert not (project / ".venv").exists()

    done = subprocess.run(
        ["/bin/bash", str(project / "scripts" / "demo")],
        cwd=tmp_path,
        env={**env, "PYTHON": str(old)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1 and "is not Python 3.11 or newer (Python 3.9.18)" in done.stderr
