"""No name means two things: no two modules of the package define a top-level class of the same
name (``Trigger`` once meant a deployed EventBridge trigger and a run's trigger word)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import cronplane

PACKAGE = Path(cronplane.__file__).resolve().parent

# Names two modules may both define, each with the reason it cannot be avoided. Empty: keep it
# so, and when adding one, say why a distinct name would be worse.
ALLOWED_TWICE: dict[str, str] = {}


def class_names(root: Path) -> dict[str, list[str]]:
    """Top-level class name -> the modules (paths relative to ``root``) that define it."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                where[node.name].append(path.relative_to(root).as_posix())
    return where


def duplicates(root: Path) -> dict[str, list[str]]:
    return {name: paths for name, paths in class_names(root).items() if len(paths) > 1 and name not in ALLOWED_TWICE}


def test_no_two_modules_define_the_same_class_name() -> None:
    assert duplicates(PACKAGE) == {}


def test_allow_list_names_only_real_duplicates() -> None:
    defined = class_names(PACKAGE)
    stale = [name for name in ALLOWED_TWICE if len(defined.get(name, [])) < 2]
    assert stale == [], "no longer defined twice: remove from ALLOWED_TWICE"


def test_a_name_defined_twice_is_reported(tmp_path: Path) -> None:
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "scheduler.py").write_text("class Clock:\n    pass\n\n\nclass ScaledClock:\n    pass\n")
    (tmp_path / "recording.py").write_text("class Clock:\n    class Inner:\n        pass\n")
    (tmp_path / "other.py").write_text("def f() -> None:\n    class ScaledClock:\n        pass\n")  # not top level

    assert duplicates(tmp_path) == {"Clock": ["local/scheduler.py", "recording.py"]}
