"""A small HCL writer for the Terraform export, laid out the way ``terraform fmt`` leaves a file:
two spaces per level, the ``=`` of consecutive one-line attributes aligned (a blank line, a
nested block or an attribute spanning several lines ends such a run; a heredoc does not), one blank line between
top-level blocks. So a fresh export needs no ``terraform fmt``, and re-running it never shows
up as a diff.

Values: a Python ``str`` is a literal (quoted, with ``${`` and ``%{`` escaped so Terraform
does not read them as templates); ``Raw`` is an expression written as it is (a reference, or a
string template made by the caller); ``Heredoc`` is a multi-line string (policy documents);
numbers, booleans, ``None`` (``null``), lists and dicts (objects) as usual.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

INDENT = "  "
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Raw:
    """An HCL expression written as it is: ``aws_iam_role.x.arn``, ``"${var.namespace}-x"``."""

    text: str


@dataclass(frozen=True)
class Heredoc:
    """A multi-line string, written as an indented heredoc. ``text`` is a template already:
    literal ``${`` in it must have been escaped (``escape_template``)."""

    text: str


@dataclass
class Block:
    type: str
    labels: tuple[str, ...] = ()
    body: list[Attr | Block | Blank] = field(default_factory=list)
    comments: tuple[str, ...] = ()  # lines written first inside the block, without the "#"

    def attr(self, name: str, value: Any) -> Block:
        self.body.append(Attr(name, value))
        return self

    def block(self, child: Block) -> Block:
        self.body.append(child)
        return self


@dataclass(frozen=True)
class Attr:
    name: str
    value: Any


@dataclass(frozen=True)
class Blank:
    """An empty line inside a block: ends a run of aligned attributes."""


def escape_template(text: str) -> str:
    """Literal text for inside a Terraform string template: ``${`` and ``%{`` doubled."""
    return text.replace("${", "$${").replace("%{", "%%{")


def quote(text: str) -> str:
    """A literal string as an HCL quoted string."""
    return f'"{_escape_quoted(escape_template(text))}"'


def quote_template(template: str) -> str:
    """A string template (interpolations kept) as an HCL quoted string."""
    return f'"{_escape_quoted(template)}"'


def _escape_quoted(text: str) -> str:
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def render_file(blocks: Sequence[Block], header: Sequence[str] = ()) -> str:
    """Top-level blocks separated by one blank line, with ``header`` comment lines first."""
    parts = []
    if header:
        parts.append("".join(f"# {line}\n" if line else "#\n" for line in header))
    parts.extend(render_block(block, 0) for block in blocks)
    return "\n".join(parts)


def render_block(block: Block, level: int) -> str:
    pad = INDENT * level
    head = " ".join([block.type, *(f'"{label}"' for label in block.labels)])
    if not block.body and not block.comments:
        return f"{pad}{head} {{}}\n"
    lines = [f"{pad}{head} {{"]
    lines.extend(f"{pad}{INDENT}#{comment}" for comment in block.comments)
    lines.extend(_body(block.body, level + 1))
    lines.append(f"{pad}}}")
    return "\n".join(lines) + "\n"


def _body(items: Sequence[Attr | Block | Blank], level: int) -> list[str]:
    pad = INDENT * level
    lines: list[str] = []
    run: list[tuple[str, str]] = []  # one-line attributes waiting to be aligned

    def flush() -> None:
        width = max((len(key) for key, _ in run), default=0)
        lines.extend(f"{pad}{key.ljust(width)} = {value}" for key, value in run)
        run.clear()

    for item in items:
        if isinstance(item, Attr):
            value = render_value(item.value, level)
            key = _key(item.name)
            # A heredoc stays in the run (fmt aligns its "=" and the run goes on after it);
            # any other value spanning lines ends the run and is not aligned.
            if "\n" in value and not isinstance(item.value, Heredoc):
                flush()
                lines.append(f"{pad}{key} = {value}")
            else:
                run.append((key, value))
        elif isinstance(item, Blank):
            flush()
            lines.append("")
        else:
            flush()
            lines.append(render_block(item, level).rstrip("\n"))
    flush()
    return lines


def render_value(value: Any, level: int) -> str:
    """``value`` as an HCL expression; continuation lines are indented for ``level``."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Heredoc):
        inner = INDENT * (level + 1)
        body = "".join(f"{inner}{line}\n" if line else "\n" for line in value.text.split("\n"))
        return f"<<-EOT\n{body}{INDENT * level}EOT"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        lines = _body([Attr(str(k), v) for k, v in value.items()], level + 1)
        return "{\n" + "\n".join(lines) + "\n" + INDENT * level + "}"
    if isinstance(value, list | tuple):
        items = [render_value(v, level + 1) for v in value]
        if not any("\n" in item for item in items):
            return "[" + ", ".join(items) + "]"
        inner_pad = INDENT * (level + 1)
        return "[\n" + "".join(f"{inner_pad}{item},\n" for item in items) + INDENT * level + "]"
    raise TypeError(f"no HCL form for {type(value).__name__}")


def _key(name: str) -> str:
    return name if _IDENTIFIER.match(name) else quote(name)


__all__ = ["Attr", "Blank", "Block", "Heredoc", "Raw", "escape_template", "quote", "quote_template", "render_file"]
