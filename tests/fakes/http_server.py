"""A threaded HTTP server on 127.0.0.1 whose handler calls back into a fake's state object."""

from __future__ import annotations

import json
import selectors
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        self.method = handler.command
        self.path = handler.path
        self.headers = {k.lower(): v for k, v in handler.headers.items()}
        self.host = handler.headers.get("Host", "")
        self.body = body

    def json(self) -> dict:
        return json.loads(self.body or b"{}")


class Response:
    def __init__(self, status: int = 200, body: bytes | str | dict = b"", headers: dict | None = None) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = headers or {}
        self.stream = None  # an iterator of chunks, written one by one with no Content-Length


class LoopbackServer:
    """Serves `route(request) -> Response` on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, route) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self, self.rfile.read(length) if length else b"")
                response = route(request)
                if response is None:  # the fake chose to drop the connection
                    self.close_connection = True
                    return
                self.send_response(response.status)
                headers = dict(response.headers)
                if response.stream is None and "Content-Length" not in headers:
                    headers["Content-Length"] = str(len(response.body))
                if response.stream is not None:
                    headers["Connection"] = "close"
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if response.stream is not None:
                    self.close_connection = True
                    try:
                        for chunk in response.stream:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif self.command != "HEAD":
                    self.wfile.write(response.body)

            do_GET = do_POST = do_HEAD = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.close = serve_in_thread(self._server)


def serve_in_thread(server: socketserver.BaseServer) -> Callable[[], None]:
    """Serve in a daemon thread until the returned close() (which also closes the server's socket).

    socketserver's serve_forever() notices shutdown() only at its next poll, so every close waited out half a poll
    interval (25 ms at 0.05 s; a test closes three or four servers): this loop waits on the server's socket and on a
    socket of its own that close() writes to, and so stops at once."""
    wake_read, wake_write = socket.socketpair()
    closing = threading.Event()

    def serve() -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(server, selectors.EVENT_READ)
            selector.register(wake_read, selectors.EVENT_READ)
            while not closing.is_set():
                for key, _events in selector.select():
                    if key.fileobj is server and not closing.is_set():
                        server._handle_request_noblock()  # what serve_forever() calls for each request

    thread = threading.Thread(target=serve, name=f"serve-{server.server_address[1]}", daemon=True)
    thread.start()

    def close() -> None:
        if closing.is_set():  # closed already (a test, then its fixture)
            return
        closing.set()
        wake_write.send(b"x")
        thread.join()
        server.server_close()
        wake_read.close()
        wake_write.close()

    return close


def json_answer(request) -> tuple[int, dict]:
    """Send a urllib request to a loopback fake: (its status, its JSON body), an error status included."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())
