"""The deploy lock: one item in the namespace's history table, so two deploys of the same
namespace never interleave their writes. Taken by the deployer just before the first write of a
plan that has changes, released at the end (also on error).

Item: ``job="~deploy"``, ``run_id="~lock"``, ``holder`` ("user@host pid N"), ``since`` and
``expires`` (ISO / epoch seconds). One conditional ``put_item`` takes it; a lock whose holder
died is taken over once it has expired.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from datetime import datetime, timezone
from types import TracebackType
from typing import Callable

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.errors import DeployLockedError
from cronplane.runtime.records import DEPLOY_LOCK_JOB, LOCK_SORT_KEY

DEFAULT_TTL = 15 * 60  # a deploy of a few hundred jobs takes a minute or two; a dead one frees the lock after this
DEFAULT_WAIT = 5.0
POLL = 0.5


def default_holder() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


class DeployLock:
    def __init__(
        self,
        client: AwsClient,
        table: str,
        *,
        holder: str | None = None,
        ttl: int = DEFAULT_TTL,
        wait: float = DEFAULT_WAIT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.holder = holder or default_holder()
        self.ttl = ttl
        self.wait = wait
        self.clock = clock
        self.sleep = sleep or client.sleep
        self.held = False

    def _key(self) -> dict[str, dict[str, str]]:
        return {"job": {"S": DEPLOY_LOCK_JOB}, "run_id": {"S": LOCK_SORT_KEY}}

    def acquire(self) -> None:
        waited = 0.0
        while True:
            now = self.clock()
            try:
                self.client.call(
                    "dynamodb", "put_item", TableName=self.table,
                    Item={**self._key(), "holder": {"S": self.holder},
                          "since": {"S": _iso(now)}, "expires": {"N": str(int(now) + self.ttl)}},
                    # Free, or held by a deploy that died (expired).
                    ConditionExpression="attribute_not_exists(job) OR expires < :now",
                    ExpressionAttributeValues={":now": {"N": str(int(now))}},
                )
                self.held = True
                return
            except AwsCallError as exc:
                if exc.code != "ConditionalCheckFailedException":
                    raise
            if waited >= self.wait:
                raise DeployLockedError(self._message())
            self.sleep(POLL)
            waited += POLL

    def _message(self) -> str:
        item = self.client.call("dynamodb", "get_item", TableName=self.table, Key=self._key(),
                                ConsistentRead=True).get("Item", {})
        holder = item.get("holder", {}).get("S", "another deploy")
        since = item.get("since", {}).get("S", "?")
        expires = int(item.get("expires", {}).get("N", "0"))
        return (f"deploy in progress by {holder}, since {since} (the lock expires at {_iso(expires)}). "
                "Wait for it to finish and run deploy again.")

    def release(self) -> None:
        if not self.held:
            return
        try:
            self.client.call(
                "dynamodb", "delete_item", TableName=self.table, Key=self._key(),
                ConditionExpression="holder = :me", ExpressionAttributeValues={":me": {"S": self.holder}},
            )
        except AwsCallError as exc:
            # Expired and taken over (not ours now), or the table went with destroy --include-history.
            if exc.code not in ("ConditionalCheckFailedException", "ResourceNotFoundException"):
                raise
        self.held = False

    def __enter__(self) -> "DeployLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
