"""``jobctl dlq replay``'s decisions, between the listing and the replay itself (``ops.dlq``):
which messages (the runs asked for, or every replayable one), whether replays go one at a time
(a ``concurrency: forbid`` job: started together they would skip each other), and whether the
replay did everything it was asked (``ReplayReport.ok``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cronplane.errors import CronplaneError
from cronplane.manifest import names
from cronplane.manifest.models import Concurrency, Job, Manifest
from cronplane.ops.dlq import DlqMessage, DlqSource, ReplayResult, replay
from cronplane.ops.launch import LambdaInvoker
from cronplane.ops.waiting import FINAL_WAIT_MARGIN_S, RunWaiter

if TYPE_CHECKING:
    from cronplane.aws.client import AwsClient

STOPPED_PREFIX = "stopped: "  # ops.dlq's error on a replay it gave up (a forbid job's lock stuck)


def choose_messages(job: str, messages: list[DlqMessage], run_ids: Iterable[str], replay_all: bool) -> list[DlqMessage]:
    """The messages to replay: every one a producer we know wrote (``replay_all``), or those of
    the runs asked for; a run id with no message is an error that lists the ones there are."""
    if replay_all:
        return [m for m in messages if m.source is not DlqSource.UNKNOWN]
    wanted = set(run_ids)
    chosen = [m for m in messages if m.run_id in wanted]
    missing = sorted(wanted - {m.run_id for m in chosen})
    if missing:
        known = ", ".join(sorted({m.run_id for m in messages if m.run_id})) or "none"
        raise CronplaneError(
            f"no dead-letter message for run {', '.join(missing)} of {job} (runs in the queue: {known})"
        )
    return chosen


def one_at_a_time(job: Job) -> bool:
    return job.concurrency == Concurrency.FORBID


@dataclass(frozen=True)
class ReplayReport:
    chosen: int
    results: tuple[ReplayResult, ...]

    @property
    def stopped(self) -> bool:
        """Gave up on a forbid job's stuck lock: the rest were not tried (and stay queued)."""
        return any(r.error and r.error.startswith(STOPPED_PREFIX) for r in self.results)

    @property
    def vanished(self) -> int:
        """Chosen messages that were gone when the replay received them (consumed elsewhere)."""
        return 0 if self.stopped else self.chosen - len(self.results)

    @property
    def ok(self) -> bool:
        return len(self.results) == self.chosen and all(r.deleted for r in self.results)


def replay_messages(
    clients: AwsClient,
    manifest: Manifest,
    job: Job,
    url: str,
    chosen: list[DlqMessage],
    *,
    now: datetime,
    on_wait: Callable[[str], None] | None = None,
) -> ReplayReport:
    """Replay ``chosen`` as new retry runs of ``job``; one at a time, each after the job's lock
    is free and followed to its end, when ``one_at_a_time(job)`` (``on_wait`` hears why it waits)."""
    waiter = None
    if one_at_a_time(job):
        waiter = RunWaiter(
            clients.dynamodb,
            names.history_table(manifest.namespace),
            job.name,
            job.timeout + FINAL_WAIT_MARGIN_S,
            on_wait=on_wait,
        )
    results = replay(
        clients.sqs,
        url,
        LambdaInvoker(clients.lambda_, manifest),
        job.name,
        [m.message_id for m in chosen],
        triggered_by=clients.caller_arn(),
        now=now,
        waiter=waiter,
    )
    return ReplayReport(len(chosen), tuple(results))
