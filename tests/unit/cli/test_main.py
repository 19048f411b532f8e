"""The entry point: one place that maps errors to exit codes and hides tracebacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from cronplane.cli.main import main


def run(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return int(exit_info.value.code or 0)


def test_error_is_one_line_without_debug(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["history", "some-job", "-f", str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_anywhere_shows_the_traceback(tmp_path: Path, where: str) -> None:
    args = ["history", "some-job", "-f", str(tmp_path / "missing.yaml")]
    args = ["--debug", *args] if where == "before" else [*args, "--debug"]
    with pytest.raises(Exception) as raised:
        main(args)
    assert not isinstance(raised.value, SystemExit)


def test_debug_as_an_option_value_stays_a_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--payload --debug` is a (bad JSON) payload, not the --debug flag: usage error, exit 2."""
    (tmp_path / "jobs.yaml").write_text("namespace: a\nregion: eu-west-1\njobs: {}\n")
    code = run(["run-now", "x", "--local", "-f", str(tmp_path / "jobs.yaml"), "--payload", "--debug"])
    assert code in (1, 2)
    assert "Traceback" not in capsys.readouterr().err


def test_an_unreachable_endpoint_is_one_line_for_ops_commands_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ops commands go through the same AWS door as deploy: nothing answering is one line
    that says what to check (the access-denied wording: tests/unit/cli/test_access_denied.py)."""
    from support.motoserver import free_port

    (tmp_path / "jobs" / "ops").mkdir(parents=True)
    (tmp_path / "jobs" / "ops" / "task.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "jobs.yaml").write_text(
        "namespace: a\nregion: eu-west-1\njobs:\n  task:\n"
        "    handler: ops/task.py:handler\n    schedule: rate(1 hour)\n"
    )
    port = free_port()
    code = run(["pause", "task", "-f", str(tmp_path / "jobs.yaml"), "--endpoint-url", f"http://127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1
    assert err.startswith(f"Error: Cannot reach events at http://127.0.0.1:{port}") and "jobctl dev" in err
