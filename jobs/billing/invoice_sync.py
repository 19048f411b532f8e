"""Pulls new invoices from the payment provider into the ledger.

The provider's API is flaky: the first ``fail_attempts`` attempts of a run raise
ConnectionError (as a dropped connection would), which the cronplane wrapper retries.
With ``fail_attempts`` at or above the job's ``retries.max_attempts`` the run fails for good.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class ProviderUnavailable(ConnectionError):
    """The payment provider dropped the connection."""


def handler(event, context):
    attempt = getattr(context, "attempt", 1)
    fail_attempts = int(event.get("fail_attempts", 1))
    if attempt <= fail_attempts:
        log.warning("attempt %s: provider connection dropped", attempt)
        raise ProviderUnavailable(f"payment provider reset the connection (attempt {attempt})")
    synced = int(event.get("batch_size", 25))
    log.info("synced %s invoices on attempt %s", synced, attempt)
    return {"synced": synced, "attempt": attempt}
