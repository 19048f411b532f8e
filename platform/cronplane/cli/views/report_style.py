"""The report page's fixed parts: its style sheet and the SVG patterns of the cell statuses.
Every status has its own colour (Okabe-Ito, readable with the common colour blindnesses) and
its own glyph or outline, so a grey-scale printout still tells them apart. A pattern fills a
cell's own box (``objectBoundingBox``), so a cell can sit anywhere; drawn in a 13 x 20 box."""

from __future__ import annotations

CELL_W, CELL_H = 13, 20
_INK = "#222"

# status -> (background, glyph markup on top of it). Status keys are ``CellStatus`` values.
GLYPHS: dict[str, tuple[str, str]] = {
    "succeeded": ("#009E73", ""),
    "late": (
        "#F0E442",
        f'<circle cx="6.5" cy="10" r="4" fill="none" stroke="{_INK}" stroke-width="1.4"/>'
        f'<path d="M6.5 7.3V10H8.8" fill="none" stroke="{_INK}" stroke-width="1.4"/>',
    ),
    "failed": ("#D55E00", '<path d="M3.5 7L9.5 13M9.5 7L3.5 13" stroke="#fff" stroke-width="2.2"/>'),
    "timed_out": ("#E69F00", f'<path d="M3.5 5.5H9.5L6.5 10L9.5 14.5H3.5L6.5 10Z" fill="{_INK}"/>'),
    "lost": (
        "#882255",
        '<circle cx="6.5" cy="10" r="3.3" fill="none" stroke="#fff" stroke-width="1.8"/>'
        '<path d="M3.5 13L9.5 7" stroke="#fff" stroke-width="1.4"/>',
    ),
    "skipped": ("#BBBBBB", f'<path d="M3 10H10" stroke="{_INK}" stroke-width="2"/>'),
    "duplicate": ("#56B4E9", f'<path d="M3 8H10M3 12H10" stroke="{_INK}" stroke-width="1.6"/>'),
    "running": ("#0072B2", '<circle cx="6.5" cy="10" r="2.6" fill="#fff"/>'),
    "retrying": (
        "#0072B2",
        '<path d="M9.6 10.5A3.2 3.2 0 1 1 7.5 7" fill="none" stroke="#fff" stroke-width="1.6"/>'
        '<path d="M6.3 4.8L9 7.1L6.2 8.9Z" fill="#fff"/>',
    ),
    "pending": (
        "#FFFFFF",
        '<rect x="0.75" y="0.75" width="11.5" height="18.5" fill="none" stroke="#777" stroke-width="1.5"/>'
        '<circle cx="3.6" cy="10" r="1.1" fill="#777"/><circle cx="6.5" cy="10" r="1.1" fill="#777"/>'
        '<circle cx="9.4" cy="10" r="1.1" fill="#777"/>',
    ),
    "missed": (
        "#FFFFFF",
        '<rect x="1" y="1" width="11" height="18" fill="none" stroke="#D55E00" stroke-width="2" '
        'stroke-dasharray="3 2"/>',
    ),
    "paused": (
        "#CCCCCC",
        f'<rect x="3.8" y="6" width="2" height="8" fill="{_INK}"/><rect x="7.2" y="6" width="2" height="8" fill="{_INK}"/>',
    ),
    "not_deployed": (
        "#F2F2F2",
        "".join(
            f'<circle cx="{x}" cy="{y}" r="0.9" fill="#999"/>'
            for x, y in ((3, 4), (10, 4), (6.5, 10), (3, 16), (10, 16))
        ),
    ),
}


def svg_defs() -> str:
    """One hidden SVG with a ``<pattern id="p-STATUS">`` per status, referenced by every cell."""
    patterns = "".join(
        f'<pattern id="p-{status}" patternUnits="objectBoundingBox" width="1" height="1" '
        f'viewBox="0 0 {CELL_W} {CELL_H}" preserveAspectRatio="none">'
        f'<rect width="{CELL_W}" height="{CELL_H}" fill="{background}"/>{glyph}</pattern>'
        for status, (background, glyph) in GLYPHS.items()
    )
    return f'<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>{patterns}</defs></svg>'


STYLE = """
:root { --ink: #1d2125; --muted: #5f6b76; --line: #d8dde2; --bg: #ffffff; --band: #f6f7f9; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: var(--ink); background: var(--bg); }
header { padding: 16px 20px 10px; border-bottom: 1px solid var(--line); background: var(--band); }
h1 { font-size: 19px; margin: 0 0 4px; }
h1 .ns { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600; }
.meta { color: var(--muted); margin: 0 0 10px; }
.meta b { color: var(--ink); font-weight: 600; }
.legend { display: flex; flex-wrap: wrap; gap: 6px; margin: 0 0 10px; padding: 0; list-style: none; }
.chip { display: inline-flex; align-items: center; gap: 6px; padding: 3px 9px 3px 5px; border: 1px solid var(--line);
  border-radius: 14px; background: #fff; color: var(--ink); font: inherit; font-size: 13px; cursor: pointer; }
.chip[aria-pressed="false"] { opacity: .45; }
.chip:focus-visible, .cell:focus-visible, input:focus-visible, select:focus-visible, button:focus-visible {
  outline: 2px solid var(--accent); outline-offset: 1px; }
.chip .n { font-variant-numeric: tabular-nums; color: var(--muted); }
.chip.zero .n { color: #9aa3ab; }
.swatch { width: 11px; height: 17px; flex: none; }
.tools { display: flex; flex-wrap: wrap; align-items: center; gap: 10px; }
.tools label { color: var(--muted); font-size: 13px; }
.tools select, .tools input { font: inherit; padding: 3px 6px; border: 1px solid #b9c1c9; border-radius: 4px; }
.tools input { width: 16em; }
.tools .shown { color: var(--muted); font-size: 13px; margin-left: auto; }
.hint { color: var(--muted); font-size: 12px; margin: 8px 0 0; }
main { padding: 6px 20px 40px; }
section.team > h2 { font-size: 15px; margin: 16px 0 4px; padding-bottom: 3px; border-bottom: 2px solid var(--ink); }
section.team > h2 .n { color: var(--muted); font-weight: normal; font-size: 13px; }
.row { display: flex; align-items: stretch; border-bottom: 1px solid var(--line); }
.row:hover { background: #fafbfc; }
.info { flex: 0 0 330px; padding: 6px 10px 6px 0; min-width: 0; }
.job { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-weight: 600; font-size: 13.5px; }
.sub, .stats { color: var(--muted); font-size: 12px; }
.sub { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.stats b { color: var(--ink); font-weight: 600; }
.stats .bad { color: #b34700; font-weight: 600; }
.spark { display: block; margin-top: 3px; }
.defs { position: absolute; }
/* Right-aligned: every row ends at the window's end; an auto margin (not justify-content) keeps
   the start of a long row reachable by scrolling. */
.strip { flex: 1 1 auto; display: flex; overflow-x: auto; overflow-y: hidden; padding: 4px 0 2px; min-width: 0; }
.strip > svg { margin-left: auto; flex: none; }
.cells .cell { cursor: pointer; }
.cells .cell:hover, .cells .cell.current { stroke: var(--ink); stroke-width: 1.5; }
.cells .cell.dim { opacity: .12; }
.cells .day line { stroke: #7d8791; stroke-width: 1; }
.cells .day text { fill: var(--muted); font-size: 10px; }
.cells .mark { fill: var(--ink); font-size: 9px; font-weight: 700; text-anchor: middle; }
.empty { color: var(--muted); padding: 20px 0; }
.note { color: #8a4b00; font-size: 12px; }
#tip { position: fixed; z-index: 10; max-width: 420px; padding: 8px 10px; background: #111820; color: #f3f5f7;
  border-radius: 6px; font-size: 12.5px; line-height: 1.45; pointer-events: none; box-shadow: 0 4px 14px rgba(0,0,0,.25); }
#tip .h { font-weight: 700; margin-bottom: 2px; }
#tip .k { color: #9fb0c0; display: inline-block; min-width: 64px; }
#tip .err { color: #ffb38a; white-space: pre-wrap; word-break: break-word; }
dialog { width: min(900px, 94vw); max-height: 88vh; border: 1px solid var(--line); border-radius: 8px; padding: 0; }
dialog::backdrop { background: rgba(20, 28, 36, .45); }
dialog .top { display: flex; align-items: center; gap: 10px; padding: 12px 16px; border-bottom: 1px solid var(--line);
  background: var(--band); position: sticky; top: 0; }
dialog h3 { margin: 0; font-size: 16px; flex: 1; }
dialog .body { padding: 12px 16px 16px; }
dialog dl { display: grid; grid-template-columns: max-content 1fr; gap: 3px 14px; margin: 0 0 12px; }
dialog dt { color: var(--muted); }
dialog dd { margin: 0; word-break: break-word; }
dialog pre { background: #f3f4f6; border: 1px solid var(--line); border-radius: 4px; padding: 8px; margin: 4px 0 10px;
  max-height: 260px; overflow: auto; font-size: 12px; white-space: pre-wrap; word-break: break-word; }
dialog h4 { margin: 12px 0 4px; font-size: 14px; }
.cmd { display: flex; gap: 6px; margin: 4px 0; }
.cmd input { flex: 1; font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; padding: 4px 6px;
  border: 1px solid #b9c1c9; border-radius: 4px; background: #fbfbfc; }
button.small { font: inherit; font-size: 12.5px; padding: 3px 10px; border: 1px solid #9aa5b1; border-radius: 4px;
  background: #fff; cursor: pointer; }
.att { border-left: 3px solid var(--line); padding-left: 10px; margin: 8px 0; }
.att.bad { border-left-color: #D55E00; }
.live { display: inline-block; padding: 1px 7px; border-radius: 9px; background: #e3f1e9; color: #0b6b43; font-size: 12px; }
.live.stale { background: #fde8dc; color: #8a3a00; }
@media print { .tools, .hint, #tip { display: none; } .strip { overflow: visible; } }
"""
