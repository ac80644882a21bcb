"""AWS Lambda's Invoke API on 127.0.0.1: records each invocation and runs asynchronous ones ("Event") in a thread,
the way Lambda starts a Bolt lazy listener's invocation. Point boto3 at it with AWS_ENDPOINT_URL_LAMBDA."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from tests.fakes.http_server import LoopbackServer, Request, Response

INVOKE_PATH = "/2015-03-31/functions/"


@dataclass
class Invocation:
    function_name: str
    invocation_type: str
    payload: dict


class FakeContext:
    """What a Python Lambda handler gets as `context`."""

    def __init__(self, function_name: str, timeout_seconds: float = 120.0) -> None:
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 1769
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FakeLambda:
    """`functions` maps a function name to its handler(event, context); invocations of others answer 404."""

    def __init__(self, functions: dict[str, Callable[[dict, FakeContext], object]] | None = None) -> None:
        self.functions = dict(functions or {})
        self.invocations: list[Invocation] = []
        self.hold = False  # True: record asynchronous invocations but run none (as if Lambda lost them)
        self.errors: list[BaseException] = []
        self._running: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._server = LoopbackServer(self._route)
        self.url = self._server.url

    def _route(self, request: Request) -> Response:
        if request.method != "POST" or not request.path.startswith(INVOKE_PATH):
            return Response(404, {"Message": "unknown operation"})
        name = unquote(request.path[len(INVOKE_PATH) :].split("/", 1)[0]).rsplit(":", 1)[-1]
        if name not in self.functions:
            return Response(
                404,
                {"Type": "User", "Message": f"Function not found: {name}"},
                {"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
        invocation = Invocation(name, request.headers.get("x-amz-invocation-type", "RequestResponse"), request.json())
        with self._lock:
            self.invocations.append(invocation)
        if invocation.invocation_type != "Event":
            return Response(200, self.functions[name](invocation.payload, FakeContext(name)))
        if not self.hold:
            self.run_async(invocation)
        return Response(202, b"")

    def run_async(self, invocation: Invocation) -> None:
        """Run a recorded asynchronous invocation now (e.g. one held back earlier)."""

        def run() -> None:
            try:
                self.functions[invocation.function_name](invocation.payload, FakeContext(invocation.function_name))
            except BaseException as exc:  # surfaced by the tests through `errors`
                self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        with self._lock:
            self._running.append(thread)
        thread.start()

    def lazy_invocations(self) -> list[Invocation]:
        return [i for i in self.invocations if i.invocation_type == "Event"]

    def wait_idle(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                running = [t for t in self._running if t.is_alive()]
                self._running = running
            if not running or time.monotonic() > deadline:
                return
            running[0].join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.wait_idle()
        self._server.close()


def api_gateway_event(method: str, path: str, headers: dict[str, str], body: bytes, query: str = "") -> dict:
    """The event API Gateway's HTTP API (payload format 2.0) gives a function for a request: header names lower
    case, repeated headers joined by commas, the query string also parsed (repeated values joined by commas), the
    Cookie header's cookies in `cookies`, and a body that isn't text or JSON base64-encoded."""
    content_type = headers.get("content-type", "")
    as_text = content_type.startswith(("text/", "application/json"))
    headers = dict(headers)
    cookie = headers.pop("cookie", None)
    parameters: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        parameters.setdefault(name, []).append(value)
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": query,
        **({"cookies": [c.strip() for c in cookie.split(";") if c.strip()]} if cookie else {}),
        **({"queryStringParameters": {k: ",".join(v) for k, v in parameters.items()}} if parameters else {}),
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdef1234",
            "domainName": "abcdef1234.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        "body": body.decode() if as_text else base64.b64encode(body).decode(),
        "isBase64Encoded": not as_text,
    }
