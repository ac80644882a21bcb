"""DynamoDB served locally: moto's server mode on 127.0.0.1, one per test session, fresh tables per test."""

from __future__ import annotations

import logging
import threading
import uuid

import boto3
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
