"""Alerts: what one notification says (``Alert``), where it goes (``Route``) and how it is sent
(``deliver``). Shared by the wrapper (a run that ended ``failed`` / ``timed_out``), the watchdog
(``late``, ``missed``, ``lost``, ``recovered``) and ``jobctl alerts test``.

Routes, as written under ``alerts.notify`` in jobs.yaml and handed to the runtime in
``CRONPLANE_ALERT_ROUTES`` (a JSON list of those strings):

- ``sns:TOPIC_ARN``: one Publish to that topic;
- ``email:ADDRESS``: a subscription of the namespace's own topic (``CRONPLANE_ALERT_TOPIC``),
  which deploy filters to the messages addressed to it (the message attribute ``emails`` lists
  the alert's addresses): all the email routes of an alert cost one Publish together;
- ``webhook:ssm:/NAME`` / ``webhook:secretsmanager:ID``: an HTTPS POST of Slack-compatible JSON
  (``{"text", "blocks"}``) to the URL kept in that secret (read only when an alert is sent).

Standard library at import (urllib only when a webhook is posted): this module ships in every
Lambda zip and is imported at cold start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

# The runtime's environment (set by ``build.resources.function_environment`` for a job with alerts).
ALERT_ROUTES = "CRONPLANE_ALERT_ROUTES"  # JSON list of route strings ("email:oncall@example.com")
ALERT_TOPIC = "CRONPLANE_ALERT_TOPIC"  # the namespace's topic ARN (email routes publish there)
ALERT_ON = "CRONPLANE_ALERT_ON"  # JSON list: which of ON_KINDS alert
TEAM = "CRONPLANE_TEAM"
OWNER = "CRONPLANE_OWNER"

ROUTE_KINDS = ("sns", "email", "webhook")
ON_KINDS = ("failed", "timed_out", "lost", "missed", "late")  # what ``alerts.on`` may name
ALERT_KINDS = (*ON_KINDS, "recovered", "test")
WRAPPER_KINDS = frozenset({"failed", "timed_out"})  # the ones the wrapper itself sends
HEADLINES = {
    "failed": "FAILED",
    "timed_out": "TIMED OUT",
    "lost": "LOST (still running past its deadline)",
    "late": "LATE (not started)",
    "missed": "MISSED (never started)",
    "recovered": "RECOVERED",
    "test": "TEST NOTIFICATION",
}
WEBHOOK_TIMEOUT_S = 3.0
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})  # http:// allowed only to these (tests, dev)
SUBJECT_LIMIT = 100  # SNS's limit for an email subject
SLACK_TEXT_LIMIT = 2900  # a section block holds 3000 characters


class Route(NamedTuple):
    """One place an alert goes: ``kind`` in ROUTE_KINDS, ``target`` a topic ARN, an email
    address, or the secret reference that holds a webhook's URL (never the URL itself)."""

    kind: str
    target: str

    @classmethod
    def parse(cls, text: str) -> Route:
        kind, _, target = text.partition(":")
        return cls(kind, target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


class Alert(NamedTuple):
    """One notification. ``error`` is already masked; ``fire_times`` are ISO times (a watchdog
    alert may list several fires of one job); ``next_steps`` are commands and links."""

    job: str
    team: str
    owner: str
    kind: str  # one of ALERT_KINDS
    fire_times: tuple[str, ...]
    run_id: str = ""
    attempts: int = 0
    error: str = ""
    namespace: str = ""
    region: str = ""
    log_url: str = ""
    next_steps: tuple[str, ...] = ()


class RouteResult(NamedTuple):
    route: Route
    ok: bool
    detail: str  # the message id, the HTTP status, or why it was not accepted (no secret in it)


def parse_routes(value: str | Iterable[str] | None) -> tuple[Route, ...]:
    """Routes from ``CRONPLANE_ALERT_ROUTES`` (JSON text) or a list of route strings."""
    if not value:
        return ()
    items = json.loads(value) if isinstance(value, str) else value
    return tuple(Route.parse(str(item)) for item in items)


# -- what an alert says -----------------------------------------------------------------------


def next_steps(job: str, run_id: str, log_url: str = "", *, dead_letter: bool = True) -> tuple[str, ...]:
    """What to do about a run: read it, replay it from the DLQ, read its logs."""
    steps = [f"jobctl history {job} --run {run_id}"]
    if dead_letter:
        steps.append(f"jobctl dlq replay {job} --run {run_id}")
    if log_url:
        steps.append(f"Logs: {log_url}")
    return tuple(steps)


def log_url(region: str, log_group: str, log_stream: str = "", run_id: str = "") -> str:
    """The CloudWatch Logs console page of a log stream (or group), filtered to the run's lines.
    The console takes its location in the URL fragment, %-escaped twice with "$" for "%"."""
    if not region or not log_group:
        return ""

    def part(text: str) -> str:
        return quote(quote(text, safe=""), safe="").replace("%", "$")

    url = f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/"
    url += part(log_group)
    if log_stream:
        url += f"/log-events/{part(log_stream)}"
        if run_id:
            url += "$3FfilterPattern$3D" + part(f'"{run_id}"')
    return url


def subject(alert: Alert) -> str:
    """The email subject: printable ASCII, at most 100 characters (SNS's rules)."""
    text = f"cronplane: {alert.job} {HEADLINES.get(alert.kind, alert.kind.upper())}"
    if alert.namespace:
        text += f" ({alert.namespace})"
    text = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return text[:SUBJECT_LIMIT]


def headline(alert: Alert) -> str:
    where = f" in namespace {alert.namespace}" if alert.namespace else ""
    marker = "[TEST] " if alert.kind == "test" else ""
    return f"{marker}cronplane job {alert.job}{where}: {HEADLINES.get(alert.kind, alert.kind.upper())}"


def _facts(alert: Alert) -> list[tuple[str, str]]:
    facts = [("Job", alert.job), ("Team", alert.team), ("Owner", alert.owner or "-"), ("Status", alert.kind)]
    if alert.fire_times:
        label = "Fire time" if len(alert.fire_times) == 1 else f"Fire times ({len(alert.fire_times)})"
        facts.append((label, ", ".join(alert.fire_times)))
    if alert.run_id:
        facts.append(("Run id", alert.run_id))
    if alert.attempts:
        facts.append(("Attempts", str(alert.attempts)))
    return facts


def text_body(alert: Alert) -> str:
    """The plain-text message (email)."""
    lines = [headline(alert), ""]
    lines += [f"{label + ':':<13}{value}" for label, value in _facts(alert)]
    if alert.error:
        lines += ["", "Error:", alert.error]
    if alert.kind == "test":
        lines += ["", "This is a test sent with `jobctl alerts test`; nothing is wrong with the job."]
    if alert.next_steps:
        lines += ["", "What to do next:"] + [f"  {step}" for step in alert.next_steps]
    return "\n".join(lines) + "\n"


def document(alert: Alert) -> dict[str, Any]:
    """The machine-readable message: every field, plus the text (SNS subscribers other than
    email, such as SQS or Lambda, get this as JSON)."""
    doc: dict[str, Any] = {"source": "cronplane", **alert._asdict()}
    doc["fire_times"] = list(alert.fire_times)
    doc["next_steps"] = list(alert.next_steps)
    doc["text"] = text_body(alert)
    return doc


def slack_body(alert: Alert) -> dict[str, Any]:
    """Slack-compatible webhook JSON: ``text`` (the fallback every receiver shows) and
    ``blocks`` (header, the facts, the error, the next steps)."""

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    title = headline(alert)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": f"*{label}*\n{esc(value)[:1900]}"} for label, value in _facts(alert)],
        },
    ]
    if alert.error:
        error = esc(alert.error)[:SLACK_TEXT_LIMIT]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Error*\n```{error}```"}})
    if alert.next_steps:
        steps = "\n".join(f"<{esc(s[6:])}|Logs>" if s.startswith("Logs: ") else f"`{esc(s)}`" for s in alert.next_steps)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": steps[:SLACK_TEXT_LIMIT]}]})
    summary = title + (f": {alert.error.splitlines()[0][:300]}" if alert.error else "")
    return {"text": summary, "blocks": blocks}


EMAILS_ATTRIBUTE = "emails"


def message_attributes(alert: Alert, emails: Sequence[str] = ()) -> dict[str, Any]:
    """SNS message attributes. Each email subscription of the namespace's topic is filtered on
    ``emails`` containing its address (one value per filter, whatever the number of jobs)."""
    values = {"job": alert.job, "team": alert.team, "kind": alert.kind, "namespace": alert.namespace}
    attributes: dict[str, Any] = {k: {"DataType": "String", "StringValue": v} for k, v in values.items() if v}
    if emails:
        attributes[EMAILS_ATTRIBUTE] = {"DataType": "String.Array", "StringValue": json.dumps(sorted(set(emails)))}
    return attributes


# -- sending ----------------------------------------------------------------------------------


def deliver(
    alert: Alert,
    routes: Sequence[Route],
    *,
    sns_client: SNSClient | None,
    secrets_resolver: Callable[[str], str] | None,
    namespace_topic_arn: str,
    scrub: Callable[[str], str] | None = None,
    timeout_s: float = WEBHOOK_TIMEOUT_S,
) -> list[RouteResult]:
    """Send ``alert`` to every route; one result per route, in order. Never raises: a route that
    fails says why in its result. All email routes share one Publish to the namespace topic;
    ``scrub`` (a secret masker) is applied to every body that leaves."""
    clean = scrub or (lambda text: text)
    results: dict[int, RouteResult] = {}
    emails = [i for i, r in enumerate(routes) if r.kind == "email"]
    if emails:
        addresses = [routes[i].target for i in emails]
        outcome = _publish(sns_client, namespace_topic_arn, alert, clean, "the namespace's alert topic", addresses)
        for i in emails:
            results[i] = RouteResult(routes[i], *outcome)
    for i, route in enumerate(routes):
        if route.kind == "sns":
            results[i] = RouteResult(route, *_publish(sns_client, route.target, alert, clean, route.target))
        elif route.kind == "webhook":
            results[i] = RouteResult(route, *_post(route, alert, secrets_resolver, clean, timeout_s))
        elif route.kind != "email":
            results[i] = RouteResult(route, False, f"unknown route kind {route.kind!r}")
    return [results[i] for i in range(len(routes))]


def _publish(
    sns: SNSClient | None,
    topic_arn: str,
    alert: Alert,
    clean: Callable[[str], str],
    what: str,
    emails: Sequence[str] = (),
) -> tuple[bool, str]:
    if not topic_arn:
        return False, f"no topic: {what} is not configured (deploy the namespace with jobctl deploy)"
    if sns is None:
        return False, "no SNS client"
    message = {"default": json.dumps(document(alert), separators=(",", ":")), "email": text_body(alert)}
    try:
        response = sns.publish(
            TopicArn=topic_arn,
            Subject=clean(subject(alert)),
            Message=clean(json.dumps(message)),
            MessageStructure="json",
            MessageAttributes=message_attributes(alert, emails),
        )
    except Exception as exc:
        return False, _describe(exc)
    return True, f"published (message id {response.get('MessageId', '?')})"


def _post(
    route: Route,
    alert: Alert,
    secrets_resolver: Callable[[str], str] | None,
    clean: Callable[[str], str],
    timeout_s: float,
) -> tuple[bool, str]:
    if secrets_resolver is None:
        return False, "no way to read the webhook's secret here"
    try:
        url = secrets_resolver(route.target).strip()
    except Exception as exc:
        return False, f"could not read the webhook URL from {route.target}: {_describe(exc)}"
    refusal = webhook_url_problem(url)
    if refusal:
        return False, f"the URL in {route.target} {refusal}"
    import urllib.error
    import urllib.request

    body = clean(json.dumps(slack_body(alert))).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", "User-Agent": "cronplane-alerts"}
    )
    try:
        with _opener().open(request, timeout=timeout_s) as response:
            return True, f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code} from the webhook"
    except Exception as exc:
        # The reason only (a refused connection, a timeout): the URL is a secret.
        reason = getattr(exc, "reason", exc)
        return False, f"webhook not reached: {type(reason).__name__}"


def webhook_url_problem(url: str) -> str | None:
    """Why ``url`` is not a webhook cronplane posts to (None when it is): https only, except
    http to this machine (tests and ``jobctl dev``)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "is not a URL"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host in LOCAL_HOSTS:
        return None
    return "is not an https:// URL (plain http is allowed only to 127.0.0.1)"


def _opener() -> Any:
    """A urllib opener that follows no redirect (a 3xx is an error): the secret URL is the only
    place an alert may go."""
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    return urllib.request.build_opener(NoRedirect)


def _describe(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"
