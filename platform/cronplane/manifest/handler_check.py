"""Static check of a job's handler, part of ``manifest`` validation.

Validation runs in review, on laptops and in CI, so it must never import or execute team code
(imports have side effects, need the team's dependencies, may be slow or hostile). We read the
file with ``ast`` instead: it must lie under jobs/ (no ``..``, absolute path or symlink out),
be importable as a module path, parse, and define the function at module level so that Lambda
can call it as ``handler(event, context)``.
"""

from __future__ import annotations

import ast
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

SPEC_EXAMPLE = "billing/nightly_report.py:handler"
# Top-level names a team folder must not take: what the wrapper and Python itself import.
SHADOWED_TOP_LEVEL = frozenset(sys.stdlib_module_names) | {
    "cronplane",
    "boto3",
    "botocore",
    "s3transfer",
    "urllib3",
    "jmespath",
    "dateutil",
}


@dataclass(frozen=True)
class HandlerRef:
    """A handler spec split and normalised: ``file`` relative to jobs/, posix separators."""

    file: str
    function: str

    @property
    def spec(self) -> str:
        return f"{self.file}:{self.function}"


class HandlerProblem(ValueError):
    """What is wrong with a handler; the message is ready for a manifest Problem."""


def parse_handler(spec: str) -> HandlerRef:
    """Split and normalise ``[jobs/]team/file.py:function`` without touching the disk."""
    if spec.count(":") != 1:
        raise HandlerProblem(f"{spec!r} is not FILE.py:FUNCTION (e.g. {SPEC_EXAMPLE})")
    file, function = spec.split(":")
    if "\\" in file:
        raise HandlerProblem(f"{spec!r}: use / between folders, not \\")
    if file.startswith("/") or (len(file) > 1 and file[1] == ":"):
        raise HandlerProblem(f"{spec!r} is an absolute path; give the file relative to jobs/ (e.g. {SPEC_EXAMPLE})")
    parts = [p for p in PurePosixPath(file).parts if p != "."]
    if parts[:1] == ["jobs"]:
        parts = parts[1:]
    if ".." in parts:
        raise HandlerProblem(f"{spec!r} leaves the jobs/ folder ('..'); handler files must live under jobs/")
    if len(parts) < 2:
        raise HandlerProblem(
            f"{spec!r}: a handler file lives in a team folder, jobs/<team>/<file>.py (e.g. {SPEC_EXAMPLE})"
        )
    if not parts[-1].endswith(".py"):
        raise HandlerProblem(f"{spec!r}: the handler file must be a .py file")
    # Lambda imports "team.module" from the zip, so every part must be a Python identifier.
    for part in [*parts[:-1], parts[-1][: -len(".py")]]:
        if not part.isidentifier():
            raise HandlerProblem(
                f"{spec!r}: {part!r} cannot be imported as a Python module name "
                "(use letters, digits and _, e.g. nightly_report.py)"
            )
    if not function.isidentifier():
        raise HandlerProblem(f"{spec!r}: {function!r} is not a Python function name")
    # The team folder sits at the root of the Lambda zip, ahead of the standard library and
    # the runtime on sys.path: a folder named json would break `import json` everywhere.
    if parts[0] in SHADOWED_TOP_LEVEL:
        raise HandlerProblem(
            f"{spec!r}: a team folder named {parts[0]!r} would hide the {parts[0]!r} module that Python or the "
            "cronplane runtime imports (the job could not even start in Lambda); rename the folder"
        )
    # packaging leaves tests out of every zip (as it does here), so such a handler could never run.
    name = parts[-1]
    if (
        any(p in ("tests", "__pycache__") for p in parts[:-1])
        or name == "conftest.py"
        or name.startswith("test_")
        or name.endswith("_test.py")
    ):
        raise HandlerProblem(
            f"{spec!r}: test files (tests/, test_*.py, *_test.py, conftest.py) are never packaged, "
            "so this handler could not run; move the function to a module that is not a test"
        )
    return HandlerRef("/".join(parts), function)


class HandlerChecker:
    """Checks handlers against one jobs/ folder; parsed files are cached, as many jobs
    often share a module."""

    def __init__(self, jobs_dir: str | os.PathLike[str]) -> None:
        self.jobs_dir = Path(jobs_dir)
        self._trees: dict[Path, ast.Module | HandlerProblem] = {}
        self._results: dict[HandlerRef, HandlerProblem | None] = {}

    def check(self, ref: HandlerRef) -> None:
        """Raise HandlerProblem unless jobs/<ref.file> defines ``def <function>(event, context)``."""
        if ref not in self._results:
            try:
                self._check(ref)
                self._results[ref] = None
            except HandlerProblem as exc:
                self._results[ref] = exc
        problem = self._results[ref]
        if problem is not None:
            raise problem

    def _check(self, ref: HandlerRef) -> None:
        where = f"jobs/{ref.file}"
        path = self.jobs_dir / ref.file
        if not self.jobs_dir.is_dir():
            raise HandlerProblem(
                f"there is no jobs/ folder next to the manifest ({self.jobs_dir}); handler files live in jobs/<team>/"
            )
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise HandlerProblem(f"{where} does not exist; create it or fix the path (relative to jobs/)") from None
        if not real.is_relative_to(self.jobs_dir.resolve()):
            raise HandlerProblem(f"{where} is a link to {real}, outside jobs/; the file itself must live under jobs/")
        if not real.is_file():
            raise HandlerProblem(f"{where} is not a file")
        tree = self._parse(real, where)
        self._check_function(tree, ref, where)

    def _parse(self, real: Path, where: str) -> ast.Module:
        cached = self._trees.get(real)
        if cached is None:
            try:
                cached = ast.parse(real.read_bytes(), filename=where)
            except SyntaxError as exc:
                cached = HandlerProblem(f"{where} line {exc.lineno}: Python syntax error: {exc.msg}")
            except (OSError, ValueError) as exc:
                cached = HandlerProblem(f"{where} cannot be read: {exc}")
            self._trees[real] = cached
        if isinstance(cached, HandlerProblem):
            raise cached
        return cached

    @staticmethod
    def _check_function(tree: ast.Module, ref: HandlerRef, where: str) -> None:
        found: ast.stmt | None = None
        for node in tree.body:  # the last binding wins at import time, as in Python
            if (
                isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == ref.function
            ) or _assigns(node, ref.function):
                found = node
        if found is None:
            raise HandlerProblem(
                f"{where} defines no function {ref.function!r} at module level "
                f"(add: def {ref.function}(event, context): ...)"
            )
        if isinstance(found, ast.AsyncFunctionDef):
            raise HandlerProblem(
                f"{where}:{found.lineno}: {ref.function} is 'async def'; Lambda calls handlers "
                "synchronously, make it a plain def"
            )
        if not isinstance(found, ast.FunctionDef):
            raise HandlerProblem(
                f"{where}:{found.lineno}: {ref.function} is not defined with def, so it cannot be "
                f"checked without running team code; write def {ref.function}(event, context):"
            )
        _check_signature(found, where)


def _assigns(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.Import, ast.ImportFrom)):
        return any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names)
    else:
        return False
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def _check_signature(func: ast.FunctionDef, where: str) -> None:
    """Lambda calls ``handler(event, context)``: the function must accept two positional
    arguments (two parameters, or fewer plus ``*args``), need no third one (extra parameters
    need defaults), and require no keyword-only parameter."""
    args = func.args
    positional = [a.arg for a in args.posonlyargs + args.args]
    required = len(positional) - len(args.defaults)
    required_kwonly = [a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=False) if d is None]
    shape = f"{func.name}({', '.join(positional + ([f'*{args.vararg.arg}'] if args.vararg else []))})"
    accepts_two = len(positional) >= 2 or args.vararg is not None
    if required > 2 or not accepts_two or required_kwonly:
        extra = f" and requires keyword arguments {', '.join(required_kwonly)}" if required_kwonly else ""
        count = required if required > 2 else len(positional)
        raise HandlerProblem(
            f"{where}:{func.lineno}: {shape} takes {count} positional parameter"
            f"{'' if count == 1 else 's'}{extra}; Lambda calls it with exactly two: "
            f"def {func.name}(event, context)"
        )
