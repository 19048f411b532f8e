"""Third-party requirements of a team, installed for the Lambda platform and cached on disk.

Sits under ``packaging``: ``build_job_package`` asks for the folder holding a team's installed
requirements and zips it at the root of each of that team's job packages. The folder is keyed by
the sha256 of the pinned requirements plus the target (architecture, Python version), so pip
runs once per distinct list and architecture, on this machine, ever; a later build is a
directory lookup.

pip runs on the deploying machine, next to powerful credentials, on a file a team wrote, so
(see ``manifest/requirements_file.py`` for what a team file may hold):

- the team's file is parsed first and refused unless every line is a pinned requirement; pip
  never reads it: it reads a copy rebuilt from the parsed lines, in a private temporary folder;
- binary wheels only (``--only-binary=:all:``): installing a wheel runs no code, so no build
  backend, ``setup.py`` or hook of anyone's package runs here;
- ``python -I -m pip install --isolated`` with ``PIP_CONFIG_FILE`` = the null device: no
  ``PYTHONPATH``, no user site, no pip configuration from the user, the machine or the
  environment, and a working folder nobody else wrote to (``-m`` puts it on ``sys.path``);
- an environment rebuilt from scratch (``pip_environment``): ``PATH``, locale, certificate and
  proxy settings and a fresh empty ``HOME`` (so no ``~/.netrc``, keyring or pip.conf of the
  deployer), and nothing else: no ``AWS_*``, no tokens;
- packages come from PyPI, or from the index the *deployer* names in ``CRONPLANE_PIP_INDEX_URL``
  (a company mirror); never from one a team names.

Install is atomic: pip writes into a temporary sibling folder which is renamed into place only
when pip succeeded, so a killed or failed install never leaves a half-filled cache entry.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cronplane.errors import CronplaneError
from cronplane.manifest.models import Architecture
from cronplane.manifest.requirements_file import PinnedRequirements
from cronplane.manifest.team_folder import read_team_requirements

# The Lambda runtime the functions use (python3.12); wheels are picked for it, not for the
# Python that runs jobctl.
LAMBDA_PYTHON_VERSION = "3.12"
PLATFORM_TAGS = {
    Architecture.ARM64: "manylinux2014_aarch64",
    Architecture.X86_64: "manylinux2014_x86_64",
}
DEFAULT_CACHE_DIR = Path(".cronplane") / "build" / "requirements"
DEFAULT_INDEX_URL = "https://pypi.org/simple"
INDEX_URL_VARIABLE = "CRONPLANE_PIP_INDEX_URL"  # the deployer's choice, never a team's
PIP_TIMEOUT_S = 600
# What pip may see of the deployer's environment: enough to run and to reach the index through
# the network's proxy, with its certificates. Everything else (AWS_*, tokens, PYTHONPATH,
# PIP_*, HOME) stays behind.
PASSED_TO_PIP = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "SYSTEMROOT",  # Windows needs it to open sockets
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
)

_locks_guard = threading.Lock()
_locks: dict[str, threading.Lock] = {}


class RequirementsError(CronplaneError):
    """A team's requirements.txt is refused, or pip could not install it for Lambda."""


@dataclass(frozen=True)
class Requirements:
    """One team's installed requirements: ``path`` is a folder to zip at the package root."""

    key: str  # names the cache folder: sha of the pinned lines + target
    path: Path


def read_pinned(requirements_file: Path, shown: str | None = None) -> PinnedRequirements:
    """The team's pinned requirements, or RequirementsError with one FILE:LINE line per problem
    (the same ones ``jobctl validate`` reports). ``shown`` names the team folder in messages."""
    folder = requirements_file.parent
    pinned, problems = read_team_requirements(folder, shown if shown is not None else str(folder))
    if problems or pinned is None:
        raise RequirementsError("\n".join(str(p) for p in problems) or f"{requirements_file}: not found")
    return pinned


def requirements_key(pinned: PinnedRequirements, architecture: Architecture) -> str:
    digest = hashlib.sha256(pinned.text.encode()).hexdigest()[:32]
    return f"{digest}-{architecture.value}-py{LAMBDA_PYTHON_VERSION}"


def pip_command(requirements_file: Path, target: Path, architecture: Architecture, *, hashed: bool) -> list[str]:
    """The pip invocation: isolated from every configuration, binary wheels only, chosen for
    Lambda's OS, CPU and Python, from the deployer's index, and no .pyc files (Lambda compiles
    on import; .pyc would only make the bytes machine-dependent)."""
    command = [
        sys.executable, "-I", "-m", "pip", "install",
        "--isolated",
        "--no-input",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--index-url", os.environ.get(INDEX_URL_VARIABLE) or DEFAULT_INDEX_URL,
        "--target", str(target),
        "--requirement", str(requirements_file),
        "--platform", PLATFORM_TAGS[architecture],
        "--implementation", "cp",
        "--python-version", LAMBDA_PYTHON_VERSION,
        "--only-binary=:all:",
        "--no-compile",
        "--quiet",
    ]  # fmt: skip
    if _pip_at_least(23, 1):
        command.append("--keyring-provider=disabled")  # no credential lookups on this machine
    if hashed:
        command.append("--require-hashes")
    return command


def pip_environment(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment pip runs with (see ``PASSED_TO_PIP``)."""
    source = os.environ if environ is None else environ
    env = {name: source[name] for name in PASSED_TO_PIP if name in source}
    env.setdefault("PATH", os.defpath)
    env.update(
        HOME=str(home),
        USERPROFILE=str(home),
        PIP_CONFIG_FILE=os.devnull,  # no global, site or user pip.conf either
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def run_pip(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One pip run. A module-level function so tests can count (or forbid) pip runs."""
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)


def installed_requirements(
    requirements_file: Path, architecture: Architecture, cache_dir: Path, *, shown: str | None = None
) -> Requirements:
    """The folder with ``requirements_file`` installed for ``architecture``, from the cache when
    present, otherwise installed now. Raises ``RequirementsError`` when the file holds anything
    but pinned requirements (before pip runs) or with pip's own message."""
    pinned = read_pinned(requirements_file, shown)
    file_shown = f"{shown}/{requirements_file.name}" if shown is not None else str(requirements_file)
    cache_dir = cache_dir.resolve()
    key = requirements_key(pinned, architecture)
    final = cache_dir / key
    with _lock_for(str(final)):
        if final.is_dir():
            return Requirements(key=key, path=final)
        cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
        private = Path(tempfile.mkdtemp(prefix="cronplane-pip-"))
        try:
            # pip's working folder, HOME and input file: a fresh private folder, nothing of the team's.
            rebuilt = private / "requirements.txt"
            rebuilt.write_text(pinned.text, encoding="utf-8")
            home = private / "home"
            home.mkdir()
            command = pip_command(rebuilt, staging, architecture, hashed=pinned.hashed)
            result = run_pip(command, private, pip_environment(home))
            if result.returncode != 0:
                raise RequirementsError(_pip_failure(file_shown, architecture, result))
            try:
                os.replace(staging, final)
            except OSError:
                # Another process installed the same key meanwhile: its copy is as good as ours.
                if not final.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(private, ignore_errors=True)
    return Requirements(key=key, path=final)


def _lock_for(name: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(name, threading.Lock())


def _pip_at_least(major: int, minor: int) -> bool:
    try:
        parts = importlib.metadata.version("pip").split(".")
        return (int(parts[0]), int(parts[1])) >= (major, minor)
    except (importlib.metadata.PackageNotFoundError, ValueError, IndexError):
        return False


def _pip_failure(requirements_file: str, architecture: Architecture, result: subprocess.CompletedProcess[str]) -> str:
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
