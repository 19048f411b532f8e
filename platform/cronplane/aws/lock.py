"""The deploy lock: one item in the namespace's history table, so two deploys of the same
namespace never interleave their writes. Taken by the deployer just before the first write of a
plan that has changes, renewed by a heartbeat while the plan is applied, released at the end
(also on error and on Ctrl-C).

Item: ``schema.DeployLockRecord`` (``job="~deploy"``, ``run_id="~lock"``): ``holder``
("user@host pid N", for people), ``since`` and ``expires`` (ISO / epoch seconds), and where the
holder runs (machine id, boot id, PID namespace, pid, process start time: ``lock_holder``).
One conditional ``put_item`` takes it. A lock is taken over:

- at once, when its holder ran in this machine's boot and PID namespace and that process is
  gone: a deploy killed with SIGKILL, or a closed terminal, must not block the next
  ``jobctl deploy`` for the lock's whole lifetime. Another machine with the same hostname is
  never judged this way;
- once it has expired, whatever machine held it. A live deploy never lets it expire: its
  heartbeat (``kept_alive``) moves ``expires`` on every ``ttl / 3`` with a conditional update
  on its own holder.

A lock left by a crash elsewhere can be removed by hand with ``jobctl unlock`` (``remove_lock``:
a delete conditional on the holder that was shown, so never a lock someone took meanwhile).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from cronplane.aws.client import AwsCallError, AwsClient
from cronplane.aws.executor import leave_signals_to_the_main_thread
from cronplane.aws.lock_holder import ProcessIdentity, holder_gone, this_process
from cronplane.aws.lock_holder import process_alive as process_alive  # where tests and callers look
from cronplane.errors import AwsError, CronplaneError, DeployLockedError
from cronplane.runtime.schema import DEPLOY_LOCK_JOB, LOCK_SORT_KEY, DeployLockRecord, item_key, to_item

DEFAULT_TTL = 15 * 60  # a dead deploy elsewhere frees the lock after this; a live one renews it
RENEWALS_PER_TTL = 3  # a renewal may fail twice (throttling, a network blip) before the lock expires
DEFAULT_WAIT = 5.0
POLL = 0.5
CONDITION_FAILED = "ConditionalCheckFailedException"


class LockChangedError(CronplaneError):
    """``jobctl unlock``: the lock is no longer the one that was shown."""


def default_holder() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def identity_of(held: DeployLockRecord) -> ProcessIdentity | None:
    """Where a lock's holder ran; None for a lock written without it (older jobctl)."""
    if held.machine is None or held.pid is None:
        return None
    return ProcessIdentity(held.machine, held.boot_id or "", held.pid_ns or "", held.pid, held.started or "")


class DeployLock:
    def __init__(
        self,
        client: AwsClient,
        table: str,
        *,
        holder: str | None = None,
        ttl: int | None = None,
        wait: float = DEFAULT_WAIT,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] | None = None,
        notify: Callable[[str], None] | None = None,
        alive: Callable[[int], bool] = process_alive,
        identity: ProcessIdentity | None = None,
        heartbeat_s: float | None = None,
    ) -> None:
        """``ttl`` None: ``DEFAULT_TTL`` as it is when the lock is made; ``heartbeat_s`` None:
        ``ttl / RENEWALS_PER_TTL``."""
        self.client = client
        self.table = table
        self.holder = holder or default_holder()
        self.ttl = ttl if ttl is not None else DEFAULT_TTL
        self.wait = wait
        self.clock = clock
        self.sleep = sleep or client.sleep
        self.notify = notify or (lambda line: None)
        self.alive = alive
        self.identity = identity or this_process()
        self.heartbeat_s = heartbeat_s if heartbeat_s is not None else self.ttl / RENEWALS_PER_TTL
        self.held = False
        self.lost = False  # set by the heartbeat when another deploy took the lock over
        self.renewals = 0

    def _key(self) -> dict[str, Any]:
        return item_key(DEPLOY_LOCK_JOB, LOCK_SORT_KEY)

    def _record(self, now: float) -> DeployLockRecord:
        me = self.identity
        return DeployLockRecord(
            self.holder,
            _iso(now),
            int(now) + self.ttl,
            machine=me.machine,
            boot_id=me.boot_id,
            pid_ns=me.pid_ns,
            pid=me.pid,
            started=me.started,
        )

    def _put(self, now: float, condition: str, values: dict[str, dict[str, str]]) -> bool:
        """One conditional put of our lock item; False when the condition did not hold."""
        try:
            self.client.dynamodb.put_item(
                TableName=self.table,
                Item=to_item(self._record(now)),
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except AwsCallError as exc:
            if exc.code != CONDITION_FAILED:
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
            held = current_lock(self.client, self.table)
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

    def _dead_pid(self, held: DeployLockRecord) -> int | None:
        """The holder's pid when it ran in this machine's boot and PID namespace and is gone;
        None when it may still be alive (or ran anywhere else)."""
        holder = identity_of(held)
        if holder is None or not holder_gone(holder, self.identity, self.alive):
            return None
        return holder.pid

    def _message(self, held: DeployLockRecord) -> str:
        return (
            f"deploy in progress by {held.holder or 'another deploy'}, since {held.since or '?'} "
            f"(the lock expires at {_iso(held.expires)}). Wait for it to finish and run deploy again; "
            "if that deploy crashed on another machine, `jobctl unlock` shows the lock and removes it."
        )

    def renew(self) -> bool:
        """Move our lock's expiry on (a conditional update on our holder); False when the lock
        is no longer ours (it expired and another deploy took it)."""
        now = self.clock()
        try:
            self.client.dynamodb.update_item(
                TableName=self.table,
                Key=self._key(),
                UpdateExpression="SET expires = :expires",
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":expires": {"N": str(int(now) + self.ttl)}, ":me": {"S": self.holder}},
            )
        except AwsCallError as exc:
            if exc.code != CONDITION_FAILED:
                raise
            return False
        self.renewals += 1
        return True

    @contextlib.contextmanager
    def kept_alive(self) -> Iterator[DeployLock]:
        """Renew the lock every ``heartbeat_s`` while the block runs, so a deploy that takes
        longer than the ttl keeps it; the heartbeat stops (in a finally) before the block ends."""
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), name="deploy-lock-heartbeat", daemon=True)
        beat.start()
        try:
            yield self
        finally:
            stop.set()
            # A renewal in flight may outlast this; it is harmless (conditional on our holder)
            # and says nothing once stopped.
            beat.join(timeout=5)

    def _heartbeat(self, stop: threading.Event) -> None:
        # Ctrl-C and SIGTERM belong to the main thread, which stops the deploy: a signal the
        # kernel handed to this thread instead could reach Python's handler late, or not at all.
        leave_signals_to_the_main_thread()
        while not stop.wait(self.heartbeat_s):
            if not self.held:
                return
            try:
                renewed = self.renew()
            except AwsError as exc:  # a blip: the next beat tries again, well before the expiry
                if not stop.is_set():
                    self.notify(f"warning: could not renew the deploy lock ({exc}); trying again")
                continue
            if renewed or stop.is_set():
                continue
            self.lost = True
            taker = current_lock(self.client, self.table)
            self.notify(
                f"warning: the deploy lock expired and was taken by {taker.holder if taker else 'nobody'}; "
                "another deploy may be writing to this namespace too"
            )
            return

    def release(self) -> None:
        if not self.held:
            return
        try:
            self.client.dynamodb.delete_item(
                TableName=self.table,
                Key=self._key(),
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": self.holder}},
            )
        except AwsCallError as exc:
            # Expired and taken over (not ours now), or the table went with destroy --include-history.
            if exc.code not in (CONDITION_FAILED, "ResourceNotFoundException"):
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


def current_lock(client: AwsClient, table: str) -> DeployLockRecord | None:
    """The namespace's deploy lock as stored now (a consistent read); None when it is free."""
    found = client.dynamodb.get_item(TableName=table, Key=item_key(DEPLOY_LOCK_JOB, LOCK_SORT_KEY), ConsistentRead=True)
    return DeployLockRecord.from_item(found["Item"]) if found.get("Item") else None


def remove_lock(client: AwsClient, table: str, shown: DeployLockRecord) -> None:
    """Delete the lock ``shown`` to the user (``jobctl unlock``), only if it is still that one:
    same holder, same start. A lock another deploy took in between stays, and
    ``LockChangedError`` says who holds it now."""
    try:
        client.dynamodb.delete_item(
            TableName=table,
            Key=item_key(DEPLOY_LOCK_JOB, LOCK_SORT_KEY),
            ConditionExpression="holder = :holder AND since = :since",
            ExpressionAttributeValues={":holder": {"S": shown.holder}, ":since": {"S": shown.since}},
        )
    except AwsCallError as exc:
        if exc.code != CONDITION_FAILED:
            raise
        now = current_lock(client, table)
        state = f"now held by {now.holder}, since {now.since}" if now else "it was released meanwhile"
        raise LockChangedError(
            f"the deploy lock of {table} changed after it was shown ({state}); nothing was removed. "
            "Run jobctl unlock again to see the current lock."
        ) from exc


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
