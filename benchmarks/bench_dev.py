"""What ``jobctl dev`` costs: time from start to ready (emulator up + first deploy of the example
manifest), the round trip of a synchronous Invoke through the emulator (HTTP + child process +
wrapper + two history writes) for a plain boto3 client, and the Event (async) accept latency.
Every invocation is a cold start (a fresh child process, as the local runner does). Prints
figures; asserts nothing.

    .venv/bin/python benchmarks/bench_dev.py
"""

from __future__ import annotations

import io
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 10


def main() -> None:
    from cronplane.aws.client import AwsClient
    from cronplane.local.console import Console
    from cronplane.local.devserver import DevOptions, DevServer
    from cronplane.manifest import names
    from cronplane.runs.invoke import manual_envelope, new_manual_run_id

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "jobs", Path(tmp) / "jobs")
        shutil.copy(ROOT / "jobs.yaml", Path(tmp) / "jobs.yaml")
        server = DevServer(
            DevOptions(Path(tmp) / "jobs.yaml", port=0, schedule=False, watch=False, write_dev_file=False),
            Console(io.StringIO()),
        )
        start = time.perf_counter()
        server.start()
        ready_s = time.perf_counter() - start
        try:
            lam = AwsClient(server.aws_config()).lambda_
            function = names.function_name(server.manifest.namespace, "nightly-report")
            walls = []
            for _ in range(RUNS + 1):
                t0 = time.perf_counter()
                resp = lam.invoke(
                    FunctionName=function,
                    Payload=json.dumps(manual_envelope(new_manual_run_id(), "bench")).encode(),
                )
                resp["Payload"].read()
                walls.append((time.perf_counter() - t0) * 1000)
                assert "FunctionError" not in resp
            accepts = []
            for _ in range(RUNS):
                t0 = time.perf_counter()
                lam.invoke(
                    FunctionName=function,
                    InvocationType="Event",
                    Payload=json.dumps(manual_envelope(new_manual_run_id(), "bench")).encode(),
                )
                accepts.append((time.perf_counter() - t0) * 1000)
        finally:
            server.stop()
    print(f"jobctl dev start to ready (emulator + deploy of {len(server.manifest.jobs)} jobs): {ready_s:6.2f} s")
    print(f"sync Invoke, first call (unzip + cold start):  {walls[0]:7.1f} ms")
    print(
        f"sync Invoke, next {RUNS} calls:                  p50 {statistics.median(walls[1:]):7.1f} ms  max {max(walls[1:]):7.1f} ms"
    )
    print(
        f"async Invoke accepted (202):                   p50 {statistics.median(accepts):7.1f} ms  max {max(accepts):7.1f} ms"
    )


if __name__ == "__main__":
    main()
