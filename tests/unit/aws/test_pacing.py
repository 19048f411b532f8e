"""Paced deploys: a token bucket per operation family at AWS's documented rate, shared by the
executor's threads, on a fake clock (nothing here sleeps), and when AwsClient paces by default."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from cronplane.aws import pacing
from cronplane.aws.client import AwsClient
from cronplane.aws.pacing import AWS_RATES, PACING_ENV, Family, Pacer, family_of, pacing_wanted
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError

REGION = "eu-west-1"
MOTO = "http://127.0.0.1:5000"


class FakeClock:
    """Time that moves only when someone sleeps (or, ``frozen``, never: each sleep is just noted)."""

    def __init__(self, *, frozen: bool = False) -> None:
        self.now = 1000.0
        self.frozen = frozen
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            if not self.frozen:
                self.now += seconds


def paced(clock: FakeClock) -> Pacer:
    return Pacer(clock=clock, sleep=clock.sleep)


def test_a_family_is_paced_at_its_rate_after_its_burst() -> None:
    """Lambda's control plane: 15 a second, 15 at once. 45 calls take (45 - 15) / 15 = 2 s."""
    clock = FakeClock()
    pacer = paced(clock)
    waits = [pacer.acquire("lambda", "create_function") for _ in range(45)]
    assert waits[:15] == [0.0] * 15
    assert waits[15:] == pytest.approx([1 / 15] * 30)
    assert clock.now - 1000.0 == pytest.approx(2.0)
    assert pacer.waited == pytest.approx({"lambda control plane": 2.0})


def test_a_paced_family_does_not_slow_another() -> None:
    clock = FakeClock(frozen=True)
    pacer = paced(clock)
    for _ in range(15):
        pacer.acquire("lambda", "update_function_configuration")
    assert pacer.acquire("lambda", "tag_resource") > 0  # the control plane's bucket is empty
    # ... and these have buckets of their own: AWS meters them apart.
    assert [pacer.acquire("logs", "create_log_group") for _ in range(10)] == [0.0] * 10
    assert [pacer.acquire("lambda", "get_function") for _ in range(100)] == [0.0] * 100
    assert [pacer.acquire("scheduler", "create_schedule") for _ in range(250)] == [0.0] * 250
    assert set(pacer.waited) == {"lambda control plane"}


def test_the_bucket_refills_while_no_one_calls() -> None:
    clock = FakeClock()
    pacer = paced(clock)
    for _ in range(3):
        pacer.acquire("cloudwatch", "put_metric_alarm")  # 3 a second
    assert pacer.acquire("cloudwatch", "put_metric_alarm") == pytest.approx(1 / 3)
    clock.now += 10  # idle: the bucket fills up to its burst, not beyond
    assert [pacer.acquire("cloudwatch", "put_metric_alarm") for _ in range(3)] == [0.0] * 3
    assert pacer.acquire("cloudwatch", "put_metric_alarm") == pytest.approx(1 / 3)


def test_threads_share_one_bucket_and_wait_their_turn() -> None:
    """Eight workers, 80 calls on one family: the first 15 go at once, each later one waits one
    token longer than the one before, whichever thread it is on."""
    clock = FakeClock(frozen=True)
    pacer = paced(clock)
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait(timeout=10)
        for _ in range(10):
            pacer.acquire("lambda", "publish_version")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(clock.slept) == pytest.approx([k / 15 for k in range(1, 66)])
    assert pacer.waited["lambda control plane"] == pytest.approx(sum(k / 15 for k in range(1, 66)))


def test_the_client_paces_every_call_through_its_one_pacer(aws: None) -> None:
    """Through AwsClient and moto: the executor's threads share the client, and so its pacer."""
    clock = FakeClock(frozen=True)
    client = AwsClient(AwsConfig(region=REGION), pacer=paced(clock))
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: client.call("logs", "describe_log_groups"), range(20)))
    assert client.count("logs") == 20
    assert sorted(clock.slept) == pytest.approx([k / 10 for k in range(1, 11)])  # 10 a second, 10 at once


def test_calls_metered_by_capacity_are_not_paced() -> None:
    for service, operation in [("lambda", "invoke"), ("dynamodb", "query"), ("dynamodb", "put_item")]:
        assert family_of(service, operation) is None
    assert family_of("sqs", "send_message") is None and family_of("sts", "get_caller_identity") is None
    clock = FakeClock(frozen=True)
    pacer = paced(clock)
    assert all(pacer.acquire("dynamodb", "update_item") == 0.0 for _ in range(1000))


@pytest.mark.parametrize(
    ("service", "operation", "family", "rate"),
    [
        ("lambda", "create_function", "lambda control plane", 15),
        ("lambda", "list_functions", "lambda control plane", 15),  # reads share it
        ("lambda", "get_policy", "lambda GetPolicy", 15),
        ("events", "put_rule", "events API", 50),
        ("events", "list_rules", "events API", 50),
        ("scheduler", "update_schedule", "scheduler UpdateSchedule", 250),
        ("scheduler", "list_schedules", "scheduler ListSchedules", 50),
        ("logs", "put_retention_policy", "logs PutRetentionPolicy", 5),
        ("logs", "filter_log_events", "logs other", 5),  # unlisted: the service's default
        ("iam", "create_role", "iam writes", 10),
        ("iam", "list_role_tags", "iam reads", 20),
        ("sqs", "tag_queue", "sqs tagging", 5),
        ("dynamodb", "tag_resource", "dynamodb TagResource", 5),
        ("kms", "enable_key_rotation", "kms EnableKeyRotation", 5),
        ("cloudwatch", "put_metric_alarm", "cloudwatch PutMetricAlarm", 3),
        ("service-quotas", "get_service_quota", "service-quotas (default)", 5),  # unknown service
    ],
)
def test_operations_map_to_their_family(service: str, operation: str, family: str, rate: float) -> None:
    found = family_of(service, operation)
    assert found is not None and (found.name, found.rate) == (family, rate)


def test_every_rate_cites_its_source_in_the_module_table() -> None:
    doc = pacing.__doc__ or ""
    for fam in set(AWS_RATES.values()):
        assert fam.burst == max(1, math.ceil(fam.rate))  # one second of the rate, at least one token
        if fam.source.startswith("https://"):
            assert fam.source in doc, fam
        else:
            assert fam.source.startswith("no published rate"), fam
    assert Family("x", 0.25, "").burst == 1


def test_pacing_is_on_for_real_aws_and_off_through_an_endpoint_unless_asked() -> None:
    assert pacing_wanted(None, {}) is True
    assert pacing_wanted(MOTO, {}) is False
    assert pacing_wanted(MOTO, {PACING_ENV: "aws"}) is True  # a benchmark's paced run
    assert pacing_wanted(None, {PACING_ENV: "off"}) is False
    assert pacing_wanted(None, {PACING_ENV: "AUTO"}) is True
    with pytest.raises(AwsError, match=r"^CRONPLANE_PACING='fast' is not a pacing mode: use `aws`"):
        pacing_wanted(None, {PACING_ENV: "fast"})


def test_the_client_paces_by_default_only_against_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PACING_ENV, raising=False)
    assert AwsClient(AwsConfig(region=REGION)).pacer.enabled
    assert not AwsClient(AwsConfig(region=REGION, endpoint_url=MOTO)).pacer.enabled
    monkeypatch.setenv(PACING_ENV, "aws")
    assert AwsClient(AwsConfig(region=REGION, endpoint_url=MOTO)).pacer.enabled
    monkeypatch.setenv(PACING_ENV, "off")
    assert not AwsClient(AwsConfig(region=REGION)).pacer.enabled
    assert AwsClient(AwsConfig(region=REGION), pacer=Pacer.off()).pacer.acquire("iam", "create_role") == 0.0


def test_a_disabled_pacer_never_waits() -> None:
    clock = FakeClock(frozen=True)
    pacer = Pacer(clock=clock, sleep=clock.sleep, enabled=False)
    assert all(pacer.acquire("cloudwatch", "put_metric_alarm") == 0.0 for _ in range(100))
    assert clock.slept == [] and pacer.waited == {} and pacer.total_waited == 0.0
