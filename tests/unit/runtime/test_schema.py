"""The history table's one owner (``cronplane.runtime.schema``): every record survives the trip
to a DynamoDB item and back, items are told apart by their keys, the stored layout is the
documented one, and no other module encodes items or defines the table's keys."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import boto3
from hypothesis import given, settings
from hypothesis import strategies as st

from cronplane.runtime.schema import (
    Attempt,
    DeployLockRecord,
    HistoryRecord,
    PauseAction,
    PauseEvent,
    PauseMarker,
    RunLock,
    RunRecord,
    create_table,
    from_item,
    item_key,
    to_item,
)

PACKAGE = Path(__file__).resolve().parents[3] / "platform" / "cronplane"
SCHEMA = PACKAGE / "runtime" / "schema"

# -- strategies ---------------------------------------------------------------------------------
texts = st.text(max_size=30)
maybe_texts = st.none() | texts
numbers = st.integers(min_value=-(10**15), max_value=10**15)
maybe_numbers = st.none() | numbers
# Job names never start with "~": those partitions are the table's own (locks, pause markers).
jobs = st.text(min_size=1, max_size=20).filter(lambda name: not name.startswith("~"))
run_ids = st.text(min_size=1, max_size=30).filter(lambda run_id: run_id != "~lock")

attempts = st.builds(
    Attempt,
    attempt=numbers,
    started_at=maybe_texts,
    request_id=maybe_texts,
    duration_ms=maybe_numbers,
    error_type=maybe_texts,
    error_message=maybe_texts,
    traceback=maybe_texts,
)
run_records = st.builds(
    RunRecord,
    job=jobs,
    run_id=run_ids,
    status=texts,
    trigger=maybe_texts,
    namespace=maybe_texts,
    scheduled_for=maybe_texts,
    started_at=maybe_texts,
    finished_at=maybe_texts,
    attempts=st.lists(attempts, max_size=3).map(tuple),
    duration_ms=maybe_numbers,
    request_id=maybe_texts,
    triggered_by=maybe_texts,
    result=maybe_texts,
    error=maybe_texts,
    ttl=maybe_numbers,
    deadline=maybe_texts,
    function_name=maybe_texts,
    invocation_id=maybe_texts,
    retry_of=maybe_texts,
    yielded_to=maybe_texts,
    duplicate_of=maybe_texts,
    next_attempt=maybe_numbers,
)
run_locks = st.builds(RunLock, job=jobs, holder=texts, expires_at=numbers, ttl=maybe_numbers, acquired_at=maybe_texts)
deploy_locks = st.builds(
    DeployLockRecord,
    holder=texts,
    since=texts,
    expires=numbers,
    machine=maybe_texts,
    boot_id=maybe_texts,
    pid_ns=maybe_texts,
    pid=maybe_numbers,
    started=maybe_texts,
)
pause_markers = st.builds(PauseMarker, job=texts, actor=texts, at=texts, reason=maybe_texts)
pause_events = st.builds(
    PauseEvent,
    job=jobs,
    run_id=run_ids,
    action=texts,
    actor=texts,
    at=texts,
    reason=maybe_texts,
    trigger=maybe_texts,
    ttl=maybe_numbers,
)
records = st.one_of(run_records, run_locks, deploy_locks, pause_markers, pause_events)


# -- round trips --------------------------------------------------------------------------------
@given(records)
def test_every_record_survives_the_trip_through_its_item(record: HistoryRecord) -> None:
    item = to_item(record)
    assert from_item(item) == record and type(from_item(item)) is type(record)
    assert type(record).from_item(item) == record
    # What the runtime returns to Lambda, logs and sends to the DLQ is JSON: the same record.
    assert type(record).from_dict(json.loads(json.dumps(record.as_dict()))) == record


def test_a_run_record_comes_back_the_same_from_a_real_table(aws: None) -> None:
    """Through moto's DynamoDB, not only through the converter: every attribute value the
    schema writes is one DynamoDB accepts and returns unchanged."""
    client = boto3.client("dynamodb", region_name="eu-west-1")
    create_table(client, "acme-history")

    @settings(deadline=None)  # each example is a round trip through moto: slow on a busy machine
    @given(run_records)
    def check(record: RunRecord) -> None:
        client.put_item(TableName="acme-history", Item=to_item(record))
        found = client.get_item(TableName="acme-history", Key=item_key(record.job, record.run_id))["Item"]
        assert RunRecord.from_item(found) == record

    check()


# -- the stored layout --------------------------------------------------------------------------
def test_run_record_item_has_every_field_none_as_null_and_extras_only_when_set() -> None:
    record = RunRecord("nightly", "20261127T090000Z-abcd1234", status="running", attempts=(Attempt(1),))
    item = to_item(record)
    assert item["kind"] == {"S": "run"} and item["gsi_pk"] == {"S": "run"}  # in the by-time index
    assert item["finished_at"] == {"NULL": True} and item["error"] == {"NULL": True}
    assert not {"retry_of", "yielded_to", "duplicate_of", "next_attempt"} & set(item)
    assert item["attempts"]["L"][0]["M"]["traceback"] == {"NULL": True}
    assert "next_attempt" in to_item(record._replace(status="retrying", next_attempt=2))


def test_items_of_other_kinds_keep_their_keys_and_stay_out_of_the_run_index() -> None:
    lock = to_item(RunLock("nightly", "20261127T090000Z-abcd1234", 1_800_000_000))
    assert (lock["job"], lock["run_id"], lock["kind"]) == ({"S": "nightly"}, {"S": "~lock"}, {"S": "lock"})
    deploy = to_item(DeployLockRecord("ana@laptop pid 7", "2026-11-27T09:00:00Z", 1_800_000_000))
    assert (deploy["job"], deploy["run_id"]) == ({"S": "~deploy"}, {"S": "~lock"})
    marker = to_item(PauseMarker("nightly", "arn:aws:iam::1:user/ana", "2026-11-27T09:00:00Z"))
    assert (marker["job"], marker["run_id"]) == ({"S": "~paused"}, {"S": "nightly"}) and "reason" not in marker
    for item in (lock, deploy, marker):
        assert "gsi_pk" not in item


def test_one_pause_event_shape_for_every_writer() -> None:
    now = datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC)
    event = PauseEvent.new(
        "nightly", PauseAction.RESUME, "ana@laptop pid 7", now, retention_days=30, trigger="deploy", reason="why"
    )
    assert to_item(event) == {
        "job": {"S": "nightly"},
        "run_id": {"S": "20261127T090005Z-event-resume"},
        "kind": {"S": "event"},
        "action": {"S": "resume"},
        "actor": {"S": "ana@laptop pid 7"},
        "at": {"S": "2026-11-27T09:00:05Z"},
        "reason": {"S": "why"},
        "trigger": {"S": "deploy"},
        "ttl": {"N": str(int(now.timestamp()) + 30 * 86400)},
    }
    assert event.at_time == now


def test_a_projected_item_reads_with_the_rest_at_defaults() -> None:
    """audit and backfill read a few attributes per item (ProjectionExpression)."""
    run = from_item({"job": {"S": "j"}, "run_id": {"S": "r"}, "kind": {"S": "run"}, "status": {"S": "failed"}})
    assert run == RunRecord("j", "r", status="failed")
    event = from_item({"job": {"S": "j"}, "run_id": {"S": "e"}, "kind": {"S": "event"}, "action": {"S": "pause"}})
    assert event == PauseEvent("j", "e", "pause")


# -- one owner ----------------------------------------------------------------------------------
KEY_CONSTANTS = (
    "PARTITION_KEY",
    "SORT_KEY",
    "INDEX_NAME",
    "INDEX_PARTITION_KEY",
    "GSI_PK_VALUE",
    "TTL_ATTRIBUTE",
    "LOCK_SORT_KEY",
    "DEPLOY_LOCK_JOB",
    "PAUSED_PARTITION",
    "RANGE_END",
    "TIMED_ITEMS_END",
    "HISTORY_INDEX",
)
# The values of those keys, assigned to a name anywhere else, would be a second definition.
KEY_VALUES = ('"~paused"', '"~deploy"', '"~lock"', '"by-time"', '"\\U0010ffff"')
ANNOTATION = r"(:\s*[\w\[\]., |]+)?"  # an optional type annotation
DEFINES_CONSTANT = re.compile(rf"^\s*({'|'.join(KEY_CONSTANTS)})\s*{ANNOTATION}=", re.MULTILINE)
ASSIGNS_KEY_VALUE = re.compile(
    rf"^\s*\w+\s*{ANNOTATION}=\s*({'|'.join(re.escape(v) for v in KEY_VALUES)})", re.MULTILINE
)
CONVERTERS = re.compile(r"\bType(Serializer|Deserializer)\b")


def test_no_other_module_defines_the_keys_or_converts_items() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if SCHEMA in path.parents:
            continue
        source = path.read_text()
        where = path.relative_to(PACKAGE)
        offenders += [f"{where}: defines {m.group(1)}" for m in DEFINES_CONSTANT.finditer(source)]
        offenders += [f"{where}: assigns {m.group(2)}" for m in ASSIGNS_KEY_VALUE.finditer(source)]
        offenders += [f"{where}: uses {m.group(0)}" for m in CONVERTERS.finditer(source)]
    assert offenders == []


def test_the_grep_finds_what_it_looks_for() -> None:
    """The patterns above are not vacuous: each matches a line of the kind it forbids."""
    assert DEFINES_CONSTANT.search('PAUSED_PARTITION = "~paused"  # copy')
    assert DEFINES_CONSTANT.search("    RANGE_END: str = x")
    assert ASSIGNS_KEY_VALUE.search('MARKERS = "~paused"')
    assert ASSIGNS_KEY_VALUE.search('INDEX: str = "by-time"')
    assert not ASSIGNS_KEY_VALUE.search('Item: ``DeployLockRecord`` (``job="~deploy"``)')
    assert CONVERTERS.search("from boto3.dynamodb.types import TypeDeserializer")
    assert not DEFINES_CONSTANT.search("key = item_key(PAUSED_PARTITION, job)")


def test_the_runtime_cold_start_does_not_load_the_records_only_jobctl_writes() -> None:
    probe = "import sys, cronplane.runtime.entry; print('cronplane.runtime.schema.control' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(PACKAGE.parent)},
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "False"
