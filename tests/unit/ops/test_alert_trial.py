"""``jobctl alerts test JOB``, the watchdog's side (``ops.alert_trial.answer_trial``, what
``cronplane.watchdog.entry`` runs for a test request): the test alert goes through the job's
routes with the watchdog's clients (moto: an SQS queue on the namespace's topic; a webhook
receiver on 127.0.0.1), each route's outcome comes back without the webhook's URL, and a
request for anything but a job of the watchdog's config is refused with nothing sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from watch_fixtures import EMAIL, Namespace, config, watched

from cronplane.ops.alert_trial import TEST_KEY, answer_trial, trial_request
from support.webhook_receiver import webhook_receiver

HOOK = "webhook:ssm:/billing/hook"


def test_the_test_alert_goes_through_every_route_and_says_which_accepted_it(namespace: Namespace) -> None:
    cfg = config(watched(routes=(EMAIL, HOOK)), watched("other", routes=("email:other@example.com",)))
    with webhook_receiver() as receiver:
        namespace.secrets["ssm:/billing/hook"] = receiver.url
        answer = answer_trial(cfg, namespace.clients, trial_request("report"))
        (slack,) = receiver.wait_for(1)
    assert answer["job"] == "report"
    assert [(r["route"], r["accepted"]) for r in answer["routes"]] == [(EMAIL, True), (HOOK, True)]
    assert answer["routes"][0]["detail"].startswith("published (message id ")
    assert answer["routes"][1]["detail"] == "HTTP 200"
    assert receiver.url not in json.dumps(answer)  # the URL is a secret: never echoed
    (doc,) = namespace.published()
    assert (doc["kind"], doc["job"]) == ("test", "report") and "nothing is wrong with the job" in doc["text"]
    assert slack["text"].startswith("[TEST] cronplane job report")
    assert namespace.sent == []  # a test is no alert: nothing recorded, no notice logged


def test_a_route_that_does_not_accept_says_why_without_the_url(namespace: Namespace) -> None:
    secret_url = "http://127.0.0.1:9/hooks/XXXXsecretXXXX"
    namespace.secrets["ssm:/billing/hook"] = secret_url
    answer = answer_trial(config(watched(routes=(HOOK,))), namespace.clients, trial_request("report"))
    (route,) = answer["routes"]
    assert (route["route"], route["accepted"]) == (HOOK, False)
    assert route["detail"].startswith("webhook not reached") and "XXXXsecretXXXX" not in json.dumps(answer)


@pytest.mark.parametrize(
    "event",
    [
        trial_request("payroll"),  # not a job of this watchdog (another team's, or forged)
        {TEST_KEY: {"test": {"job": "report", "routes": ["webhook:ssm:/attacker/hook"]}}},
        {TEST_KEY: {"test": {"job": ["report"]}}},
        {TEST_KEY: {"test": "report"}},
        {TEST_KEY: {"test": {"job": "report"}, "now": "2099-01-01T00:00:00Z"}},
        {TEST_KEY: None},
    ],
)
def test_a_forged_or_malformed_test_request_is_refused_and_sends_nothing(namespace: Namespace, event: Any) -> None:
    answer = answer_trial(config(watched()), namespace.clients, event)
    assert set(answer) == {"refused"}
    if event == trial_request("payroll"):
        assert answer["refused"] == "job 'payroll' has no alerts in namespace acme-jobs's watchdog"
    else:
        assert answer["refused"].startswith(f'a watchdog test request is {{"{TEST_KEY}": ')
    assert namespace.published() == []
