"""DynamoDB's wire format: items to and from its typed JSON, numbers as Decimals, and the expression arguments."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()

# DynamoDB's largest number: an infinite bound ("purge everything older than forever") compares as this.
LARGEST_NUMBER = Decimal("9.9999999999999999999999999999999999999E+125")


def to_wire(item: dict) -> dict:
    return {name: _serializer.serialize(as_dynamodb(value)) for name, value in item.items()}


def from_wire(item: dict) -> dict:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


def as_dynamodb(value: object) -> object:
    """DynamoDB numbers are Decimals (a float's shortest repr, exactly); infinities become its largest ones."""
    if isinstance(value, float):
        if math.isinf(value):
            return LARGEST_NUMBER.copy_sign(Decimal(value))
        return Decimal(repr(value))
    if isinstance(value, list | tuple):
        return [as_dynamodb(v) for v in value]
    return value


def expression_args(*expressions: str | None, **values) -> dict:
    """ExpressionAttributeNames for every #name in the expressions (#name stands for the attribute name, so no
    reserved word can clash) and ExpressionAttributeValues for the values they use as :name."""
    text = " ".join(e for e in expressions if e)
    args: dict = {}
    if names := {f"#{name}": name for name in re.findall(r"#(\w+)", text)}:
        args["ExpressionAttributeNames"] = names
    if used := {f":{name}": values[name] for name in dict.fromkeys(re.findall(r":(\w+)", text))}:
        args["ExpressionAttributeValues"] = to_wire(used)
    return args


def update_args(update: str, condition: str | None = None, **values) -> dict:
    args = {"UpdateExpression": update, **expression_args(update, condition, **values)}
    if condition:
        args["ConditionExpression"] = condition
    return args


def condition_args(condition: str, **values) -> dict:
    return {"ConditionExpression": condition, **expression_args(condition, **values)}
