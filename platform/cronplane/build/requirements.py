"""Third-party requirements of a team, installed for the Lambda platform and cached on disk.

Sits under ``packaging``: ``build_job_package`` asks for the folder holding a team's installed
requirements and zips it at the root of each of that team's job packages. The folder is keyed by
the sha256 of ``requirements.txt`` plus the target (architecture, Python version), so pip runs
once per distinct file and architecture, on this machine, ever; a later build is a directory
lookup.

Install is atomic: pip writes into a temporary sibling folder which is renamed into place only
when pip succeeded, so a killed or failed install never leaves a half-filled cache entry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cronplane.errors import CronplaneError
from cronplane.manifest.models import Architecture

# The Lambda runtime the functions use (python3.12); wheels are picked for it, not for the
# Python that runs jobctl.
LAMBDA_PYTHON_VERSION = "3.12"
PLATFORM_TAGS = {
    Architecture.ARM64: "manylinux2014_aarch64",
    Architecture.X86_64: "manylinux2014_x86_64",
}
DEFAULT_CACHE_DIR = Path(".cronplane") / "build" / "requirements"
PIP_TIMEOUT_S = 600

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


class RequirementsError(CronplaneError):
    """pip could not install a team's requirements.txt for the Lambda platform."""


@dataclass(frozen=True)
class Requirements:
    """One team's installed requirements: ``path`` is a folder to zip at the package root."""

    key: str  # names the cache folder: sha of the file + target
    path: Path


def requirements_key(requirements_file: Path, architecture: Architecture) -> str:
    digest = hashlib.sha256(requirements_file.read_bytes()).hexdigest()[:32]
    return f"{digest}-{architecture.value}-py{LAMBDA_PYTHON_VERSION}"


def pip_command(requirements_file: Path, target: Path, architecture: Architecture) -> list[str]:
    """The pip invocation: binary wheels only, chosen for Lambda's OS, CPU and Python, and no
    .pyc files (Lambda compiles on import; .pyc would only make the bytes machine-dependent)."""
    return [
        sys.executable, "-m", "pip", "install",
        "--target", str(target),
        "--requirement", str(requirements_file),
        "--platform", PLATFORM_TAGS[architecture],
        "--implementation", "cp",
        "--python-version", LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]  # fmt: skip


def run_pip(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """One pip run. A module-level function so tests can count (or forbid) pip runs."""
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)


def installed_requirements(requirements_file: Path, architecture: Architecture, cache_dir: Path) -> Requirements:
    """The folder with ``requirements_file`` installed for ``architecture``, from the cache when
    present, otherwise installed now. Raises ``RequirementsError`` with pip's own message."""
    shown = requirements_file  # as the user's manifest root spells it, for messages
    # Absolute: pip runs with the team folder as its working directory.
    requirements_file = requirements_file.resolve()
    cache_dir = cache_dir.resolve()
    key = requirements_key(requirements_file, architecture)
    final = cache_dir / key
    with _lock_for(str(final)):
        if final.is_dir():
            return Requirements(key=key, path=final)
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
        try:
            # cwd = the team folder, so "-r base.txt" or "./vendor/x.whl" lines resolve as the
            # team wrote them.
            result = run_pip(pip_command(requirements_file, staging, architecture), requirements_file.parent)
            if result.returncode != 0:
                raise RequirementsError(_pip_failure(shown, architecture, result))
            try:
                os.replace(staging, final)
            except OSError:
                # Another process installed the same key meanwhile: its copy is as good as ours.
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return Requirements(key=key, path=final)


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def _pip_failure(requirements_file: Path, architecture: Architecture, result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr or result.stdout or "").splitlines() if line.strip()]
    # pip's ERROR and Hint lines say what is wrong; warnings are noise here. When pip crashed
    # ("ERROR: Exception:" and a traceback) the traceback's last line is the message.
    errors = [
        line for line in lines if line.startswith(("ERROR", "Hint:")) and line.strip() != "ERROR: Exception:"
    ] or lines[-1:]
    detail = "\n  ".join(errors[-5:]) or f"pip exited with status {result.returncode}"
    if any("No matching distribution" in line or "Could not find a version" in line for line in errors):
        hint = (
            "Every requirement needs a binary wheel for that platform (no source builds): pin a "
            "version that publishes one, or change the job's architecture."
        )
    else:
        hint = "Fix the requirements file (pip's message above says where), then deploy again."
    return (
        f"{requirements_file}: could not install the requirements for Lambda "
        f"({PLATFORM_TAGS[architecture]}, Python {LAMBDA_PYTHON_VERSION}):\n  {detail}\n{hint}"
    )
