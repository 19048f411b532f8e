"""The history table: keys, the by-time index, TTL, encryption."""

from __future__ import annotations

import boto3

from cronplane.runtime.schema import INDEX_NAME, create_table, table_definition


def test_definition_matches_the_record_layout() -> None:
    definition = table_definition("acme-history")
    assert definition["BillingMode"] == "PAY_PER_REQUEST" and definition["SSESpecification"] == {"Enabled": True}
    assert [(k["AttributeName"], k["KeyType"]) for k in definition["KeySchema"]] == [
        ("job", "HASH"),
        ("run_id", "RANGE"),
    ]
    [index] = definition["GlobalSecondaryIndexes"]
    assert index["IndexName"] == INDEX_NAME == "by-time"
    assert [k["AttributeName"] for k in index["KeySchema"]] == ["gsi_pk", "run_id"] and index["Projection"] == {
        "ProjectionType": "ALL"
    }


def test_create_table_in_moto_with_ttl(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="eu-west-1")
    create_table(client, "acme-history")
    table = client.describe_table(TableName="acme-history")["Table"]
    assert table["TableStatus"] == "ACTIVE" and table["GlobalSecondaryIndexes"][0]["IndexName"] == "by-time"
    assert table["SSEDescription"]["Status"] == "ENABLED"
    ttl = client.describe_time_to_live(TableName="acme-history")["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
