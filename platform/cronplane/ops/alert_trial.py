"""``jobctl alerts test JOB``, the watchdog's side: the request the CLI sends the namespace's
watchdog function (``trial_request``) and how the function answers it (``answer_trial``, called
by ``cronplane.watchdog.entry``). Ships in the watchdog's zip (stdlib and the runtime only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cronplane.runtime import alerts

if TYPE_CHECKING:
    from cronplane.manifest.watch_config import WatchConfig
    from cronplane.ops.watchdog import WatchClients

__all__ = ["TEST_KEY", "answer_trial", "trial_request"]

# ``jobctl alerts test JOB`` invokes the watchdog with {TEST_KEY: {"test": {"job": JOB}}}: the
# watchdog's role may publish to the namespace's topic (its policy lets only the platform's
# functions and CloudWatch publish), the operator's credentials may not.
TEST_KEY = "cronplane_watchdog"


def trial_request(job: str) -> dict[str, Any]:
    return {TEST_KEY: {"test": {"job": job}}}


def answer_trial(config: WatchConfig, clients: WatchClients, event: Any) -> dict[str, Any]:
    """A test alert through the routes of the job ``event`` names, which must be one of
    ``config``'s: ``{"job", "routes": [{"route", "accepted", "detail"}]}``, or ``{"refused": WHY}``
    for anything else. The details never hold a webhook's URL (``alerts.deliver`` words them)."""
    request = event.get(TEST_KEY) if isinstance(event, dict) else None
    test = request.get("test") if isinstance(request, dict) and set(request) == {"test"} else None
    name = test.get("job") if isinstance(test, dict) and set(test) == {"job"} else None
    if not isinstance(name, str):
        return {"refused": f'a watchdog test request is {{"{TEST_KEY}": {{"test": {{"job": JOB}}}}}}'}
    job = config.job(name)
    if job is None:
        return {"refused": f"job {name[:100]!r} has no alerts in namespace {config.namespace}'s watchdog"}
    alert = alerts.Alert(
        job=job.name,
        team=job.team,
        owner=job.owner,
        kind="test",
        fire_times=(),
        namespace=config.namespace,
        region=clients.region,
        next_steps=(f"jobctl alerts {job.name}",),
    )
    results = alerts.deliver(
        alert,
        job.routes,
        sns_client=clients.sns,
        secrets_resolver=clients.read_secret,
        namespace_topic_arn=clients.topic_arn,
    )
    return {
        "job": job.name,
        "routes": [{"route": str(r.route), "accepted": r.ok, "detail": r.detail} for r in results],
    }
