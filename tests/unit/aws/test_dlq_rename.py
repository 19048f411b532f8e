"""A dead-letter queue holds failed runs waiting for ``jobctl dlq replay``: a deploy never
deletes one silently.

When the ``--`` join renames a job's queue (``acme-nightly-dlq`` -> ``acme--nightly-dlq``), the
deploy moves the old queue's messages into the new one before deleting the old one; a move that
fails leaves the old queue and its messages, and the next deploy finishes it. A queue deleted
because its job left the manifest is named in the plan with its message count. The count costs
one GetQueueAttributes per queue being deleted, so an unchanged deploy makes no extra call.

Through ``Deployer`` against moto in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from cronplane.aws.client import AwsClient, Call
from cronplane.aws.deployer import Deployer
from cronplane.aws.session import AwsConfig
from cronplane.errors import AwsError, CronplaneError
from cronplane.manifest import names
from cronplane.manifest.loader import load_manifest
from cronplane.manifest.models import Manifest

REGION = "eu-west-1"
OLD = "acme-nightly-dlq"  # as cronplane named it before the "--" join
NEW = "acme--nightly-dlq"


def write_manifest(root: Path, *jobs: str) -> Manifest:
    (root / "jobs" / "team").mkdir(parents=True, exist_ok=True)
    (root / "jobs" / "team" / "job.py").write_text("def handler(event, context):\n    return 1\n")
    listed = "".join(
        f"  {job}:\n    handler: team/job.py:handler\n    schedule: rate(5 minutes)\n    team: team\n" for job in jobs
    )
    (root / "jobs.yaml").write_text(f"namespace: acme\nregion: {REGION}\njobs:\n{listed}")
    return load_manifest(str(root / "jobs.yaml"))


def deployer(progress: list[str] | None = None, **kw: Any) -> tuple[Deployer, AwsClient]:
    client = AwsClient(AwsConfig(region=REGION), **kw)
    return Deployer(client, progress=None if progress is None else progress.append), client


def sqs() -> Any:
    return boto3.client("sqs", region_name=REGION)


def queues() -> list[str]:
    return sorted(url.rsplit("/", 1)[-1] for url in sqs().list_queues().get("QueueUrls", []))


def url_of(name: str) -> str:
    return str(sqs().get_queue_url(QueueName=name)["QueueUrl"])


def failed_runs(name: str, count: int, first: int = 0) -> list[str]:
    """Send ``count`` messages like Lambda's async DLQ messages (body + error attributes)."""
    bodies = [f'{{"run": {i}}}' for i in range(first, first + count)]
    for i, body in enumerate(bodies, first):
        sqs().send_message(
            QueueUrl=url_of(name),
            MessageBody=body,
            MessageAttributes={
                "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                "ErrorMessage": {"DataType": "String", "StringValue": f"boom {i}"},
                "Trace": {"DataType": "Binary", "BinaryValue": bytes([i])},
            },
        )
    return bodies


def drain(name: str) -> dict[str, dict[str, Any]]:
    """Every message of the queue (body -> message attributes), deleted as read."""
    got: dict[str, dict[str, Any]] = {}
    while True:
        answer = sqs().receive_message(QueueUrl=url_of(name), MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        messages = answer.get("Messages", [])
        if not messages:
            return got
        for m in messages:
            got[m["Body"]] = {
                k: {f: v for f, v in value.items() if f in ("DataType", "StringValue", "BinaryValue")}
                for k, value in m.get("MessageAttributes", {}).items()
            }
            sqs().delete_message(QueueUrl=url_of(name), ReceiptHandle=m["ReceiptHandle"])


def waiting(name: str) -> int:
    attrs = sqs().get_queue_attributes(QueueUrl=url_of(name), AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


@pytest.fixture
def legacy(tmp_path: Path, aws: None, monkeypatch: pytest.MonkeyPatch) -> Manifest:
    """Job ``nightly`` deployed by a cronplane from before the "--" join."""
    manifest = write_manifest(tmp_path, "nightly")
    monkeypatch.setattr(names, "SEPARATOR", names.LEGACY_SEPARATOR)
    deployer()[0].deploy(manifest)
    monkeypatch.setattr(names, "SEPARATOR", "--")
    assert queues() == [OLD]
    return manifest


def assert_unchanged_redeploy_is_free(manifest: Manifest) -> None:
    dep, client = deployer()
    assert not dep.deploy(manifest).plan.has_changes
    assert client.writes == 0
    assert "sqs.GetQueueAttributes" not in client.operation_counts()


def test_a_renamed_dlq_hands_its_messages_to_the_new_queue(legacy: Manifest) -> None:
    bodies = failed_runs(OLD, 3)
    plan = deployer()[0].plan(legacy)
    assert f"renamed: deploy moves 3 messages of sqs queue {OLD} to the new DLQ {NEW}, then deletes it" in plan.notes
    moved = next(a for a in plan.actions if a.name == OLD)
    assert moved.reason == "replaced by its ---joined name"

    progress: list[str] = []
    deployer(progress)[0].deploy(legacy)
    steps = [line.split("] ", 1)[-1] for line in progress]
    # The new queue exists before the old one is emptied into it and deleted.
    assert steps.index(f"create sqs queue {NEW}") < steps.index(f"delete sqs queue {OLD}")
    assert progress[progress.index(next(p for p in progress if p.endswith(f"delete sqs queue {OLD}"))) + 1] == (
        f"      moved 3 messages from {OLD} to the new DLQ {NEW}"
    )
    assert queues() == [NEW]
    got = drain(NEW)
    assert sorted(got) == sorted(bodies)
    for i, body in enumerate(bodies):
        assert got[body] == {
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": f"boom {i}"},
            "Trace": {"DataType": "Binary", "BinaryValue": bytes([i])},
        }
    assert_unchanged_redeploy_is_free(legacy)


def test_a_failed_move_keeps_the_old_queue_and_a_rerun_finishes_it(legacy: Manifest) -> None:
    bodies = failed_runs(OLD, 15)  # two batches: the second send fails
    sends = {"n": 0}

    def refuse_the_second_send(call: Call) -> None:
        if call.operation == "send_message_batch":
            sends["n"] += 1
            if sends["n"] == 2:
                raise AwsError(f"AWS sqs send_message_batch failed: AccessDenied: not allowed to send to {NEW}")

    with pytest.raises(CronplaneError) as info:
        deployer(before_write=refuse_the_second_send)[0].deploy(legacy)
    message = str(info.value)
    assert f"delete sqs queue {OLD} failed: moving the messages of DLQ {OLD} to the new DLQ {NEW} stopped" in message
    assert "stopped after 10 of them: AWS sqs send_message_batch failed: AccessDenied" in message
    assert f"{OLD} was not deleted, so no message is lost" in message
    assert "run deploy again" in message
    assert queues() == [NEW, OLD]
    # The five not moved are waiting again at once (released, not left invisible).
    assert waiting(OLD) == 5 and waiting(NEW) == 10

    progress: list[str] = []
    deployer(progress)[0].deploy(legacy)
    assert f"      moved 5 messages from {OLD} to the new DLQ {NEW}" in progress
    assert queues() == [NEW]
    assert sorted(drain(NEW)) == sorted(bodies)  # each once: nothing lost, nothing doubled
    assert_unchanged_redeploy_is_free(legacy)


def test_a_send_that_fails_for_some_messages_moves_only_the_others(legacy: Manifest) -> None:
    """SQS may accept part of a batch: what it accepted leaves the old queue, the rest stays."""
    bodies = failed_runs(OLD, 4)
    dep, client = deployer()
    real = sqs()

    asked: dict[str, Any] = {}

    def remember(params: dict[str, Any], **_: Any) -> None:
        asked.update(params)  # the call's own parameters (before-call sees the serialised request)

    def accept_two(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        entries = asked["Entries"]
        for entry in entries[:2]:
            real.send_message(
                QueueUrl=asked["QueueUrl"],
                MessageBody=entry["MessageBody"],
                MessageAttributes=entry.get("MessageAttributes", {}),
            )
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"} for e in entries[2:]
        ]
        ok = [{"Id": e["Id"], "MessageId": e["Id"], "MD5OfMessageBody": ""} for e in entries[:2]]
        return AWSResponse(asked["QueueUrl"], 200, HTTPHeaders(), None), {"Successful": ok, "Failed": failed}

    events = client.boto3_client("sqs").meta.events
    events.register("provide-client-params.sqs.SendMessageBatch", remember)
    events.register("before-call.sqs.SendMessageBatch", accept_two)
    with pytest.raises(CronplaneError) as info:
        dep.deploy(legacy)
    assert "stopped after 2 of them: AWS sqs send_message_batch failed for 2 messages: InternalError" in str(info.value)
    assert waiting(OLD) == 2 and waiting(NEW) == 2

    deployer()[0].deploy(legacy)
    assert queues() == [NEW]
    assert sorted(drain(NEW)) == sorted(bodies)


def test_a_dlq_pruned_with_its_job_is_named_with_its_message_count(tmp_path: Path, aws: None) -> None:
    manifest = write_manifest(tmp_path, "nightly", "weekly")
    deployer()[0].deploy(manifest)
    failed_runs("acme--weekly-dlq", 2)
    assert_unchanged_redeploy_is_free(manifest)

    smaller = write_manifest(tmp_path, "nightly")
    dep, client = deployer()
    plan = dep.plan(smaller)
    assert client.writes == 0
    assert client.operation_counts()["sqs.GetQueueAttributes"] == 1  # the one queue being deleted
    assert any(
        note.startswith("deleting DLQ acme--weekly-dlq with 2 messages: failed runs, lost with it")
        for note in plan.notes
    ), plan.notes
    pruned = next(a for a in plan.actions if a.name == "acme--weekly-dlq")
    assert pruned.reason == "job weekly is no longer in the manifest" and pruned.desired is None

    deployer()[0].deploy(smaller)  # as before: the queue goes, with its messages
    assert queues() == ["acme--nightly-dlq"]
    assert_unchanged_redeploy_is_free(smaller)


def test_an_empty_dlq_is_deleted_without_a_note(tmp_path: Path, aws: None) -> None:
    deployer()[0].deploy(write_manifest(tmp_path, "nightly", "weekly"))
    plan = deployer()[0].plan(write_manifest(tmp_path, "nightly"))
    assert [a.name for a in plan.actions if a.kind == "sqs queue"] == ["acme--weekly-dlq"]
    assert not any("DLQ" in note for note in plan.notes), plan.notes
