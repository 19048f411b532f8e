"""Run as the program, a jobctl command runs without Python's cyclic garbage collector and
freezes its heap before the exit's last collection (together ~0.1 s of a no-change deploy, for
garbage botocore hardly makes); `jobctl dev`, which runs until stopped, keeps the collector.
Called in-process, as the tests do, main() leaves the collector alone."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from cronplane.cli.main import main


def collector_at_exit(*args: str) -> str:
    """What the collector looks like once ``jobctl ARGS`` (run as the program) has finished."""
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print('enabled', gc.isenabled(), 'frozen', gc.get_freeze_count() > 0))\n"
        f"sys.argv = ['jobctl', *{list(args)!r}]\n"
        "from cronplane.cli.main import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.splitlines()[-1]


def test_a_command_run_as_the_program_leaves_the_heap_to_the_exit() -> None:
    assert collector_at_exit("--version") == "enabled False frozen True"
    assert collector_at_exit("--debug", "schema") == "enabled False frozen True"


def test_jobctl_dev_keeps_collecting_its_garbage() -> None:
    assert collector_at_exit("--debug", "dev", "--help") == "enabled True frozen True"


def test_called_in_process_main_leaves_the_collector_alone(capsys: pytest.CaptureFixture[str]) -> None:
    enabled, frozen = gc.isenabled(), gc.get_freeze_count()
    main(["--version"])
    assert "version" in capsys.readouterr().out
    assert (gc.isenabled(), gc.get_freeze_count()) == (enabled, frozen)
