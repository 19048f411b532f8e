"""What of ``jobs/<team>/`` goes into a package, found without reading any file.

A team member can write anything into their folder, and ``plan``/``deploy``/``dev`` read it on
a machine that holds the deployer's secrets. So, for the files a package would take:

- **links**: a link (file or folder) whose target leaves ``jobs/<team>/`` is an error naming
  it: ``creds -> ~/.aws/credentials`` or ``env -> /proc/self/environ`` would otherwise ship the
  deployer's secrets to Lambda. A file link whose target stays inside the folder is followed
  (its content is in the folder anyway); a folder link inside is not descended (no loops, no
  file packaged twice). The team folder itself must be a real folder, not a link.
- **sizes** come from ``stat``, before anything is opened: a 400 MB file (or a sparse file
  claiming terabytes) is refused at no cost. ``open_regular`` then reads what was checked:
  regular files only (a FIFO would block, a device never ends), no link swapped in since, and
  the very file (device and inode) that was scanned: ``O_NOFOLLOW`` guards only the last name
  of a path, so a parent folder swapped for a link to ``~/.aws`` after the scan would otherwise
  hand over a same-size ``credentials``.

Hidden files and folders, caches and tests never ship, so they are not even looked at (a
``.venv`` full of links to /usr is fine). Used by ``validate`` (via the loader) and again by
``build/packaging`` right before it zips, so a package cannot take what validation refused.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from cronplane.errors import Problem
from cronplane.manifest.requirements_file import (
    MAX_REQUIREMENTS_BYTES,
    REQUIREMENTS_FILE,
    PinnedRequirements,
    parse_requirements,
)

# Lambda's quota for code plus layers, unzipped. Everything packaged counts against it.
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class FolderFile:
    """A file to package: ``rel`` is its name inside the folder (the link's name for a link),
    ``path`` the real file to read (inside the folder), ``size``, ``device`` and ``inode`` from
    ``stat`` (what ``open_regular`` insists on finding again)."""

    rel: PurePosixPath
    path: Path
    size: int
    device: int
    inode: int


@dataclass(frozen=True)
class FolderScan:
    files: tuple[FolderFile, ...]
    problems: tuple[Problem, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def is_packaged(rel: PurePosixPath) -> bool:
    """False for what never ships from a team folder: hidden files and folders (.DS_Store,
    .pytest_cache, .env, .venv), byte code, tests (tests/, test_*.py, *_test.py, conftest.py)
    and requirements.txt (its packages ship installed instead)."""
    if any(_pruned(part) for part in rel.parts) or rel.as_posix() == REQUIREMENTS_FILE:
        return False
    name = rel.name
    if rel.suffix in (".pyc", ".pyo") or name == "conftest.py":
        return False
    return not (name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")))


def _pruned(part: str) -> bool:
    return part.startswith(".") or part in ("__pycache__", "tests")


def scan_team_folder(folder: Path, shown: str) -> FolderScan:
    """The files a package takes from ``folder`` (a team folder), and the problems that stop it.
    ``shown`` is how messages name the folder (``jobs/billing``)."""
    if folder.is_symlink():
        message = f"is a link to {os.path.realpath(folder)}; a team folder must be a real folder under jobs/"
        return FolderScan((), (Problem(shown, None, "", message),))
    if not folder.is_dir():
        return FolderScan((), (Problem(shown, None, "", "team folder not found; create it with the job's handler"),))
    scan = scan_folder(folder, shown, keep=is_packaged, prune=_pruned)
    problems = list(scan.problems)
    if scan.size > MAX_UNZIPPED_BYTES:
        biggest = max(scan.files, key=lambda f: f.size)
        problems.append(
            Problem(
                shown,
                None,
                "",
                f"holds {_mb(scan.size)} of files to package (the largest: {biggest.rel}, {_mb(biggest.size)}); "
                f"Lambda allows {_mb(MAX_UNZIPPED_BYTES)} unzipped. Keep large data in S3 and read it at run time",
            )
        )
    return FolderScan(scan.files, tuple(problems))


def scan_folder(
    folder: Path, shown: str, *, keep: Callable[[PurePosixPath], bool], prune: Callable[[str], bool]
) -> FolderScan:
    """Regular files under ``folder`` that ``keep`` accepts, sorted, with their ``stat`` sizes;
    a problem for every kept link whose target leaves ``folder``. Reads no file. Folders whose
    name ``prune`` accepts are not entered."""
    root = Path(os.path.realpath(folder))
    files: list[FolderFile] = []
    problems: list[Problem] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not prune(d))
        for name in [*dirnames, *filenames]:
            path = base / name
            rel = PurePosixPath(path.relative_to(folder).as_posix())
            if not keep(rel) and name not in dirnames:
                continue
            try:
                info = path.lstat()
            except OSError:
                continue  # vanished while we looked: nothing to package
            if stat.S_ISLNK(info.st_mode):
                real = Path(os.path.realpath(path))
                if not real.is_relative_to(root):
                    problems.append(_outside(shown, rel, real))
                    continue
                if name in dirnames:
                    continue  # a folder link inside the tree: not descended (os.walk does not)
                try:
                    info = real.stat()
                except OSError:
                    continue  # a dangling link: nothing to package
                path = real
            if name in filenames and stat.S_ISREG(info.st_mode):
                files.append(FolderFile(rel, path, info.st_size, info.st_dev, info.st_ino))
    return FolderScan(tuple(sorted(files, key=lambda f: f.rel)), tuple(problems))


def read_team_requirements(folder: Path, shown: str) -> tuple[PinnedRequirements | None, list[Problem]]:
    """``folder/requirements.txt`` parsed (None when there is none), with its problems: a link
    out of the folder, not a regular file, too large, not UTF-8, or lines that are not pinned
    requirements. Nothing outside the team folder is read, so nothing of it is shown."""
    path = folder / REQUIREMENTS_FILE
    file = f"{shown}/{REQUIREMENTS_FILE}"
    if not os.path.lexists(path):
        return None, []
    real = Path(os.path.realpath(path))
    if not real.is_relative_to(Path(os.path.realpath(folder))):
        return None, [_outside(shown, PurePosixPath(REQUIREMENTS_FILE), real)]
    try:
        info = real.stat()
    except OSError:
        return None, [Problem(file, None, "", "is a link to nothing; remove it or make it a file")]
    if not stat.S_ISREG(info.st_mode):
        return None, [Problem(file, None, "", "is not a regular file")]
    if info.st_size > MAX_REQUIREMENTS_BYTES:
        return None, [Problem(file, None, "", f"is {_mb(info.st_size)}; a list of pinned packages is a few KB at most")]
    try:
        with open_regular(
            FolderFile(PurePosixPath(REQUIREMENTS_FILE), real, info.st_size, info.st_dev, info.st_ino)
        ) as handle:
            raw = handle.read(MAX_REQUIREMENTS_BYTES + 1)
    except OSError as exc:
        return None, [Problem(file, None, "", f"cannot be read: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(file, line, "", "is not UTF-8 text; save it as UTF-8")]
    pinned, problems = parse_requirements(text, file)
    return pinned, problems


def open_regular(file: FolderFile) -> BinaryIO:
    """``file`` opened for reading, only if it is still the very regular file (same device and
    inode) of the size that was checked: no link swapped in for it or for a folder above it, no
    FIFO or device; else OSError."""
    descriptor = os.open(file.path, _OPEN_FLAGS)
    try:
        info = os.fstat(descriptor)
        if (info.st_dev, info.st_ino) != (file.device, file.inode):
            raise OSError(
                "it is no longer the file that was checked (it or a folder above it was replaced, perhaps "
                "by a link out of the team folder); nothing of it was read. Check the folder and run the "
                "command again"
            )
        if not stat.S_ISREG(info.st_mode) or info.st_size != file.size:
            raise OSError(f"{file.rel} changed while it was being packaged; run the command again")
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _outside(shown: str, rel: PurePosixPath, real: Path) -> Problem:
    return Problem(
        f"{shown}/{rel}",
        None,
        "",
        f"is a link to {real}, outside {shown}/; a package never takes files from outside its team "
        "folder (they could be anyone's secrets). Copy the file into the folder or remove the link",
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"
