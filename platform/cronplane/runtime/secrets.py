"""The job's secrets: read once per execution environment (cold start) from SSM Parameter
Store or Secrets Manager into the environment variables the job reads, and a ``Scrubber``
that keeps their values out of run records, log lines and DLQ messages."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any

from cronplane.runtime.exceptions import RuntimeSetupError

MASK = "***"
MIN_SCRUB_LENGTH = 4  # shorter values would mask ordinary words and digits everywhere

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
        found = {v for v in values.values() if isinstance(v, str) and len(v) >= MIN_SCRUB_LENGTH}
        # A Secrets Manager secret is often JSON ({"username": ..., "password": ...}): the job
        # reads one field and may log or raise with it, so each string field is a secret too.
        found |= {leaf for v in list(found) for leaf in _json_strings(v) if len(leaf) >= MIN_SCRUB_LENGTH}
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


def _json_strings(text: str) -> list[str]:
    """The string values inside ``text`` when it is a JSON object or array; else nothing."""
    if not text.lstrip().startswith(("{", "[")):
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return []
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
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
    ``***`` (on Lambda, both streams are the function's log)."""

    def __init__(self, stream: Any, scrubber: Scrubber) -> None:
        self._stream = stream
        self.scrubber = scrubber

    def write(self, text: str) -> int:
        self._stream.write(self.scrubber.scrub(text) if isinstance(text, str) and self.scrubber else text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer...
        return getattr(self._stream, name)
