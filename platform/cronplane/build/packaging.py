"""Deterministic Lambda packages: one zip per job, byte-for-byte the same from the same sources.

Sits between ``resources`` (which needs each function's code and its CodeSha256) and the
executor (which uploads it). A package holds:

- the cronplane runtime: ``cronplane/__init__.py`` and ``cronplane/runtime/**/*.py`` taken from
  the installed package, so the Lambda handler ``cronplane.runtime...`` imports;
- the job's team folder ``jobs/<team>/**`` at the zip root as ``<team>/...`` (the handler module
  is ``<team>.<module>``), minus tests, caches, hidden files and ``requirements.txt``;
- the team's ``requirements.txt`` installed for Lambda (``requirements_cache``), at the root.

What is taken from the team folder is decided by ``manifest.team_folder`` without reading a
byte: a link whose target leaves the folder is refused (it could point at the deployer's
credentials), and sizes come from ``stat`` so an oversized folder is refused before anything is
read. Files are then streamed into the zip (never held whole in memory), from descriptors
opened without following links.

Never another team's code. Because the sha256 of the zip is what Lambda reports as CodeSha256,
an unchanged job compares equal to the live function and is never re-uploaded; that needs the
bytes fixed: entries sorted, every timestamp 1980-01-01 00:00:00, mode 0644, Unix create
system, DEFLATE at a fixed level. (Compressed bytes come from the zlib Python links: stock
zlib keeps its output stable across releases, but a fork such as zlib-ng emits a different,
equally valid stream, so machines that deploy one namespace should use the same kind.)

Jobs of one team share their zip: builds are cached in-process by the content hash of
everything that goes in, so deploying 200 jobs of 2 teams zips twice.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import cronplane
from cronplane.build.requirements import (
    DEFAULT_CACHE_DIR,
    Requirements,
    RequirementsError,
    installed_requirements,
)
from cronplane.errors import CronplaneError
from cronplane.manifest.models import Job, Manifest
from cronplane.manifest.team_folder import (
    MAX_UNZIPPED_BYTES,
    FolderFile,
    is_packaged,
    open_regular,
    scan_folder,
    scan_team_folder,
)

__all__ = [
    "JobPackage",
    "PackagingError",
    "RequirementsError",
    "build_job_package",
    "build_packages",
    "clear_package_cache",
    "code_sha256",
    "deterministic_zip",
    "package_cache_stats",
    "runtime_files",
    "team_files",
]

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
FILE_MODE = 0o100644  # regular file, rw-r--r--: Lambda's sandbox user only needs to read
CREATE_SYSTEM_UNIX = 3  # so unzip tools read external_attr as Unix mode bits
# zlib's default (what ZipFile.open uses for DEFLATE): most of level 9's gain at a fraction of
# its time. Every entry is written through ZipFile.open, bytes and streamed files alike.
COMPRESS_LEVEL = 6

# Lambda quotas: a zip uploaded directly (ZipFile) is at most 50 MB; code plus layers unzipped
# at most 250 MB (MAX_UNZIPPED_BYTES, from team_folder, which validate checks too).
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
_CHUNK = 1024 * 1024

RUNTIME_TOP = "cronplane"
REQUIREMENTS_FILE = "requirements.txt"
_CACHE_LIMIT = 32  # distinct packages kept in memory (one per team x architecture in practice)

# (path inside the zip, content): bytes in memory, or a checked file streamed when zipped.
Entry = tuple[str, bytes | FolderFile]


class PackagingError(CronplaneError):
    """A job's package cannot be built: missing folder or handler, a name clash, too large."""


@dataclass(frozen=True)
class JobPackage:
    zip_bytes: bytes
    sha256: str  # base64 of sha256(zip_bytes): exactly what Lambda reports as CodeSha256
    files: tuple[str, ...]
    size: int


# --- what goes in ----------------------------------------------------------------------------


def runtime_files() -> list[Entry]:
    """``cronplane/__init__.py`` and every ``cronplane/runtime/**/*.py``, from the installed
    package source, sorted; no tests, no caches."""
    package_dir = Path(cronplane.__file__).parent
    entries: list[Entry] = [(f"{RUNTIME_TOP}/__init__.py", (package_dir / "__init__.py").read_bytes())]
    scan = scan_folder(package_dir / "runtime", "cronplane/runtime", keep=_is_runtime_source, prune=_pruned)
    for file in scan.files:
        entries.append((f"{RUNTIME_TOP}/runtime/{file.rel.as_posix()}", file.path.read_bytes()))
    return sorted(entries, key=_name)


def team_files(jobs_dir: str | os.PathLike[str], team: str) -> list[Entry]:
    """``jobs/<team>/**`` as ``<team>/...`` entries, sorted, without tests, caches, hidden files
    or the team's ``requirements.txt`` (its packages ship installed instead). Nothing is read
    yet; PackagingError names every link out of the folder, or a folder too large to ship."""
    folder = Path(jobs_dir) / team
    scan = scan_team_folder(folder, str(folder))
    if scan.problems:
        hint = (
            "; create it (with the job's handler module) or fix the handler path in jobs.yaml"
            if not folder.is_dir()
            else ""
        )
        raise PackagingError("\n".join(str(p) for p in scan.problems) + hint)
    return [(f"{team}/{file.rel.as_posix()}", file) for file in scan.files]


def requirements_files(folder: Path) -> list[Entry]:
    """A team's installed requirements as root entries. Third-party packages are shipped as
    installed (their own test modules may be imported), minus what would make the bytes depend
    on the build machine: byte code, pip's ``bin/`` scripts (their shebang is the local
    interpreter's path) and ``*.dist-info/RECORD`` (which hashes those scripts)."""
    scan = scan_folder(folder, str(folder), keep=_is_installed_file, prune=lambda name: name == "__pycache__")
    if scan.problems:
        raise PackagingError("\n".join(str(p) for p in scan.problems))
    return [(file.rel.as_posix(), file) for file in scan.files]


def _is_installed_file(rel: PurePosixPath) -> bool:
    parts = rel.parts
    if parts[0] == "bin" or "__pycache__" in parts or rel.suffix in (".pyc", ".pyo"):
        return False
    return not (len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "RECORD")


def _is_runtime_source(rel: PurePosixPath) -> bool:
    return rel.suffix == ".py" and is_packaged(rel)


def _pruned(name: str) -> bool:
    return name.startswith(".") or name in ("__pycache__", "tests")


def _name(entry: Entry) -> str:
    return entry[0]


def _size(entry: Entry) -> int:
    data = entry[1]
    return len(data) if isinstance(data, bytes) else data.size


class _ZipTooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


# --- how it is zipped ------------------------------------------------------------------------


def deterministic_zip(entries: list[Entry], *, max_bytes: int | None = None) -> bytes:
    """Zip ``entries`` so that equal entries give equal bytes on any machine, whatever the files'
    mtimes, the umask or the order they were found in. Files are streamed in chunks; with
    ``max_bytes`` the zip stops growing (``_ZipTooLarge``) as soon as it passes that size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(entries, key=_name):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.create_system = CREATE_SYSTEM_UNIX
            info.external_attr = FILE_MODE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            # Known up front, as writestr sets it: the same size decides the same (no) ZIP64 header.
            info.file_size = len(data) if isinstance(data, bytes) else data.size
            with archive.open(info, "w") as sink:
                if isinstance(data, bytes):
                    sink.write(data)
                else:
                    with _open_entry(data) as source:
                        _copy(source, sink.write, data)
            if max_bytes is not None and buffer.tell() > max_bytes:
                raise _ZipTooLarge(buffer.tell())
    return buffer.getvalue()


def _open_entry(file: FolderFile) -> BinaryIO:
    try:
        return open_regular(file)
    except OSError as exc:
        raise PackagingError(f"{file.path}: cannot be packaged: {exc.strerror or exc}") from None


def _copy(source: BinaryIO, write: Callable[[bytes], object], file: FolderFile) -> None:
    """Exactly ``file.size`` bytes (what was checked), in chunks; a file that grew or shrank
    since is an error, not a silently different package."""
    left = file.size
    while left > 0:
        chunk = source.read(min(_CHUNK, left))
        if not chunk:
            break
        write(chunk)
        left -= len(chunk)
    if left or source.read(1):
        raise PackagingError(f"{file.path}: changed while it was being packaged; run the command again")


def code_sha256(zip_bytes: bytes) -> str:
    """What Lambda's GetFunction reports as ``CodeSha256`` for this zip."""
    return base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode("ascii")


# --- one job ---------------------------------------------------------------------------------

_cache: OrderedDict[str, JobPackage] = OrderedDict()
_cache_guard = threading.Lock()
_build_locks: dict[str, threading.Lock] = {}
_stats = {"builds": 0, "hits": 0}


def build_job_package(
    manifest: Manifest, job: Job, *, cache_dir: Path | None = None, runtime: list[Entry] | None = None
) -> JobPackage:
    """The zip Lambda runs for ``job``. ``cache_dir`` holds installed requirements (default
    ``<manifest root>/.cronplane/build/requirements``). Jobs with the same team folder, runtime
    and requirements get the very same package, zipped once per process. ``runtime``: the
    ``runtime_files()`` of this build, when the caller builds many jobs (read once, not per job)."""
    team = job.team_folder
    runtime = runtime_files() if runtime is None else runtime
    team_entries = team_files(manifest.jobs_dir, team)
    _check_handler(manifest, job, team_entries)

    requirements: Requirements | None = None
    requirements_file = Path(manifest.jobs_dir) / team / REQUIREMENTS_FILE
    if os.path.lexists(requirements_file):
        root_cache = cache_dir if cache_dir is not None else Path(manifest.root) / DEFAULT_CACHE_DIR
        shown = str(Path(manifest.jobs_dir) / team)
        requirements = installed_requirements(requirements_file, job.architecture, root_cache, shown=shown)
    third_party = requirements_files(requirements.path) if requirements is not None else []
    # Sizes from stat, before a byte is read or hashed.
    _check_unzipped(job, runtime + team_entries + third_party)

    # The requirements folder is immutable once installed, so its key stands for its content.
    key = _content_key(runtime, team_entries, requirements.key if requirements else "")
    with _cache_guard:
        lock = _build_locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_guard:
            cached = _cache.get(key)
            if cached is not None:
                _cache.move_to_end(key)
                _stats["hits"] += 1
                return cached
        package = _build(job, runtime, team_entries, third_party)
        with _cache_guard:
            _stats["builds"] += 1
            _cache[key] = package
            while len(_cache) > _CACHE_LIMIT:
                _cache.popitem(last=False)
    return package


def build_packages(manifest: Manifest, *, cache_dir: Path | None = None) -> dict[str, JobPackage]:
    """Every job's package by job name, for ``resources.desired_resources``'s ``code`` map
    (``{name: (p.sha256, p.zip_bytes)}``). Jobs sharing a team share one build; the runtime's
    files are read once for all of them."""
    runtime = runtime_files()
    return {job.name: build_job_package(manifest, job, cache_dir=cache_dir, runtime=runtime) for job in manifest.jobs}


def clear_package_cache() -> None:
    """Forget packages built in this process (tests and benchmarks; never needed in a deploy)."""
    with _cache_guard:
        _cache.clear()
        _build_locks.clear()
        _stats.update(builds=0, hits=0)


def package_cache_stats() -> dict[str, int]:
    """``{"builds": zips made, "hits": builds answered from the in-process cache}``."""
    with _cache_guard:
        return dict(_stats)


def _build(job: Job, runtime: list[Entry], team_entries: list[Entry], third_party: list[Entry]) -> JobPackage:
    entries = runtime + team_entries
    if third_party:
        _check_clashes(job, third_party, {RUNTIME_TOP, job.team_folder})
        entries += third_party
    try:
        zip_bytes = deterministic_zip(entries, max_bytes=MAX_ZIPPED_BYTES)
    except _ZipTooLarge as too_large:
        raise PackagingError(
            f"job {job.name!r}: package grew past {too_large.size / 2**20:.1f} MB zipped; a direct "
            f"upload to Lambda allows {MAX_ZIPPED_BYTES // 2**20} MB. Trim "
            f"jobs/{job.team_folder}/requirements.txt or move large files out of the team folder"
        ) from None
    return JobPackage(
        zip_bytes=zip_bytes,
        sha256=code_sha256(zip_bytes),
        files=tuple(sorted(name for name, _ in entries)),
        size=len(zip_bytes),
    )


def _check_unzipped(job: Job, entries: list[Entry]) -> None:
    unzipped = sum(_size(entry) for entry in entries)
    if unzipped > MAX_UNZIPPED_BYTES:
        raise PackagingError(
            f"job {job.name!r}: package is {unzipped / 2**20:.1f} MB unzipped; Lambda allows "
            f"{MAX_UNZIPPED_BYTES // 2**20} MB. Trim jobs/{job.team_folder}/requirements.txt or "
            "move large files out of the team folder"
        )


def _content_key(runtime: list[Entry], team_entries: list[Entry], requirements_key: str) -> str:
    digest = hashlib.sha256()
    for name, data in runtime + team_entries:
        # Length-prefixed, so no two different entry lists can hash the same stream.
        digest.update(f"{len(name)}:{name}:{_size((name, data))}:".encode())
        if isinstance(data, bytes):
            digest.update(data)
        else:
            with _open_entry(data) as source:
                _copy(source, digest.update, data)
    digest.update(requirements_key.encode())
    return digest.hexdigest()


def _check_handler(manifest: Manifest, job: Job, team_entries: list[Entry]) -> None:
    if any(name == job.handler_file for name, _ in team_entries):
        return
    where = f"{manifest.path}:{job.line}" if job.line else manifest.path
    path = Path(manifest.jobs_dir) / job.handler_file
    reason = (
        "is a test, cache or hidden file and is never packaged; rename it"
        if path.is_file()
        else "does not exist; create it or fix the handler path"
    )
    raise PackagingError(f"{where}: job {job.name!r}: handler file jobs/{job.handler_file} {reason}")


def _check_clashes(job: Job, third_party: list[Entry], taken: set[str]) -> None:
    """A requirement that installs a top-level ``cronplane`` or ``<team>`` would silently
    replace the runtime or the team's own modules inside the zip."""
    tops = {name.split("/", 1)[0] for name, _ in third_party}
    clashes = sorted(tops & taken)
    if clashes:
        raise PackagingError(
            f"jobs/{job.team_folder}/{REQUIREMENTS_FILE}: installs top-level {', '.join(clashes)!s}, "
            "which would replace the cronplane runtime or the team's own code in the package; "
            "remove that requirement (or rename the team folder)"
        )
