"""Secrets written in plain text into jobs.yaml, found by name and by shape.

``env`` values and the ``payload`` become the Lambda function's configuration: readable by
anyone who may read the function, printed by ``jobctl plan`` and kept in the repository's
history. A secret belongs under ``secrets:`` (an SSM parameter or Secrets Manager secret the
runtime reads at start). So ``validate`` refuses:

- a variable whose *name* says it is a secret (``DB_PASSWORD``, ``DB_PASS``, ``API_TOKEN``,
  ``AWS_SECRET_ACCESS_KEY``...), whatever its value;
- a ``*_KEY`` variable whose value looks like a random token (mixed case and digits, 20+
  characters, no ``/``: an S3 object key or a partition key does not look like that);
- any value, under any name, with the *shape* of a credential: a URL with a password
  (``scheme://user:pass@host``), a connection string or URL query with a password
  (``host=db password=x``, ``Pwd=x;``, ``jdbc:...?user=a&password=x``), an HTTP ``Basic`` or
  ``Bearer`` credential, AWS access key ids, Stripe, Slack and GitHub tokens, Google API keys,
  Slack webhook URLs, PEM private keys and JWTs;
- in the payload, a non-empty string under a key named like a secret (``password``,
  ``db_password``, ``api-key``, ``access_token``...), as for env names.

Messages never repeat the value: validate's output lands in CI logs.
"""

from __future__ import annotations

import re
from typing import Any

SECRET_NAME_RE = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|SECRETS|TOKEN|API_?KEY|PRIVATE_KEY|ACCESS_KEY|SECRET_KEY"
    r"|CREDENTIALS?|(^|_)PASS|(^|_)PWD)$",
    re.IGNORECASE,
)
# A payload key that says its value is a secret: the word, alone or after ``_``/``-``.
PAYLOAD_SECRET_KEY_RE = re.compile(r"(^|[_-])(password|passwd|pwd|secret|token|api[_-]?key)$", re.IGNORECASE)
_KEY_NAME = re.compile(r"(^|_)KEY$", re.IGNORECASE)
_TOKEN_LIKE = re.compile(r"^(?=.*[a-z])(?=.*[A-Z])(?=.*[0-9])[A-Za-z0-9+=_-]{20,}$")
REFERENCE_PREFIXES = ("ssm:", "secretsmanager:")
_MAX_DEPTH = 32  # the payload is JSON from YAML: deeper nesting is refused elsewhere

# (shape, what it is): searched anywhere in a value.
SECRET_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@]*:[^/\s@]+@", re.IGNORECASE), "a URL with a password in it"),
    (
        re.compile(r"(^|[\s;?&])(password|passwd|pwd)\s*=\s*[^\s;&'\"]", re.IGNORECASE),
        "a connection string with a password in it",
    ),
    (
        # Base64 of user:password: an upper-case letter after the first character, a digit, + or /.
        re.compile(r"\bBasic (?=[A-Za-z0-9+/]{8,})[A-Za-z0-9+/]*([a-z0-9+/][A-Z]|[0-9+/])[A-Za-z0-9+/]*=*"),
        "an HTTP Basic credential",
    ),
    (re.compile(r"\bBearer (?=[A-Za-z0-9._~+/-]*[0-9])[A-Za-z0-9._~+/-]{16,}"), "an HTTP Bearer token"),
    (re.compile(r"\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    (re.compile(r"\b[rs]k_(live|test)_[0-9A-Za-z]{10,}"), "a Stripe secret key"),
    (re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"), "a Slack token"),
    (re.compile(r"\b(gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})"), "a GitHub token"),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), "a Google API key"),
    (re.compile(r"hooks\.slack\.com/services/T[0-9A-Za-z]+/B[0-9A-Za-z]+/[0-9A-Za-z]+"), "a Slack webhook URL"),
    (re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"), "a PEM private key"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), "a signed token (JWT)"),
)


def secret_shape(value: str) -> str | None:
    """What credential ``value`` contains, by its shape (e.g. "an AWS access key id"), or None."""
    for pattern, what in SECRET_SHAPES:
        if pattern.search(value):
            return what
    return None


def env_secret(name: str, value: object) -> str | None:
    """Why the env variable ``name`` = ``value`` looks like a secret in plain text, or None."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith(REFERENCE_PREFIXES):
        return None  # the name of a parameter, not its value: harmless, if oddly placed
    shape = secret_shape(value)
    if shape is not None:
        return f"the value of {name} holds {shape}"
    if SECRET_NAME_RE.search(name) or PAYLOAD_SECRET_KEY_RE.search(name):
        return f"{name} looks like a secret"
    if _KEY_NAME.search(name) and _TOKEN_LIKE.match(value):
        return f"{name} holds what looks like a key or token"
    return None


Place = tuple[str | int, ...]


def payload_secrets(payload: Any) -> list[tuple[Place, str]]:
    """(place inside the payload, what) for every string with the shape of a credential."""
    found: list[tuple[Place, str]] = []
    _walk(payload, (), found, 0)
    return found


def _walk(value: Any, place: Place, found: list[tuple[Place, str]], depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, str):
        shape = secret_shape(value)
        if shape is not None:
            found.append((place, shape))
    elif isinstance(value, dict):
        for key, item in value.items():
            if _named_secret(key, item):
                found.append(((*place, key), f"a value under {key!r}, a name that says it is a secret,"))
                continue
            _walk(item, (*place, key), found, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*place, index), found, depth + 1)


def _named_secret(key: object, item: object) -> bool:
    return (
        isinstance(key, str)
        and bool(PAYLOAD_SECRET_KEY_RE.search(key))
        and isinstance(item, str)
        and bool(item)
        and not item.startswith(REFERENCE_PREFIXES)
    )
