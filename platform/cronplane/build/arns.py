"""The ARNs of the resources cronplane creates, for one partition, region and account: known
before anything exists, so the desired state can name what its resources point at."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Arns:
    partition: str
    region: str
    account: str

    def function(self, name: str) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{name}"

    def role(self, path: str, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role{path}{name}"

    def queue(self, name: str) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{name}"

    def log_group(self, name: str) -> str:
        return f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:{name}"

    def rule(self, name: str) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account}:rule/{name}"

    def schedule(self, group: str, name: str) -> str:
        return f"arn:{self.partition}:scheduler:{self.region}:{self.account}:schedule/{group}/{name}"

    def group(self, name: str) -> str:
        return f"arn:{self.partition}:scheduler:{self.region}:{self.account}:schedule-group/{name}"

    def table(self, name: str) -> str:
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{name}"

    def topic(self, name: str) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account}:{name}"

    def alarm(self, name: str) -> str:
        return f"arn:{self.partition}:cloudwatch:{self.region}:{self.account}:alarm:{name}"
