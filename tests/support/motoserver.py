"""A moto server process on 127.0.0.1 (the HTTP path boto3 takes to AWS), for the end-to-end
tests (``moto_server`` fixtures) and the benchmarks. Not used by ``jobctl dev``, which embeds
moto in its own process (see ``cronplane.local.emulator``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30.0) -> None:
    """Return once ``url`` answers over HTTP; ``TimeoutError`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def start_moto_server(port: int | None = None, timeout: float = 30.0) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``python -m moto.server`` on ``port`` (a free one when None) and wait until it
    answers; returns the process and its endpoint URL. Killed again if it never answers."""
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/moto-api/", timeout)
    except BaseException:
        stop_moto_server(proc)
        raise
    return proc, url


def stop_moto_server(proc: subprocess.Popen[bytes]) -> None:
    """Terminate, and kill if it has not gone within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextmanager
def running_moto_server(port: int | None = None) -> Iterator[str]:
    """A moto server for the length of the ``with`` block; yields its endpoint URL."""
    proc, url = start_moto_server(port)
    try:
        yield url
    finally:
        stop_moto_server(proc)
