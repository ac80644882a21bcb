"""The two ways Slack reaches the bot: HTTP (gunicorn + Bolt's WSGI adapter) and Socket Mode."""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Iterable

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from prometheus_client import CONTENT_TYPE_LATEST, start_http_server
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import build_app
from bot.config import Config
from bot.labelling_process import LabellingProcess
from bot.metrics import METRICS_PATH, PrometheusMetrics
from bot.services import Services, build_services

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
GUNICORN_GRACE_SECONDS = 5  # gunicorn's graceful_timeout beyond LABELBOT_DRAIN_SECONDS: the worker's own stop


def build_wsgi_app(app: App, services: Services) -> Callable:
    """POST /slack/events goes to Bolt (which verifies signature and timestamp); GET /healthz reports the queue and
    whether labelling runs ("starting" until the labelling process's workers run, "degraded" while it restarts or
    after Slack refused the token; still 200: the acks record every image for later); GET /metrics is Prometheus'
    (bot.metrics)."""
    bolt = SlackRequestHandler(app, path=EVENTS_PATH)

    def wsgi_app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == METRICS_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            metrics = services.metrics
            assert isinstance(metrics, PrometheusMetrics)
            body = metrics.exposition()
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
            return [body]
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            stats = services.stores.queue.queue_stats()
            labelling = services.pool.state
            body = json.dumps(
                {
                    "status": {"running": "ok", "starting": "starting"}.get(labelling, "degraded"),
                    "labelling": labelling,
                    "queue_depth": stats.depth,
                    "oldest_job_age_seconds": round(stats.oldest_age_seconds, 1),
                }
            ).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if malformed_timestamp(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP")):
            # Bolt's verifier would raise on it (a 500 and a traceback in the log for any stranger's request).
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        return bolt(environ, start_response)

    return wsgi_app


def malformed_timestamp(value: str | None) -> bool:
    """Whether the request's X-Slack-Request-Timestamp is there but isn't a number (Bolt's verifier would raise on
    it; a missing one Bolt refuses by itself)."""
    if value is None:
        return False
    try:
        int(value)
    except ValueError:
        return True
    return False


class _GunicornLogger(glogging.Logger):
    """gunicorn's own lines go to the root logger's handler instead of gunicorn's, so they come out in LOG_FORMAT
    (text or JSON) and redacted like every other line."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in [h for h in logger.handlers if getattr(h, "_gunicorn", False)]:
                logger.removeHandler(handler)
            logger.propagate = True


class _Gunicorn(BaseApplication):
    """gunicorn driven from Python: one worker process with threads for requests (the labelling process is its
    child, see bot.labelling_process)."""

    def __init__(
        self,
        config: Config,
        load: Callable[[], Callable],
        on_exit: Callable[[], None],
        on_term: Callable[[], None] = lambda: None,
    ) -> None:
        self._options = {
            "bind": f"0.0.0.0:{config.port}",
            "workers": 1,
            "worker_class": "gthread",
            "threads": 8,
            "timeout": 30,
            # the labelling process's drain, and the worker's own stop after it
            "graceful_timeout": config.drain_seconds + GUNICORN_GRACE_SECONDS,
            "control_socket_disable": True,  # gunicorn 27's control socket in ~/.gunicorn is not used
            "loglevel": config.log_level.lower(),
            "logger_class": _GunicornLogger,
            "worker_exit": lambda server, worker: on_exit(),
            "post_worker_init": lambda worker: _also_on_sigterm(on_term),
        }
        self._load = load
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Callable:
        return self._load()


def serve_http(config: Config) -> None:
    services: list[Services] = []

    def load() -> Callable:
        # Runs in gunicorn's worker process, so the labelling process and the SQLite connection are created there.
        built = build_services(config, labelling=LabellingProcess("http"))
        app = build_app(config, built)
        built.start()
        services.append(built)
        log.info("serving Slack events on port %d at %s", config.port, EVENTS_PATH)
        return build_wsgi_app(app, built)

    def on_exit() -> None:
        for built in services:
            built.stop(config.drain_seconds)

    def on_term() -> None:
        for built in services:
            built.pool.stop_claiming()

    _Gunicorn(config, load, on_exit, on_term).run()


def _also_on_sigterm(action: Callable[[], None]) -> None:
    """In gunicorn's worker: run action first on SIGTERM, then gunicorn's own handler. gunicorn only calls
    worker_exit once its open connections are done (kept-alive ones linger up to 2 s, requests up to
    graceful_timeout); without this the labelling process would go on claiming jobs meanwhile."""
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame) -> None:
        action()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, handler)


def serve_socket_mode(config: Config) -> None:
    services = build_services(config, labelling=LabellingProcess("socket"))
    app = build_app(config, services)
    services.start()
    if config.metrics_port is not None:
        assert isinstance(services.metrics, PrometheusMetrics)
        start_http_server(config.metrics_port, registry=services.metrics.registry())
        log.info("serving metrics on port %d at %s", config.metrics_port, METRICS_PATH)
    handler = SocketModeHandler(app, config.app_token)
    stopped = threading.Event()

    def stop(signum: int, frame) -> None:
        services.pool.stop_claiming()
        stopped.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    handler.connect()
    log.info("connected to Slack in Socket Mode")
    stopped.wait()
    log.info("stopping: finishing in-flight jobs")
    handler.close()
    services.stop(config.drain_seconds)
