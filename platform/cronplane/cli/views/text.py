"""Small pieces every view shares: the one duration format, plurals, colour on request, and
aligned tables. Pure: values in, text out; colour only when the caller asks (it asks on a
terminal)."""

from __future__ import annotations

from collections.abc import Sequence

import click


def duration(ms: float | None) -> str:
    """The one way ``jobctl`` shows how long something took: ``804 ms``, ``1.2 s``,
    ``1m 15s``, ``-`` when unknown. Run lines, history, summaries, deploys and the demo all
    use it, so the same run reads the same everywhere (JSON keeps the milliseconds)."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool):
        return "-"
    if ms < 1000:
        return f"{int(ms)} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes}m {seconds:02d}s"


def seconds(elapsed_s: float) -> str:
    """``duration`` of a wall-clock time measured in seconds."""
    return duration(elapsed_s * 1000)


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def style(text: str, fg: str | None = None, *, bold: bool = False, colour: bool = True) -> str:
    """``text`` in a colour (ANSI codes) when ``colour`` and there is anything to apply."""
    if not colour or not (fg or bold):
        return text
    return click.style(text, fg=fg, bold=bold or None)


def pad(text: str, plain: str, width: int) -> str:
    """Left-justify ``text`` to ``width`` by its visible part ``plain`` (ANSI codes take no room)."""
    return text + " " * max(width - len(plain), 0)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns two spaces apart, each as wide as its widest cell; trailing blanks trimmed."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [headers, *rows]
    ]
