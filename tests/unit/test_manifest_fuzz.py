"""Property: whatever a manifest contains, load_manifest returns a Manifest or raises
ManifestError with located problems, never another exception (a traceback for the user)."""

from __future__ import annotations

import copy
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cronplane.errors import ManifestError
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 6, 1, tzinfo=UTC)
EXAMPLE_TEXT = (ROOT / "jobs.yaml").read_text()
EXAMPLE = yaml.safe_load(EXAMPLE_TEXT)

KEYS = [
    "namespace",
    "region",
    "trigger_mode",
    "history",
    "retention_days",
    "defaults",
    "jobs",
    "handler",
    "schedule",
    "timezone",
    "timeout",
    "memory",
    "retries",
    "max_attempts",
    "retry_on",
    "env",
    "secrets",
    "permissions",
    "actions",
    "resources",
    "tags",
    "vpc",
    "subnets",
    "payload",
    "kms_key",
    "team",
    "enabled",
]
SCHEDULES = [
    "cron(0 2 * * ? *)",
    "rate(5 minutes)",
    "0 9 * * 1-5",
    "@daily",
    "at(2027-01-01T09:00:00)",
    "cron(0 0 L * ? *)",
    "cron(0 0 ? * 6#3 *)",
    "cron(* * * * * *)",
    "rate(0 hours)",
    "cron(0 0 31 2 ? *)",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        KEYS
        + SCHEDULES
        + ["billing/nightly_report.py:handler", "../x.py:h", "ssm:/a", "*", "Europe/Berlin", "eu-west-1"]
    ),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=12))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(ROOT / "jobs", root / "jobs")
    return root


def outcome(project: Path, text: str) -> Manifest | ManifestError:
    path = project / "jobs.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        return load_manifest(path, now=NOW)
    except ManifestError as exc:
        assert exc.problems, "a ManifestError always lists its problems"
        for problem in exc.problems:
            assert problem.message and problem.file == str(path)
            # validate prints FILE:LINE: path: message, one problem per line
            assert problem.line is not None and problem.line >= 1, str(problem)
            assert "\n" not in str(problem), str(problem)
        return exc


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


FUZZ = settings(
    max_examples=int(__import__("os").environ.get("CRONPLANE_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(values)
def test_random_structures_never_crash(project: Path, data: Any) -> None:
    result = outcome(project, dump(data))
    assert isinstance(result, ManifestError)  # nothing random is a complete valid manifest


@st.composite
def mutated_manifests(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        # walk to a random mapping or list inside the manifest
        node: Any = data
        while True:
            children = (
                list(node.items())
                if isinstance(node, dict)
                else list(enumerate(node))
                if isinstance(node, list)
                else []
            )
            containers = [(k, v) for k, v in children if isinstance(v, (dict, list)) and v]
            if not containers or draw(st.booleans()):
                break
            node = draw(st.sampled_from(containers))[1]
        action = draw(st.sampled_from(["replace", "delete", "insert", "rename"]))
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
            if action == "replace":
                node[key] = draw(values)
            elif action == "delete":
                del node[key]
            elif action == "insert":
                node[draw(keys)] = draw(values)
            else:
                node[draw(keys)] = node.pop(key)
        elif isinstance(node, list) and node:
            index = draw(st.integers(0, len(node) - 1))
            if action == "delete":
                del node[index]
            else:
                node[index] = draw(values)
    return data


@FUZZ
@given(mutated_manifests())
def test_mutated_manifests_never_crash(project: Path, data: Any) -> None:
    outcome(project, dump(data))


@FUZZ
@given(st.data())
def test_mutated_text_never_crashes(project: Path, data: st.DataObject) -> None:
    lines = EXAMPLE_TEXT.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "insert", "indent", "truncate"]))
        if action == "delete" and len(lines) > 1:
            del lines[index]
        elif action == "duplicate":
            lines.insert(index, lines[index])
        elif action == "insert":
            position = data.draw(st.integers(0, len(lines[index])))
            junk = data.draw(
                st.sampled_from(["&a ", "*a", "[", "{", ":", "- ", "'", '"', "\t", " ", "#", "!!str ", "<<: "])
                | st.text(max_size=4)
            )
            lines[index] = lines[index][:position] + junk + lines[index][position:]
        elif action == "indent":
            lines[index] = "  " + lines[index]
        else:
            lines = lines[: index + 1]
    outcome(project, "".join(lines))


def test_the_unmutated_example_is_valid(project: Path) -> None:
    assert isinstance(outcome(project, EXAMPLE_TEXT), Manifest)
    assert isinstance(outcome(project, dump(EXAMPLE)), Manifest)
