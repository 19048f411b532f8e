"""What a local invocation costs: the local Lambda runner's overhead (child process, pipes,
process-group kill) for a bare handler, and for the real package of an example job through the
cronplane wrapper (its cold start imports boto3). Prints figures; asserts nothing.

    .venv/bin/python benchmarks/bench_local_runner.py
"""

from __future__ import annotations

import io
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 10


def measure(label: str, invoke: object) -> None:
    walls, reported = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        result = invoke()  # type: ignore[operator]
        walls.append((time.perf_counter() - start) * 1000)
        reported.append(result.duration_ms)
        assert result.ok, result.payload
    print(
        f"{label:<48} wall p50 {statistics.median(walls):7.1f} ms  max {max(walls):7.1f} ms  "
        f"(invoke phase p50 {statistics.median(reported):5.1f} ms)"
    )


def main() -> None:
    from cronplane.build.packaging import build_job_package
    from cronplane.build.resources import function_environment
    from cronplane.local.runner import Invocation, invoke_local
    from cronplane.manifest.loader import load_manifest
    from cronplane.runtime import settings

    with tempfile.TemporaryDirectory() as tmp:
        bare = Path(tmp) / "bare"
        bare.mkdir()
        (bare / "app.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
        measure(
            "bare handler (stdlib only)",
            lambda: invoke_local(
                Invocation(
                    code_dir=bare,
                    handler="app.handler",
                    env={},
                    event={},
                    timeout_s=10,
                    memory_mb=128,
                    function_name="bare",
                )
            ),
        )

        boto = Path(tmp) / "boto"
        boto.mkdir()
        (boto / "app.py").write_text("import boto3\ndef handler(event, context):\n    return {'ok': True}\n")
        measure(
            "bare handler importing boto3",
            lambda: invoke_local(
                Invocation(
                    code_dir=boto,
                    handler="app.handler",
                    env={},
                    event={},
                    timeout_s=10,
                    memory_mb=128,
                    function_name="boto",
                )
            ),
        )

        manifest = load_manifest(ROOT / "jobs.yaml")
        job = manifest.job("nightly-report")
        code = Path(tmp) / "package"
        with zipfile.ZipFile(io.BytesIO(build_job_package(manifest, job).zip_bytes)) as archive:
            archive.extractall(code)
        env = function_environment(manifest, job)
        env.update({settings.HISTORY_TABLE: "", settings.DLQ_URL: ""})
        measure(
            "nightly-report package through the wrapper",
            lambda: invoke_local(
                Invocation(
                    code_dir=code,
                    handler="cronplane.runtime.entry.handler",
                    env=env,
                    event={},
                    timeout_s=60,
                    memory_mb=256,
                    function_name="acme-jobs-nightly-report",
                )
            ),
        )
    print(f"({RUNS} invocations each, one child process per invocation, python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
