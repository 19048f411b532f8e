"""What ``jobctl watch``, ``jobctl alerts`` and ``jobctl alerts test`` print, and the line
``jobctl dev`` shows for each alert its watchdog sends. Pure: values in, text / JSON-ready dicts
out; colour only when asked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cronplane.cli.views.text import plural, style, table

if TYPE_CHECKING:
    from datetime import datetime

    from cronplane.ops.alerting import AlertTrial
    from cronplane.ops.watch_findings import OpenAlert
    from cronplane.ops.watchdog import Notice, PassReport

# How the kinds read in a table: "failing" is a failed or timed-out run the job's wrapper announced.
SHOWN = {"failed": "failing", "timed_out": "failing (timed out)"}
COLOURS = {"late": "yellow", "recovered": "green"}
EMAIL_NOT_SENT = "shown, not sent by jobctl dev"


def watch_text(report: PassReport, *, colour: bool = False) -> str:
    """A pass: what it sent, what is open after it, and the verdict."""
    lines = [f"Watchdog pass at {_time(report.now)} over {plural(len(report.jobs), 'job')}"]
    if report.sent:
        lines += ["", "Sent:"] + [f"  {notice_line(n, colour=colour)}" for n in report.sent]
    lines += _open_lines(report.open, colour)
    lines += _error_lines(report.errors, colour)
    lines += ["", _verdict(report, colour)]
    return "\n".join(lines)


def alerts_text(report: PassReport, *, colour: bool = False) -> str:
    """What is open now, since when, and who was told."""
    lines = [f"Alerts of {plural(len(report.jobs), 'watched job')} at {_time(report.now)}"]
    lines += _open_lines(report.open, colour)
    lines += _error_lines(report.errors, colour)
    lines += ["", _verdict(report, colour)]
    return "\n".join(lines)


def report_json(report: PassReport) -> dict[str, Any]:
    return report.as_dict()


def notice_line(notice: Notice, *, colour: bool = False) -> str:
    """One notification: ``missed  report  2 fire times: 09:10, 09:20 -> email:oncall@... `` ."""
    kind = style(f"{notice.kind:<9}", COLOURS.get(notice.kind, "red"), colour=colour)
    told = ", ".join(notice.accepted) or "nobody"
    failed = f"  (not accepted: {'; '.join(notice.failed)})" if notice.failed else ""
    return f"{kind} {notice.job}  {_events(notice.events)} -> {told}{failed}"


def dev_alert_line(notice: Notice, *, colour: bool = False) -> str:
    """``jobctl dev``: an alert its watchdog sent. Emails go to the namespace's topic, which
    the emulator does not deliver: shown, not sent (webhooks are really posted)."""
    shown = [f"{r} ({EMAIL_NOT_SENT})" if r.startswith("email:") else r for r in notice.accepted]
    failed = f"  (not accepted: {'; '.join(notice.failed)})" if notice.failed else ""
    kind = style(notice.kind.upper(), COLOURS.get(notice.kind, "red"), bold=True, colour=colour)
    return f"ALERT {kind} {notice.job}: {_events(notice.events)} -> {', '.join(shown) or 'nobody'}{failed}"


def trial_text(outcome: AlertTrial, *, colour: bool = False) -> str:
    lines = [f"Test notification for {outcome.job}:"]
    for result in outcome.results:
        mark = style("accepted", "green", colour=colour) if result.ok else style("NOT accepted", "red", colour=colour)
        lines.append(f"  {result.route}: {mark} ({result.detail})")
    if not outcome.results:
        lines.append("  no routes")
    accepted = sum(1 for r in outcome.results if r.ok)
    lines.append(f"{accepted} of {plural(len(outcome.results), 'route')} accepted it.")
    return "\n".join(lines)


def trial_json(outcome: AlertTrial) -> dict[str, Any]:
    return {
        "job": outcome.job,
        "routes": [{"route": str(r.route), "accepted": r.ok, "detail": r.detail} for r in outcome.results],
    }


def _open_lines(open_alerts: tuple[OpenAlert, ...], colour: bool) -> list[str]:
    if not open_alerts:
        return ["", "Nothing is open."]
    rows = [
        [
            a.job,
            SHOWN.get(a.kind, a.kind),
            a.since,
            _events(a.events),
            _told(a),
        ]
        for a in open_alerts
    ]
    lines = table(["JOB", "OPEN", "SINCE", "EVENTS", "TOLD"], rows)
    head, body = lines[0], lines[1:]
    body = [
        style(line, "yellow" if a.kind == "late" else "red", colour=colour)
        for line, a in zip(body, open_alerts, strict=True)
    ]
    return ["", "Open:", f"  {head}", *(f"  {line}" for line in body)]


def _told(alert: OpenAlert) -> str:
    if alert.pending:
        return "nobody yet (the next watchdog pass sends it)"
    who = ", ".join(alert.told) or "nobody"
    by = "by the job's wrapper" if alert.by == "wrapper" else (f"at {alert.told_at}" if alert.told_at else "")
    return f"{who} {by}".rstrip()


def _events(events: tuple[str, ...]) -> str:
    if not events:
        return "-"
    if len(events) == 1:
        return events[0]
    shown = ", ".join(events[:3]) + (", ..." if len(events) > 3 else "")
    return f"{len(events)}: {shown}"


def _error_lines(errors: tuple[str, ...], colour: bool) -> list[str]:
    if not errors:
        return []
    return ["", style("Could not check:", "red", colour=colour)] + [f"  {e}" for e in errors]


def _verdict(report: PassReport, colour: bool) -> str:
    if report.errors:
        return style(f"ERROR: {plural(len(report.errors), 'job')} could not be checked", "red", colour=colour)
    if report.open:
        jobs = sorted({a.job for a in report.open})
        return style(f"OPEN: {plural(len(report.open), 'alert')} in {', '.join(jobs)}", "red", colour=colour)
    return style(f"OK: nothing open in {plural(len(report.jobs), 'watched job')}", "green", colour=colour)


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
