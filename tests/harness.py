"""The real Bolt app, services and workers behind a loopback HTTP server: for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bot.app import build_app
from bot.aws_lambda import SWEEP_EVENT, LambdaRuntime
from bot.config import Config
from bot.serve import build_wsgi_app
from bot.services import Services, build_services
from tests import slack_requests
from tests.fakes.aws_lambda import FakeContext, FakeLambda, api_gateway_event
from tests.fakes.http_server import serve_in_thread
from tests.fakes.slack import FakeSlack


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
    stop_serving: Callable[[], None]
    fake_slack: FakeSlack | None = None  # checks each /labels ack body as Slack checks a message

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def post_event(self, event: dict, **kw) -> slack_requests.HttpAnswer:
        return slack_requests.post_event(self.events_url, event, **kw)

    def command(self, text: str, **kw) -> slack_requests.HttpAnswer:
        answer = slack_requests.post_command(self.events_url, text, **kw)
        if self.fake_slack is not None and answer.status == 200:
            self.fake_slack.check_command_ack(answer.body)
        return answer

    def sweep(self) -> None:
        """Post due replies and run the upkeep now (the sweep thread's work; on Lambda the scheduled invocation)."""
        self.services.pool.sweep_soon()

    def close(self) -> None:
        self.stop_serving()
        self.services.stop()


@dataclass
class RunningLambdaBot(RunningBot):
    """The bot as AWS Lambda runs it: requests go through API Gateway's event format into the handler, lazy
    listeners through Lambda's Invoke API (the loopback FakeLambda) back into it."""

    runtime: LambdaRuntime | None = None
    fake_lambda: FakeLambda | None = None

    def sweep(self) -> dict:
        assert self.runtime is not None
        return self.runtime(SWEEP_EVENT, FakeContext(self.config.label_function or "labelbot-events"))

    def close(self) -> None:
        self.stop_serving()
        if self.fake_lambda is not None:
            self.fake_lambda.wait_idle()
        self.services.stop()


def serve_bot(
    config: Config, *, start_workers: bool = True, fake_slack: FakeSlack | None = None, **service_options
) -> RunningBot:
    """service_options go to build_services (e.g. rekognition_client=... with short timeouts); fake_slack, if given,
    checks the acks of /labels."""
    services = build_services(config, **service_options)
    app = build_app(config, services)
    if start_workers:
        services.start()
    server = make_server(
        "127.0.0.1", 0, build_wsgi_app(app, services), server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
    )
    url = f"http://127.0.0.1:{server.server_port}"
    return RunningBot(config, services, url, server, serve_in_thread(server), fake_slack)


def serve_bot_on_lambda(
    config: Config, fake_lambda: FakeLambda, *, fake_slack: FakeSlack | None = None, **service_options
) -> RunningLambdaBot:
    """One Lambda runtime plays both functions: API Gateway's (events) and the labelling one (lazy listeners and
    the sweep, invoked through fake_lambda, which must be what AWS_ENDPOINT_URL_LAMBDA points at)."""
    runtime = LambdaRuntime(config, **service_options)
    for name in ("labelbot-events", config.label_function or "labelbot-events"):
        fake_lambda.functions[name] = runtime

    def api_gateway(environ: dict, start_response) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").lower()] = environ[key]
        event = api_gateway_event(
            environ["REQUEST_METHOD"], environ["PATH_INFO"], headers, body, environ.get("QUERY_STRING", "")
        )
        answer = runtime(event, FakeContext("labelbot-events", timeout_seconds=10))
        status = int(answer["statusCode"])
        data = answer.get("body") or ""
        data = data.encode() if isinstance(data, str) else data
        start_response(f"{status} {HTTPStatus(status).phrase}", list((answer.get("headers") or {}).items()))
        return [data]

    server = make_server("127.0.0.1", 0, api_gateway, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    url = f"http://127.0.0.1:{server.server_port}"
    stop_serving = serve_in_thread(server)
    return RunningLambdaBot(
        config, runtime.services, url, server, stop_serving, fake_slack, runtime=runtime, fake_lambda=fake_lambda
    )
