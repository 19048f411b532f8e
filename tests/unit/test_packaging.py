"""Job packages: contents, byte-for-byte determinism, in-process build cache, requirements
installed for Lambda (real pip, cached on disk), and the zip as Lambda sees it (moto)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cronplane
from cronplane.build import packaging
from cronplane.build import requirements as requirements_cache
from cronplane.build.packaging import (
    PackagingError,
    RequirementsError,
    build_job_package,
    clear_package_cache,
    package_cache_stats,
    runtime_files,
)
from cronplane.errors import CronplaneError
from cronplane.manifest.models import Architecture, Job, Manifest
from support.wheel_index import build_wheel, serving_index

ALPHA_FILES = {
    "alpha/__init__.py": "",
    "alpha/report.py": "from alpha.lib.util import total\n\ndef handler(event, context):\n    return total([1, 2])\n",
    "alpha/lib/__init__.py": "",
    "alpha/lib/util.py": "def total(xs):\n    return sum(xs)\n",
    "alpha/data/rates.json": '{"eur": 1}\n',
}
ALPHA_JUNK = {
    "alpha/test_report.py": "def test_x(): pass\n",
    "alpha/report_test.py": "def test_y(): pass\n",
    "alpha/conftest.py": "",
    "alpha/tests/test_deep.py": "",
    "alpha/tests/helper.py": "",
    "alpha/__pycache__/report.cpython-312.pyc": "\x00junk",
    "alpha/lib/util.pyc": "\x00junk",
    "alpha/.DS_Store": "junk",
    "alpha/.pytest_cache/v/cache/lastfailed": "{}",
    "alpha/.env": "SECRET=1",
}
BETA_FILES = {"beta/other.py": "def handler(event, context):\n    return 'beta'\n"}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / "jobs" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def job(name: str = "report", handler: str = "alpha/report.py:handler", **kwargs: Any) -> Job:
    team = handler.split("/", 1)[0]
    return Job(name=name, handler=handler, schedule=object(), team=team, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_package_cache()
    yield
    clear_package_cache()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_tree(root, {**ALPHA_FILES, **ALPHA_JUNK, **BETA_FILES})
    return root


def manifest_for(root: Path, *jobs: Job) -> Manifest:
    return Manifest(namespace="acme", region="eu-west-1", jobs=tuple(jobs), root=str(root))


def fresh_build(root: Path, the_job: Job | None = None, **kwargs: Any) -> packaging.JobPackage:
    clear_package_cache()
    the_job = the_job or job()
    return build_job_package(manifest_for(root, the_job), the_job, **kwargs)


# --- contents --------------------------------------------------------------------------------


def test_package_holds_runtime_and_own_team_only(project: Path) -> None:
    package = fresh_build(project)
    runtime_names = {name for name, _ in runtime_files()}
    assert set(package.files) == set(ALPHA_FILES) | runtime_names
    assert not any(name.startswith("beta/") for name in package.files)
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
        assert archive.namelist() == list(package.files) == sorted(package.files)
        assert archive.read("alpha/lib/util.py").decode() == ALPHA_FILES["alpha/lib/util.py"]
    assert package.size == len(package.zip_bytes)


def test_runtime_files_are_the_installed_runtime_sources() -> None:
    entries = dict(runtime_files())
    package_dir = Path(cronplane.__file__).parent
    assert entries["cronplane/__init__.py"] == (package_dir / "__init__.py").read_bytes()
    assert entries["cronplane/runtime/settings.py"] == (package_dir / "runtime/settings.py").read_bytes()
    on_disk = {
        "cronplane/runtime/" + p.relative_to(package_dir / "runtime").as_posix()
        for p in (package_dir / "runtime").rglob("*.py")
        if "__pycache__" not in p.parts and "tests" not in p.parts and not p.name.startswith("test_")
    }
    assert set(entries) == on_disk | {"cronplane/__init__.py"}
    # Deploy-side modules never ship.
    assert "cronplane/build/packaging.py" not in entries and "cronplane/manifest/models.py" not in entries


def test_zip_entries_have_fixed_metadata(project: Path) -> None:
    package = fresh_build(project)
    with zipfile.ZipFile(io.BytesIO(package.zip_bytes)) as archive:
        for info in archive.infolist():
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            assert info.create_system == 3
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.comment == b"" and info.extra == b""


def test_package_imports_like_lambda_would(project: Path, tmp_path: Path) -> None:
    """Unzipped alone on sys.path (as in /var/task), the handler module and the runtime import."""
    package = fresh_build(project)
    task = tmp_path / "task"
    zipfile.ZipFile(io.BytesIO(package.zip_bytes)).extractall(task)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import alpha.report, cronplane.runtime.settings as s;"
        "assert alpha.report.__file__.startswith(sys.argv[1]);"
        "assert s.__file__.startswith(sys.argv[1]);"
        "print(alpha.report.handler({}, None))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(task)], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3"


# --- determinism -----------------------------------------------------------------------------


def test_same_sources_same_bytes_and_sha(project: Path) -> None:
    first = fresh_build(project)
    second = fresh_build(project)
    assert first.zip_bytes == second.zip_bytes
    assert first.sha256 == base64.b64encode(hashlib.sha256(first.zip_bytes).digest()).decode()


def test_mtimes_modes_umask_and_location_do_not_change_bytes(project: Path, tmp_path: Path) -> None:
    reference = fresh_build(project).zip_bytes
    for path in (project / "jobs").rglob("*"):
        os.utime(path, (1_900_000_000, 1_900_000_000))
    os.chmod(project / "jobs/alpha/report.py", 0o755)
    assert fresh_build(project).zip_bytes == reference

    # A checkout made under another umask and in another folder.
    old_umask = os.umask(0o077)
    try:
        elsewhere = tmp_path / "other-checkout"
        write_tree(elsewhere, {**ALPHA_FILES, **BETA_FILES})
    finally:
        os.umask(old_umask)
    assert (elsewhere / "jobs/alpha/report.py").stat().st_mode & 0o777 == 0o600
    assert fresh_build(elsewhere).zip_bytes == reference


def test_changing_a_team_file_changes_the_sha(project: Path) -> None:
    before = fresh_build(project).sha256
    (project / "jobs/alpha/lib/util.py").write_text("def total(xs):\n    return sum(xs) + 0\n")
    assert fresh_build(project).sha256 != before


def test_other_teams_tests_and_caches_do_not_change_the_sha(project: Path) -> None:
    before = fresh_build(project).sha256
    (project / "jobs/beta/other.py").write_text("# changed\n")
    (project / "jobs/beta/new.py").write_text("x = 1\n")
    (project / "jobs/alpha/test_report.py").write_text("def test_changed(): pass\n")
    (project / "jobs/alpha/tests/test_more.py").write_text("")
    (project / "jobs/alpha/__pycache__/util.cpython-312.pyc").write_bytes(b"\x00")
    (project / "jobs/alpha/.hidden").write_text("x")
    assert fresh_build(project).sha256 == before


# --- in-process cache ------------------------------------------------------------------------


def test_jobs_of_one_team_share_one_build(project: Path) -> None:
    jobs = [job(f"a{i}") for i in range(100)] + [job(f"b{i}", "beta/other.py:handler") for i in range(100)]
    manifest = manifest_for(project, *jobs)
    packages = [build_job_package(manifest, j) for j in jobs]
    assert package_cache_stats() == {"builds": 2, "hits": 198}
    assert len({p.sha256 for p in packages}) == 2
    assert packages[0] is packages[99]


def test_build_packages_maps_every_job(project: Path) -> None:
    jobs = (job("a1"), job("a2"), job("b1", "beta/other.py:handler"))
    packages = packaging.build_packages(manifest_for(project, *jobs))
    assert list(packages) == ["a1", "a2", "b1"]
    assert packages["a1"] is packages["a2"] and packages["b1"].sha256 != packages["a1"].sha256
    assert "beta/other.py" in packages["b1"].files and "alpha/report.py" not in packages["b1"].files


def test_cache_sees_edits_between_builds(project: Path) -> None:
    manifest = manifest_for(project, job())
    before = build_job_package(manifest, job())
    (project / "jobs/alpha/report.py").write_text("def handler(event, context):\n    return 4\n")
    after = build_job_package(manifest, job())
    assert before.sha256 != after.sha256
    assert package_cache_stats()["builds"] == 2


# --- user errors -----------------------------------------------------------------------------


def test_missing_handler_file_is_a_clear_error(project: Path) -> None:
    with pytest.raises(PackagingError, match=r"jobs/alpha/nope.py does not exist"):
        fresh_build(project, job(handler="alpha/nope.py:handler", line=12))


def test_handler_that_looks_like_a_test_is_refused(project: Path) -> None:
    with pytest.raises(PackagingError, match=r"test_report.py is a test, cache or hidden file"):
        fresh_build(project, job(handler="alpha/test_report.py:handler"))


def test_missing_team_folder_is_a_clear_error(project: Path) -> None:
    with pytest.raises(PackagingError, match=r"gamma: team folder not found"):
        fresh_build(project, job(handler="gamma/x.py:handler"))
    assert issubclass(PackagingError, CronplaneError)


def test_oversized_package_is_refused(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(packaging, "MAX_ZIPPED_BYTES", 100)
    with pytest.raises(PackagingError, match=r"MB zipped; a direct upload to Lambda allows"):
        fresh_build(project)


# --- requirements ----------------------------------------------------------------------------


def test_requirements_installed_for_lambda_and_cached(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Real pip against a package index on 127.0.0.1 (tests never leave the machine): the
    wheel lands in the zip; the second build (new process state, same cache folder) does not
    run pip."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = build_wheel(wheels, "tiny-six", "1.17.0", {"tiny_six.py": "PY3 = True\n"})
    (project / "jobs/alpha/requirements.txt").write_text("tiny-six==1.17.0\n")
    cache = tmp_path / "cache"
    monkeypatch.chdir(project)  # a relative manifest root, as jobctl run in the project has it
    with serving_index(tmp_path / "index", "tiny-six", wheel) as index:
        monkeypatch.setenv("CRONPLANE_PIP_INDEX_URL", index.url)
        package = fresh_build(Path("."), cache_dir=cache)
        assert index.requests, "pip did not ask the local index"
    assert "tiny_six.py" in package.files
    assert "tiny_six-1.17.0.dist-info/METADATA" in package.files
    assert "tiny_six-1.17.0.dist-info/RECORD" not in package.files  # hashes machine-dependent scripts
    assert "alpha/requirements.txt" not in package.files
    assert not any(name.endswith(".pyc") for name in package.files)
    [entry] = list(cache.iterdir())
    assert entry.name.endswith("-arm64-py3.12") and (entry / "tiny_six.py").is_file()

    def no_pip(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("pip ran although the requirements are cached")

    monkeypatch.setattr(requirements_cache, "run_pip", no_pip)
    again = fresh_build(Path("."), cache_dir=cache)
    assert again.zip_bytes == package.zip_bytes
    # Another team without requirements.txt ships none.
    beta = fresh_build(project, job("b", "beta/other.py:handler"), cache_dir=cache)
    assert "tiny_six.py" not in beta.files


class FakePip:
    """Stands in for pip where the test is about what we do around it (the command, the cache
    key, what we strip from its output); the real install is covered above."""

    def __init__(self, files: dict[str, str], *, status: int = 0, stderr: str = "") -> None:
        self.files = files
        self.status, self.stderr = status, stderr
        self.commands: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    def __call__(self, command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        self.envs.append(env)
        target = Path(command[command.index("--target") + 1])
        for rel, text in self.files.items():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            (target / rel).write_text(text)
        return subprocess.CompletedProcess(command, self.status, "", self.stderr)


def test_pip_failure_is_a_clear_error_and_leaves_no_cache_entry(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pip fails after writing part of the install. The manifest root is relative (as "jobctl
    # deploy" in the project folder has it).
    failing = FakePip(
        {"six.py": "half"},
        status=1,
        stderr="WARNING: noise\nERROR: Could not find a version that satisfies the requirement six==99.0\n"
        "ERROR: No matching distribution found for six==99.0\n",
    )
    monkeypatch.setattr(requirements_cache, "run_pip", failing)
    (project / "jobs/alpha/requirements.txt").write_text("six==99.0\n")
    monkeypatch.chdir(project)
    with pytest.raises(RequirementsError) as caught:
        fresh_build(Path("."))
    message = str(caught.value)
    assert message.startswith("jobs/alpha/requirements.txt: could not install the requirements for Lambda")
    assert "manylinux2014_aarch64, Python 3.12" in message
    assert "No matching distribution found for six==99.0" in message and "noise" not in message
    assert "Every requirement needs a binary wheel" in message
    cache = project / ".cronplane/build/requirements"
    assert list(cache.iterdir()) == []  # staging folder removed, nothing half-installed


def test_pip_crash_reports_its_last_line(project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    crash = (
        "ERROR: Exception:\nTraceback (most recent call last):\n  ...\nOSError: [Errno 28] No space left on device\n"
    )
    monkeypatch.setattr(requirements_cache, "run_pip", FakePip({}, status=2, stderr=crash))
    (project / "jobs/alpha/requirements.txt").write_text("six==1.17.0\n")
    with pytest.raises(RequirementsError, match=r"OSError: \[Errno 28\] No space left on device"):
        fresh_build(project, cache_dir=tmp_path / "cache")


def test_pip_command_targets_lambda_platform_per_architecture(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePip({"lib1/__init__.py": "X = 1\n"})
    monkeypatch.setattr(requirements_cache, "run_pip", fake)
    (project / "jobs/alpha/requirements.txt").write_text("lib1==1.0\n")
    cache = tmp_path / "cache"
    arm = fresh_build(project, job(architecture=Architecture.ARM64), cache_dir=cache)
    x86 = fresh_build(project, job(architecture=Architecture.X86_64), cache_dir=cache)
    fresh_build(project, job(architecture=Architecture.X86_64), cache_dir=cache)
    assert len(fake.commands) == 2  # one install per architecture, then cache hits
    platforms = [c[c.index("--platform") + 1] for c in fake.commands]
    assert platforms == ["manylinux2014_aarch64", "manylinux2014_x86_64"]
    for command in fake.commands:
        assert "--only-binary=:all:" in command and "--no-compile" in command
        assert command[command.index("--python-version") + 1] == "3.12"
        assert command[command.index("--implementation") + 1] == "cp"
    assert "lib1/__init__.py" in arm.files and "lib1/__init__.py" in x86.files
    assert "alpha/requirements.txt" not in arm.files
    # Editing requirements.txt is a new cache key: pip runs again.
    (project / "jobs/alpha/requirements.txt").write_text("lib1==1.1\n")
    fresh_build(project, job(), cache_dir=cache)
    assert len(fake.commands) == 3


def test_machine_dependent_pip_output_is_stripped(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePip({
        "lib1/__init__.py": "X = 1\n",
        "lib1/__pycache__/__init__.cpython-312.pyc": "\x00",
        "lib1/tests/test_lib1.py": "# a library's own tests ship as installed\n",
        "lib1-1.0.dist-info/METADATA": "Name: lib1\n",
        "lib1-1.0.dist-info/RECORD": "../../bin/lib1,sha256=abc,10\n",
        "bin/lib1": "#!/home/someone/.venv/bin/python\n",
    })  # fmt: skip
    monkeypatch.setattr(requirements_cache, "run_pip", fake)
    (project / "jobs/alpha/requirements.txt").write_text("lib1==1.0\n")
    files = set(fresh_build(project, cache_dir=tmp_path / "cache").files)
    assert {"lib1/__init__.py", "lib1/tests/test_lib1.py", "lib1-1.0.dist-info/METADATA"} <= files
    assert not files & {"bin/lib1", "lib1-1.0.dist-info/RECORD", "lib1/__pycache__/__init__.cpython-312.pyc"}


def test_requirement_shadowing_runtime_or_team_is_refused(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(requirements_cache, "run_pip", FakePip({"cronplane/__init__.py": ""}))
    (project / "jobs/alpha/requirements.txt").write_text("cronplane==1.0\n")
    with pytest.raises(PackagingError, match=r"installs top-level cronplane"):
        fresh_build(project, cache_dir=tmp_path / "cache")


# --- as Lambda sees it -----------------------------------------------------------------------


def test_sha_is_what_lambda_reports_as_code_sha256(project: Path, aws: None) -> None:
    import boto3

    from cronplane.build.iam import lambda_trust_policy

    package = fresh_build(project)
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(lambda_trust_policy()))
    client = boto3.client("lambda")
    client.create_function(
        FunctionName="acme-report",
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="cronplane.runtime.entry.handler",
        Code={"ZipFile": package.zip_bytes},
    )
    live = client.get_function(FunctionName="acme-report")["Configuration"]
    assert live["CodeSha256"] == package.sha256
    assert live["CodeSize"] == package.size


def test_copy_of_tree_on_another_path_has_same_sha(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(project, copy)
    assert fresh_build(copy).sha256 == fresh_build(project).sha256
