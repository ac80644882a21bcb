"""DynamoDB served locally: moto's server mode on 127.0.0.1, one per test session, fresh tables per test.

A call to the server from this process (the bot under test and the tests' own client) is answered by moto in the
same process, as botocore's Stubber answers one: botocore validates and serialises the request as for AWS, moto's
DynamoDB handler answers that very request, and botocore's own parser reads the answer's bytes. Skipped are the
loopback socket (werkzeug's and urllib3's share of the suite's CPU was as large as moto's own), and the signature, the
HTTP request object and the retry handler around them, which moto doesn't look at and never needs (it doesn't
throttle): a third of the Lambda tests' CPU. Other processes (the bot started as a process) reach the same tables
through the server, signed, over HTTP.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import threading
import uuid
from datetime import datetime

import moto.core.responses
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, create_request_object
from botocore.endpoint import Endpoint, convert_to_response_dict
from botocore.handlers import BUILTIN_HANDLERS
from botocore.parsers import create_parser
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import MockRawResponse
from moto.core.exceptions import HTTPException
from moto.core.request import normalize_request
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.responses import DynamoHandler, DynamoResult
from moto.server import ThreadedMotoServer

from bot.rekognition import new_botocore_session
from bot.store.dynamodb.tables import TABLES, create_tables


class LocalDynamoDB:
    """moto's DynamoDB (and the rest of moto) on a loopback port; `url` is for AWS_ENDPOINT_URL_DYNAMODB."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self._lock = threading.Lock()
        self._unlocked = _serialise_dynamodb_requests(self._lock)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        _ANSWERED_HERE.add(self.url)
        self._client = new_botocore_session().create_client(  # botocore's data read once per process
            "dynamodb",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="AKIDTESTTESTTEST",
            aws_secret_access_key="test-aws-secret-key-0123456789",
        )

    def client(self):
        """One client for the session's tests (thread-safe, as boto3's clients are): a new one reads botocore's
        endpoint and service data again."""
        return self._client

    def new_tables(self, *, through_the_api: bool = False) -> dict[str, str]:
        """Create a fresh set of the store's tables (bot.store.dynamodb.tables.create_tables); returns {"Settings":
        name, "Jobs": name, "Tags": name}. Made in moto's DynamoDB backend directly unless through_the_api: the
        same tables (test_store compares the two), without serialising each table's description twice per request
        (table sets were 7 % of the test processes' CPU)."""
        suffix = uuid.uuid4().hex[:10]
        names = {logical: f"labelbot-{logical.lower()}-{suffix}" for logical in TABLES}
        if through_the_api:
            create_tables(self.client(), names)
        else:
            with self._lock:
                create_tables(_BackendTables(dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]), names)
        return names

    def close(self) -> None:
        _ANSWERED_HERE.discard(self.url)
        self._server.stop()
        DynamoHandler.call_action = self._unlocked


class _BackendTables:
    """The two calls create_tables makes, on moto's backend (the account and region of the tests' credentials)."""

    def __init__(self, backend) -> None:
        self._backend = backend

    def create_table(self, *, TableName, BillingMode, KeySchema, AttributeDefinitions, GlobalSecondaryIndexes=None):
        self._backend.create_table(
            TableName,
            schema=KeySchema,
            throughput=None,
            attr=AttributeDefinitions,
            global_indexes=GlobalSecondaryIndexes or [],
            indexes=[],
            streams=None,
            billing_mode=BillingMode,
            sse_specification=None,
            tags=[],
            deletion_protection_enabled=False,
            warm_throughput=None,
        )

    def update_time_to_live(self, *, TableName, TimeToLiveSpecification) -> None:
        self._backend.update_time_to_live(TableName, TimeToLiveSpecification)


def _serialise_dynamodb_requests(lock: threading.Lock):
    """moto answers requests in parallel threads with no lock around a conditional write's check and its write,
    where DynamoDB makes each request atomic: serialise moto's DynamoDB requests (the clients still race each other).
    Returns the unlocked handler, to put back."""
    original = DynamoHandler.call_action

    def call_action(self):
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action
    return original


_ANSWERED_HERE: set[str] = set()  # the servers whose requests from this process moto answers in this process


def _answered_here(url: str) -> bool:
    base = url.split("/", 3)
    return len(base) >= 3 and f"{base[0]}//{base[2]}" in _ANSWERED_HERE


def _moto_answer(request: AWSPreparedRequest) -> AWSResponse:
    normalized = normalize_request(request)
    try:
        status, headers, body = DynamoHandler.dispatch(normalized, normalized.raw_url, normalized.headers)
    except HTTPException as exc:
        status, headers, body = exc.code, exc.get_headers(), exc.get_body()
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


_PARSER = create_parser("json")
_add_modeled_error_fields = Endpoint._add_modeled_error_fields  # uses nothing of the endpoint


def _call_in_process(model, params: dict, **_) -> tuple[AWSResponse, dict] | None:
    """botocore's before-call: the request botocore validated and serialised for a LocalDynamoDB of this process is
    answered by moto here, and its answer parsed by botocore's own parser, as the Stubber answers a call: without
    the signature, the HTTP request object and the retry handler around them (none of which moto looks at). Any
    other call goes on (None)."""
    if not _answered_here(params["url"]):
        return None
    http = _moto_answer(create_request_object(params).prepare())
    response = convert_to_response_dict(http, model)
    parsed = _PARSER.parse(response, model.output_shape)
    if http.status_code >= 300:
        _add_modeled_error_fields(None, response, parsed, model, _PARSER)
    parsed.setdefault("ResponseMetadata", {}).update(
        HTTPStatusCode=http.status_code, HTTPHeaders=response["headers"], RetryAttempts=0
    )
    return http, parsed


# moto lists its handler class's methods (inspect.getmembers) at every request to find the action's: the same list
# each time for a class, so it is kept (4% of moto's CPU per request).
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)

# The item operations' answers, written as moto's serializer writes them (it walks the answer's whole shape in
# botocore's model, attribute by attribute: 12 % of the Lambda tests' CPU). tests/test_fake_dynamodb.py checks the
# two give the same JSON, every kind of attribute value included; anything else (errors, table descriptions) is moto's.
ITEM_OPERATIONS = frozenset(
    {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan", "BatchGetItem", "BatchWriteItem"}
    | {"TransactGetItems", "TransactWriteItems"}
)
_moto_execute_result = DynamoResult.execute_result


def _wire(value):
    if isinstance(value, dict):
        return {key: _wire(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_wire(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    return value


def _execute_result(self, context):
    operation = context.operation_model
    if operation.name not in ITEM_OPERATIONS:
        return _moto_execute_result(self, context)
    members = operation.output_shape.members  # moto's answer may hold more (DeleteItem: ConsumedCapacityUnits)
    answer = {key: value for key, value in self.result.items() if key in members}
    return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(_wire(answer))


DynamoResult.execute_result = _execute_result

# moto matches a request against DynamoDB's routes each of the four times it asks for the request's action; a
# handler answers one request (dispatch makes one per request), so its first answer is kept.
_moto_get_action = DynamoHandler._get_action


def _get_action(self) -> str:
    if "_action" not in self.__dict__:
        self.__dict__["_action"] = _moto_get_action(self)
    return self.__dict__["_action"]


DynamoHandler._get_action = _get_action

# Every botocore session made after this import (the bot's, the tests') has it; this module is imported by conftest.
BUILTIN_HANDLERS.append(("before-call.dynamodb", _call_in_process))
