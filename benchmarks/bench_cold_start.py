"""Cold-start cost of the cronplane runtime next to a bare Lambda handler.

Each sample is a fresh interpreter (as a Lambda cold start is) that does the init phase:

- cronplane: ``import cronplane.runtime.entry`` with the job's environment set, which reads the
  settings, creates the dynamodb, sqs and lambda clients and imports the team's handler module;
- bare: a handler module that imports boto3 and creates the same three clients.

Printed: the median (and min / max) of the in-process init time and of the whole process
(interpreter start included) over N runs, the runtime's extra cost, and the runtime's own import
time on top of boto3 from ``-X importtime`` (what ``tests/unit/runtime/test_entry.py`` budgets).
No network is used: creating a boto3 client makes no call.

    .venv/bin/python benchmarks/bench_cold_start.py [--runs 21]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # test support: the moto server starter, import-time readings
from support.importtime import own_import_us  # noqa: E402

JOB = """
import json, logging
log = logging.getLogger(__name__)

def handler(event, context):
    return {"ok": True}
"""

BARE = """
import boto3
dynamodb = boto3.client("dynamodb")
sqs = boto3.client("sqs")
lambda_ = boto3.client("lambda")

def handler(event, context):
    return {"ok": True}
"""

PROBE = """
import time
t0 = time.perf_counter()
import {module}
t1 = time.perf_counter()
{check}
print((t1 - t0) * 1000)
"""


def environment(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CRONPLANE_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "platform"), str(folder)]),
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        CRONPLANE_JOB="bench-job",
        CRONPLANE_NAMESPACE="bench",
        CRONPLANE_HANDLER="benchteam.job:handler",
        CRONPLANE_HISTORY_TABLE="bench-history",
        CRONPLANE_DLQ_URL="https://sqs.eu-west-1.amazonaws.com/123456789012/bench-job-dlq",
        CRONPLANE_PAYLOAD=json.dumps({"batch": 1}),
    )
    return env


def sample(code: str, env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    wall = (time.perf_counter() - start) * 1000
    return float(done.stdout.strip().splitlines()[-1]), wall


IMPORTTIME = "import boto3, botocore.config, botocore.exceptions; import cronplane.runtime.entry"


def own_import_ms(env: dict[str, str]) -> float:
    """The cronplane subtree of ``-X importtime`` (children print before their parent, one
    indent deeper), without the subtrees of third-party packages Lambda provides."""
    quiet = {k: v for k, v in env.items() if not k.startswith("CRONPLANE_")}  # import only, no cold start
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", IMPORTTIME], env=quiet, capture_output=True, text=True, check=True
    )
    return own_import_us(done.stderr) / 1000


def describe(name: str, values: list[float]) -> str:
    return f"{name:<28} median {statistics.median(values):7.1f} ms   min {min(values):7.1f}   max {max(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "benchteam").mkdir()
        (folder / "benchteam" / "__init__.py").write_text("")
        (folder / "benchteam" / "job.py").write_text(JOB)
        (folder / "bare_handler.py").write_text(BARE)
        env = environment(folder)
        runtime_code = PROBE.format(
            module="cronplane.runtime.entry",
            check="import cronplane.runtime.entry as e; assert e._wrapper is not None and e._wrapper.setup_error is None, e._boot_error",
        )
        bare_code = PROBE.format(module="bare_handler", check="")
        results: dict[str, list[tuple[float, float]]] = {"cronplane": [], "bare": []}
        own: list[float] = []
        for _ in range(args.runs):  # interleaved, so load changes hit both alike
            results["cronplane"].append(sample(runtime_code, env))
            results["bare"].append(sample(bare_code, env))
            own.append(own_import_ms(env))
    print(f"cold start, {args.runs} fresh interpreters each (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)")
    for name, values in results.items():
        print(describe(f"{name} init (in-process)", [v[0] for v in values]))
        print(describe(f"{name} whole process", [v[1] for v in values]))
    extra = statistics.median(v[0] for v in results["cronplane"]) - statistics.median(v[0] for v in results["bare"])
    best = min(v[0] for v in results["cronplane"]) - min(v[0] for v in results["bare"])
    # On a shared machine the medians carry the load's noise; the minima are the quiet case.
    print(f"runtime overhead over a bare boto3 handler: {extra:+.1f} ms (median init), {best:+.1f} ms (min init)")
    print(describe("runtime's own import time", own) + "   (-X importtime, boto3/botocore excluded)")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
