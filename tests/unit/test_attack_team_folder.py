"""Attacks through what a team puts in its folder (issue 10, item 3): links that reach out of
``jobs/<team>/`` (to the deployer's credentials, to /proc/self/environ) and files too large to
read. Every test plants the file, runs validate and the package build, and checks the refusal
and that no byte of the target reached any zip, or that nothing was read at all."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import threading
import tracemalloc
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from cronplane.build.packaging import (
    PackagingError,
    build_job_package,
    build_packages,
    clear_package_cache,
    deterministic_zip,
    team_files,
)
from cronplane.errors import ManifestError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest
from cronplane.manifest.team_folder import FolderFile, open_regular

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"aws_secret_access_key = FAKE/SECRET+9z8y7x6w5v4u3t2s1r0q"
MB = 1024 * 1024


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_package_cache()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "jobs", root / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "jobs.yaml", root / "jobs.yaml")
    return root


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    """The deployer's credentials file, outside the project."""
    home = tmp_path / "home/.aws"
    home.mkdir(parents=True)
    (home / "credentials").write_bytes(b"[default]\n" + SECRET + b"\n")
    return home / "credentials"


def validate(project: Path) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "jobs.yaml")
    return [str(p) for p in caught.value.problems]


def every_zip(manifest: Manifest) -> list[bytes]:
    """The zips of every job that can still be built (the other team's)."""
    built = []
    for job in manifest.jobs:
        with contextlib.suppress(PackagingError):
            built.append(build_job_package(manifest, job, cache_dir=Path(manifest.root) / "cache").zip_bytes)
    return built


def assert_secret_in_no_zip(zips: list[bytes]) -> None:
    for data in zips:
        assert SECRET not in data
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                assert SECRET not in archive.read(name), name


def test_a_link_to_the_deployers_credentials_is_refused_and_ships_nowhere(project: Path, credentials: Path) -> None:
    os.symlink(credentials, project / "jobs/billing/settings.txt")
    [problem] = validate(project)
    assert problem == (
        f"{project}/jobs/billing/settings.txt: is a link to {credentials}, outside {project}/jobs/billing/; a "
        "package never takes files from outside its team folder (they could be anyone's secrets). Copy the "
        "file into the folder or remove the link"
    )
    manifest = load_manifest(project / "jobs.yaml", check_handlers=False)
    with pytest.raises(PackagingError, match=r"billing/settings.txt: is a link to .*credentials, outside"):
        build_packages(manifest)
    zips = every_zip(manifest)
    assert len(zips) == 2  # infra's jobs still build
    assert_secret_in_no_zip(zips)


def test_links_to_proc_self_environ_and_out_of_the_tree_by_dotdot_are_refused(project: Path, credentials: Path) -> None:
    lib = project / "jobs/billing/lib"
    lib.mkdir()
    os.symlink("../../../../home/.aws/credentials", lib / "relative.py")  # ../ up and out
    os.symlink("/proc/self/environ", project / "jobs/infra/environ.txt")
    os.symlink(credentials.parent, project / "jobs/infra/aws")  # a folder link out
    problems = validate(project)
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{project}/jobs/billing/lib/relative.py",
        f"{project}/jobs/infra/aws",
        f"{project}/jobs/infra/environ.txt",
    ]
    assert f"is a link to {credentials}, outside" in problems[0]
    assert "is a link to /proc/" in problems[2]
    manifest = load_manifest(project / "jobs.yaml", check_handlers=False)
    assert every_zip(manifest) == []


def test_a_team_folder_that_is_itself_a_link_is_refused(project: Path) -> None:
    """Even to a folder inside jobs/ (a link out of jobs/ fails the handler check already):
    a team folder that is a link would ship whatever folder it points at as that team's code."""
    real = project / "jobs/shared_infra"
    shutil.move(project / "jobs/infra", real)
    os.symlink(real, project / "jobs/infra")
    assert validate(project) == [
        f"{project}/jobs/infra: is a link to {real}; a team folder must be a real folder under jobs/"
    ]


def test_links_inside_the_team_folder_are_followed_and_hidden_files_never_looked_at(
    project: Path, credentials: Path
) -> None:
    billing = project / "jobs/billing"
    (billing / "shared").mkdir()
    (billing / "shared/rates.json").write_text('{"eur": 1}\n')
    os.symlink("shared/rates.json", billing / "rates.json")  # a file link inside: followed
    os.symlink("shared", billing / "again")  # a folder link inside: not descended
    (billing / ".venv/bin").mkdir(parents=True)
    os.symlink(credentials, billing / ".venv/bin/python")  # hidden: never packaged, not an error
    manifest = load_manifest(project / "jobs.yaml")
    package = build_job_package(manifest, manifest.jobs[0])
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
        assert archive.read("billing/rates.json") == b'{"eur": 1}\n'
        assert archive.read("billing/shared/rates.json") == b'{"eur": 1}\n'
        assert not [n for n in archive.namelist() if n.startswith(("billing/again", "billing/.venv"))]
    assert_secret_in_no_zip([package.zip_bytes])


def test_a_fifo_in_the_team_folder_neither_blocks_nor_ships(project: Path) -> None:
    os.mkfifo(project / "jobs/billing/pipe")
    manifest = load_manifest(project / "jobs.yaml")
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(build_job_package(manifest, manifest.jobs[0])), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "packaging blocked on a FIFO"
    [package] = result
    assert "billing/pipe" not in package.files  # type: ignore[attr-defined]


def test_a_link_swapped_in_after_the_check_is_not_followed(tmp_path: Path, credentials: Path) -> None:
    """The file was checked as a regular file; replaced by a link before it is opened, the open
    refuses instead of reading the link's target."""
    path = tmp_path / "report.py"
    path.write_bytes(b"x = 1\n")
    info = path.stat()
    checked = FolderFile(PurePosixPath("report.py"), path, 6, info.st_dev, info.st_ino)
    path.unlink()
    os.symlink(credentials, path)
    with pytest.raises(OSError):
        open_regular(checked)


def test_a_parent_folder_swapped_for_a_link_after_the_scan_ships_nothing_of_its_target(
    project: Path, credentials: Path
) -> None:
    """O_NOFOLLOW guards only the last name of a path: the scan saw jobs/billing/conf/credentials
    (a harmless file of the very size of the deployer's), then conf/ became a link to ~/.aws.
    The build refuses it by device and inode, naming the path, and the secret is in no zip."""
    conf = project / "jobs/billing/conf"
    conf.mkdir()
    (conf / "credentials").write_bytes(b"x" * credentials.stat().st_size)
    entries = team_files(project / "jobs", "billing")
    assert any(isinstance(data, FolderFile) and data.rel.as_posix() == "conf/credentials" for _, data in entries)
    shutil.rmtree(conf)
    os.symlink(credentials.parent, conf)
    with pytest.raises(PackagingError) as refused:
        deterministic_zip(entries)
    assert str(refused.value) == (
        f"{conf}/credentials: cannot be packaged: it is no longer the file that was checked (it or a folder "
        "above it was replaced, perhaps by a link out of the team folder); nothing of it was read. Check the "
        "folder and run the command again"
    )
    manifest = load_manifest(project / "jobs.yaml", check_handlers=False)
    assert_secret_in_no_zip(every_zip(manifest))


def test_a_huge_sparse_file_is_refused_from_stat_without_being_read(project: Path) -> None:
    """400 MB claimed, no disk used: validate and the build refuse it, and memory never grows
    anywhere near its size (nothing of it was read)."""
    big = project / "jobs/billing/data/dump.bin"
    big.parent.mkdir()
    with open(big, "wb") as handle:
        handle.truncate(400 * MB)
    tracemalloc.start()
    try:
        [problem] = validate(project)
        manifest = load_manifest(project / "jobs.yaml", check_handlers=False)
        with pytest.raises(PackagingError, match=r"400.0 MB of files to package \(the largest: data/dump.bin"):
            build_job_package(manifest, manifest.jobs[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.startswith(f"{project}/jobs/billing: holds 400.0 MB of files to package")
    assert "Lambda allows 250.0 MB unzipped" in problem
    assert peak < 10 * MB, f"peak {peak / MB:.1f} MB"


def test_files_within_the_limit_are_streamed_not_held_whole(project: Path) -> None:
    """A 120 MB (sparse, all zeros) file is packaged in chunks: memory stays far below its size."""
    big = project / "jobs/billing/zeros.bin"
    with open(big, "wb") as handle:
        handle.truncate(120 * MB)
    manifest = load_manifest(project / "jobs.yaml")
    tracemalloc.start()
    try:
        package = build_job_package(manifest, manifest.jobs[0])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
        assert archive.getinfo("billing/zeros.bin").file_size == 120 * MB
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB"
