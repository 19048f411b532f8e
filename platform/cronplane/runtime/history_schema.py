"""The run-history table's definition (see ``records.py`` for the key layout). The deploy side
builds the table from ``table_definition``; tests and the dev server use ``create_table``."""

from __future__ import annotations

from typing import Any

INDEX_NAME = "by-time"  # == cronplane.manifest.names.HISTORY_INDEX (the runtime cannot import names)
TTL_ATTRIBUTE = "ttl"


def table_definition(table_name: str) -> dict[str, Any]:
    """Keyword arguments for ``dynamodb.create_table``."""
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "job", "AttributeType": "S"},
            {"AttributeName": "run_id", "AttributeType": "S"},
            {"AttributeName": "gsi_pk", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "job", "KeyType": "HASH"},
            {"AttributeName": "run_id", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": "gsi_pk", "KeyType": "HASH"},
                    {"AttributeName": "run_id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "SSESpecification": {"Enabled": True},
    }


def create_table(client: Any, table_name: str) -> None:
    """Create the table, wait until it is active, and turn on TTL expiry of ``ttl``."""
    created = client.create_table(**table_definition(table_name))
    if created.get("TableDescription", {}).get("TableStatus") != "ACTIVE":  # emulators: at once
        client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    client.update_time_to_live(
        TableName=table_name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
    )
