"""yamlload: values plus key lines, duplicate keys, alias budget, fatal YAML problems."""

from __future__ import annotations

import textwrap

import pytest

from cronplane.errors import ManifestError
from cronplane.manifest.yamlload import MAX_NODES, dotted, load_yaml


def load(text: str):
    return load_yaml(textwrap.dedent(text).lstrip("\n"), "jobs.yaml")


def fatal(text: str) -> str:
    with pytest.raises(ManifestError) as info:
        load(text)
    assert len(info.value.problems) == 1
    return str(info.value.problems[0])


def test_records_the_line_of_every_key_and_list_item() -> None:
    doc = load("""
        namespace: acme
        jobs:
          report:
            timeout: 30
            retries:
              retry_on: [A, B]
    """)
    assert doc.data == {"namespace": "acme", "jobs": {"report": {"timeout": 30, "retries": {"retry_on": ["A", "B"]}}}}
    assert doc.lines[("namespace",)] == 1
    assert doc.lines[("jobs", "report")] == 3
    assert doc.lines[("jobs", "report", "timeout")] == 4
    assert doc.lines[("jobs", "report", "retries", "retry_on", 1)] == 6
    # a path that was never written is placed at its nearest written ancestor
    assert doc.line_of(("jobs", "report", "schedule")) == 3
    assert doc.problems == ()


def test_duplicate_keys_are_problems_with_both_lines() -> None:
    doc = load("""
        jobs:
          report:
            timeout: 30
            memory: 256
            timeout: 60
    """)
    (problem,) = doc.problems
    assert (problem.line, problem.path) == (5, "jobs.report.timeout")
    assert "duplicate key 'timeout' (first on line 3)" in problem.message
    assert doc.data["jobs"]["report"]["timeout"] == 30  # never silently the last one


def test_duplicate_job_names_are_found() -> None:
    doc = load("""
        jobs:
          a: {timeout: 1}
          b: {timeout: 2}
          a: {timeout: 3}
    """)
    assert [(p.line, p.path) for p in doc.problems] == [(4, "jobs.a")]


def test_keys_stay_as_written() -> None:
    # YAML 1.1 would turn `on:` into True and `1:` into an int
    doc = load("on: 1\n1: x\nnull: y\n")
    assert list(doc.data) == ["on", "1", "null"]


def test_merge_keys_merge_and_explicit_keys_win_with_their_own_lines() -> None:
    doc = load("""
        base: &base
          timeout: 30
          memory: 512
        job:
          <<: *base
          timeout: 60
    """)
    assert doc.data["job"] == {"timeout": 60, "memory": 512}
    assert doc.lines[("job", "timeout")] == 6
    assert doc.lines[("job", "memory")] == 3


def test_alias_bomb_is_rejected_quickly() -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 10):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        levels.append(f"a{i}: &a{i} [{refs}]")
    message = fatal("\n".join(levels))
    assert f"more than {MAX_NODES:,} values" in message
    assert "aliases" in message


def test_recursive_alias_is_rejected() -> None:
    message = fatal("a: &a [1, *a]\n")
    assert "refers to its own anchor" in message


def test_small_aliases_are_fine() -> None:
    doc = load("""
        common: &tags {team: x}
        one: *tags
        two: *tags
    """)
    assert doc.data["one"] == doc.data["two"] == {"team": "x"}
    assert doc.data["one"] is not doc.data["two"]  # no shared mutable values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: 1\nb: [1, 2\nc: 3\n", "jobs.yaml:3: YAML syntax error"),
        ("a: 1\n  b: 2\n", "jobs.yaml:2: YAML syntax error"),
        ("a: 1\n---\nb: 2\n", "jobs.yaml:2: YAML syntax error: the file holds more than one YAML document"),
        ("", "jobs.yaml:1: the file is empty"),
        ("# only a comment\n", "jobs.yaml:1: the file is empty"),
        ('x: "\\q"\n', "jobs.yaml:1: YAML syntax error"),
        # a control character: PyYAML's ReaderError knows only an offset and spans two lines
        ("a: 1\nb: x\x07y\n", "jobs.yaml:2: YAML error: control character U+0007 at column 5 is not allowed"),
        (
            "jobs:\n\treport: 1\n",
            "jobs.yaml:2: YAML syntax error: a tab character (column 1); YAML indents with spaces only",
        ),
        ("jobs:\n  report:\n    a: 1\n\t  b: 2\n", "jobs.yaml:4: YAML syntax error: a tab character (column 1)"),
    ],
)
def test_fatal_yaml_problems_name_the_line(text: str, expected: str) -> None:
    assert fatal(text).startswith(expected)


def test_python_tags_are_refused_not_executed() -> None:
    doc = load("""
        a: !!python/object/apply:os.system ["echo pwned"]
        b: !!python/name:os.system
        c: ok
    """)
    assert doc.data["c"] == "ok"
    assert [(p.line, p.path) for p in doc.problems] == [(1, "a"), (2, "b")]
    assert "unsupported YAML tag" in doc.problems[0].message
    assert "cannot read this YAML value" in doc.problems[1].message


def test_a_mapping_as_key_is_a_problem() -> None:
    doc = load("? [a, b]\n: 1\nc: 2\n")
    assert doc.data == {"c": 2}
    assert "a key must be plain text" in doc.problems[0].message


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    with pytest.raises(ManifestError):
        load("a: " + "[" * 2000 + "]" * 2000)
    with pytest.raises(ManifestError):
        load("a: " + "[" * 100 + "]" * 100)


def test_dotted_paths() -> None:
    assert dotted(("jobs", "report", "retries", "retry_on", 0)) == "jobs.report.retries.retry_on[0]"
    assert dotted(()) == ""
    # keys that would make the path ambiguous or span lines are quoted
    assert dotted(("jobs", "my job", "timeout")) == 'jobs["my job"].timeout'
    assert dotted(("jobs", "a", "tags", "app.io/name")) == 'jobs.a.tags["app.io/name"]'
    assert dotted(("\n",)) == '["\\n"]'
    assert dotted(("jobs", "nightly-report", "env", "AWS_REGION")) == "jobs.nightly-report.env.AWS_REGION"
