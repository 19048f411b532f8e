"""``jobctl report --html``: the run grid as ONE self-contained HTML file (inline CSS, script and
SVG; no network, no external font), and the same page served live by ``jobctl dev``.

The page is a static header (window, counts per status, filters: escaped here) and a JSON data
block that the script draws the grid from. History values are untrusted (job output, error
text): in the data block every ``<``, ``>`` and ``&`` is a JSON escape, so no text can close the
block, and the script puts values on the page as text only. The Content-Security-Policy allows
the page's own script and style by their hashes, no other script, and no network at all (the
live page: its own origin only), so even a value that did become markup could not run."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronplane.cli.views.report_script import SCRIPT
from cronplane.cli.views.report_style import STYLE, svg_defs
from cronplane.ops.report import Cell, CellStatus, Grid, JobRow
from cronplane.runs.history import decode_result, effective_status, percentile
from cronplane.runtime.schema import RunRecord, RunStatus, Trigger, iso, parse_iso

SPARK_POINTS = 150
# Rows with more runs than this keep the request id and result of failed runs only: a week of a
# per-minute job would otherwise be megabytes of ids nobody opens (the detail shows the
# `jobctl history --run` command that prints them).
DENSE_ROW_RUNS = 2_000
RESULT_CHARS = 2_000
_RUN_STATUSES = [s.value for s in RunStatus]
_TRIGGERS = [t.value for t in Trigger]
_EXTRA_KINDS = {Trigger.MANUAL.value: 1, Trigger.RETRY.value: 2, Trigger.BACKFILL.value: 3}
_DUPLICATE_KIND = 4


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def content_security_policy(live: bool) -> str:
    """No script but the page's own, no network (live: its own origin, for the refresh)."""
    connect = "'self'" if live else "'none'"
    return (
        f"default-src 'none'; script-src '{_sha256(SCRIPT)}'; style-src '{_sha256(STYLE)}'; "
        f"img-src data:; connect-src {connect}; base-uri 'none'; form-action 'none'"
    )


# -- the data block ---------------------------------------------------------------------------
def model(grid: Grid, live: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the script draws: plain JSON, compact (cells and runs as short arrays)."""
    base = int(grid.since.timestamp())
    notes: dict[str, int] = {"": 0}
    statuses = list(CellStatus)
    jobs = [_job_model(row, base, notes, statuses, grid.generated_at) for row in grid.rows]
    body = {
        "namespace": grid.namespace,
        "since": iso(grid.since),
        "until": iso(grid.until),
        "base": base,
        "statuses": [{"key": s.value, "label": s.label} for s in statuses],
        "run_statuses": _RUN_STATUSES,
        "triggers": _TRIGGERS,
        "counts": {s.value: n for s, n in grid.counts.items()},
        "expected": grid.expected,
        "teams": grid.teams,
        "notes": list(notes),
        "jobs": jobs,
    }
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return {**body, "version": version, "generated": iso(grid.generated_at), "live": live}


def data_json(data: dict[str, Any]) -> str:
    """JSON safe inside ``<script type="application/json">``: nothing in it can end the block
    or open a comment, whatever the history holds."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escaped)
    return text


def _job_model(
    row: JobRow, base: int, notes: dict[str, int], statuses: list[CellStatus], now: datetime
) -> dict[str, Any]:
    run_index: dict[str, int] = {}
    runs: list[list[Any]] = []
    dense = len(row.runs) > DENSE_ROW_RUNS
    cells, deltas = [], []
    previous = base
    for cell in row.cells:
        moment = int(cell.at.timestamp())
        deltas.append(moment - previous)
        previous = moment
        run = row.runs.get(cell.run_id) if cell.run_id else None
        index = -1
        if run is not None:
            if run.run_id not in run_index:
                run_index[run.run_id] = len(runs)
                runs.append(_run_model(run, base, dense and cell.status is CellStatus.SUCCEEDED, now))
            index = run_index[run.run_id]
        note = notes.setdefault(cell.note, len(notes))
        cells.append(_trim([statuses.index(cell.status), index, note, _kind(cell)], (-1, 0, 0)))
    summary = row.summary
    last = row.last_failure
    return {
        "name": row.job,
        "team": row.team,
        "owner": row.owner,
        "schedule": row.schedule,
        "tz": row.timezone,
        "note": row.note,
        "summary": {
            "runs": summary.runs,
            "rate": summary.success_rate,
            "p50": summary.p50_ms,
            "p95": summary.p95_ms,
            "missed": row.count(CellStatus.MISSED),
            "last_failure": None
            if last is None
            else {"at": last.at, "run_id": last.run_id, "status": last.status, "error": last.error[:500]},
        },
        "spark": _spark(row),
        "days": _days(row.cells, row.timezone),
        "brief": dense,  # its succeeded runs carry no request id and result (DENSE_ROW_RUNS)
        "dt": deltas,
        "cells": cells,
        "runs": runs,
    }


def _kind(cell: Cell) -> int:
    if cell.slot:
        return 0
    if cell.status is CellStatus.DUPLICATE:
        return _DUPLICATE_KIND
    return _EXTRA_KINDS.get(str(cell.trigger), _DUPLICATE_KIND)


def _trim(values: list[Any], defaults: tuple[Any, ...]) -> list[Any]:
    """Leave out trailing values that equal their default (``defaults`` lines up with the end)."""
    values = list(values)
    for default in reversed(defaults):
        if len(values) > 1 and values[-1] == default:
            values.pop()
        else:
            break
    return values


def _offset(text: str | None, base: int) -> int | None:
    return None if not text else int(parse_iso(text).timestamp()) - base


def _run_model(run: RunRecord, base: int, brief: bool, now: datetime) -> list[Any]:
    """[id, status, trigger, scheduled_for, started_at, finished_at, duration_ms, attempts,
    request_id, rare fields]: times in seconds (scheduled_for after ``base``, started_at after
    scheduled_for when there is one, finished_at after started_at); an id that starts with its
    fire time's key keeps only the rest ("-<suffix>": the script rebuilds it)."""
    status = effective_status(run, now)
    run_id = run.run_id
    key = (run.scheduled_for or "").replace("-", "").replace(":", "")  # iso() form -> time_key form
    if key and run_id.startswith(key + "-"):
        run_id = run_id[len(key) :]
    scheduled = _offset(run.scheduled_for, base)
    started = _offset(run.started_at, base)
    finished = _offset(run.finished_at, base)
    rare: dict[str, Any] = {}
    if status not in _RUN_STATUSES:
        rare["status"] = status
    if run.trigger not in _TRIGGERS and run.trigger:
        rare["trigger"] = run.trigger
    if status != run.status:
        rare["stored_status"] = run.status
    for name in ("error", "triggered_by", "retry_of", "yielded_to", "duplicate_of"):
        if getattr(run, name):
            rare[name] = getattr(run, name)
    has_errors = any(a.error_type or a.traceback for a in run.attempts)
    if not brief and run.result is not None:
        result = decode_result(run.result)
        text = result if isinstance(result, str) else json.dumps(result, indent=2)
        rare["result"] = text if len(text) <= RESULT_CHARS else text[:RESULT_CHARS] + " …(cut)"
    if len(run.attempts) > 1 or has_errors:
        rare["attempts"] = [a.as_dict() for a in run.attempts]
    values = [
        run_id,
        _RUN_STATUSES.index(status) if status in _RUN_STATUSES else -1,
        _TRIGGERS.index(run.trigger) if run.trigger in _TRIGGERS else -1,
        scheduled,
        started if scheduled is None or started is None else started - scheduled,
        None if finished is None or started is None else finished - started,
        run.duration_ms,
        len(run.attempts),
        None if brief else run.request_id,
        rare or None,
    ]
    while values and values[-1] is None:
        values.pop()
    return values


def _spark(row: JobRow) -> dict[str, Any]:
    """At most SPARK_POINTS points: the longest duration of each slice of the runs in time
    order (a spike stays visible), and p50 / p95 of all of them."""
    durations = [ms for _, ms in row.durations]
    if not durations:
        return {"points": [], "p50": 0, "p95": 0, "max": 0}
    size = max(1, -(-len(durations) // SPARK_POINTS))
    points = [max(durations[i : i + size]) for i in range(0, len(durations), size)]
    ordered = sorted(durations)
    return {"points": points, "p50": percentile(ordered, 50), "p95": percentile(ordered, 95), "max": max(points)}


def _days(cells: tuple[Cell, ...], timezone: str) -> list[list[Any]]:
    """[cell index, label] at the first cell of every local date (midnight in the job's zone)."""
    try:
        zone: Any = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    days: list[list[Any]] = []
    previous = None
    for index, cell in enumerate(cells):
        local = cell.at.astimezone(zone).date()
        if local != previous:
            days.append([index, local.strftime("%a %d %b")])
            previous = local
    return days


# -- the page ---------------------------------------------------------------------------------
def render(grid: Grid, *, live: dict[str, Any] | None = None) -> str:
    data = model(grid, live)
    e = escape
    chips = "".join(
        f'<li><button type="button" class="chip{" zero" if not n else ""}" data-status="{e(s.value)}" aria-pressed="true">'
        f'<svg class="swatch" viewBox="0 0 13 20" aria-hidden="true"><rect width="13" height="20" fill="url(#p-{e(s.value)})"/></svg>'
        f'{e(s.label)} <span class="n">{n}</span></button></li>'
        for s, n in grid.counts.items()
    )
    teams = "".join(f'<option value="{e(t)}">{e(t)}</option>' for t in grid.teams)
    live_badge = '<span id="live" class="live">live</span> ' if live else ""
    window = f"{grid.since:%Y-%m-%d %H:%M} → {grid.until:%Y-%m-%d %H:%M} UTC"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{e(content_security_policy(bool(live)))}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Run report · {e(grid.namespace)}</title>
<style>{STYLE}</style>
</head>
<body>
{svg_defs()}
<header>
<h1>Run report · <span class="ns">{e(grid.namespace)}</span></h1>
<p class="meta">{live_badge}Window <b>{e(window)}</b> · <b>{len(grid.rows)}</b> jobs · <b id="counts-total">{grid.expected}</b> expected fire times · generated <span id="generated">{e(iso(grid.generated_at))}</span></p>
<ul class="legend" aria-label="Cells per status; click to show only that status, Ctrl-click to add or remove">{chips}</ul>
<div class="tools">
<label>Team <select id="team"><option value="">all teams</option>{teams}</select></label>
<label>Job <input id="search" type="search" placeholder="search by name" autocomplete="off"></label>
<button type="button" id="reset" class="small">Show all</button>
<span id="shown" class="shown"></span>
</div>
<p class="hint">Square cells are the schedule's fire times; round cells (M manual, R retry, B backfill, D duplicate) are runs at their start. Hover or focus a cell for details, click or press Enter to open the run; arrow keys move. Sparkline: duration per run, dashed line p50, orange line p95. Day lines at midnight in each job's time zone.</p>
</header>
<main id="grid" aria-label="Run grid"><noscript><p class="empty">The grid needs JavaScript; the counts above are complete without it.</p></noscript></main>
<div id="tip" role="tooltip" hidden></div>
<dialog id="detail" aria-labelledby="detail-title"><div class="top"><h3 id="detail-title"></h3><button type="button" id="close" class="small">Close</button></div><div class="body"></div></dialog>
<script type="application/json" id="report-data">{data_json(data)}</script>
<script>{SCRIPT}</script>
</body>
</html>
"""
