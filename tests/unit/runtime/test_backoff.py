"""Which errors are retried, and how long the wrapper waits in between."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from cronplane.runtime import NonRetryable
from cronplane.runtime.backoff import RetrySettings


class ProviderDown(ConnectionError):
    pass


class BadRow(NonRetryable, ValueError):
    pass


@given(
    attempt=st.integers(min_value=1, max_value=40),
    base=st.floats(min_value=0, max_value=100, allow_nan=False),
    cap=st.floats(min_value=0, max_value=600, allow_nan=False),
    seed=st.integers(),
)
def test_full_jitter_stays_within_the_exponential_ceiling(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = RetrySettings(backoff_base=base, backoff_cap=cap).delay(attempt, random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** (attempt - 1))


def test_jitter_spreads_waits_over_the_whole_range() -> None:
    rng = random.Random(1)
    delays = [RetrySettings(backoff_base=1, backoff_cap=60).delay(3, rng) for _ in range(500)]
    assert max(delays) <= 4 and min(delays) < 0.5 and max(delays) > 3.5


def test_retry_on_matches_the_class_or_any_base_class_by_name() -> None:
    policy = RetrySettings.from_mapping({"retry_on": ["ConnectionError"]})
    assert policy.is_retryable(ProviderDown())
    assert policy.is_retryable(ConnectionResetError())
    assert not policy.is_retryable(KeyError("x"))


def test_empty_retry_on_retries_everything_but_non_retryable() -> None:
    policy = RetrySettings.from_mapping({})
    assert policy.is_retryable(KeyError("x")) and not policy.is_retryable(BadRow())
    assert not policy.is_retryable(SystemExit(1))
    # NonRetryable wins even when a base class is listed.
    assert not RetrySettings.from_mapping({"retry_on": ["ValueError"]}).is_retryable(BadRow())


def test_from_mapping_reads_the_deploy_side_retry_dict() -> None:
    policy = RetrySettings.from_mapping(
        {"max_attempts": 5, "backoff_base": 1, "backoff_cap": 10, "retry_on": ["TimeoutError"]}
    )
    assert policy == RetrySettings(max_attempts=5, backoff_base=1.0, backoff_cap=10.0, retry_on=("TimeoutError",))
