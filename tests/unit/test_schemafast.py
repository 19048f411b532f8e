"""The quick schema check (manifest.schemafast) says "conforms" exactly when jsonschema finds
no error, and hands every case it cannot judge exactly to jsonschema: validation may get no
laxer for skipping jsonschema's import."""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from cronplane.manifest.schemacheck import schema, schema_problems
from cronplane.manifest.schemafast import Undecided, conforms
from cronplane.manifest.yamlload import load_yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = schema()
JSONSCHEMA = Draft202012Validator(SCHEMA)
EXAMPLE = yaml.safe_load((ROOT / "jobs.yaml").read_text())
# Every setting the schema knows, each with a valid value, so each keyword gets exercised.
EVERYTHING: dict[str, Any] = {
    "namespace": "acme",
    "region": "eu-west-1",
    "trigger_mode": "scheduler",
    "x-anchors": {"anything": [1, True, None]},
    "history": {"retention_days": 90},
    "defaults": {"team": "billing", "timeout": 30, "memory": 512.0, "architecture": "x86_64"},
    "jobs": {
        "full": {
            "handler": "billing/report.py:handler",
            "schedule": "rate(5 minutes)",
            "team": "billing",
            "owner": "ana@example.com",
            "timezone": "Europe/Berlin",
            "timeout": 900,
            "memory": 10240,
            "retries": {"max_attempts": 5, "backoff_base": 0.5, "backoff_cap": 60, "retry_on": ["ValueError", "a.B"]},
            "concurrency": "forbid",
            "enabled": False,
            "payload": {"any": ["thing", 1, {"x": None}]},
            "env": {"STAGE": "prod", "_X1": ""},
            "secrets": {"TOKEN": "ssm:/acme/token", "KEY": "secretsmanager:acme-key"},
            "permissions": [
                {"actions": ["s3:GetObject", "sqs:Send*"], "resources": ["arn:aws:s3:::b/*"], "effect": "Deny"}
            ],
            "tags": {"cost-center": "42", "team name": "billing"},
            "reserved_concurrency": 0,
            "provisioned_concurrency": 1,
            "vpc": {"subnets": ["subnet-0123abcd"], "security_groups": ["sg-0123abcd", "sg-89abcdef"]},
            "kms_key": "arn:aws:kms:eu-west-1:123456789012:key/abc-123",
            "log_retention_days": 14,
        }
    },
}

PALETTE: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    3,
    14,
    30.0,
    2.5,
    10**6,
    "",
    "x",
    "Allow",
    "*",
    "*:*",
    "s3:GetObject",
    "ssm:/a",
    "rate(1 hour)",
    "AWS_SECRET",
    "a" * 5000,
    "sg-0123abcd",
    [],
    ["a"],
    ["a", "a"],
    [1, True],
    [{"actions": ["s3:GetObject"], "resources": ["*"]}],
    {},
    {"a": 1},
    {"x-a": 1},
    {"handler": "a.py:h"},
    dt.date(2026, 1, 1),
    [f"sg-0123abc{i}" for i in range(6)],  # one over a maxItems
    {f"k{i}": "v" for i in range(41)},  # one over a maxProperties
]
EXTRA_KEYS: list[Any] = ["x-note", "bogus", "handler", "schedule", "AWS_REGION", "Bad Key", "aws:tag", 7]


def jsonschema_says_valid(doc: Any) -> bool:
    return not any(True for _ in JSONSCHEMA.iter_errors(doc))


def agrees(doc: Any) -> bool:
    """True when conforms gives jsonschema's answer or declines to answer."""
    try:
        quick = conforms(doc, SCHEMA)
    except Undecided:
        return True
    return quick == jsonschema_says_valid(doc)


def mutations(doc: Any) -> Iterator[Any]:
    """Every document one change away from ``doc``: each value replaced by each palette value,
    each key deleted, each mapping given each extra key."""
    paths: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            walk(child, (*path, key))

    walk(doc, ())
    for path in paths:
        for value in PALETTE:
            changed = copy.deepcopy(doc)
            if not path:
                yield value
                continue
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            parent[path[-1]] = value
            yield changed
        if path:
            changed = copy.deepcopy(doc)
            parent = changed
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
            yield changed
        target = copy.deepcopy(doc)
        node = target
        for key in path:
            node = node[key]
        if isinstance(node, dict):
            for key in EXTRA_KEYS:
                changed = copy.deepcopy(target)
                inner = changed
                for step in path:
                    inner = inner[step]
                inner[key] = "x"
                yield changed


def test_the_base_documents_conform() -> None:
    assert jsonschema_says_valid(EXAMPLE) and conforms(EXAMPLE, SCHEMA)
    assert jsonschema_says_valid(EVERYTHING) and conforms(EVERYTHING, SCHEMA)


@pytest.mark.parametrize("base", [EXAMPLE, EVERYTHING], ids=["example", "every-setting"])
def test_agrees_with_jsonschema_on_every_single_change(base: dict[str, Any]) -> None:
    checked = decided = 0
    for doc in mutations(base):
        assert agrees(doc), json.dumps(doc, default=str)[:2000]
        checked += 1
        try:
            conforms(doc, SCHEMA)
            decided += 1
        except Undecided:
            pass
    assert checked > 1000 and decided > 0.9 * checked  # it answers nearly always, so the fast path is real


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.sampled_from(PALETTE[:22]),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), scalars), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(draw(st.sampled_from([EXAMPLE, EVERYTHING])))
    for _ in range(draw(st.integers(1, 4))):
        node = doc
        while isinstance(node, (dict, list)) and node and draw(st.booleans()):
            keys = sorted(node, key=str) if isinstance(node, dict) else list(range(len(node)))
            child = node[draw(st.sampled_from(keys))]
            if not isinstance(child, (dict, list)) or not child:
                break
            node = child
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node, key=str)))
            node[key if draw(st.booleans()) else draw(st.text(max_size=6))] = draw(values)
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(values)
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_agrees_with_jsonschema_on_random_changes(doc: Any) -> None:
    assert agrees(doc)


def test_json_equality_is_jsonschemas_not_pythons() -> None:
    assert conforms(1.0, {"enum": [1]}) and not conforms(True, {"enum": [1]}) and not conforms(1, {"enum": [True]})
    assert conforms(3.0, {"type": "integer"}) and not conforms(True, {"type": "integer"})
    assert not conforms(False, {"type": "number"}) and not conforms(dt.date(2026, 1, 1), {"type": "string"})


@pytest.mark.parametrize(
    ("schema_", "instance"),
    [
        ({"oneOf": [{"type": "string"}]}, "a"),  # a keyword it does not implement
        ({"format": "email"}, "a"),
        ({"$ref": "https://example.com/other.json"}, "a"),  # a reference it does not follow
        ({"uniqueItems": True}, [1, True]),  # an equality it leaves to jsonschema
        ({"patternProperties": {"^a": {}}}, {1: "x"}),  # a key jsonschema cannot match
    ],
)
def test_what_it_cannot_judge_exactly_is_undecided(schema_: dict[str, Any], instance: Any) -> None:
    with pytest.raises(Undecided):
        conforms(instance, schema_)


def test_a_problem_is_still_found_and_worded_by_jsonschema(tmp_path: Path) -> None:
    text = "namespace: acme\nregion: eu-west-1\njobs:\n  a:\n    handler: x.py:h\n    schedule: rate(1 hour)\n    memory: 64\n"
    problems = schema_problems(load_yaml(text, "jobs.yaml"), "jobs.yaml")
    assert [(p.line, p.path, p.message) for p in problems] == [
        (7, "jobs.a.memory", "64 is less than the Lambda minimum of 128 MB")
    ]


def test_a_valid_manifest_loads_without_importing_jsonschema(tmp_path: Path) -> None:
    """The point of the quick check: deploy, plan and validate of a valid jobs.yaml skip
    jsonschema's import (~35 ms of every run)."""
    code = (
        "import sys; from cronplane.manifest.loader import load_manifest; "
        f"load_manifest({str(ROOT / 'jobs.yaml')!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jsonschema', 'referencing')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
