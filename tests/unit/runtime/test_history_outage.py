"""The history table cannot be written (throttling, outage): the job still runs, the write is
retried briefly, and the record goes to the log (and, on failure, into the DLQ message)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import ANY, Stubber
from runtime_helpers import (
    TABLE,
    Env,
    FakeLambdaContext,
    env,  # noqa: F401 - the fixture
    schedule_event,
)

from cronplane.runtime.exceptions import HistoryUnavailable
from cronplane.runtime.schema import RunRecord
from cronplane.runtime.store import DynamoRunStore

WRITES = ("put_item", "transact_write_items")


class ThrottledDynamo:
    """The real (moto) client, except that the first ``failures`` writes are throttled."""

    def __init__(self, real: Any, failures: int) -> None:
        self.real = real
        self.failures = failures
        self.attempted = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name not in WRITES:
            return target

        def write(**kwargs: Any) -> Any:
            self.attempted += 1
            if self.failures != 0:
                self.failures -= 1
                raise ClientError(
                    {
                        "Error": {
                            "Code": "ProvisionedThroughputExceededException",
                            "Message": "Rate of requests exceeds the allowed throughput.",
                        }
                    },
                    name,
                )
            return target(**kwargs)

        return write


CALLS = """
    CALLS = []
    def handler(event, context):
        CALLS.append(context.attempt)
        if event.get("fail"):
            raise RuntimeError("upstream said no")
        return {"rows": 3}
"""


def throttle(env: Env, failures: int) -> ThrottledDynamo:
    proxy = ThrottledDynamo(env.client("dynamodb"), failures)
    env.clients["dynamodb"] = proxy
    return proxy


def test_throttled_table_job_still_runs_and_its_record_is_logged(env: Env) -> None:
    proxy = throttle(env, failures=-1)  # never recovers
    wrapper = env.wrapper(CALLS)
    record = wrapper.handle(schedule_event(), FakeLambdaContext())

    assert wrapper.job_function.__globals__["CALLS"] == [1]
    assert record["status"] == "succeeded"
    logged = [line["record"] for line in env.logged() if "record" in line]
    assert logged == [record]
    # Bounded: 3 tries per write with short, injectable waits; nothing reached the table.
    assert proxy.attempted == 6 and env.sleeps == [0.1, 0.2, 0.1, 0.2]
    assert proxy.real.scan(TableName=TABLE)["Count"] == 0


def test_throttled_table_failed_run_puts_its_record_into_the_dlq_message(env: Env) -> None:
    throttle(env, failures=-1)
    record = env.wrapper(CALLS, payload={"fail": True}, retry={"max_attempts": 2, "backoff_base": 0}).handle(
        schedule_event(), FakeLambdaContext()
    )
    assert record["status"] == "failed"
    [message] = env.dead_letters()
    assert message["record"] == record and len(message["record"]["attempts"]) == 2


def test_briefly_throttled_table_gets_the_record_after_a_retry(env: Env) -> None:
    proxy = throttle(env, failures=1)
    record = env.wrapper(CALLS).handle(schedule_event(), FakeLambdaContext())
    assert env.runs() == [record] and proxy.attempted == 3 and env.sleeps == [0.1]
    assert not [line for line in env.logged() if "record" in line]


def test_store_retries_the_exact_request_then_gives_up(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    sleeps: list[float] = []
    store = DynamoRunStore(client, TABLE, sleep=sleeps.append)
    expected = {
        "TableName": TABLE,
        "Item": ANY,
        "ConditionExpression": "attribute_not_exists(run_id)",
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    with Stubber(client) as stub:
        for _ in range(3):
            stub.add_client_error("put_item", "ThrottlingException", expected_params=expected)
        with pytest.raises(HistoryUnavailable, match="put_item on acme-history failed 3 times"):
            store.begin(RunRecord("j", "r", status="running"))
        stub.assert_no_pending_responses()
    assert sleeps == [0.1, 0.2]


def test_store_does_not_retry_a_missing_table(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    sleeps: list[float] = []
    with Stubber(client) as stub:
        stub.add_client_error("put_item", "ResourceNotFoundException", "Requested resource not found")
        with pytest.raises(HistoryUnavailable, match="ResourceNotFoundException"):
            DynamoRunStore(client, TABLE, sleep=sleeps.append).finish(RunRecord("j", "r"))
    assert sleeps == []


class LostAnswer:
    """The real client, but the answer to call number ``lose`` of ``operation`` is lost after the
    write landed (a read timeout): the caller cannot tell whether it happened."""

    def __init__(self, real: Any, operation: str, lose: int = 1) -> None:
        self.real = real
        self.operation = operation
        self.lose = lose
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.real, name)
        if name != self.operation:
            return target

        def call(**kwargs: Any) -> Any:
            self.calls += 1
            response = target(**kwargs)
            if self.calls == self.lose:
                raise ReadTimeoutError(endpoint_url="https://example.invalid")
            return response

        return call


@pytest.mark.parametrize("concurrency, operation", [("allow", "put_item"), ("forbid", "transact_write_items")])
def test_start_write_whose_answer_was_lost_is_not_mistaken_for_a_second_delivery(
    env: Env, concurrency: str, operation: str
) -> None:
    proxy = LostAnswer(env.client("dynamodb"), operation)
    env.clients["dynamodb"] = proxy
    wrapper = env.wrapper(CALLS, concurrency=concurrency)
    record = wrapper.handle(schedule_event(), FakeLambdaContext())
    # The retry met the item its own first try wrote: the job runs, no duplicate is recorded.
    assert wrapper.job_function.__globals__["CALLS"] == [1]
    assert record["status"] == "succeeded" and env.runs() == [record]
    assert [r for r in env.records() if r["run_id"] == "~lock"] == []


def test_dead_letter_is_not_sent_again_after_a_read_timeout(env: Env) -> None:
    proxy = LostAnswer(env.client("sqs"), "send_message")
    env.clients["sqs"] = proxy
    record = env.wrapper(CALLS, payload={"fail": True}, retry={"max_attempts": 1}).handle(
        schedule_event(), FakeLambdaContext()
    )
    assert record["status"] == "failed"
    # The message reached the queue although its answer was lost: one message, not two.
    assert proxy.calls == 1 and len(env.dead_letters()) == 1
    assert [line["dead_letter"]["run_id"] for line in env.logged() if "dead_letter" in line] == [record["run_id"]]


def test_hand_over_write_whose_answer_was_lost_still_hands_over(env: Env) -> None:
    import random

    from cronplane.runtime.wrapper import Clock

    source = """
        def handler(event, context):
            raise ConnectionError("reset")
    """
    wrapper = env.wrapper(
        source,
        retry={"max_attempts": 3, "backoff_base": 10, "backoff_cap": 10},
        clock=Clock(sleep=env.sleeps.append, rng=random.Random(7)),
    )
    proxy = LostAnswer(env.client("dynamodb"), "put_item", lose=2)  # call 1 starts the run, 2 hands over
    wrapper.store.client = proxy  # type: ignore[attr-defined]
    record = wrapper.handle(schedule_event(), FakeLambdaContext(2_500))
    assert proxy.calls == 3  # the hand-over was tried again and met its own write
    assert record["status"] == "retrying" and len(env.spy.calls) == 1
    assert [r["status"] for r in env.runs()] == ["retrying"] and env.dead_letters() == []
