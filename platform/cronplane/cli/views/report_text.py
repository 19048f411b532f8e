"""``jobctl report`` without ``--html``: a compact summary per job, grouped by team (runs,
success rate, p50 / p95 duration, what went wrong, the last failure)."""

from __future__ import annotations

from cronplane.cli.views.runs import duration
from cronplane.ops.report import CellStatus, Grid, JobRow

# Counted after the run totals when not zero: what a person should look at.
_NOTABLE = (
    CellStatus.MISSED,
    CellStatus.FAILED,
    CellStatus.TIMED_OUT,
    CellStatus.LOST,
    CellStatus.LATE,
    CellStatus.SKIPPED,
    CellStatus.PAUSED,
    CellStatus.RUNNING,
    CellStatus.RETRYING,
    CellStatus.NOT_DEPLOYED,
)


def _one_line(text: str, width: int = 100) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def report_text(grid: Grid) -> str:
    lines = [
        f"Runs of {grid.namespace} from {grid.since:%Y-%m-%d %H:%M} to {grid.until:%Y-%m-%d %H:%M} UTC "
        f"({len(grid.rows)} job(s), {grid.expected} expected fire times)",
    ]
    totals = [f"{n} {status.label}" for status, n in grid.counts.items() if n]
    lines.append("  " + (", ".join(totals) if totals else "no fire times and no runs in the window"))
    team = None
    for row in grid.rows:
        if row.team != team:
            team = row.team
            lines += ["", f"{team}"]
        lines += _row_lines(row)
    return "\n".join(lines)


def _row_lines(row: JobRow) -> list[str]:
    summary = row.summary
    rate = "-" if summary.success_rate is None else f"{summary.success_rate * 100:.1f}%"
    parts = [
        f"{summary.runs} run{'' if summary.runs == 1 else 's'}",
        f"{rate} succeeded",
        f"p50 {duration(summary.p50_ms)}",
        f"p95 {duration(summary.p95_ms)}",
    ]
    parts += [f"{row.count(status)} {status.label}" for status in _NOTABLE if row.count(status)]
    lines = [f"  {row.job}  ({row.schedule})", "    " + " · ".join(parts)]
    if row.last_failure is not None:
        failure = row.last_failure
        lines.append(f"    last failure {failure.at} {failure.run_id}: {_one_line(failure.error or failure.status)}")
    if row.note:
        lines.append(f"    note: {row.note}")
    return lines
