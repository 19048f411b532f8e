"""Second stage of ``manifest``: the JSON Schema (the single definition of jobs.yaml) applied
to the loaded document, each jsonschema error turned into a Problem a person can act on.

jsonschema's own messages ("'x' is not valid under any of the given schemas", a dump of the
instance) are for developers. Here every error names the path and the line, what is wrong and
what is allowed. Field-specific wording lives next to the field in the schema file itself, as
``x-messages`` (keyword -> template with ``{value}``, ``{length}``, ``{type}``); jsonschema and
editors ignore unknown keywords, so the schema stays one file.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import functools
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from cronplane.errors import Problem
from cronplane.manifest.schemafast import Undecided, conforms
from cronplane.manifest.yamlload import Path, YamlDocument, dotted

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
    "null": "empty",
}


@functools.cache
def _schema() -> dict[str, Any]:
    # Beside this module (not importlib.resources: its import alone is ~3 ms of every deploy).
    with open(os.path.join(os.path.dirname(__file__), "jobs.schema.json"), encoding="utf-8") as file:
        text = file.read()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema() -> dict[str, Any]:
    """The JSON Schema of jobs.yaml, as shipped in the package (a copy: safe to modify)."""
    return copy.deepcopy(_schema())


@functools.cache
def _validator() -> Draft202012Validator:
    # Imported only for a document that does not conform (see schemafast): ~35 ms.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


def schema_problems(doc: YamlDocument, file: str) -> list[Problem]:
    """Every schema violation of ``doc.data``, translated; empty when the document conforms."""
    try:
        if conforms(doc.data, _schema()):
            return []
    except Undecided:
        pass  # jsonschema decides
    found: list[tuple[Path, str, str]] = []
    for error in _validator().iter_errors(doc.data):
        # A bad key name is a problem of its own, not of the key's value.
        keyword = "name" if "propertyNames" in error.absolute_schema_path else str(error.validator)
        found.extend((path, keyword, message) for path, message in _translate(error))
    # A value of the wrong type fails its range/pattern checks too; only the type matters then.
    mistyped = {path for path, keyword, _ in found if keyword == "type"}
    problems = [
        Problem(file, doc.line_of(path), dotted(path), message)
        for path, keyword, message in found
        if keyword == "type" or path not in mistyped
    ]
    return list(dict.fromkeys(problems))


def _translate(error: ValidationError) -> Iterator[tuple[Path, str]]:
    path: Path = tuple(error.absolute_path)
    sub = error.schema if isinstance(error.schema, dict) else {}
    templates: dict[str, str] = sub.get("x-messages", {})
    keyword = str(error.validator)
    # JSON values, and always set by iter_errors (the stubs also allow "unset", for an error
    # built by hand): what the schema asked for and what the document holds.
    expected: Any = error.validator_value
    value: Any = error.instance
    secret = bool(sub.get("x-secret"))
    if "propertyNames" in error.absolute_schema_path:
        # jsonschema reports a bad key with the mapping's path and the key as instance.
        path = (*path, str(value))
    fields = {
        "value": "this value" if secret else show(value),
        "type": describe_type(value),
        "length": len(value) if isinstance(value, (str, list, dict)) else "",
    }
    if keyword in templates:
        yield path, templates[keyword].format(**fields)
        return

    if keyword == "required":
        known = properties(sub)
        for key in expected:
            if isinstance(value, dict) and key not in value:
                examples = known.get(key, {}).get("examples") if isinstance(known.get(key), dict) else None
                hint = f" (e.g. {key}: {examples[0]})" if examples else ""
                yield path, f"missing required key {key!r}{hint}"
    elif keyword in ("additionalProperties", "unevaluatedProperties"):
        allowed = sorted(allowed_keys(sub))
        for key in value if isinstance(value, dict) else ():
            if key not in allowed:
                yield (*path, key), unknown_key_message(key, allowed, where=path)
    elif keyword == "type":
        yield path, type_message(expected, value, secret)
    elif keyword == "enum":
        options = ", ".join(str(o) for o in expected)
        guess = did_you_mean(value, [str(o) for o in expected]) if isinstance(value, str) else ""
        yield path, f"{fields['value']} is not allowed{guess}; use one of: {options}"
    elif keyword in ("minimum", "exclusiveMinimum"):
        yield path, f"{fields['value']} is less than the minimum of {expected}"
    elif keyword in ("maximum", "exclusiveMaximum"):
        yield path, f"{fields['value']} is more than the maximum of {expected}"
    elif keyword == "minLength":
        yield (
            path,
            "must not be empty" if value == "" else f"is {len(value)} characters; at least {expected} needed",
        )
    elif keyword == "maxLength":
        yield path, f"is {len(value)} characters; at most {expected} allowed"
    elif keyword == "pattern":
        yield path, f"{fields['value']} does not have the allowed form ({expected})"
    elif keyword == "minItems":
        yield path, "must not be empty" if not value else f"needs at least {expected} entries"
    elif keyword in ("maxItems", "maxProperties"):
        yield path, f"has {len(value)} entries; at most {expected} allowed"
    elif keyword == "uniqueItems":
        yield path, "lists the same value more than once"
    elif keyword == "not":
        yield path, "is not allowed here"
    else:  # a keyword added to the schema without a translation: still say where
        yield path, error.message


def properties(sub: dict[str, Any]) -> dict[str, Any]:
    """The property schemas of a mapping schema, following local ``$ref``s (a job is the
    shared settings plus what it requires)."""
    found: dict[str, Any] = {}
    ref = sub.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = _schema()
        for part in ref[2:].split("/"):
            target = target[part]
        found.update(properties(target))
    found.update(sub.get("properties", {}))
    return found


def allowed_keys(sub: dict[str, Any]) -> set[str]:
    return set(properties(sub))


def unknown_key_message(key: str, allowed: list[str], where: Path) -> str:
    guess = did_you_mean(key, allowed)
    if not guess and where == () and key in allowed_keys(_schema()["$defs"]["job"]):
        guess = " (a job setting: put it under a job, or under defaults to apply it to every job)"
    if guess:
        return f"unknown key {key!r}{guess}"
    return f"unknown key {key!r}; allowed keys: {', '.join(allowed)}"


def did_you_mean(word: str, choices: list[str]) -> str:
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f" (did you mean {lowered[word.lower()]!r}?)"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_message(expected: str | list[str], value: Any, secret: bool = False) -> str:
    wanted = [expected] if isinstance(expected, str) else list(expected)
    words = " or ".join(_TYPE_WORDS.get(w, w) for w in wanted)
    if secret:
        return f"must be {words}, not {describe_type(value)}"
    if "integer" in wanted and isinstance(value, float) and not isinstance(value, bool):
        return f"must be {words}, not {show(value)}"
    message = f"must be {words}, not {describe_type(value)}"
    if value is not None and not isinstance(value, (dict, list)):
        message += f" ({show(value)})"
    if wanted == ["string"] and isinstance(value, (bool, int, float, dt.date)):
        message += "; put it in quotes to keep it as text"
    return message


def describe_type(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (dt.date, dt.datetime)):
        return "a date"
    return type(value).__name__


def show(value: Any, limit: int = 60) -> str:
    """A value as it appears in a message: numbers bare, text quoted, long text cut."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
