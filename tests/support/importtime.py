"""Reading ``python -X importtime`` output: how long importing cronplane itself takes, for the
runtime's cold-start budget test (tests/unit/runtime/test_entry.py) and the cold-start benchmark
(benchmarks/bench_cold_start.py)."""

from __future__ import annotations

# Third-party code the runtime leans on (Lambda provides it): not the runtime's own import time.
NOT_OURS = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


def own_import_us(importtime_output: str, not_ours: tuple[str, ...] = NOT_OURS) -> int:
    """Microseconds spent importing cronplane modules and what they pulled in, except the
    subtrees of the packages in ``not_ours`` (children are printed before their parent, one
    indent deeper)."""
    stack: list[tuple[int, int, str]] = []  # (depth, own microseconds, name)
    for line in importtime_output.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, _cumulative, raw = line[len("import time:") :].split("|")
        depth = (len(raw) - len(raw.lstrip())) // 2
        name = raw.strip()
        children = 0
        while stack and stack[-1][0] > depth:
            children += stack.pop()[1]
        own = 0 if name.split(".")[0] in not_ours else int(self_us) + children
        stack.append((depth, own, name))
    return sum(own for _depth, own, name in stack if name.split(".")[0] == "cronplane")
