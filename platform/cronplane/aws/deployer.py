"""The deploy pipeline, wired: what ``jobctl plan``, ``deploy`` and ``destroy`` (and ``jobctl
dev``) call.

    jobs.yaml ─▶ manifest ─▶ resources.desired_state ─▶ aws.inventory ─▶ aws.planner ─▶ aws.executor

1. **Desired state** (``resources``, pure): every job's package is built (deterministic zip, so
   its CodeSha256 is known before any upload) and the manifest becomes a list of ``Resource``
   values — per job a role, DLQ, log group, function, invoke config, permission, trigger; shared
   the history table and, if used, the Scheduler group.
2. **Live state** (``aws.inventory``, reads only): one paginated list call per service plus one
   tagging-API query, read at once while the packages are built. No state file: ownership comes
   from the ``cronplane:namespace`` tag, and each job's function carries a ``cronplane:config``
   tag recording the hashes of the settings list calls do not return. The account id (for the
   desired ARNs) is taken from an ARN the reads returned; only a namespace with nothing deployed
   asks STS.
3. **Plan** (``aws.planner``, pure): desired vs live, as ordered frozen actions with field-level
   diffs. If the planner needs tags or details the bulk read does not hold (a resource it would
   delete, the old value of a changed policy), the deployer fetches just those and plans again.
4. **Apply** (``aws.executor``): only when the plan has changes. The history table is created
   first if missing (the deploy lock lives in it); then the lock is taken, live state is read and
   planned again under the lock (another deploy may have finished meanwhile), and the plan is
   applied — jobs in parallel, each job in dependency order, its state record last. The lock is
   released at the end, also on error and on Ctrl-C / SIGTERM, and renewed by a heartbeat while
   the plan is applied; a lock left by a killed deploy on this machine is taken over at once
   (``aws.lock``). An unchanged deploy therefore makes no write call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC

from cronplane.aws.client import AwsClient
from cronplane.aws.executor import DEFAULT_WORKERS, ApplyResult, Executor, leave_signals_to_the_main_thread
from cronplane.aws.inventory import Inventory, LiveState
from cronplane.aws.lock import DEFAULT_WAIT, DeployLock
from cronplane.aws.planner import Op, Plan
from cronplane.aws.planner import plan as make_plan
from cronplane.aws.quotas import AccountQuotas, check_plan, fanout_notes, place_triggers, with_notes
from cronplane.build.resources import DesiredState, Kind, desired_state
from cronplane.errors import CronplaneError
from cronplane.manifest import names
from cronplane.manifest.models import Manifest

MAX_PLAN_ROUNDS = 4
ACCOUNT_ID = re.compile(r"\d{12}")


@dataclass(frozen=True)
class DeployResult:
    plan: Plan  # the plan that was applied (re-planned under the lock)
    applied: ApplyResult | None  # None when nothing changed or the user declined


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class Deployer:
    def __init__(
        self,
        client: AwsClient,
        *,
        workers: int = DEFAULT_WORKERS,
        progress: Callable[[str], None] | None = None,
        lock_wait: float = DEFAULT_WAIT,
        lock_holder: str | None = None,
    ) -> None:
        self.client = client
        self.inventory = Inventory(client)
        self.workers = workers
        self.progress = progress or (lambda line: None)
        self.lock_wait = lock_wait
        self.lock_holder = lock_holder
        self._last_live: LiveState | None = None
        self._account = AccountQuotas(client)  # read afresh by each plan / deploy

    # -- stages -------------------------------------------------------------------------------
    def desired(self, manifest: Manifest, *, build: bool = True) -> DesiredState:
        """``build=False`` (destroy) skips packaging: deleting needs no code, and a destroy
        must work even when a team's folder is already gone."""
        region = self.client.region
        return self._desired(manifest, region, self._code(manifest, build), None)

    def _code(self, manifest: Manifest, build: bool) -> dict[str, tuple[str, bytes | None]]:
        from cronplane.build.watchdog import watchdog_code

        if not build:
            return {job.name: ("", None) for job in manifest.jobs} | watchdog_code(manifest, build=False)
        from cronplane.build.packaging import build_packages

        code = {name: (package.sha256, package.zip_bytes) for name, package in build_packages(manifest).items()}
        return code | watchdog_code(manifest)  # the namespace's watchdog, when some job has alerts

    def _desired(
        self, manifest: Manifest, region: str, code: dict[str, tuple[str, bytes | None]], live: LiveState | None
    ) -> DesiredState:
        account = (account_in(live) if live is not None else None) or self.client.account_id()
        return desired_state(manifest, account_id=account, region=region, code=code, partition=partition_of(region))

    def _desired_and_live(self, manifest: Manifest, build: bool) -> tuple[DesiredState, LiveState]:
        """The packages are built while the inventory reads (work here, mostly waiting there).
        Then the triggers are placed (``trigger_mode: auto`` may need Scheduler when the event
        bus has no room for the rules: ``aws.quotas``), which needs the live state."""
        region = self.client.region
        pool = ThreadPoolExecutor(1, "inventory", initializer=leave_signals_to_the_main_thread)
        try:
            reading = pool.submit(self.inventory.load, manifest.namespace)
            code = self._code(manifest, build)  # a packaging error wins over a failed read
            live = reading.result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if not build:  # destroy: where the triggers would go does not matter
            return self._desired(manifest, region, code, live), live
        placed, notes = place_triggers(manifest, live, self._account)
        desired = self._desired(placed, region, code, live)
        return replace(desired, notes=desired.notes + notes), live

    def plan(
        self,
        manifest: Manifest,
        *,
        unpause: Iterable[str] = (),
        destroy: bool = False,
        include_history: bool = False,
        desired: DesiredState | None = None,
    ) -> Plan:
        return self._plan(manifest, desired, tuple(unpause), destroy, include_history)[1]

    def _plan(
        self,
        manifest: Manifest,
        desired: DesiredState | None,
        unpause: tuple[str, ...],
        destroy: bool,
        include_history: bool,
    ) -> tuple[DesiredState, Plan]:
        for name in unpause:
            manifest.job(name)  # an unknown job name is a user error, not a silent no-op
        if desired is None:
            self._account = AccountQuotas(self.client)
            desired, live = self._desired_and_live(manifest, build=not destroy)
        else:
            live = self.inventory.load(manifest.namespace)
        self._last_live = live
        planned = self._settle(desired, live, unpause=unpause, destroy=destroy, include_history=include_history)
        if destroy:
            return desired, planned
        # Before anything is written (deploy creates the history table only after this): a plan
        # over an AWS quota stops here, naming the quota, the numbers and the way out.
        notes = check_plan(planned, desired, self._account) + fanout_notes(planned, manifest, self._account)
        return desired, with_notes(planned, notes)

    def _settle(self, desired: DesiredState, live: LiveState, **options: object) -> Plan:
        for _ in range(MAX_PLAN_ROUNDS):
            result = make_plan(desired, live, **options)  # type: ignore[arg-type]
            if result.needs_tags:
                live = self.inventory.fetch_tags(live, result.needs_tags)
            elif result.needs_details:
                live = self.inventory.fetch_details(live, result.needs_details, desired.namespace)
            else:
                return result
        return result

    # -- commands -----------------------------------------------------------------------------
    def deploy(
        self,
        manifest: Manifest,
        *,
        confirm: Callable[[Plan], bool] = lambda plan: True,
        unpause: Iterable[str] = (),
        destroy: bool = False,
        include_history: bool = False,
    ) -> DeployResult:
        """Plan, ask ``confirm``, then apply under the deploy lock. ``destroy`` removes every
        resource of the namespace instead."""
        options = (tuple(unpause), destroy, include_history)
        desired, shown = self._plan(manifest, None, *options)
        if not shown.has_changes or not confirm(shown):
            return DeployResult(shown, None)
        executor = Executor(self.client, workers=self.workers, progress=self.progress)
        table = names.history_table(manifest.namespace)
        table_create = [a for a in shown.actions if a.kind == Kind.TABLE and a.op == Op.CREATE]
        if table_create:
            # Its own step, shown as the first of the whole deploy's steps.
            only_table = replace(shown, actions=tuple(table_create))
            Executor(
                self.client,
                workers=1,
                progress=lambda line: self.progress(line.replace("[1/1]", f"[1/{len(shown.changes)}]")),
            ).apply(only_table)
        elif self._last_live is not None and self._last_live.get(Kind.TABLE, table) is None:
            # Destroying a namespace whose history table is gone: there is nowhere to hold a lock.
            return DeployResult(shown, executor.apply(shown))
        lock = DeployLock(self.client, table, holder=self.lock_holder, wait=self.lock_wait, notify=self.progress)
        with lock, lock.kept_alive():  # the heartbeat renews the lock while the plan is applied
            _, fresh = self._plan(manifest, desired, *options)
            if _signature(fresh) != _signature(shown) and not table_create:
                self.progress("Live state changed since the plan was made; applying the current plan:")
                for action in fresh.changes:
                    self.progress(f"  {action.op.symbol} {action.kind} {action.name}")
            applied = executor.apply(fresh, already_done=len(table_create))
            self._clear_pauses(manifest, options[0], lock.holder)
        if table_create:  # report the whole deploy, the table included
            fresh = replace(fresh, actions=tuple(table_create) + fresh.actions)
            applied = ApplyResult(applied.applied + 1, applied.total)
        return DeployResult(fresh, applied)

    def _clear_pauses(self, manifest: Manifest, jobs: Iterable[str], actor: str) -> None:
        """``--unpause JOB`` re-enabled the trigger; drop the pause marker so the next deploy
        does not disable it again, and record a resume event as ``jobctl resume`` does (the
        same ``PauseEvent.new``)."""
        from datetime import datetime

        from cronplane.runtime.schema import PAUSED_PARTITION, PauseAction, PauseEvent, item_key, to_item

        live = self._last_live
        table = names.history_table(manifest.namespace)
        now = datetime.now(UTC)
        for job in jobs:
            if live is None or job not in live.paused:
                continue
            event = PauseEvent.new(
                job,
                PauseAction.RESUME,
                actor,
                now,
                retention_days=manifest.history.retention_days,
                trigger="deploy",
                reason="jobctl deploy --unpause",
            )
            self.client.call("dynamodb", "put_item", TableName=table, Item=to_item(event))
            self.client.call("dynamodb", "delete_item", TableName=table, Key=item_key(PAUSED_PARTITION, job))
            self.progress(f"unpaused {job} (paused by {live.paused[job].actor} since {live.paused[job].at})")


def account_in(live: LiveState) -> str | None:
    """The account of the resources the inventory listed: list calls answer only with the
    caller's own resources, so this is the account STS would name (saving that call)."""
    for res in live.resources.values():
        parts = res.arn.split(":")
        if len(parts) > 4 and ACCOUNT_ID.fullmatch(parts[4]):
            return parts[4]
    return None


def _signature(plan: Plan) -> list[tuple[str, str, str, tuple[str, ...]]]:
    return [(a.op.value, str(a.kind), a.name, tuple(f.name for f in a.fields)) for a in plan.changes]


__all__ = ["CronplaneError", "DeployResult", "Deployer", "partition_of"]
