"""The AWS clients the ops commands use, created on first use (``jobctl dlq`` never pays for a
DynamoDB client) and counted per operation, so tests and the audit benchmark can show what a
command cost in requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any


class OpsClients:
    """Lazily built boto3 clients for one command run.

    ``factory(service)`` returns a boto3 client (``AwsConfig.client`` in the CLI; plain
    ``boto3.client`` in tests). Every API call made through these clients is counted in
    ``calls`` as ``"service.Operation"``.
    """

    def __init__(self, factory: Callable[[str], Any]) -> None:
        self._factory = factory
        self._clients: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()
        self._caller_arn: str | None = None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            client = self._factory(service)
            client.meta.events.register("before-call.*.*", self._count)
            self._clients[service] = client
        return self._clients[service]

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def count(self, service: str) -> int:
        """Calls made to one service so far (e.g. ``"dynamodb"``)."""
        return sum(n for key, n in self.calls.items() if key.split(".", 1)[0] == service)

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def events(self) -> Any:
        return self.client("events")

    @property
    def scheduler(self) -> Any:
        return self.client("scheduler")

    @property
    def lambda_(self) -> Any:
        return self.client("lambda")

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    def caller_arn(self) -> str:
        """Who is acting (recorded on pause / resume / backfill / replay); one STS call."""
        if self._caller_arn is None:
            self._caller_arn = str(self.client("sts").get_caller_identity()["Arn"])
        return self._caller_arn
