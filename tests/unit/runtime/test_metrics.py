"""The run's metric line against the CloudWatch Embedded Metric Format specification
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
a line that breaks it is silently not turned into metrics, so the shape is checked rule by rule."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from runtime_helpers import (
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.metrics import emf_line
from cronplane.runtime.wrapper import Clock

UNITS = {
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
}


def assert_valid_emf(line: str) -> dict[str, Any]:
    """The specification's rules for one log event; returns the parsed document."""
    assert len(line.encode()) <= 256 * 1024 and "\n" not in line  # one log event, no extra data
    root = json.loads(line)
    assert isinstance(root, dict)
    meta = root["_aws"]
    assert set(meta) == {"Timestamp", "CloudWatchMetrics"}  # no members the spec does not define
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 10**12  # epoch milliseconds
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        assert isinstance(directive["Namespace"], str) and 0 < len(directive["Namespace"]) <= 1024
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and 0 < len(dimension_set) <= 30
            for name in dimension_set:  # a target member holding a string
                assert isinstance(root[name], str) and root[name]
        assert 0 < len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert isinstance(metric["Name"], str) and 0 < len(metric["Name"]) <= 1024
            assert metric.get("Unit", "None") in UNITS
            assert metric.get("StorageResolution", 60) in (1, 60)
            value = root[metric["Name"]]  # a target member holding a number (or up to 100 numbers)
            values = value if isinstance(value, list) else [value]
            assert 0 < len(values) <= 100
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    return root


@pytest.mark.parametrize("status", ["succeeded", "failed", "timed_out", "skipped", "duplicate"])
def test_emf_line_follows_the_specification_for_every_outcome(status: str) -> None:
    duration = None if status in ("skipped", "duplicate") else 1234
    doc = assert_valid_emf(emf_line("nightly-report", status, duration, 1_764_234_000_000, "20261127T090000Z-abcd1234"))
    counts = {name: doc[name] for name in ("Succeeded", "Failed", "TimedOut", "Skipped", "Duplicate")}
    assert sum(counts.values()) == 1
    assert ("Duration" in doc) is (duration is not None)
    assert doc["Job"] == "nightly-report" and doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "cronplane"


def test_each_run_prints_one_valid_emf_line_with_its_outcome(env: Env) -> None:
    moment = datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC)
    clock = Clock(now=lambda: moment, sleep=env.sleeps.append)
    failing = "def handler(event, context):\n    raise RuntimeError('nope')\n"
    env.wrapper(failing, clock=clock, retry={"max_attempts": 1}).handle(schedule_event(), FakeLambdaContext())
    lines = [line for line in env.lines if '"_aws"' in line]
    assert len(lines) == 1
    doc = assert_valid_emf(lines[0])
    assert doc["Failed"] == 1 and doc["Succeeded"] == 0 and doc["Duration"] == 0
    assert doc["_aws"]["Timestamp"] == int(moment.timestamp() * 1000)
