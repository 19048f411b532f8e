"""The wrapper's own log: one JSON object per line on stdout, scrubbed of secrets (the team's
log lines pass through logging untouched, apart from the same scrubbing). Plus the trimming
rules for what goes into records and log lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from cronplane.runtime.secrets import Scrubber


class RunLog:
    def __init__(self, job: str, scrubber: Scrubber, emit: Callable[[str], None] | None = None) -> None:
        self.job = job
        self.scrubber = scrubber
        self._emit = emit or print_line

    def line(self, level: str, message: str, **fields: Any) -> None:
        doc = {"level": level, "message": message, "job": self.job, **fields}
        self._emit(self.scrubber.scrub(json.dumps(doc, default=str, separators=(",", ":"))))

    def raw(self, text: str) -> None:
        """A line as is (EMF documents must be the whole line to become metrics)."""
        self._emit(self.scrubber.scrub(text))


def print_line(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def trim_head(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, keeping the start (a JSON result or a message reads
    from the left)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f"…[truncated {len(data) - limit} bytes]"
    return data[: limit - len(marker.encode())].decode("utf-8", errors="ignore") + marker


def trim_tail(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, keeping the end (a traceback's last frames and the error
    are what matter)."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f"[truncated {len(data) - limit} bytes]…"
    return marker + data[-(limit - len(marker.encode())) :].decode("utf-8", errors="ignore")
