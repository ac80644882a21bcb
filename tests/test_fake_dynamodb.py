"""The local DynamoDB's own shortcut: its item operations' answers (tests/fakes/dynamodb.py writes them as JSON
directly) are the JSON moto's serializer writes, for every kind of attribute value and every part of an answer."""

from __future__ import annotations

import json

import pytest
from moto.dynamodb.responses import DynamoResult

from tests.fakes import dynamodb as fake

EVERY_KIND = {
    "s": {"S": "猫 · cat"},
    "n": {"N": "99.25"},
    "b": {"B": b"\x00\xffbytes"},
    "yes": {"BOOL": True},
    "nothing": {"NULL": True},
    "map": {"M": {"inner": {"L": [{"S": "a"}, {"N": "1"}, {"B": b"\x01"}, {"M": {}}]}}},
    "list": {"L": []},
    "ss": {"SS": ["a", "b"]},
    "ns": {"NS": ["1", "2.5"]},
    "bs": {"BS": [b"\x01", b"\x02"]},
}


@pytest.fixture
def compared(monkeypatch):
    """Every item operation's answer, written both ways: [(operation, shortcut's answer, moto's answer)]."""
    answers: list[tuple[str, tuple, tuple]] = []
    moto = fake._moto_execute_result

    def both(self, context):
        shortcut = fake._execute_result(self, context)
        if context.operation_model.name in fake.ITEM_OPERATIONS:  # headers copied: moto adds to them afterwards
            status, headers, body = shortcut
            answers.append((context.operation_model.name, (status, {**headers}, body), moto(self, context)))
        return shortcut

    monkeypatch.setattr(DynamoResult, "execute_result", both)
    return answers


def test_item_operations_answer_the_json_motos_serializer_writes(local_dynamodb, compared):
    client = local_dynamodb.client()
    table = local_dynamodb.new_tables()["Tags"]
    capacity = {"ReturnConsumedCapacity": "TOTAL"}
    for sk in ("1", "2", "3"):
        client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": sk}, **EVERY_KIND}, **capacity)
    client.put_item(TableName=table, Item={"pk": {"S": "p"}, "sk": {"S": "1"}}, ReturnValues="ALL_OLD", **capacity)
    key = {"pk": {"S": "p"}, "sk": {"S": "2"}}
    client.get_item(TableName=table, Key=key, **capacity)
    client.get_item(TableName=table, Key={"pk": {"S": "none"}, "sk": {"S": "none"}})
    client.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET #n = #n + :one",
        ExpressionAttributeNames={"#n": "n"},
        ExpressionAttributeValues={":one": {"N": "1"}},
        ReturnValues="ALL_NEW",
        **capacity,
    )
    client.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}, Limit=2
    )
    client.query(
        TableName=table, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "p"}}, Select="COUNT"
    )
    client.scan(TableName=table, **capacity)
    client.batch_get_item(RequestItems={table: {"Keys": [key, {"pk": {"S": "p"}, "sk": {"S": "3"}}]}}, **capacity)
    client.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}])
    client.delete_item(TableName=table, Key=key, ReturnValues="ALL_OLD", **capacity)

    assert {name for name, _, _ in compared} >= {
        "PutItem",
        "GetItem",
        "UpdateItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "TransactGetItems",
        "DeleteItem",
    }
    for name, (status, headers, body), (moto_status, moto_headers, moto_body) in compared:
        assert (status, headers, json.loads(body)) == (moto_status, moto_headers, json.loads(moto_body)), name
    bodies = [json.loads(body) for _, (_, _, body), _ in compared]
    assert any(body.get("Item", {}).get("bs") == {"BS": ["AQ==", "Ag=="]} for body in bodies)  # blobs in base64
    assert any("LastEvaluatedKey" in body for body in bodies) and any("ConsumedCapacity" in body for body in bodies)
