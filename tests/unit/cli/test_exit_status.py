"""Every documented exit code of ``jobctl``, one test each: through click's CliRunner (the
commands return an ``ExitStatus``; the group raises it as click's Exit) and through ``main()``,
the one place that maps statuses and errors to ``sys.exit``. And: no other ``sys.exit`` in the
package than the process entry points that must have one."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cronplane.cli.exit_status import ExitStatus
from cronplane.cli.main import cli
from testkit import jobctl

PACKAGE = Path(__file__).resolve().parents[3] / "platform" / "cronplane"

VALID = """\
namespace: exit-codes
region: eu-west-1
jobs:
  tidy:
    handler: infra/tidy.py:handler
    schedule: rate(1 hour)
    team: infra
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "jobs" / "infra").mkdir(parents=True)
    (tmp_path / "jobs" / "infra" / "tidy.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "jobs.yaml").write_text(VALID)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def both(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[Any, int]:
    """The CliRunner result, and the exit code of the same command through main()."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    code, _, _ = jobctl(capsys, *args)
    return result, code


def test_ok_is_0(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, code = both(capsys, "validate")
    assert result.exit_code == code == ExitStatus.OK == 0
    assert "1 job valid" in result.output


def test_failure_is_1_for_a_result_the_command_returns(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (project / "jobs.yaml").write_text(VALID.replace("rate(1 hour)", "rate(0 hours)"))
    result, code = both(capsys, "validate")
    assert result.exit_code == code == ExitStatus.FAILURE == 1
    assert "jobs.tidy.schedule" in result.output


def test_failure_is_1_for_an_error_main_words(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = jobctl(capsys, "next", "no-such-job")
    assert code == ExitStatus.FAILURE and err.startswith("Error: ") and "no job named 'no-such-job'" in err


def test_usage_is_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, code = both(capsys, "history", "--limit", "0")
    assert result.exit_code == code == ExitStatus.USAGE == 2
    assert "Invalid value for '--limit'" in result.output


def test_plan_with_pending_changes_is_2_with_detailed_exitcode(
    aws: None, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result, code = both(capsys, "plan", "--detailed-exitcode")
    assert result.exit_code == code == ExitStatus.CHANGES_PENDING == 2
    assert "Plan: " in result.output and "to create" in result.output
    result, code = both(capsys, "plan")  # without the flag, a plan that ran is a success
    assert result.exit_code == code == 0


def test_audit_that_needs_attention_is_3(aws: None, project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result, code = both(capsys, "audit")  # never deployed: no trigger, every promised run is unaccounted for
    assert result.exit_code == code == ExitStatus.ATTENTION == 3
    assert result.output.splitlines()[-1].startswith("PROBLEMS: 1 not deployed (tidy)")


def test_interrupted_is_130(project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr("cronplane.cli.manifest_cmds.load_manifest", interrupted)
    code, _, err = jobctl(capsys, "validate")
    assert (
        code == ExitStatus.INTERRUPTED == 130 and err.strip() == "Interrupted."
    )  # after the newline click ends a ^C line with


def test_the_statuses_are_the_documented_numbers() -> None:
    assert {s.name: int(s) for s in ExitStatus} == {
        "OK": 0,
        "FAILURE": 1,
        "USAGE": 2,
        "ATTENTION": 3,
        "INTERRUPTED": 130,
    }
    assert ExitStatus.CHANGES_PENDING is ExitStatus.USAGE  # Terraform's 2, as `terraform plan -detailed-exitcode`


# Process entry points whose exit code someone else reads: they must exit themselves.
ENTRY_POINTS = {"cli/main.py", "local/lambda_bootstrap.py"}


def exits_in(path: Path) -> list[int]:
    """Lines that call sys.exit / exit / os._exit or raise SystemExit."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(getattr(func, "value", None), "id", "")
            if (name == "exit" and owner in ("sys", "")) or (name == "_exit" and owner == "os"):
                found.append(node.lineno)
        elif isinstance(node, ast.Raise) and node.exc is not None:
            target = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(target, ast.Name) and target.id == "SystemExit":
                found.append(node.lineno)
    return found


def test_only_the_process_entry_points_exit() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := exits_in(path)) and str(path.relative_to(PACKAGE)) not in ENTRY_POINTS
    }
    assert offenders == {}, "commands return an ExitStatus; only cli/main.py maps it to sys.exit"
    assert exits_in(PACKAGE / "cli" / "main.py") and exits_in(PACKAGE / "local" / "lambda_bootstrap.py")
