"""DynamoDB served locally: moto's server mode on 127.0.0.1, one per test session, fresh tables per test.

A request for the server from this process (the bot under test and the tests' own client) is answered by moto in
the same process, the way moto's in-process mock answers: botocore serialises and signs it as for AWS, moto's
DynamoDB handler answers the very same request, and botocore parses the answer's bytes. Only the loopback socket
is skipped (werkzeug's and urllib3's share of the suite's CPU was as large as moto's own). Other processes (the
bot started as a process) reach the same tables through the server.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid

import boto3
import moto.core.responses
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.handlers import BUILTIN_HANDLERS
from moto.core.botocore_stubber import MockRawResponse
from moto.core.exceptions import HTTPException
from moto.core.request import normalize_request
from moto.dynamodb.responses import DynamoHandler
from moto.server import ThreadedMotoServer

from bot.store.dynamodb.tables import TABLES, create_tables


class LocalDynamoDB:
    """moto's DynamoDB (and the rest of moto) on a loopback port; `url` is for AWS_ENDPOINT_URL_DYNAMODB."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self._unlocked = _serialise_dynamodb_requests()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        _ANSWERED_HERE.add(self.url)
        self._client = boto3.client(
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

    def new_tables(self) -> dict[str, str]:
        """Create a fresh set of the store's tables; returns {"Settings": name, "Jobs": name, "Tags": name}."""
        suffix = uuid.uuid4().hex[:10]
        names = {logical: f"labelbot-{logical.lower()}-{suffix}" for logical in TABLES}
        create_tables(self.client(), names)
        return names

    def close(self) -> None:
        _ANSWERED_HERE.discard(self.url)
        self._server.stop()
        DynamoHandler.call_action = self._unlocked


def _serialise_dynamodb_requests():
    """moto answers requests in parallel threads with no lock around a conditional write's check and its write,
    where DynamoDB makes each request atomic: serialise moto's DynamoDB requests (the clients still race each other).
    Returns the unlocked handler, to put back."""
    original = DynamoHandler.call_action
    lock = threading.Lock()

    def call_action(self):
        with lock:
            return original(self)

    DynamoHandler.call_action = call_action
    return original


_ANSWERED_HERE: set[str] = set()  # the servers whose requests from this process moto answers in this process


def _answer_in_process(request: AWSPreparedRequest, **_) -> AWSResponse | None:
    """botocore's before-send for every client of this process: a request for a LocalDynamoDB of this process gets
    moto's answer without the socket (as moto's own in-process mock does); any other request goes on (None)."""
    base = request.url.split("/", 3)
    if len(base) < 3 or f"{base[0]}//{base[2]}" not in _ANSWERED_HERE:
        return None
    normalized = normalize_request(request)
    try:
        status, headers, body = DynamoHandler.dispatch(normalized, normalized.raw_url, normalized.headers)
    except HTTPException as exc:
        status, headers, body = exc.code, exc.get_headers(), exc.get_body()
    return AWSResponse(request.url, status, headers, MockRawResponse(body))


# moto lists its handler class's methods (inspect.getmembers) at every request to find the action's: the same list
# each time for a class, so it is kept (4% of moto's CPU per request).
moto.core.responses.method_names_from_class = functools.cache(moto.core.responses.method_names_from_class)

# Every botocore session made after this import (the bot's, the tests') has it; this module is imported by conftest.
BUILTIN_HANDLERS.append(("before-send", _answer_in_process))
