"""CloudWatch metrics through the Embedded Metric Format: one JSON log line per run, which
CloudWatch Logs turns into metrics. No API call, so metrics cost nothing at run time."""

from __future__ import annotations

import json
from typing import Any

NAMESPACE = "cronplane"
COUNTS = {
    "succeeded": "Succeeded",
    "failed": "Failed",
    "timed_out": "TimedOut",
    "skipped": "Skipped",
    "duplicate": "Duplicate",
}


def emf_line(
    job: str, status: str, duration_ms: int | None, timestamp_ms: int, run_id: str = "", namespace: str = ""
) -> str:
    """The EMF document for one finished run: a 0/1 count per outcome and the duration, by
    cronplane namespace and job (two namespaces in one account may have a job of one name: the
    job's CloudWatch alarm must not count the other's runs)."""
    metrics: list[dict[str, str]] = [{"Name": name, "Unit": "Count"} for name in COUNTS.values()]
    doc: dict[str, Any] = {name: int(status == key) for key, name in COUNTS.items()}
    if duration_ms is not None:
        metrics.append({"Name": "Duration", "Unit": "Milliseconds"})
        doc["Duration"] = int(duration_ms)
    dimensions = ["Namespace", "Job"] if namespace else ["Job"]
    doc.update(
        {
            "_aws": {
                "Timestamp": int(timestamp_ms),
                "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": metrics}],
            },
            **({"Namespace": namespace} if namespace else {}),
            "Job": job,
            "run_id": run_id,  # a property, not a dimension: searchable in Logs Insights, no cost
            "status": status,
        }
    )
    return json.dumps(doc, separators=(",", ":"))
