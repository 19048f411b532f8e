"""Run as the program, jobctl tunes Python's cyclic garbage collector for a short-lived process
(full collections rare, the heap frozen before the exit's last collection: ~0.1 s of a no-change
deploy); called in-process, as the tests do, it leaves the collector alone."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from cronplane.cli.main import main


def test_as_the_program_full_collections_are_rare_and_the_heap_is_frozen_at_exit() -> None:
    code = (
        "import atexit, gc, sys\n"
        "atexit.register(lambda: print(gc.get_threshold(), gc.get_freeze_count() > 0, gc.isenabled()))\n"
        "sys.argv = ['jobctl', '--version']\n"
        "from cronplane.cli.main import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "(700, 10, 1000) True True"  # young collections still run


def test_called_in_process_it_leaves_the_collector_alone(capsys: pytest.CaptureFixture[str]) -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    main(["--version"])
    assert "version" in capsys.readouterr().out
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
