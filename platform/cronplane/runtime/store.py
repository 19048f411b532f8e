"""Where run records go. ``RunStore`` is the state machine's view of storage: four small hooks
(begin a run, hand it over to a continuation, finish it, add a marker record), each one write.
``DynamoRunStore`` implements them on the history table with conditional writes;
``MemoryRunStore`` (``memory_store``) keeps them in a dict.

Throttling and outages are retried briefly (bounded, injectable sleep and clock) and then
raised as ``HistoryUnavailable``; the wrapper then logs the record instead of dropping it. Every
hook takes ``until`` (a ``monotonic()`` time): no retry starts that could not finish by then, so
near the soft deadline the retry budget shrinks to the time left instead of outliving the
Lambda timeout.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from cronplane.runtime.exceptions import HistoryUnavailable, LockHeld, RunExists
from cronplane.runtime.schema import LOCK_SORT_KEY, RunLock, RunRecord, RunStatus, item_key, to_item

# DynamoDB error codes worth another try a moment later.
TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
CONDITION_FAILED = "ConditionalCheckFailedException"
# When the forbid lock may be taken: no item; an item that is no lock (no text holder, no numeric
# expiry - e.g. a record some event wrote under the lock's key), which must not block the job
# forever; an expired lock; or our own (a continuation of the same run).
LOCK_FREE_CONDITION = (
    "attribute_not_exists(run_id) OR NOT attribute_type(holder, :text) OR NOT attribute_type(expires_at, :number)"
    " OR expires_at < :now OR holder = :me"
)


class RunStore(ABC):
    @abstractmethod
    def begin(
        self,
        record: RunRecord,
        *,
        lock: RunLock | None = None,
        continuing_attempt: int | None = None,
        now_epoch: int = 0,
        until: float | None = None,
    ) -> None:
        """Write the ``running`` record, and take ``lock`` in the same write.

        New run: only if the record does not exist (else ``RunExists``). Continuation
        (``continuing_attempt`` set): only if the record is ``retrying`` and waits for exactly
        that attempt (else ``RunExists``). Lock: only if free, expired at ``now_epoch`` or
        already ours (else ``LockHeld``)."""

    @abstractmethod
    def finish(
        self,
        record: RunRecord,
        *,
        release: RunLock | None = None,
        expect_attempt: int | None = None,
        expect_invocation: str | None = None,
        until: float | None = None,
    ) -> None:
        """Overwrite the record with its final (or ``retrying``) state; release ``release`` in the
        same write if it is still ours. With ``expect_attempt``: only if the record is still
        ``retrying`` for exactly that attempt (else ``RunExists``, and nothing is written or
        released) - a continuation that ends without running must not end the run twice. With
        ``expect_invocation`` too: only if that invocation wrote the ``retrying`` record - the
        invocation whose hand-over may have landed ends the run only if no continuation took it."""

    @abstractmethod
    def hand_over(self, record: RunRecord, *, until: float | None = None) -> None:
        """Write the ``retrying`` record, only over a ``running`` one (or none, after an outage at
        the start): a hand-over write that lands late can never undo the run's final record
        (else ``RunExists``)."""

    @abstractmethod
    def add(self, record: RunRecord, *, until: float | None = None) -> None:
        """Write a record that must not exist yet (``duplicate`` / ``skipped`` markers)."""


# --------------------------------------------------------------------------- DynamoDB


# What one more try needs at least, besides its backoff: not worth starting with less left.
MIN_TRY_SECONDS = 0.1


class DynamoRunStore(RunStore):
    def __init__(
        self,
        client: Any,
        table: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        tries: int = 3,
        first_delay: float = 0.1,
    ) -> None:
        self.client = client
        self.table = table
        self.sleep = sleep
        self.monotonic = monotonic
        self.tries = tries
        self.first_delay = first_delay

    def begin(
        self,
        record: RunRecord,
        *,
        lock: RunLock | None = None,
        continuing_attempt: int | None = None,
        now_epoch: int = 0,
        until: float | None = None,
    ) -> None:
        put = {
            "TableName": self.table,
            "Item": to_item(record),
            **_record_condition(continuing_attempt),
            # The item that stopped us comes back with the error: no read to tell a second
            # delivery from our own write whose answer was lost (see _own_write).
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if lock is None:
            self._put_record(put, record, until)
            return
        lock_put = {
            "TableName": self.table,
            "Item": to_item(lock),
            # Free (no item, or an item that is no lock: without a holder or a numeric expiry),
            # expired, or ours already (a continuation of the same run).
            "ConditionExpression": LOCK_FREE_CONDITION,
            "ExpressionAttributeValues": {
                ":now": {"N": str(now_epoch)},
                ":me": {"S": lock.holder},
                ":text": {"S": "S"},
                ":number": {"S": "N"},
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        try:
            self._call("transact_write_items", until, TransactItems=[{"Put": put}, {"Put": lock_put}])
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons") or []
            if _code(exc) != "TransactionCanceledException" or len(reasons) < 2:
                raise
            if reasons[0].get("Code") == "ConditionalCheckFailed":
                # Our own earlier try (else RunExists): the whole transaction landed then, lock included.
                _unless_own_write(reasons[0].get("Item"), record)
                return
            if reasons[1].get("Code") == "ConditionalCheckFailed":
                raise LockHeld(self._holder(reasons[1].get("Item"), lock.job, until)) from None
            raise

    def finish(
        self,
        record: RunRecord,
        *,
        release: RunLock | None = None,
        expect_attempt: int | None = None,
        expect_invocation: str | None = None,
        until: float | None = None,
    ) -> None:
        put = {"TableName": self.table, "Item": to_item(record)}
        if expect_attempt is not None:
            put.update(
                _record_condition(expect_attempt, expect_invocation), ReturnValuesOnConditionCheckFailure="ALL_OLD"
            )
        if release is None:
            self._put_record(put, record, until)
            return
        delete = {
            "TableName": self.table,
            "Key": item_key(release.job, LOCK_SORT_KEY),
            # Only our own lock: after it expired another run may have taken it.
            "ConditionExpression": "holder = :me",
            "ExpressionAttributeValues": {":me": {"S": release.holder}},
        }
        try:
            self._call("transact_write_items", until, TransactItems=[{"Put": put}, {"Delete": delete}])
        except ClientError as exc:
            if _code(exc) != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []
            if expect_attempt is not None and reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                _unless_own_write(reasons[0].get("Item"), record)
                return
            # The lock is no longer ours (or gone): the record still has to be written.
            self._put_record(put, record, until)

    def hand_over(self, record: RunRecord, *, until: float | None = None) -> None:
        put = {
            "TableName": self.table,
            "Item": to_item(record),
            "ConditionExpression": "attribute_not_exists(run_id) OR #status = :running",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {":running": {"S": RunStatus.RUNNING.value}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        self._put_record(put, record, until)

    def add(self, record: RunRecord, *, until: float | None = None) -> None:
        try:
            self._call(
                "put_item",
                until,
                TableName=self.table,
                Item=to_item(record),
                ConditionExpression="attribute_not_exists(run_id)",
            )
        except ClientError as exc:
            if _code(exc) == CONDITION_FAILED:
                raise RunExists(record.run_id) from None
            raise

    def _put_record(self, put: dict[str, Any], record: RunRecord, until: float | None) -> None:
        """One conditional ``put_item`` of ``record``: a failed condition is ``RunExists``
        unless the item there is this invocation's own earlier write."""
        try:
            self._call("put_item", until, **put)
        except ClientError as exc:
            if _code(exc) != CONDITION_FAILED:
                raise
            # Not in botocore's typed response, but DynamoDB returns it (ALL_OLD).
            old_item = cast(Mapping[str, Any], exc.response).get("Item")
            _unless_own_write(old_item, record)

    def _holder(self, old_item: Mapping[str, Any] | None, job: str, until: float | None) -> str | None:
        if old_item and "holder" in old_item:
            return RunLock.from_item(old_item).holder
        # Only when the API did not return the old item: one read, on the skip path only.
        try:
            found = self._call(
                "get_item",
                until,
                TableName=self.table,
                Key=item_key(job, LOCK_SORT_KEY),
                ConsistentRead=True,
            )
        except (ClientError, HistoryUnavailable):
            return None
        held = found.get("Item")
        return RunLock.from_item(held).holder if held and "holder" in held else None

    def _call(self, operation: str, until: float | None = None, **kwargs: Any) -> Any:
        """One API call with a few quick retries of transient failures, none of which starts
        unless it can finish by ``until``. Condition failures and cancelled transactions (other
        than conflicts) go back to the caller as ClientError; everything else that persists
        becomes HistoryUnavailable."""
        delay = self.first_delay
        last: Exception | None = None
        for attempt in range(1, self.tries + 1):
            try:
                return getattr(self.client, operation)(**kwargs)
            except ClientError as exc:
                code = _code(exc)
                if code == "TransactionCanceledException" and not _conflict_only(exc):
                    raise
                if code == CONDITION_FAILED:
                    raise
                if code not in TRANSIENT_CODES and code != "TransactionCanceledException":
                    raise HistoryUnavailable(f"{operation} on {self.table}: {code}: {_message(exc)}") from exc
                last = exc
            except BotoCoreError as exc:  # connection refused / timed out
                last = exc
            if attempt == self.tries:
                break
            if until is not None and self.monotonic() + delay + MIN_TRY_SECONDS > until:
                # Near the soft deadline: another try would outlive the time left.
                raise HistoryUnavailable(
                    f"{operation} on {self.table}: no time left for try {attempt + 1}: {last}"
                ) from last
            self.sleep(delay)
            delay *= 2
        raise HistoryUnavailable(f"{operation} on {self.table} failed {self.tries} times: {last}") from last


def _own_write(old_item: Mapping[str, Any] | None, record: RunRecord) -> bool:
    """The conditional write failed because of the very item this invocation wrote on an
    earlier try whose answer was lost (a read timeout): that is success, not a second delivery
    (which would otherwise be recorded as a duplicate while the job never runs). Told apart by
    ``invocation_id``, unique per handler call (request ids repeat when Lambda redelivers)."""
    if not old_item or not record.invocation_id:
        return False
    old = RunRecord.from_item(old_item)
    return old.invocation_id == record.invocation_id and old.status == record.status


def _unless_own_write(old_item: Mapping[str, Any] | None, record: RunRecord) -> None:
    """``RunExists`` unless the item a condition stopped at is our own earlier write."""
    if not _own_write(old_item, record):
        raise RunExists(record.run_id) from None


def _record_condition(continuing_attempt: int | None, handed_over_by: str | None = None) -> dict[str, Any]:
    if continuing_attempt is None:
        # Every delivery of one firing has the same run id: only the first may write it.
        return {"ConditionExpression": "attribute_not_exists(run_id)"}
    # A continuation runs only if the record still waits for exactly this attempt, so a
    # second delivery of the continuation invoke cannot run the attempt twice.
    expression = "#status = :retrying AND next_attempt = :attempt"
    values = {":retrying": {"S": RunStatus.RETRYING.value}, ":attempt": {"N": str(continuing_attempt)}}
    if handed_over_by is not None:
        expression += " AND invocation_id = :handed_over_by"
        values[":handed_over_by"] = {"S": handed_over_by}
    return {
        "ConditionExpression": expression,
        "ExpressionAttributeNames": {"#status": "status"},
        "ExpressionAttributeValues": values,
    }


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _conflict_only(exc: ClientError) -> bool:
    reasons = exc.response.get("CancellationReasons") or []
    codes = {r.get("Code") for r in reasons} - {"None", None}
    return bool(codes) and codes <= {"TransactionConflict"}
