"""The real Bolt app, services and workers behind a loopback HTTP server: for tests and benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.app import build_app
from bot.config import Config
from bot.serve import build_wsgi_app
from bot.services import Services, build_services
from tests import slack_requests


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args) -> None:
        pass


@dataclass
class RunningBot:
    config: Config
    services: Services
    url: str
    server: WSGIServer

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def post_event(self, event: dict, **kw) -> slack_requests.HttpAnswer:
        return slack_requests.post_event(self.events_url, event, **kw)

    def command(self, text: str, **kw) -> slack_requests.HttpAnswer:
        return slack_requests.post_command(self.events_url, text, **kw)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.services.stop()


def serve_bot(config: Config, *, start_workers: bool = True, **service_options) -> RunningBot:
    """service_options go to build_services (e.g. rekognition_client=... with short timeouts)."""
    services = build_services(config, **service_options)
    app = build_app(config, services)
    if start_workers:
        services.start()
    server = make_server(
        "127.0.0.1", 0, build_wsgi_app(app, services), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return RunningBot(config, services, f"http://127.0.0.1:{server.server_port}", server)
