"""Helpers several test folders share (importable as ``testkit``: pytest puts tests/ on sys.path
for tests/conftest.py). Fixtures stay in conftest.py; plain functions live here."""

from __future__ import annotations

import pytest

from cronplane.cli.main import main


def jobctl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``jobctl ARGS`` in this process: (exit code, stdout, stderr), as a shell would see them."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def process_alive(pid: int) -> bool:
    """Running or stopped, not gone and not a zombie (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
