"""Registers the ops tests' fixtures; the helpers themselves live in ``ops_fixtures`` and ``watch_fixtures``."""

import pytest
from ops_fixtures import clients, deploy, table  # noqa: F401 - pytest finds fixtures by name
from watch_fixtures import both_readings, namespace  # noqa: F401 - the watchdog tests' namespace on moto


@pytest.fixture(autouse=True)
def _one_partition_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto in-process is not thread-safe (its DynamoDB backend's dicts change under a
    concurrent Query: "dictionary changed size during iteration"), so these tests read a pass's
    partitions, and audit its jobs, one at a time; the 8 readers of ``ops.watchdog`` run against
    a moto server in ``benchmarks/bench_watchdog.py`` and tests/e2e."""
    from cronplane.ops import audit, watchdog

    monkeypatch.setattr(watchdog, "PARTITION_WORKERS", 1)
    monkeypatch.setattr(audit, "AUDIT_WORKERS", 1)
