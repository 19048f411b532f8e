"""cronplane against AWS Chalice, side by side on one moto server on 127.0.0.1: N scheduled
functions (default 20) deployed fresh, then redeployed with no change. Both tools run as the
user runs them (`jobctl deploy`, `chalice deploy` in a subprocess, fake credentials), so imports
and client creation count. Every AWS call of both goes through one counting reverse proxy in
this process, so the calls are counted the same way for both. Prints the medians of --runs runs
and the ratios against the targets of issue 9 (no-change redeploy at most 0.35 of Chalice's
time, fresh deploy at most 1.5 times); a missed target is reported, never a failure.

--profile adds where cronplane's no-change redeploy spends its time: `python -X importtime`
(imports by package, which cronplane module pulls in which package) and cProfile (imports,
client creation, API calls).

Needs Chalice (`pip install -e '.[bench]'`); skips with a message without it.

    .venv/bin/python benchmarks/bench_vs_chalice.py [--jobs 20] [--runs 3] [--profile]
"""

from __future__ import annotations

import argparse
import collections
import email.message
import http.client
import http.server
import importlib.util
import os
import pstats
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # test support: the moto server starter
from support.motoserver import start_moto_server, stop_moto_server  # noqa: E402

REGION = "eu-west-1"
BIN = Path(sys.executable).parent  # jobctl and chalice sit next to this interpreter
TARGET_NO_CHANGE = 0.35  # cronplane / Chalice, at most
TARGET_FRESH = 1.5
# Forwarded neither way: they describe one hop, and the proxy re-frames every body.
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "host"}


class CountingProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to the moto server and records (service, operation) of each."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urllib.parse.urlsplit(upstream).netloc
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.local = threading.local()  # one keep-alive connection to moto per handler thread
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def take_calls(self) -> list[str]:
        with self.lock:
            calls, self.calls = self.calls, []
        return calls


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else headers and body, written apart, wait ~40 ms per call
    server: CountingProxy

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _forward(self) -> None:
        body = self._read_body()
        with self.server.lock:
            self.server.calls.append(operation_of(self.command, self.path, self.headers, body))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        while True:
            reused = getattr(self.server.local, "conn", None)
            conn = reused or http.client.HTTPConnection(self.server.upstream)
            self.server.local.conn = conn
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                conn.close()
                self.server.local.conn = None
                if not reused:  # else moto had closed the idle keep-alive connection: once more
                    raise
        self.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_HEADERS:
                self.send_header(key, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length", "0"))
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _forward


def operation_of(method: str, path: str, headers: email.message.Message, body: bytes) -> str:
    """A call's name: "service.Operation" for the JSON and query protocols, "service METHOD
    /path" for the REST ones (Lambda, Scheduler) with the resource name replaced so calls group.
    The service is the one the request was signed for."""
    scope = headers.get("Authorization", "").split("Credential=")[-1].split(",")[0].split("/")
    service = scope[3] if len(scope) > 3 else "?"
    if target := headers.get("X-Amz-Target"):
        return f"{service}.{target.rsplit('.', 1)[-1]}"
    form = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body and b"Action=" in body else {}
    if action := form.get("Action") or urllib.parse.parse_qs(urllib.parse.urlsplit(path).query).get("Action"):
        return f"{service}.{action[0]}"
    parts = urllib.parse.urlsplit(path).path.strip("/").split("/")
    return f"{service} {method} /" + "/".join("{name}" if i == 2 else p for i, p in enumerate(parts))


@dataclass
class Phase:
    seconds: float
    cpu_seconds: float  # the tool's own CPU time, user + system: less swayed by a busy machine
    calls: list[str]
    output: str


def tool_env(folder: Path) -> dict[str, str]:
    """The shell of a user with fake credentials and no AWS configuration of their own."""
    # PYTHONDONTWRITEBYTECODE goes too: without .pyc files every run compiles cronplane anew
    # (~30 ms), which no installed copy does (see warm_bytecode).
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(folder / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(folder / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def timed(proxy: CountingProxy, command: list[str], cwd: Path, env: dict[str, str]) -> Phase:
    proxy.take_calls()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)  # moto, still running, is not in it
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    calls = proxy.take_calls()
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:2])} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return Phase(seconds, cpu, calls, done.stdout + done.stderr)


def warm_bytecode() -> None:
    """Write cronplane's .pyc files as a first import (or pip install) would: the dependencies
    of both tools have them from pip already."""
    code = "import compileall, cronplane; compileall.compile_dir(cronplane.__path__[0], quiet=1)"
    subprocess.run([sys.executable, "-c", code], env=tool_env(Path(tempfile.gettempdir())), check=True)


def reset_moto(moto_url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST"), timeout=30).read()


def cronplane_project(folder: Path, jobs: int) -> Path:
    project = folder / "cronplane"
    shutil.copytree(ROOT / "jobs", project / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    lines = ["namespace: bench", f"region: {REGION}", "jobs:"]
    for i in range(jobs):
        team, handler = ("billing", "billing/nightly_report.py") if i % 2 else ("infra", "infra/tmp_cleanup.py")
        schedule = f"rate({5 + i} minutes)" if i % 2 else f"cron({i % 60} * * * ? *)"
        lines += [
            f"  job-{i:03d}:",
            f"    handler: {handler}:handler",
            f"    schedule: {schedule}",
            f"    team: {team}",
            f"    owner: {team}-oncall@example.com",
        ]
    (project / "jobs.yaml").write_text("\n".join(lines) + "\n")
    return project


def chalice_project(folder: Path, jobs: int) -> Path:
    """The same N schedules as an app with one `@app.schedule` function each."""
    project = folder / "chalice"
    (project / ".chalice").mkdir(parents=True)
    source = ["from chalice import Chalice, Cron, Rate", "", 'app = Chalice(app_name="bench")', ""]
    for i in range(jobs):
        schedule = f"Rate({5 + i}, unit=Rate.MINUTES)" if i % 2 else f'Cron({i % 60}, "*", "*", "*", "?", "*")'
        source += [f"@app.schedule({schedule})", f"def job_{i:03d}(event):", "    return {}", "", ""]
    (project / "app.py").write_text("\n".join(source).rstrip() + "\n")
    (project / "requirements.txt").write_text("")
    (project / ".chalice" / "config.json").write_text(
        '{"version": "2.0", "app_name": "bench", "stages": {"dev": {"api_gateway_stage": "api"}}}\n'
    )
    return project


def jobctl_deploy(endpoint: str) -> list[str]:
    return [str(BIN / "jobctl"), "deploy", "-y", "--endpoint-url", endpoint, "--region", REGION]


def run_once(proxy: CountingProxy, moto_url: str, jobs: int) -> dict[str, tuple[Phase, Phase]]:
    folder = Path(tempfile.mkdtemp(prefix="bench-vs-chalice-"))
    env = tool_env(folder)
    try:
        reset_moto(moto_url)  # each tool starts from an empty account: no one lists the other's
        project = cronplane_project(folder, jobs)
        fresh = timed(proxy, jobctl_deploy(proxy.url), project, env)
        again = timed(proxy, jobctl_deploy(proxy.url), project, env)
        if "No changes" not in again.output:  # e.g. the runtime's code was edited between the two
            plan = [line for line in again.output.splitlines() if line.startswith("Plan:")]
            print(f"  warning: cronplane's second deploy was not a no-change one: {plan}")
        results = {"cronplane": (fresh, again)}
        reset_moto(moto_url)
        project = chalice_project(folder, jobs)
        chalice_env = dict(env, AWS_DEFAULT_REGION=REGION, AWS_ENDPOINT_URL=proxy.url)
        command = [str(BIN / "chalice"), "deploy"]
        results["chalice"] = (timed(proxy, command, project, chalice_env), timed(proxy, command, project, chalice_env))
        return results
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def print_results(runs: list[dict[str, tuple[Phase, Phase]]]) -> None:
    def median(tool: str, phase: int, of: str = "seconds") -> float:
        return statistics.median(
            len(r[tool][phase].calls) if of == "calls" else getattr(r[tool][phase], of) for r in runs
        )

    print(
        f"{'tool':<10} {'fresh deploy s':>14} {'fresh calls':>11} {'no-change redeploy s':>20} {'no-change calls':>15}"
        f"   {'(CPU s: fresh, no-change)'}"
    )
    for tool in ("cronplane", "chalice"):
        print(
            f"{tool:<10} {median(tool, 0):14.2f} {median(tool, 0, 'calls'):11.0f} {median(tool, 1):20.2f} "
            f"{median(tool, 1, 'calls'):15.0f}   ({median(tool, 0, 'cpu_seconds'):.2f}, {median(tool, 1, 'cpu_seconds'):.2f})"
        )
    print()
    for label, index, target in (("fresh deploy", 0, TARGET_FRESH), ("no-change redeploy", 1, TARGET_NO_CHANGE)):
        ratio = median("cronplane", index) / median("chalice", index)
        cpu_ratio = median("cronplane", index, "cpu_seconds") / median("chalice", index, "cpu_seconds")
        verdict = "met" if ratio <= target else "NOT met"
        print(
            f"cronplane / chalice, {label + ':':<19} {ratio:5.2f}  (target <= {target}: {verdict}; CPU {cpu_ratio:.2f})"
        )
    if len(runs) > 1:
        for tool in ("cronplane", "chalice"):
            spread = ", ".join(f"{r[tool][0].seconds:.2f}/{r[tool][1].seconds:.2f}" for r in runs)
            print(f"  {tool} runs (fresh/no-change s): {spread}")
    print("\nCalls by operation (last run):")
    for tool in ("cronplane", "chalice"):
        for label, phase in zip(("fresh", "no-change"), runs[-1][tool], strict=True):
            by_op = collections.Counter(phase.calls)
            print(f"  {tool} {label}: " + ", ".join(f"{op} {n}" for op, n in sorted(by_op.items())))


RUN_JOBCTL = "import sys; sys.argv[0] = 'jobctl'; from cronplane.cli.main import main; main()"
# Runs `jobctl deploy` in a child with cProfile on the main thread and on every worker thread
# (kept apart: the workers' time overlaps the main thread's), and records which boto3 clients
# get built and how long each took.
PROFILE_DRIVER = """
import cProfile, sys, threading, time
out, sys.argv = sys.argv[1], ["jobctl", *sys.argv[2:]]
workers = []
thread_run = threading.Thread.run
def profiled_run(self):
    profile = cProfile.Profile()
    workers.append(profile)
    profile.enable()
    try:
        thread_run(self)
    finally:
        profile.disable()
threading.Thread.run = profiled_run
clients = []
def time_clients(session_module):
    create_client = session_module.Session.create_client
    def timed_create_client(self, service_name, *args, **kwargs):
        started = time.perf_counter()
        try:
            return create_client(self, service_name, *args, **kwargs)
        finally:
            clients.append(f"{service_name} {time.perf_counter() - started:.4f}")
    session_module.Session.create_client = timed_create_client
class WhenBotocoreLoads:  # patch botocore.session once cronplane imports it, not earlier
    def find_spec(self, name, path, target=None):
        if name != "botocore.session":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_module = spec.loader.exec_module
        def exec_module(module):
            run_module(module)
            time_clients(module)
        spec.loader.exec_module = exec_module
        return spec
import importlib.util
sys.meta_path.insert(0, WhenBotocoreLoads())
main_thread = cProfile.Profile()
main_thread.enable()
try:
    from cronplane.cli.main import main
    main()
except SystemExit:
    pass
finally:
    main_thread.disable()
    main_thread.dump_stats(out)
    for number, profile in enumerate(workers):
        profile.dump_stats(f"{out}.worker{number}")
    open(out + ".clients", "w").write("\\n".join(clients))
"""


def profile_no_change(proxy: CountingProxy, moto_url: str, jobs: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-vs-chalice-profile-"))
    env = tool_env(folder)
    try:
        reset_moto(moto_url)
        project = cronplane_project(folder, jobs)
        timed(proxy, jobctl_deploy(proxy.url), project, env)
        plain = timed(proxy, jobctl_deploy(proxy.url), project, env)
        startup = timed(proxy, [sys.executable, "-c", "pass"], project, env)
        cli_import = timed(proxy, [sys.executable, "-c", "import cronplane.cli.main"], project, env)
        print(f"\n=== Profile: cronplane no-change redeploy of {jobs} jobs ({plain.seconds:.2f} s unprofiled)")
        print(
            f"  python start-up alone {startup.seconds:.3f} s; start-up + import cronplane.cli.main {cli_import.seconds:.3f} s"
        )
        argv = jobctl_deploy(proxy.url)[1:]
        imports = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", RUN_JOBCTL, *argv],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        print_imports(import_tree(imports.stderr))
        out = folder / "deploy.prof"
        subprocess.run(
            [sys.executable, "-c", PROFILE_DRIVER, str(out), *argv],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        print_profile(out)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class ImportNode:
    name: str
    self_us: int
    cumulative_us: int
    children: list[ImportNode]


def import_tree(importtime_output: str) -> list[ImportNode]:
    """The top-level imports of `python -X importtime` output, each with what it pulled in
    (children are printed before their parent, one indent deeper)."""
    stack: list[tuple[int, ImportNode]] = []
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, raw = line[len("import time:") :].split("|")
        depth = (len(raw) - len(raw.lstrip())) // 2
        node = ImportNode(raw.strip(), int(self_us), int(cumulative_us), [])
        while stack and stack[-1][0] > depth:
            node.children.insert(0, stack.pop()[1])
        stack.append((depth, node))
    return [node for _depth, node in stack]


def print_imports(roots: list[ImportNode]) -> None:
    by_package: collections.Counter[str] = collections.Counter()
    pulled_in: list[tuple[int, str, str]] = []  # (µs, cronplane module, first outside module it imported)

    own: list[tuple[int, str]] = []

    def walk(node: ImportNode) -> None:
        by_package[node.name.split(".")[0]] += node.self_us
        if node.name.startswith("cronplane"):
            own.append((node.self_us, node.name))
        for child in node.children:
            if node.name.startswith("cronplane") and not child.name.startswith("cronplane"):
                pulled_in.append((child.cumulative_us, node.name, child.name))
            walk(child)

    for root in roots:
        walk(root)
    total = sum(by_package.values())
    print(f"\n  imports (python -X importtime, inflates a little): {total / 1e6:.3f} s in all; own time by package:")
    print("    " + ", ".join(f"{name} {us / 1e3:.0f} ms" for name, us in by_package.most_common(12)))
    print("  cronplane modules by own import time (their module bodies: classes, dataclasses, constants):")
    print("    " + ", ".join(f"{name} {us / 1e3:.1f} ms" for us, name in sorted(own, reverse=True)[:6]))
    print("  imported at module level by cronplane modules (cumulative):")
    for us, importer, imported in sorted(pulled_in, reverse=True)[:10]:
        print(f"    {us / 1e3:6.1f} ms  {importer} -> {imported}")
    print("  imported inside functions, while the command runs (cumulative; who: see cProfile below):")
    # Roots after the CLI's own import: imported by a function while the command ran.
    first = next((i for i, node in enumerate(roots) if node.name.startswith("cronplane")), len(roots))
    late = sorted(roots[first + 1 :], key=lambda node: -node.cumulative_us)
    print("    " + ", ".join(f"{node.name} {node.cumulative_us / 1e3:.0f} ms" for node in late[:10]))


def load_stats(*paths: Path) -> pstats.Stats | None:
    stats = None
    for path in paths:
        try:
            loaded = pstats.Stats(str(path))
        except TypeError:  # nothing was profiled in that thread
            continue
        stats = loaded if stats is None else stats.add(loaded)
    return stats


def cumulative(stats: pstats.Stats | None, path_end: str, function: str) -> tuple[float, int]:
    """Seconds spent in ``function`` of the file ending in ``path_end`` (outermost calls), and
    how many times it ran."""
    rows = stats.stats.items() if stats else []  # type: ignore[attr-defined]
    found = [(row[3], row[1]) for (path, _line, name), row in rows if name == function and path.endswith(path_end)]
    return (max(found)[0], sum(n for _t, n in found)) if found else (0.0, 0)


PROFILE_ROWS = [
    ("imports (every import statement)", "importlib._bootstrap>", "_find_and_load"),
    ("boto3 sessions", "boto3/session.py", "__init__"),
    ("client creation", "botocore/session.py", "create_client"),
    ("API calls (botocore _make_api_call)", "botocore/client.py", "_make_api_call"),
    ("  of which HTTP round trips", "botocore/endpoint.py", "_send"),
    ("waiting for worker threads", "threading.py", "wait"),
]


def print_profile(out: Path) -> None:
    main_thread = load_stats(out)
    assert main_thread is not None
    workers = load_stats(*sorted(out.parent.glob(out.name + ".worker*")))
    total = main_thread.total_tt  # type: ignore[attr-defined]
    print(f"\n  cProfile, main thread ({total:.2f} s under the profiler; the items overlap):")
    for label, path_end, function in PROFILE_ROWS:
        seconds, calls = cumulative(main_thread, path_end, function)
        print(f"    {label:<38} {seconds:6.3f} s  {calls:4d} calls  ({seconds / total:4.0%})")
    for label, path_end, function in PROFILE_ROWS[:5]:
        seconds, calls = cumulative(workers, path_end, function)
        if calls:
            print(f"    worker threads: {label:<38} {seconds:6.3f} s  {calls:4d} calls (overlaps the main thread)")
    clients = [line.split() for line in Path(f"{out}.clients").read_text().splitlines() if line]
    print(
        f"  boto3 clients built: {len(clients)}, {sum(float(s) for _n, s in clients):.3f} s: "
        + ", ".join(f"{name} {float(s) * 1e3:.0f} ms" for name, s in clients)
    )
    late = collections.Counter[str]()
    for (path, _line, name), row in main_thread.stats.items():  # type: ignore[attr-defined]
        if name == "_find_and_load" and path.endswith("importlib._bootstrap>"):
            for (caller_path, caller_line, caller), timing in row[4].items():
                if "cronplane" in caller_path:
                    late[f"{short(caller_path)}:{caller_line} {caller}"] += timing[3]
    print("  cronplane functions that import while the command runs (cumulative):")
    for where, seconds in late.most_common(10):
        print(f"    {seconds * 1e3:6.1f} ms  {where}")
    ranked = sorted(main_thread.stats.items(), key=lambda item: -item[1][3])  # type: ignore[attr-defined]
    print("  cronplane functions by cumulative time (main thread; each includes what it calls):")
    ours = [item for item in ranked if "cronplane" in item[0][0] and item[0][2] != "<module>"]
    for (path, line, name), row in ours[:22]:
        print(f"    {row[3]:6.3f} s  {row[1]:5d}x  {short(path)}:{line} {name}")
    print("  top functions by own time (main thread):")
    for (path, line, name), row in sorted(ranked, key=lambda item: -item[1][2])[:8]:
        print(f"    {row[2]:6.3f} s own  {row[3]:6.3f} s cum  {row[1]:6d}x  {short(path)}:{line} {name}")


def short(path: str) -> str:
    """The last two parts of a source path: enough to recognise it."""
    return "/".join(Path(path).parts[-2:]) if path.startswith("/") else path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20, help="scheduled functions per tool")
    parser.add_argument("--runs", type=int, default=3, help="repeats; the medians are reported")
    parser.add_argument("--profile", action="store_true", help="profile cronplane's no-change redeploy")
    args = parser.parse_args()
    if importlib.util.find_spec("chalice") is None or not (BIN / "chalice").exists():
        print("skipped: AWS Chalice is not installed here (pip install -e '.[bench]')")
        return

    proc, moto_url = start_moto_server()
    proxy = CountingProxy(moto_url)
    try:
        print(
            f"{args.jobs} scheduled functions per tool, moto server {moto_url} behind a counting proxy, {args.runs} run(s)\n"
        )
        warm_bytecode()
        runs = [run_once(proxy, moto_url, args.jobs) for _ in range(args.runs)]
        print_results(runs)
        if args.profile:
            profile_no_change(proxy, moto_url, args.jobs)
    finally:
        proxy.shutdown()
        stop_moto_server(proc)


if __name__ == "__main__":
    main()
