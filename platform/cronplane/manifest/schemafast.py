"""A quick "yes" for a jobs.yaml that conforms to its schema, without importing jsonschema.

jsonschema (with referencing, attrs, rpds) takes ~35 ms to import: a tenth of an unchanged
deploy, spent on every ``deploy``, ``plan`` and ``validate`` to confirm what is nearly always
true. ``conforms`` answers that one question, implementing jsonschema's Draft 2020-12 meaning of
the keywords jobs.schema.json uses; the caller asks jsonschema only when the answer is no (to
find and word every problem: messages are always jsonschema's) or when ``conforms`` raises
``Undecided``: a keyword it does not know (one added to the schema later), a ``$ref`` it does
not follow, a value it does not judge exactly as jsonschema would. So it can make validation
slower, never laxer; tests/unit/test_schemafast.py checks that it agrees with jsonschema on
every manifest of the test suite and on mutations of them.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# Annotations: they never make a document invalid.
_ANNOTATIONS = frozenset({"$schema", "$defs", "$comment", "title", "description", "examples", "default"})


class Undecided(Exception):
    """``conforms`` cannot tell exactly as jsonschema would: ask jsonschema."""


def conforms(instance: Any, schema: Any, root: Any = None) -> bool:
    """Whether ``instance`` is valid against ``schema`` (``root``: the document its ``$ref``s
    point into; ``schema`` itself by default), as jsonschema's Draft202012Validator decides."""
    root = schema if root is None else root
    if schema is True or schema is False:
        return bool(schema)
    if not isinstance(schema, dict):
        raise Undecided(f"schema {schema!r}")
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS or keyword.startswith("x-"):
            continue
        check = _CHECKS.get(keyword)
        if check is None:
            raise Undecided(keyword)
        if not check(instance, value, schema, root):
            return False
    return True


# -- the keywords ---------------------------------------------------------------------------
Check = Callable[[Any, Any, dict[str, Any], Any], bool]


def _type(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return any(_is_type(instance, name) for name in (value if isinstance(value, list) else [value]))


def _enum(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return any(_equal(option, instance) for option in value)


def _pattern(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, str) or re.search(value, instance) is not None


def _min_length(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, str) or len(instance) >= value


def _max_length(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, str) or len(instance) <= value


def _minimum(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not _is_type(instance, "number") or bool(instance >= value)


def _maximum(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not _is_type(instance, "number") or bool(instance <= value)


def _min_items(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, list) or len(instance) >= value


def _max_items(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, list) or len(instance) <= value


def _unique_items(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    if not value or not isinstance(instance, list):
        return True
    if not all(isinstance(item, str) for item in instance):
        raise Undecided("uniqueItems of values other than text")  # jsonschema's equality is subtle there
    return len(set(instance)) == len(instance)


def _items(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    if not isinstance(instance, list):
        return True
    if "prefixItems" in schema:
        raise Undecided("prefixItems")
    return all(conforms(item, value, root) for item in instance)


def _properties(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    if not isinstance(instance, dict):
        return True
    return all(conforms(instance[key], sub, root) for key, sub in value.items() if key in instance)


def _pattern_properties(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    if not isinstance(instance, dict):
        return True
    keys = _text_keys(instance)
    return all(
        conforms(instance[key], sub, root) for pattern, sub in value.items() for key in keys if re.search(pattern, key)
    )


def _additional_properties(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    if not isinstance(instance, dict):
        return True
    named = schema.get("properties", {})
    patterns = "|".join(schema.get("patternProperties", {}))  # jsonschema joins them so
    extras = [key for key in _text_keys(instance) if key not in named and not (patterns and re.search(patterns, key))]
    if isinstance(value, dict):
        return all(conforms(instance[key], value, root) for key in extras)
    return bool(value) or not extras


def _required(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, dict) or all(key in instance for key in value)


def _property_names(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, dict) or all(conforms(key, value, root) for key in instance)


def _max_properties(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not isinstance(instance, dict) or len(instance) <= value


def _all_of(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return all(conforms(instance, sub, root) for sub in value)


def _not(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return not conforms(instance, value, root)


def _ref(instance: Any, value: Any, schema: dict[str, Any], root: Any) -> bool:
    return conforms(instance, _local(root, value), root)


_CHECKS: dict[str, Check] = {
    "type": _type,
    "enum": _enum,
    "pattern": _pattern,
    "minLength": _min_length,
    "maxLength": _max_length,
    "minimum": _minimum,
    "maximum": _maximum,
    "minItems": _min_items,
    "maxItems": _max_items,
    "uniqueItems": _unique_items,
    "items": _items,
    "properties": _properties,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "required": _required,
    "propertyNames": _property_names,
    "maxProperties": _max_properties,
    "allOf": _all_of,
    "not": _not,
    "$ref": _ref,
}


# -- jsonschema's notions of type and equality ------------------------------------------------
def _is_type(instance: Any, name: str) -> bool:
    if isinstance(instance, numbers.Number) and not isinstance(instance, (int, float)):
        raise Undecided(f"a {type(instance).__name__} value")  # Decimal, Fraction, complex
    if name == "string":
        return isinstance(instance, str)
    if name == "object":
        return isinstance(instance, dict)
    if name == "array":
        return isinstance(instance, list)
    if name == "boolean":
        return isinstance(instance, bool)
    if name == "null":
        return instance is None
    if name == "integer":  # Draft 6 on: 3.0 is an integer; a bool never is
        return not isinstance(instance, bool) and (
            isinstance(instance, int) or (isinstance(instance, float) and instance.is_integer())
        )
    if name == "number":
        return not isinstance(instance, bool) and isinstance(instance, (int, float))
    raise Undecided(f"type {name!r}")


def _equal(one: Any, two: Any) -> bool:
    """jsonschema's equality: JSON values, so ``true`` is not ``1`` (Python says it is)."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(key in two and _equal(value, two[key]) for key, value in one.items())
    if isinstance(one, bool) or isinstance(two, bool):
        return False  # `one is two` above settled two bools that are equal
    return bool(one == two)


def _text_keys(instance: dict[Any, Any]) -> list[str]:
    """The keys of a mapping, all text (jsonschema would fail to match a pattern on others)."""
    if not all(isinstance(key, str) for key in instance):
        raise Undecided("a key that is not text")
    return list(instance)


def _local(root: Any, ref: str) -> Any:
    """The part of ``root`` a local reference (``#/$defs/job``) names."""
    if ref == "#":
        return root
    if not ref.startswith("#/") or "~" in ref or "%" in ref:
        raise Undecided(f"$ref {ref!r}")
    target = root
    for part in ref[2:].split("/"):
        if not isinstance(target, dict) or part not in target:
            raise Undecided(f"$ref {ref!r}")
        target = target[part]
    return target
