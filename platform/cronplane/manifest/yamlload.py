"""First stage of ``manifest``: YAML text -> plain Python values plus the line of every key.

PyYAML's ``safe_load`` keeps the last of two duplicate keys without a word, forgets where
each value came from, and expands aliases without limit (the "billion laughs" bomb). So we
let PyYAML compose the node graph (libyaml when available: fast, and it caps nesting depth)
and build the values ourselves: every mapping key's line is recorded under its path, a
duplicate key becomes a problem, and alias expansion is paid for out of a node budget.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from cronplane.errors import ManifestError, Problem

Path = tuple[str | int, ...]

# A 1,000-job manifest is about 40,000 values; an alias bomb is billions.
MAX_NODES = 500_000
MAX_DEPTH = 64

MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
MERGE_TAG = "tag:yaml.org,2002:merge"
STR_TAG = "tag:yaml.org,2002:str"

_Composer = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlDocument:
    """The document's values, where each one was written, and the non-fatal problems
    (duplicate keys, odd tags) found while building it."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    problems: tuple[Problem, ...] = ()

    def line_of(self, path: Path) -> int | None:
        """Line of ``path``, or of its nearest ancestor that was written (a missing key is
        reported where its parent mapping starts)."""
        path = tuple(path)
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]


class _Budget(Exception):
    """Raised deep inside the walk to stop at once; turned into a fatal problem."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document. Fatal problems (syntax, empty file, several documents, alias
    bombs) raise ManifestError; the rest come back in ``YamlDocument.problems``."""
    try:
        root = yaml.compose(text, Loader=_Composer)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        if "expected a single document" in what:
            what = "the file holds more than one YAML document (a second '---'); keep everything in one"
        elif mark is not None and _char_at(text, mark.line, mark.column) == "\t":
            what = f"a tab character (column {mark.column + 1}); YAML indents with spaces only, replace the tab with spaces"
        raise ManifestError([Problem(file, line, "", f"YAML syntax error: {what}")]) from None
    except yaml.reader.ReaderError as exc:
        # Not a MarkedYAMLError: it knows only a character offset, and its text spans lines.
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ManifestError(
            [
                Problem(
                    file,
                    line,
                    "",
                    f"YAML error: control character U+{exc.character if isinstance(exc.character, int) else ord(exc.character):04X} "
                    f"at column {column} is not allowed in YAML; remove it",
                )
            ]
        ) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())  # one line: validate prints one problem per line
        raise ManifestError([Problem(file, 1, "", f"YAML error: {message}")]) from None
    except RecursionError:
        raise ManifestError(
            [Problem(file, None, "", f"YAML nested too deeply (more than {MAX_DEPTH} levels)")]
        ) from None
    if root is None:
        # Line 1: where the mapping should start (validate's lines are always FILE:LINE: ...).
        raise ManifestError(
            [Problem(file, 1, "", "the file is empty; it needs a mapping with namespace, region and jobs")]
        )
    builder = _Builder(file)
    try:
        # Measure first (each distinct node once), so a bomb is refused before expanding it.
        _expanded_size(root, {}, set(), 0)
        data = builder.build(root, (), 0)
    except _Budget as exc:
        raise ManifestError([Problem(file, exc.line, "", exc.message)]) from None
    # An anchor's problems would repeat at every alias that expands it: report each once.
    return YamlDocument(data, builder.lines, tuple(dict.fromkeys(builder.problems)))


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column : column + 1] if 0 <= line < len(lines) else ""


def _expanded_size(node: Node, sizes: dict[int, int], active: set[int], depth: int) -> int:
    """How many values ``node`` becomes once every alias is expanded; raises _Budget for
    documents over MAX_NODES, nested deeper than MAX_DEPTH, or with a cyclic alias."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise _Budget(line, f"values nested deeper than {MAX_DEPTH} levels are not allowed")
    if id(node) in active:
        raise _Budget(line, "a YAML alias refers to its own anchor (a cycle); write the value out")
    size = 1
    if isinstance(node, (SequenceNode, MappingNode)):
        active.add(id(node))
        children = node.value if isinstance(node, SequenceNode) else [n for pair in node.value for n in pair]
        for child in children:
            # Scalars are most nodes: count them without a call.
            size += 1 if isinstance(child, ScalarNode) else _expanded_size(child, sizes, active, depth + 1)
            if size > MAX_NODES:
                raise _Budget(
                    line,
                    f"the document expands to more than {MAX_NODES:,} values; "
                    "YAML aliases (*name) that repeat large anchors are not allowed",
                )
        active.discard(id(node))
    sizes[id(node)] = size
    return size


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.lines: dict[Path, int] = {(): 1}
        self.problems: list[Problem] = []
        self.nodes = 0
        self.active: set[int] = set()  # nodes on the current walk: an alias to one is a cycle
        self.scalars = SafeConstructor()

    def problem(self, line: int, path: Path, message: str) -> None:
        self.problems.append(Problem(self.file, line, dotted(path), message))

    def build(self, node: Node, path: Path, depth: int) -> Any:
        line = node.start_mark.line + 1
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Budget(
                line,
                f"the document expands to more than {MAX_NODES:,} values; "
                "YAML aliases (*name) that repeat large anchors are not allowed",
            )
        if depth > MAX_DEPTH:
            raise _Budget(line, f"values nested deeper than {MAX_DEPTH} levels are not allowed")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path, line)
        if id(node) in self.active:
            raise _Budget(line, "a YAML alias refers to its own anchor (a cycle); write the value out")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != SEQ_TAG:
                    self.problem(line, path, f"unsupported YAML tag {node.tag!r}; write a plain list")
                items = []
                for index, item in enumerate(node.value):
                    self.lines.setdefault((*path, index), item.start_mark.line + 1)
                    items.append(self.build(item, (*path, index), depth + 1))
                return items
            assert isinstance(node, MappingNode)
            if node.tag != MAP_TAG:
                self.problem(line, path, f"unsupported YAML tag {node.tag!r}; write a plain mapping")
            return self.mapping(node, path, depth)
        finally:
            self.active.discard(id(node))

    def scalar(self, node: ScalarNode, path: Path, line: int) -> Any:
        if node.tag == STR_TAG:  # most values; the constructor would return the same text
            return node.value
        try:
            return self.scalars.construct_object(node, deep=True)
        except (ConstructorError, ValueError, TypeError, OverflowError) as exc:
            reason = getattr(exc, "problem", None) or str(exc)
            self.problem(
                line, path, f"cannot read this YAML value ({reason}); write plain text, a number or true/false"
            )
            return None

    def mapping(self, node: MappingNode, path: Path, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        merges: list[Node] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == MERGE_TAG:
                merges.append(value_node)
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_line, path, "a key must be plain text, not a list or mapping")
                continue
            # The key as written: `on:` stays "on" instead of YAML 1.1's True.
            key = key_node.value
            if key in first_line:
                self.problem(
                    key_line,
                    (*path, key),
                    f"duplicate key {key!r} (first on line {first_line[key]}); "
                    "YAML would silently keep only the last one, remove one of them",
                )
                continue
            first_line[key] = key_line
            self.lines[(*path, key)] = key_line
            result[key] = self.build(value_node, (*path, key), depth + 1)
        for source in merges:  # `<<: *defaults`: explicit keys win, earlier sources win
            self.merge(source, result, path, depth)
        return result

    def merge(self, source: Node, result: dict[str, Any], path: Path, depth: int) -> None:
        sources = source.value if isinstance(source, SequenceNode) else [source]
        for item in sources:
            if not isinstance(item, MappingNode):
                self.problem(item.start_mark.line + 1, path, "'<<' merges only mappings (e.g. <<: *defaults)")
                continue
            # Build with a scratch line table so the anchor's lines never overwrite the
            # lines of keys written explicitly here.
            saved, self.lines = self.lines, {}
            try:
                merged = self.build(item, path, depth)
            finally:
                scratch, self.lines = self.lines, saved
            for key_path, line in scratch.items():
                self.lines.setdefault(key_path, line)
            for key, value in merged.items():
                result.setdefault(key, value)


_BARE_KEY = re.compile(r"[^\s.\[\]\"']+")


def read_text(file: str) -> str:
    """The manifest file's text, or ManifestError saying why it cannot be read (missing, a
    folder, unreadable, not UTF-8)."""
    try:
        with open(file, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        raise ManifestError(
            [
                Problem(
                    file, None, "", "no such file; create it (see the manifest reference in the README) or pass -f FILE"
                )
            ]
        ) from None
    except IsADirectoryError:
        raise ManifestError(
            [Problem(file, None, "", "is a folder; pass the manifest file itself, e.g. -f jobs.yaml")]
        ) from None
    except OSError as exc:
        raise ManifestError([Problem(file, None, "", f"cannot be read: {exc.strerror or exc}")]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ManifestError([Problem(file, line, "", "is not UTF-8 text; save it as UTF-8")]) from None


def dotted(path: Path) -> str:
    """``("jobs", "report", "retries", "retry_on", 0)`` -> ``jobs.report.retries.retry_on[0]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif not _BARE_KEY.fullmatch(str(part)) or not str(part).isprintable():
            # A key with a dot, a space or a newline would make the path ambiguous or break
            # validate's one-problem-per-line output: quote it, JSON-style (jobs["my job"]).
            text += f"[{json.dumps(str(part))}]"
        else:
            text += f".{part}" if text else str(part)
    return text
