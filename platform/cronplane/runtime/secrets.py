"""The job's secrets: read once per execution environment (cold start) from SSM Parameter
Store or Secrets Manager into the environment variables the job reads, and a ``Scrubber``
that keeps their values out of run records, log lines and DLQ messages."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from cronplane.runtime.exceptions import RuntimeSetupError

MASK = "***"
MIN_SCRUB_LENGTH = 4  # shorter values would mask ordinary words and digits everywhere
# A number inside a JSON secret ({"pin": 4821937}) is masked when its text has at least this many
# characters: shorter ones (ports like 5432, counts, years, true / false / null, which are never
# masked) appear in every log and would mask it all, while telling nothing about the secret.
MIN_SCRUB_NUMBER_LENGTH = 6
# A job's print() output is held back until a newline (or this many characters), so that a secret
# written in two pieces is masked whole (see ScrubbingStream).
STREAM_BUFFER_LIMIT = 8192

# Values already resolved in this execution environment, by reference ("ssm:/billing/db").
_CACHE: dict[str, str] = {}


def resolve_secrets(
    spec: Mapping[str, str],
    client_for: Callable[[str], Any],
    environ: MutableMapping[str, str] | None = None,
) -> dict[str, str]:
    """Put every secret of ``spec`` ({"ENV": "ssm:/name" | "secretsmanager:id"}) into
    ``environ`` and return {ENV: value}. One API call per reference, cached for the life of the
    execution environment. ``client_for(service)`` returns the boto3 client of a service."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for env_name, ref in spec.items():
        if ref not in _CACHE:
            _CACHE[ref] = _fetch(env_name, ref, client_for)
        values[env_name] = _CACHE[ref]
        environ[env_name] = _CACHE[ref]
    return values


def _fetch(env_name: str, ref: str, client_for: Callable[[str], Any]) -> str:
    source, _, name = ref.partition(":")
    try:
        if source == "ssm":
            response = client_for("ssm").get_parameter(Name=name, WithDecryption=True)
            return str(response["Parameter"]["Value"])
        if source == "secretsmanager":
            response = client_for("secretsmanager").get_secret_value(SecretId=name)
            if "SecretString" in response:
                return str(response["SecretString"])
            return bytes(response["SecretBinary"]).decode("utf-8", errors="replace")
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        raise RuntimeSetupError(
            f"secret {env_name}: could not read {ref} ({code}); check that it exists and that the "
            f"job's role may read it"
        ) from None
    raise RuntimeSetupError(f"secret {env_name}: unknown source in {ref!r}; use ssm:/name or secretsmanager:id")


def clear_cache() -> None:
    """Forget resolved values (tests; a new execution environment starts empty anyway)."""
    _CACHE.clear()


class Scrubber:
    """Replaces secret values (and their common encodings) with ``***`` in any text."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values: list[str] = []
        self.add(values or {})

    def add(self, values: Mapping[str, str]) -> None:
        found: set[str] = set()
        for value in values.values():
            if isinstance(value, str):
                # A value stored with a trailing newline leaks once the job strips it.
                found |= {value, value.strip(), value.rstrip("\r\n")}
        # A Secrets Manager secret is often JSON ({"username": ..., "password": ...}): the job
        # reads one field and may log or raise with it, so each field is a secret too.
        found |= {leaf for v in list(found) for leaf in _json_leaves(v)}
        found = {v for v in found if len(v) >= MIN_SCRUB_LENGTH}
        # repr()/json.dumps() escape some characters: mask those spellings too.
        escaped = set()
        for value in found:
            escaped.add(value.encode("unicode_escape").decode("ascii"))
            escaped.add(json.dumps(value)[1:-1])
            escaped.add(json.dumps(value, ensure_ascii=False)[1:-1])
        found |= escaped
        # Longest first, so a secret containing another is masked whole.
        self._values = sorted(set(self._values) | found, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._values)

    def scrub(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def safe_end(self, text: str, end: int) -> int:
        """The largest ``cut <= end`` where ``text`` may be cut without splitting a secret: one
        whole in ``text``, or one whose start ends ``text`` and which more text may complete."""
        cut = end
        moved = True
        while moved and cut > 0:
            moved = False
            for value in self._values:
                size = len(value)
                start = text.find(value, max(0, cut - size + 1), cut + size - 1)
                if 0 <= start < cut:  # a whole secret across the cut
                    cut, moved = start, True
                    continue
                # The start of a secret at the very end of the text, reaching back over the cut.
                start = text.find(value[0], max(0, len(text) - size + 1), cut)
                while start != -1:
                    if value.startswith(text[start:]):
                        cut, moved = start, True
                        break
                    start = text.find(value[0], start + 1, cut)
        return cut

    def scrub_obj(self, value: Any) -> Any:
        """Scrub every string inside a JSON-like value."""
        if not self._values:
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, Mapping):
            return {self.scrub_obj(k): self.scrub_obj(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.scrub_obj(v) for v in value]
        return value


class _NumberText(str):
    """A number of a JSON document, as written there."""


def _json_leaves(text: str) -> list[str]:
    """The scalar values inside ``text`` when it is a JSON object or array, as text: every
    string (and its stripped form), every number long enough (``MIN_SCRUB_NUMBER_LENGTH``) as
    written and as Python prints it; never true / false / null. Else nothing."""
    if not text.lstrip().startswith(("{", "[")):
        return []
    try:
        value = json.loads(text, parse_int=_NumberText, parse_float=_NumberText)
    except ValueError:
        return []
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _NumberText):
            spellings = {str(item), str(int(item)) if item.lstrip("-").isdigit() else repr(float(item))}
            found.extend(n for n in spellings if len(n) >= MIN_SCRUB_NUMBER_LENGTH)
        elif isinstance(item, str):
            found.extend((item, item.strip()))
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


class ScrubFilter(logging.Filter):
    """Logging filter for the root handlers: a job that logs a secret by mistake logs ``***``."""

    def __init__(self, scrubber: Scrubber) -> None:
        super().__init__("cronplane-scrub")
        self.scrubber = scrubber

    def filter(self, record: logging.LogRecord) -> bool:
        if self.scrubber:
            message = record.getMessage()
            clean = self.scrubber.scrub(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and record.exc_info[1] is not None:
                trace = logging.Formatter().formatException(record.exc_info)
                clean_trace = self.scrubber.scrub(trace)
                if clean_trace != trace:
                    # Some formatters read the exception object, not exc_text (Lambda's JSON log
                    # format prints str(exception)): hand them only the masked text.
                    record.msg, record.args = f"{clean}\n{clean_trace}", None
                    record.exc_info, record.exc_text = None, None
        return True


class ScrubbingStream:
    """Wraps ``sys.stdout`` / ``sys.stderr`` so that a job's ``print()`` of a secret prints
    ``***`` (on Lambda, both streams are the function's log).

    A secret may arrive in pieces (``write("pass")``, ``write("word")``), so text is held back
    until a newline, a ``flush()`` or ``STREAM_BUFFER_LIMIT`` characters, and even then the
    start of a secret at the end stays held until the text that completes it (or not) comes.
    ``drain()`` (the wrapper calls it at the end of every run) writes out whatever is left."""

    def __init__(self, stream: Any, scrubber: Scrubber) -> None:
        self._stream = stream
        self.scrubber = scrubber
        self._pending = ""
        self._lock = threading.Lock()  # the job's threads and the wrapper's write at once

    def write(self, text: str) -> int:
        if not isinstance(text, str) or (not self.scrubber and not self._pending):
            self._stream.write(text)
            return len(text)
        with self._lock:
            self._pending += text
            if "\n" in text:
                self._write_out(self._pending.rfind("\n") + 1)
            elif len(self._pending) >= STREAM_BUFFER_LIMIT:
                self._write_out(len(self._pending))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            self._write_out(len(self._pending))
        self._stream.flush()

    def drain(self) -> None:
        """Write out everything held back (the end of a run: nothing more will complete it),
        ending a partial line so that the next line starts on its own."""
        with self._lock:
            text, self._pending = self._pending, ""
            if text:
                self._stream.write(self.scrubber.scrub(text) + ("" if text.endswith("\n") else "\n"))
        self._stream.flush()

    def _write_out(self, end: int) -> None:
        cut = self.scrubber.safe_end(self._pending, end)
        text, self._pending = self._pending[:cut], self._pending[cut:]
        if text:
            self._stream.write(self.scrubber.scrub(text))

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, buffer...
        return getattr(self._stream, name)


def drain_streams() -> None:
    """Write out what the scrubbing streams hold back (see ``ScrubbingStream.drain``)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name, None)
        if isinstance(stream, ScrubbingStream):
            stream.drain()
