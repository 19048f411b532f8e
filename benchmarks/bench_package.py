"""Packaging figures, and the numbers behind "runtime inside each zip, not a shared layer".

Prints:
1. the runtime's size (raw / zipped) against the example jobs' zips;
2. time to package N jobs of 2 teams with the in-process cache (zips built) and without it;
3. the Lambda API calls and uploaded bytes of both ways of shipping the runtime, counted on an
   in-process moto: a fresh deploy of N functions, a runtime upgrade, and a one-job code change.

Run: ``.venv/bin/python benchmarks/bench_package.py [--jobs 200]``
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "platform"))

from cronplane.build import packaging  # noqa: E402
from cronplane.build.iam import lambda_trust_policy  # noqa: E402
from cronplane.manifest.models import Job, Manifest  # noqa: E402


def kb(n: int) -> str:
    return f"{n / 1024:.1f} KB"


def example_jobs(count: int) -> tuple[Manifest, list[Job]]:
    handlers = ["billing/nightly_report.py:handler", "infra/tmp_cleanup.py:handler"]
    jobs = [
        Job(name=f"job-{i:03d}", handler=handlers[i % 2], schedule=None, team=handlers[i % 2].split("/")[0])  # type: ignore[arg-type]
        for i in range(count)
    ]
    return Manifest(namespace="bench", region="eu-west-1", jobs=tuple(jobs), root=str(ROOT)), jobs


def sizes() -> dict[str, int]:
    runtime = packaging.runtime_files()
    runtime_zip = packaging.deterministic_zip(runtime)
    manifest, jobs = example_jobs(2)
    packaging.clear_package_cache()
    job_zip = packaging.build_job_package(manifest, jobs[0])
    team_only = packaging.deterministic_zip(packaging.team_files(manifest.jobs_dir, jobs[0].team_folder))
    figures = {
        "runtime_files": len(runtime),
        "runtime_raw": sum(len(d) for _, d in runtime),
        "runtime_zip": len(runtime_zip),
        "job_zip": job_zip.size,
        "team_only_zip": len(team_only),
    }
    print("== sizes")
    print(
        f"runtime: {figures['runtime_files']} files, {kb(figures['runtime_raw'])} raw, {kb(figures['runtime_zip'])} zipped"
    )
    print(
        f"job zip (billing, runtime inside): {kb(figures['job_zip'])}; team code alone: {kb(figures['team_only_zip'])}"
    )
    return figures


def build_times(count: int) -> None:
    manifest, jobs = example_jobs(count)
    packaging.clear_package_cache()
    started = time.perf_counter()
    for job in jobs:
        packaging.build_job_package(manifest, job)
    cached = time.perf_counter() - started
    stats = packaging.package_cache_stats()

    started = time.perf_counter()
    for job in jobs:
        packaging.clear_package_cache()  # what a build without the cache would do
        packaging.build_job_package(manifest, job)
    uncached = time.perf_counter() - started
    print(f"== packaging {count} jobs of 2 teams")
    print(f"with cache:    {cached * 1000:.0f} ms, {stats['builds']} zips built, {stats['hits']} cache hits")
    print(f"without cache: {uncached * 1000:.0f} ms, {count} zips built")


class CallCounter:
    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.bytes = 0

    def hook(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls[model.name] += 1
        body = params.get("body")
        if isinstance(body, (bytes, bytearray)):
            self.bytes += len(body)
        elif isinstance(body, str):
            self.bytes += len(body.encode())

    def take(self) -> tuple[dict[str, int], int]:
        calls, sent = dict(self.calls), self.bytes
        self.calls.clear()
        self.bytes = 0
        return calls, sent


def deploy_calls(count: int) -> None:
    """Both ways against moto, in-process. Only the Lambda calls that differ are made; the
    rest of a deploy (roles, rules, queues) is the same for both."""
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    import boto3
    from moto import mock_aws

    manifest, jobs = example_jobs(count)
    packaging.clear_package_cache()
    runtime = packaging.runtime_files()
    team_code = {t: packaging.team_files(manifest.jobs_dir, t) for t in ("billing", "infra")}

    def zip_with_runtime(team: str, extra: bytes = b"") -> bytes:
        return packaging.deterministic_zip(runtime + team_code[team] + [("cronplane/runtime/_v.py", extra)])

    def zip_without_runtime(team: str) -> bytes:
        return packaging.deterministic_zip(team_code[team])

    def layer_zip(extra: bytes = b"") -> bytes:
        return packaging.deterministic_zip(
            [(f"python/{n}", d) for n, d in runtime] + [("python/cronplane/runtime/_v.py", extra)]
        )

    results: dict[str, dict[str, tuple[dict[str, int], int]]] = {}
    with mock_aws():
        role = boto3.client("iam").create_role(
            RoleName="bench", AssumeRolePolicyDocument=json.dumps(lambda_trust_policy())
        )
        role_arn = role["Role"]["Arn"]
        client = boto3.client("lambda")
        counter = CallCounter()
        client.meta.events.register("before-call.lambda", counter.hook)

        def fn(way: str, job: Job) -> str:
            return f"{way}-{job.name}"

        def run(way: str, steps: dict[str, Callable[[], None]]) -> None:
            results[way] = {}
            for step, action in steps.items():
                action()
                results[way][step] = counter.take()

        # Way A: the runtime inside every zip.
        def a_fresh() -> None:
            for job in jobs:
                client.create_function(FunctionName=fn("zip", job), Runtime="python3.12", Role=role_arn,
                                       Handler="cronplane.runtime.entry.handler",
                                       Code={"ZipFile": zip_with_runtime(job.team_folder)})  # fmt: skip

        def a_runtime_upgrade() -> None:
            for job in jobs:
                client.update_function_code(
                    FunctionName=fn("zip", job), ZipFile=zip_with_runtime(job.team_folder, b"v2")
                )

        def a_job_change() -> None:
            client.update_function_code(FunctionName=fn("zip", jobs[0]), ZipFile=zip_with_runtime("billing", b"v2 job"))

        run("runtime in each zip", {"fresh deploy": a_fresh, "runtime upgrade": a_runtime_upgrade,
                                    "one job's code": a_job_change})  # fmt: skip

        # Way B: one shared layer; every function lists its current version.
        layer: dict[str, str] = {}

        def b_fresh() -> None:
            layer["arn"] = client.publish_layer_version(LayerName="bench-runtime", Content={"ZipFile": layer_zip()},
                                                        CompatibleRuntimes=["python3.12"])["LayerVersionArn"]  # fmt: skip
            for job in jobs:
                client.create_function(FunctionName=fn("layer", job), Runtime="python3.12", Role=role_arn,
                                       Handler="cronplane.runtime.entry.handler", Layers=[layer["arn"]],
                                       Code={"ZipFile": zip_without_runtime(job.team_folder)})  # fmt: skip

        def b_runtime_upgrade() -> None:
            client.list_layer_versions(LayerName="bench-runtime")  # inventory: which version is live
            old = layer["arn"]
            layer["arn"] = client.publish_layer_version(LayerName="bench-runtime", Content={"ZipFile": layer_zip(b"v2")},
                                                        CompatibleRuntimes=["python3.12"])["LayerVersionArn"]  # fmt: skip
            for job in jobs:
                client.update_function_configuration(FunctionName=fn("layer", job), Layers=[layer["arn"]])
            client.delete_layer_version(LayerName="bench-runtime", VersionNumber=int(old.rsplit(":", 1)[1]))

        def b_job_change() -> None:
            client.update_function_code(FunctionName=fn("layer", jobs[0]), ZipFile=zip_without_runtime("billing") + b"")

        run("shared runtime layer", {"fresh deploy": b_fresh, "runtime upgrade": b_runtime_upgrade,
                                     "one job's code": b_job_change})  # fmt: skip

    print(f"== Lambda API calls for {count} jobs (moto, in-process)")
    for way, steps in results.items():
        print(way)
        for step, (calls, sent) in steps.items():
            total = sum(calls.values())
            detail = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()))
            print(f"  {step:16s} {total:4d} calls ({detail}); {kb(sent)} sent")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args()
    sizes()
    build_times(args.jobs)
    deploy_calls(args.jobs)


if __name__ == "__main__":
    main()
