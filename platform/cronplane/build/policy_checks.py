"""Checks of IAM policy documents, pure: the shape IAM accepts (``policy_problems``), the
size it counts (``policy_size``) and over-broad grants (``find_wildcards``). ``iam`` builds the
documents and runs these on them; the tests run them on every policy the desired state holds."""

from __future__ import annotations

import json
import re
from typing import Any

from cronplane.manifest import guardrails

POLICY_VERSION = "2012-10-17"
_SID = re.compile(r"^[A-Za-z0-9]+$")


def find_wildcards(policy: dict[str, Any]) -> list[str]:
    """Every over-broad grant of ``policy`` as ``"Sid: Action x"`` / ``"Sid: Resource x"``:
    an action containing ``*``, a resource that is ``*`` or an ARN whose resource part is only
    ``*`` (``arn:aws:s3:::*``). Scoped patterns such as ``.../index/*`` or a log group's
    ``:*`` are not reported."""
    found: list[str] = []
    for number, statement in enumerate(_statements(policy), start=1):
        sid = statement.get("Sid") or f"Statement{number}"
        for action in _as_list(statement.get("Action")) + _as_list(statement.get("NotAction")):
            if "*" in action:
                found.append(f"{sid}: Action {action}")
        for resource in _as_list(statement.get("Resource")) + _as_list(statement.get("NotResource")):
            if _is_wildcard_resource(resource):
                found.append(f"{sid}: Resource {resource}")
    return found


def policy_problems(policy: dict[str, Any]) -> list[str]:
    """What makes ``policy`` not a well-formed IAM policy document (empty list when it is one):
    JSON-serialisable, Version 2012-10-17, a non-empty Statement list, each statement with a
    valid Effect, Action and Resource (or Principal, for trust policies) and a unique
    alphanumeric Sid."""
    problems: list[str] = []
    try:
        json.dumps(policy)
    except (TypeError, ValueError) as exc:
        problems.append(f"not JSON-serialisable: {exc}")
    if policy.get("Version") != POLICY_VERSION:
        problems.append(f"Version must be {POLICY_VERSION!r}, not {policy.get('Version')!r}")
    statements = policy.get("Statement")
    if not isinstance(statements, list) or not statements:
        return [*problems, "Statement must be a non-empty list"]
    sids: set[str] = set()
    for number, statement in enumerate(statements, start=1):
        label = f"Statement {number}"
        if not isinstance(statement, dict):
            problems.append(f"{label}: not an object")
            continue
        sid = statement.get("Sid")
        if sid is not None:
            if not isinstance(sid, str) or not _SID.match(sid):
                problems.append(f"{label}: Sid {sid!r} must be letters and digits only")
            elif sid in sids:
                problems.append(f"{label}: Sid {sid!r} is used twice")
            sids.add(str(sid))
        if statement.get("Effect") not in ("Allow", "Deny"):
            problems.append(f"{label}: Effect must be Allow or Deny")
        actions = _as_list(statement.get("Action"))
        if not actions or not all(isinstance(a, str) and (a == "*" or ":" in a) for a in actions):
            problems.append(f"{label}: Action must be one or more 'service:Action' strings")
        if "Principal" not in statement:
            resources = _as_list(statement.get("Resource"))
            if not resources or not all(isinstance(r, str) and (r == "*" or r.startswith("arn:")) for r in resources):
                problems.append(f"{label}: Resource must be one or more ARNs")
    return problems


def policy_size(policy: dict[str, Any]) -> int:
    """Characters IAM counts against the policy size quota (whitespace excluded)."""
    return len(json.dumps(policy, separators=(",", ":")))


# --- helpers ---------------------------------------------------------------------------------


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    statements = policy.get("Statement", [])
    return [statements] if isinstance(statements, dict) else list(statements)


def _as_list(value: str | list[Any] | None) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _is_wildcard_resource(resource: str) -> bool:
    # "table/*", "function:*", "arn:aws:s3:::*": no name before the star (one rule for the
    # manifest's guardrails and the linting of deployed policies).
    return guardrails.is_wildcard_resource(resource)
