"""Retry policy of the wrapper: which errors are retried and how long to wait between
attempts (exponential backoff with full jitter, so many failing jobs do not retry in step)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cronplane.runtime.exceptions import NonRetryable


@dataclass(frozen=True)
class RetrySettings:
    max_attempts: int = 3  # total attempts, the first one included
    backoff_base: float = 2.0  # seconds
    backoff_cap: float = 60.0
    retry_on: tuple[str, ...] = ()  # empty: every exception except NonRetryable

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RetrySettings:
        data = data or {}
        return cls(
            max_attempts=max(1, int(data.get("max_attempts", cls.max_attempts))),
            backoff_base=max(0.0, float(data.get("backoff_base", cls.backoff_base))),
            backoff_cap=max(0.0, float(data.get("backoff_cap", cls.backoff_cap))),
            retry_on=tuple(str(name) for name in data.get("retry_on", ()) or ()),
        )

    def is_retryable(self, exc: BaseException) -> bool:
        """NonRetryable always wins. Otherwise a ``retry_on`` name matches the exception's class
        or any base class, by bare name (``ConnectionError``) or dotted (``mod.MyError``)."""
        if isinstance(exc, NonRetryable):
            return False
        if not self.retry_on:
            return isinstance(exc, Exception)
        wanted = set(self.retry_on)
        for cls in type(exc).__mro__:
            if cls.__name__ in wanted or f"{cls.__module__}.{cls.__qualname__}" in wanted:
                return True
        return False

    def delay(self, failed_attempt: int, rng: random.Random) -> float:
        """Seconds to wait after attempt ``failed_attempt`` (1-based) failed: full jitter,
        uniform in [0, min(cap, base * 2**(n-1)))."""
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(0, failed_attempt - 1)))
        return rng.uniform(0.0, ceiling) if ceiling > 0 else 0.0
