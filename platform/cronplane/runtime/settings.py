"""The contract between deploy and runtime: the environment variables a job's Lambda
function is configured with (set by ``cronplane.build.resources``, read here at cold start).

Standard library only: this module ships inside every Lambda zip.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JOB = "CRONPLANE_JOB"
NAMESPACE = "CRONPLANE_NAMESPACE"
HANDLER = "CRONPLANE_HANDLER"  # "billing.nightly_report:handler" (module:function in the zip)
HISTORY_TABLE = "CRONPLANE_HISTORY_TABLE"
HISTORY_TTL_DAYS = "CRONPLANE_HISTORY_TTL_DAYS"
DLQ_URL = "CRONPLANE_DLQ_URL"
PAYLOAD = "CRONPLANE_PAYLOAD"  # JSON: the event the job receives
RETRY = "CRONPLANE_RETRY"  # JSON: {"max_attempts", "backoff_base", "backoff_cap", "retry_on"}
CONCURRENCY = "CRONPLANE_CONCURRENCY"  # allow | forbid
# run (the default, also when unset) | skip: whether a run whose start cannot be recorded in the
# history table (so its lock and duplicate check cannot hold) runs anyway or is skipped.
ON_HISTORY_OUTAGE = "CRONPLANE_ON_HISTORY_OUTAGE"
RUN_ON_HISTORY_OUTAGE = "run"
SKIP_ON_HISTORY_OUTAGE = "skip"
TIMEOUT = "CRONPLANE_TIMEOUT"  # seconds, the function's configured timeout
SECRETS = "CRONPLANE_SECRETS"  # JSON: {"ENV_NAME": "ssm:/path" | "secretsmanager:id"}
SAFETY_MARGIN_MS = "CRONPLANE_SAFETY_MARGIN_MS"  # optional override of the soft-deadline margin

DEFAULT_SAFETY_MARGIN_MS = 2000


@dataclass(frozen=True)
class RuntimeSettings:
    job: str
    namespace: str
    handler: str
    history_table: str
    dlq_url: str
    payload: Any = None
    retry: Mapping[str, Any] = field(default_factory=dict)
    concurrency: str = "allow"
    on_history_outage: str = RUN_ON_HISTORY_OUTAGE
    timeout: int = 300
    secrets: Mapping[str, str] = field(default_factory=dict)
    ttl_days: int = 30
    safety_margin_ms: int = DEFAULT_SAFETY_MARGIN_MS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RuntimeSettings:
        env = os.environ if environ is None else environ
        return cls(
            job=env[JOB],
            namespace=env.get(NAMESPACE, ""),
            handler=env[HANDLER],
            history_table=env.get(HISTORY_TABLE, ""),
            dlq_url=env.get(DLQ_URL, ""),
            payload=json.loads(env.get(PAYLOAD, "{}")),
            retry=json.loads(env.get(RETRY, "{}")),
            concurrency=env.get(CONCURRENCY, "allow"),
            on_history_outage=env.get(ON_HISTORY_OUTAGE, RUN_ON_HISTORY_OUTAGE),
            timeout=int(env.get(TIMEOUT, "300")),
            secrets=json.loads(env.get(SECRETS, "{}")),
            ttl_days=int(env.get(HISTORY_TTL_DAYS, "30")),
            safety_margin_ms=int(env.get(SAFETY_MARGIN_MS, str(DEFAULT_SAFETY_MARGIN_MS))),
        )
