"""The ``alerts`` setting of jobs.yaml (defaults, ``teams.TEAM``, a job; merged key by key):
the checks the schema cannot make, and the ``AlertPolicy`` a job gets. Pure: no I/O.

    alerts:
      notify: [sns:TOPIC_ARN, email:ADDRESS, webhook:ssm:/NAME]   # where
      on: [failed, timed_out, lost, missed, late]                 # about what (default: all)
      late_after: 5m                                              # not started by then: late
      missed_after: 30m                                           # still nothing: missed
"""

from __future__ import annotations

import re
from typing import Any

from cronplane.manifest.models import DEFAULT_LATE_AFTER_S, DEFAULT_MISSED_AFTER_S, AlertPolicy
from cronplane.runtime.alerts import ON_KINDS, Route

# (key under alerts or "" for alerts itself, path below it, message)
AlertProblem = tuple[str, tuple[int | str, ...], str]


def alert_problems(alerts: dict[str, Any], region: str | None) -> list[AlertProblem]:
    """Each route's target (a topic ARN in the jobs' region, an email address, a webhook's
    secret reference and never its URL in plain text), that there is somewhere to send to, and
    that missed comes after late. Values of the wrong type are the schema's to report."""
    found: list[AlertProblem] = []
    notify, on = alerts.get("notify"), alerts.get("on")
    if notify is None and on != []:
        found.append(("", (), "has no notify: list where alerts go (e.g. notify: [email:oncall@example.com])"))
    for index, text in enumerate(notify if isinstance(notify, list) else []):
        if isinstance(text, str):
            reason = route_problem(Route.parse(text), region)
            if reason:
                found.append(("notify", (index,), reason))
    late, missed = seconds(alerts.get("late_after")), seconds(alerts.get("missed_after"))
    late = DEFAULT_LATE_AFTER_S if late is None else late
    missed = DEFAULT_MISSED_AFTER_S if missed is None else missed
    if missed <= late:
        key = "missed_after" if "missed_after" in alerts else "late_after"
        found.append(
            (
                key,
                (),
                f"missed_after ({missed} s) must be longer than late_after ({late} s): a run is late first, then missed",
            )
        )
    return found


def alert_policy(alerts: Any) -> AlertPolicy | None:
    """None when nobody is told: no ``alerts``, or ``on: []`` (a job's way out of defaults)."""
    if not isinstance(alerts, dict) or not alerts.get("notify"):
        return None
    on = frozenset(alerts.get("on", ON_KINDS))
    if not on:
        return None
    late, missed = seconds(alerts.get("late_after")), seconds(alerts.get("missed_after"))
    return AlertPolicy(
        notify=tuple(Route.parse(text) for text in alerts["notify"]),
        on=on,
        late_after_s=DEFAULT_LATE_AFTER_S if late is None else late,
        missed_after_s=DEFAULT_MISSED_AFTER_S if missed is None else missed,
    )


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
EMAIL = re.compile(r"^[^@\s:,;<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def seconds(value: object) -> int | None:
    """A duration of jobs.yaml (``90s``, ``5m``, ``2h``, ``1d`` or whole seconds) in seconds;
    None when absent or not one (the schema reports that)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]*[smhd]", value):
        return int(value[:-1]) * DURATION_UNITS[value[-1]]
    return None


def route_problem(route: Route, region: str | None) -> str | None:
    """Why an ``alerts.notify`` route cannot be used (None when it can)."""
    kind, target = route
    if kind == "sns":
        match = SNS_TOPIC_ARN.match(target)
        if not match:
            return (
                f"{target!r} is not an SNS topic ARN; write sns:arn:aws:sns:REGION:ACCOUNT:TOPIC "
                "(one topic: no wildcards)"
            )
        if region and match.group(1) != region:
            return (
                f"the topic is in {match.group(1)} but the jobs run in {region}; alerts publish to topics "
                "in the jobs' region (subscribe the other region's endpoint to a topic here)"
            )
    elif kind == "email":
        if not EMAIL.match(target):
            return f"{target!r} is not an email address (e.g. email:billing-oncall@example.com)"
    elif kind == "webhook":
        if "://" in target or target.startswith(("http:", "https:", "hooks.")):
            return (
                "is a webhook URL in plain text, which plan prints and the function's configuration keeps; anyone "
                "with the URL can post to the channel. Put it in SSM (aws ssm put-parameter --type SecureString "
                "--name /team/slack-webhook --value URL) and write webhook:ssm:/team/slack-webhook"
            )
        source, _, name = target.partition(":")
        if source not in ("ssm", "secretsmanager") or not name:
            return (
                f"{target!r} is not a secret reference; write webhook:ssm:/team/slack-webhook or "
                "webhook:secretsmanager:team/slack-webhook"
            )
        if any(c in name for c in "*?") or (source == "ssm" and (not name.startswith("/") or name.endswith("/"))):
            return f"{target!r} must name one parameter or secret (e.g. ssm:/team/slack-webhook), not a pattern or path"
    else:
        return f"{kind!r} is not a kind of route; use sns:, email: or webhook:"
    return None
