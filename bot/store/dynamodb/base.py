"""What the DynamoDB concerns share: the client, the three tables' names, the retention and the clock, and the
calls they make through them (reads that are consistent where they can be, conditional writes, transactions and
batches retried as DynamoDB asks). The only code that talks to DynamoDB."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta

from botocore.client import BaseClient
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from bot.config import DYNAMODB_TABLE_VARIABLES, ConfigError
from bot.install_context import workspace_or_current
from bot.rekognition import aws_client
from bot.store.dynamodb.wire import condition_args, expression_args, from_wire, to_wire, update_args
from bot.store.protocols import ALL_INSTALLS

DAY = 86400
TRIES = 8  # a write that meets a concurrent change (or a transaction another one) is tried this often at most
# Why a transaction may fail and succeed when tried again; any other reason but a failed condition is an error.
# The start-up check reads this key in each table; no item ever has it.
NO_ITEMS_KEY = "labelbot#start-up-check"
KEY_DESCRIPTION = {"Settings": "channel_id", "Jobs": "pk and sk", "Tags": "pk and sk"}
TRANSIENT_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})


def build_dynamodb_client() -> BaseClient:
    """boto3's DynamoDB client: botocore's standard retries (throttling, 5xx, dropped connections), 5 attempts, and
    short timeouts, as every call is inside an ack or a job. AWS_REGION is honoured as Lambda and the other SDKs do
    (botocore alone reads AWS_DEFAULT_REGION); AWS_ENDPOINT_URL_DYNAMODB points it elsewhere."""
    config = BotoConfig(retries={"mode": "standard", "total_max_attempts": 5}, connect_timeout=3, read_timeout=5)
    return aws_client("dynamodb", config)


class DynamoTables:
    def __init__(
        self,
        tables: Mapping[str, str],
        *,
        client: BaseClient | None = None,
        retention_days: int = 90,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """tables: {"Settings": name, "Jobs": name, "Tags": name}. retention_days: how long finished jobs, settled
        messages and index entries live (expires_at); the upkeep's purge should use the same. clock: the time
        records are stamped with (tests move it)."""
        self.settings_table, self.jobs_table, self.tags_table = tables["Settings"], tables["Jobs"], tables["Tags"]
        self._owns_client = client is None
        self.client = client if client is not None else build_dynamodb_client()
        self.retention = retention_days * DAY
        self.clock = clock

    def check(self) -> None:
        """At start-up: every table exists, has labelbot's key and can be read, else a ConfigError naming the variable
        to fix. One GetItem of a key no item has, per table: a data-plane read, as every later call is (DescribeTable
        is a control-plane call, with a far lower request rate shared by the account, which cold starts of many Lambda
        instances at once could exhaust), and it also fails on a table whose key is not labelbot's."""
        for logical, name in (("Settings", self.settings_table), ("Jobs", self.jobs_table), ("Tags", self.tags_table)):
            variable = DYNAMODB_TABLE_VARIABLES[logical]
            key = {"channel_id": NO_ITEMS_KEY} if logical == "Settings" else {"pk": NO_ITEMS_KEY, "sk": "check"}
            try:
                self.client.get_item(TableName=name, Key=to_wire(key))
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code == "ResourceNotFoundException":
                    region = self.client.meta.region_name
                    raise ConfigError(
                        f"{variable} is {name!r}, but no DynamoDB table has that name in {region}"
                    ) from None
                if code == "ValidationException":
                    raise ConfigError(
                        f"{variable} is {name!r}, but that table's key is not labelbot's ({KEY_DESCRIPTION[logical]})"
                    ) from None
                raise ConfigError(f"{variable}: reading the DynamoDB table {name!r} failed ({code})") from None
            except BotoCoreError as exc:
                raise ConfigError(f"{variable}: cannot reach DynamoDB for the table {name!r} ({exc})") from None

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    # ---- calls -------------------------------------------------------------------------------------------------

    def get(self, table: str, key: dict) -> dict | None:
        item = self.client.get_item(TableName=table, Key=to_wire(primary_key(key)), ConsistentRead=True).get("Item")
        return None if item is None else from_wire(item)

    def get_many(self, table: str, keys: Iterable[dict]) -> list[dict]:
        """The items (consistent reads) of those keys that exist, in no particular order."""
        unique = list({tuple(sorted(primary_key(key).items())): primary_key(key) for key in keys}.values())
        found = []
        for chunk in batched(unique, 100):
            request = {table: {"Keys": [to_wire(key) for key in chunk], "ConsistentRead": True}}
            while request:
                answer = self.client.batch_get_item(RequestItems=request)
                found += [from_wire(item) for item in answer["Responses"].get(table, [])]
                request = answer.get("UnprocessedKeys") or {}
                if request:
                    time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not a secret
        return found

    def query(
        self,
        table: str,
        key_condition: str,
        values: dict,
        *,
        index: str | None = None,
        forward: bool = True,
        where: str | None = None,  # the FilterExpression
        projection: str | None = None,
        page: int | None = None,
        consistent: bool = True,
    ) -> Iterator[dict]:
        """Every item (page by page, as iterated) of a Query; the table's are read consistently, an index's can't be."""
        args = {
            "TableName": table,
            "KeyConditionExpression": key_condition,
            "ScanIndexForward": forward,
            **expression_args(key_condition, where, projection, **values),
        }
        if index is not None:
            args["IndexName"] = index
        elif consistent:
            args["ConsistentRead"] = True
        if where:
            args["FilterExpression"] = where
        if projection:
            args["ProjectionExpression"] = "#pk, #sk, " + projection
            args["ExpressionAttributeNames"].update({"#pk": "pk", "#sk": "sk"})
        if page:
            args["Limit"] = page
        while True:
            answer = self.client.query(**args)
            yield from (from_wire(item) for item in answer["Items"])
            if "LastEvaluatedKey" not in answer:
                return
            args["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def count(self, table: str, key_condition: str, values: dict, *, limit: int, index: str | None = None) -> int:
        """How many items a Query's key condition matches (of the table, or of one of its indexes), counting at most
        `limit` (one request, Select COUNT, eventually consistent: it costs reading at most `limit` items)."""
        answer = self.client.query(
            TableName=table,
            **({"IndexName": index} if index else {}),
            KeyConditionExpression=key_condition,
            Select="COUNT",
            Limit=limit,
            **expression_args(key_condition, None, None, **values),
        )
        return int(answer["Count"])

    def update(self, table: str, key: dict, update: str, condition: str | None = None, **values) -> dict | None:
        """The item after the update, or None when the condition failed."""
        args = {"TableName": table, "Key": to_wire(primary_key(key)), "ReturnValues": "ALL_NEW"}
        args.update(update_args(update, condition, **values))
        try:
            return from_wire(self.client.update_item(**args)["Attributes"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise

    def update_first(self, table: str, key: dict, *variants: tuple[str, str], **values) -> None:
        """Apply the first of (update, condition) whose condition holds; the conditions exclude one another, so a
        change in between makes all fail and the round is tried again."""
        for _ in range(2):
            for update, condition in variants:
                if self.update(table, key, update, condition, **values) is not None:
                    return

    def delete(self, table: str, key: dict, condition: str, **values) -> bool:
        try:
            self.client.delete_item(
                TableName=table, Key=to_wire(primary_key(key)), **condition_args(condition, **values)
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def put_unless_live(self, table: str, item: dict, now: float) -> dict | None:
        """Put the item unless a live one has its key; returns that one (then nothing was written)."""
        try:
            self.client.put_item(
                TableName=table,
                Item=to_wire(item),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **condition_args("attribute_not_exists(#pk) OR #expires_at <= :now", now=now),
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return from_wire(exc.response.get("Item") or {}) or self.get(table, item)
            raise
        return None

    def transact(self, items: list[dict]) -> list[str] | None:
        """None when written; else each part's cancellation reason ("None": that part was fine)."""
        for attempt in itertools.count(1):
            try:
                self.client.transact_write_items(TransactItems=items)
                return None
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "TransactionCanceledException":
                    raise
                reasons = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if set(reasons) <= {"None", "ConditionalCheckFailed"}:
                    return reasons
                if not TRANSIENT_CANCELLATIONS.intersection(reasons) or attempt == TRIES:
                    raise
            time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    def write_many(self, table: str, *, puts: Iterable[dict] = (), deletes: Iterable[dict] = ()) -> None:
        """BatchWriteItem, 25 at a time, retrying what DynamoDB left unprocessed."""
        requests = {("put", *primary_key(p).values()): {"PutRequest": {"Item": to_wire(p)}} for p in puts}
        for key in deletes:
            requests.setdefault(
                ("delete", *primary_key(key).values()), {"DeleteRequest": {"Key": to_wire(primary_key(key))}}
            )
        for chunk in batched(requests.values(), 25):
            pending = {table: list(chunk)}
            while pending:
                pending = self.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
                if pending:
                    time.sleep(random.uniform(0.01, 0.05))  # noqa: S311 - jitter, not a secret


def of_install(workspace: str | None = None) -> dict:
    """The attribute naming an item's install, for the by_install index an uninstall reads: {"workspace": key} for
    another install's item (workspace None: the current install's), nothing for the one workspace's."""
    workspace = workspace_or_current(workspace)
    return {"workspace": workspace} if workspace and workspace != ALL_INSTALLS else {}


def install_set(workspace: str | None = None) -> tuple[str, dict]:
    """of_install for an update: the SET clause's addition (", #workspace = :workspace", or "" for the one
    workspace's item) and its value."""
    install = of_install(workspace)
    return (", #workspace = :workspace" if install else ""), install


def primary_key(item: dict) -> dict:
    """The item's key: pk and sk (Jobs, Tags), or channel_id (Settings)."""
    return {"pk": item["pk"], "sk": item["sk"]} if "pk" in item else {"channel_id": item["channel_id"]}


def is_live(item: dict, now: float) -> bool:
    """Not past its expires_at: TTL deletes such items up to ~48 h later, and until then reads skip them."""
    return "expires_at" not in item or item["expires_at"] > now


def utc_day(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def utc_days(start: float, end: float) -> list[str]:
    """The days (by_finish_day's partitions) from start's to end's, both included."""
    first = datetime.fromtimestamp(max(start, 0), UTC).date()
    last = datetime.fromtimestamp(max(end, 0), UTC).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def batched(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
