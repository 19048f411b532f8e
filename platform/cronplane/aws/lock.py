"""The deploy lock: one item in the namespace's history table, so two deploys of the same
namespace never interleave their writes. Taken by the deployer just before the first write of a
plan that has changes, released at the end (also on error and on Ctrl-C).

Item: ``schema.DeployLockRecord`` (``job="~deploy"``, ``run_id="~lock"``): ``holder``
("user@host pid N"), ``since`` and ``expires`` (ISO / epoch seconds), plus ``process_ns`` (the
host and PID namespace of the holder). One conditional ``put_item`` takes it. A lock is taken over:

- at once, when its holder ran on this same host (same PID namespace, so the pid means the same
  process) and that process is gone — a deploy killed with SIGKILL, or a closed terminal, must
  not block the next ``jobctl deploy`` for the lock's whole lifetime;
- once it has expired, whatever host held it (a holder elsewhere cannot be checked from here).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import re
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.errors import DeployLockedError
from cronplane.runtime.schema import DEPLOY_LOCK_JOB, LOCK_SORT_KEY, DeployLockRecord, item_key, to_item

DEFAULT_TTL = 15 * 60  # a deploy of a few hundred jobs takes a minute or two; a dead one frees the lock after this
DEFAULT_WAIT = 5.0
POLL = 0.5
HOLDER_RE = re.compile(r"^(?P<user>.*)@(?P<host>[^@\s]+) pid (?P<pid>\d+)$")


def default_holder() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def process_namespace() -> str:
    """This host and PID namespace: two containers may share a hostname, never a PID
    namespace, and a pid is only meaningful inside its own namespace."""
    try:
        pid_ns = os.readlink("/proc/self/ns/pid")
    except OSError:  # not Linux: the hostname is all there is
        pid_ns = ""
    return f"{socket.gethostname()} {pid_ns}".strip()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process here. A zombie (killed, not yet reaped) is dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    except OSError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): os.kill said it exists


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
        notify: Callable[[str], None] | None = None,
        alive: Callable[[int], bool] = process_alive,
        namespace_id: str | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.holder = holder or default_holder()
        self.ttl = ttl
        self.wait = wait
        self.clock = clock
        self.sleep = sleep or client.sleep
        self.notify = notify or (lambda line: None)
        self.alive = alive
        self.namespace_id = namespace_id or process_namespace()
        self.held = False

    def _key(self) -> dict[str, dict[str, str]]:
        return item_key(DEPLOY_LOCK_JOB, LOCK_SORT_KEY)

    def _put(self, now: float, condition: str, values: dict[str, dict[str, str]]) -> bool:
        """One conditional put of our lock item; False when the condition did not hold."""
        try:
            self.client.call(
                "dynamodb",
                "put_item",
                TableName=self.table,
                Item=to_item(DeployLockRecord(self.holder, _iso(now), int(now) + self.ttl, self.namespace_id)),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except AwsCallError as exc:
            if exc.code != "ConditionalCheckFailedException":
                raise
            return False
        except (KeyboardInterrupt, SystemExit):
            # Ctrl-C while the put was in flight: it may have landed. Remove it if it is ours
            # (conditional on our holder, so never someone else's lock).
            self.held = True
            with contextlib.suppress(Exception):
                self.release()
            raise
        self.held = True
        return True

    def acquire(self) -> None:
        waited = 0.0
        while True:
            now = self.clock()
            # Free, or held by a deploy that died (expired).
            if self._put(now, "attribute_not_exists(job) OR expires < :now", {":now": {"N": str(int(now))}}):
                return
            held = self._current()
            if held is None:
                continue  # released between our put and our read: try again at once
            dead = self._dead_pid(held)
            if dead is not None:
                if self._put(now, "holder = :old", {":old": {"S": held.holder}}):
                    self.notify(
                        f"taking over the lock of dead process {dead} ({held.holder}, since {held.since or '?'})"
                    )
                    return
                continue  # someone else took it over first: look again
            if waited >= self.wait:
                raise DeployLockedError(self._message(held))
            self.sleep(POLL)
            waited += POLL

    def _current(self) -> DeployLockRecord | None:
        found = self.client.call("dynamodb", "get_item", TableName=self.table, Key=self._key(), ConsistentRead=True)
        return DeployLockRecord.from_item(found["Item"]) if found.get("Item") else None

    def _dead_pid(self, held: DeployLockRecord) -> int | None:
        """The holder's pid when it ran here and is gone; None when it may still be alive."""
        match = HOLDER_RE.match(held.holder)
        if match is None or match["host"] != socket.gethostname():
            return None
        if held.process_ns is not None and held.process_ns != self.namespace_id:
            return None  # same hostname, other container: its pids are not ours to check
        pid = int(match["pid"])
        if pid == os.getpid() or self.alive(pid):
            return None
        return pid

    def _message(self, held: DeployLockRecord) -> str:
        return (
            f"deploy in progress by {held.holder or 'another deploy'}, since {held.since or '?'} "
            f"(the lock expires at {_iso(held.expires)}). Wait for it to finish and run deploy again."
        )

    def release(self) -> None:
        if not self.held:
            return
        try:
            self.client.call(
                "dynamodb",
                "delete_item",
                TableName=self.table,
                Key=self._key(),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.holder}},
            )
        except AwsCallError as exc:
            # Expired and taken over (not ours now), or the table went with destroy --include-history.
            if exc.code not in ("ConditionalCheckFailedException", "ResourceNotFoundException"):
                raise
        self.held = False

    def __enter__(self) -> DeployLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Runs for KeyboardInterrupt and SystemExit too (BaseException), so Ctrl-C frees the lock.
        self.release()


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
