"""A small evaluator of IAM identity policies, for tests: does a policy allow this request?

moto does not evaluate IAM policies, and AWS's policy simulator is not reachable from tests. This
follows the IAM documentation's evaluation logic for what cronplane's policies use, and refuses
(``Unsupported``) everything else rather than guess:

- one identity policy, one account: an explicit ``Deny`` of a matching statement wins, else a
  matching ``Allow`` allows, else the request is implicitly denied;
- ``Action`` / ``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards);
- ``Resource`` / ``NotResource`` as ARNs: each of the first five colon-separated parts is
  matched on its own, the resource part may span colons (``log-group:NAME:*``);
- ``Condition``: every operator, every key under it must hold; a key's values are alternatives.
  Operators: ``StringEquals``, ``StringNotEquals``, ``StringLike``, ``StringNotLike``,
  ``ArnEquals``, ``ArnLike``, ``ArnNotEquals``, ``ArnNotLike``, ``Bool``, ``Null``, each with
  ``IfExists``, and the set operators ``ForAllValues:`` / ``ForAnyValue:``. A key missing from
  the request fails a positive operator and passes a negated one; ``...IfExists`` passes;
  ``ForAllValues`` passes on a missing or empty key, ``ForAnyValue`` fails (IAM's documented rules).
- Policy variables (``${...}``) are not supported.

The request context is a mapping of condition keys (case-insensitive) to a string or a list of
strings (multi-valued keys such as ``dynamodb:LeadingKeys``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ALLOW, DENY, IMPLICIT_DENY = "Allow", "Deny", "ImplicitDeny"


class Unsupported(Exception):
    """Something of the policy this evaluator does not model."""


@dataclass(frozen=True)
class Request:
    action: str  # "dynamodb:PutItem"
    resource: str  # an ARN
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


def decide(policy: Mapping[str, Any], request: Request) -> str:
    """``Allow``, ``Deny`` (an explicit deny matched) or ``ImplicitDeny``."""
    statements = policy.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    context = {key.lower(): value for key, value in request.context.items()}
    effects = [s["Effect"] for s in statements if _matches(s, request, context)]
    if DENY in effects:
        return DENY
    return ALLOW if ALLOW in effects else IMPLICIT_DENY


def allowed(policy: Mapping[str, Any], request: Request) -> bool:
    return decide(policy, request) == ALLOW


# --- one statement ---------------------------------------------------------------------------------


def _matches(statement: Mapping[str, Any], request: Request, context: Mapping[str, Any]) -> bool:
    if "Principal" in statement or "NotPrincipal" in statement:
        raise Unsupported("resource and trust policies (Principal) are not evaluated")
    if "Action" in statement:
        if not any(_glob(a, request.action, fold=True) for a in _list(statement["Action"])):
            return False
    elif any(_glob(a, request.action, fold=True) for a in _list(statement["NotAction"])):
        return False
    if "Resource" in statement:
        if not any(_arn_match(r, request.resource) for r in _list(statement["Resource"])):
            return False
    elif any(_arn_match(r, request.resource) for r in _list(statement["NotResource"])):
        return False
    return all(
        _condition(operator, key, values, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, values in keys.items()
    )


def _condition(operator: str, key: str, wanted: Any, context: Mapping[str, Any]) -> bool:
    qualifier, _, operator = operator.rpartition(":")
    if_exists = operator.endswith("IfExists")
    operator = operator.removesuffix("IfExists")
    present = key.lower() in context
    given = _list(context.get(key.lower(), []))
    policy_values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _list(wanted)]
    if "${" in "".join(policy_values):
        raise Unsupported(f"policy variables in {policy_values}")
    if operator == "Null":
        return (not present) == (policy_values[0] == "true")
    test, negated = _test(operator)
    if qualifier and negated:
        raise Unsupported(f"negated set operator {qualifier}:{operator}")
    if qualifier == "ForAllValues":
        return all(any(test(p, v) for p in policy_values) for v in given)
    if qualifier == "ForAnyValue":
        return any(any(test(p, v) for p in policy_values) for v in given)
    if qualifier:
        raise Unsupported(f"set operator {qualifier}")
    if not present:
        return if_exists or negated
    if len(given) != 1:
        raise Unsupported(f"single-valued operator {operator} on the multi-valued key {key}")
    hit = any(test(p, given[0]) for p in policy_values)
    return not hit if negated else hit


def _test(operator: str) -> tuple[Any, bool]:
    """The comparison of one policy value with one request value, and whether it is negated."""
    negated = "Not" in operator
    base = operator.replace("Not", "")
    tests = {
        "StringEquals": lambda p, v: p == v,
        "StringLike": lambda p, v: _glob(p, v),
        "ArnEquals": _arn_match,
        "ArnLike": _arn_match,
        "Bool": lambda p, v: p == str(v).lower(),
    }
    if base not in tests:
        raise Unsupported(f"condition operator {operator}")
    return tests[base], negated


# --- matching -------------------------------------------------------------------------------------


def _glob(pattern: str, value: str, *, fold: bool = False, span: bool = True) -> bool:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one; ``span=False``: not across ``:``."""
    any_run, one = (".*", ".") if span else ("[^:]*", "[^:]")
    regex = "".join(any_run if c == "*" else one if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


def _arn_match(pattern: str, arn: str) -> bool:
    if pattern == "*":
        return True
    want, have = pattern.split(":", 5), arn.split(":", 5)
    if len(want) != 6 or len(have) != 6:
        return False
    firsts = all(_glob(w, h, span=False) for w, h in zip(want[:5], have[:5], strict=True))
    return firsts and _glob(want[5], have[5])


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return [value] if isinstance(value, str | bool) else list(value)
