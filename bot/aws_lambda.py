"""The AWS Lambda entry point (template.yaml): Slack's requests through API Gateway, and the scheduled sweep.

The same Bolt app, listeners and pipeline as the long-running bot, with the DynamoDB store. A request's ack runs
in the events function; the work after it (labelling the images the ack recorded, a settings change's channel
line, the Home tab) runs in Bolt lazy listeners, each an asynchronous invocation of the labelling function
(LABELBOT_LABEL_FUNCTION; the function itself when unset). A lazy invocation carries Slack's original request,
whose signature and timestamp Bolt verifies again. Every 5 minutes the labelling function sweeps: it requeues
what a timed-out invocation left running, labels what is still queued and posts the replies that are due.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.config import Config as BotoConfig
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.aws_lambda.handler import to_aws_response, to_bolt_request
from slack_bolt.lazy_listener import LazyListenerRunner

from bot.app import build_app
from bot.config import Config, ConfigError, load_config
from bot.jobs import InvocationWork
from bot.lambda_metrics import CloudWatchMetrics
from bot.logs import configure_logging, environment_secrets
from bot.rekognition import aws_client
from bot.serve import EVENTS_PATH, malformed_timestamp
from bot.services import Services, build_services, verify_store

log = logging.getLogger(__name__)

SWEEP_EVENT = {"labelbot": "sweep"}  # the scheduled invocation's input (template.yaml)
# The context keys a lazy invocation needs from the ack that started it (another process: only what is sent).
CARRIED_CONTEXT = ("labelbot_announcement",)
# A lazy invocation's payload is the API Gateway event plus this top-level key, which no request from the internet
# can set (API Gateway builds the event; a sender controls only headers, query and body). Bolt's lazy headers on an
# event without it are dropped, so only an invocation (IAM-authorised) runs lazy listeners.
LAZY_MARK = "labelbot_lazy"
LAZY_HEADERS = ("x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name")
SWEEP_JOB_SECONDS = 30.0  # the sweep starts no job with less time left than this
STALL_MARGIN_SECONDS = 5.0
MISCONFIGURED = {"statusCode": 500, "headers": {}, "body": "labelbot is misconfigured; see its log"}


class LabelFunctionInvoker(LazyListenerRunner):
    """Bolt's lazy listeners on Lambda: each runs in an asynchronous invocation of the labelling function, carrying
    the original request (with the context keys of CARRIED_CONTEXT) so Bolt can verify and route it again."""

    def __init__(self, lambda_client: Any, function_name: str | None) -> None:
        self.logger = log
        self._lambda = lambda_client
        self._function_name = function_name

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        event = dict(request.context["lambda_request"])
        event["headers"] = {
            **event.get("headers", {}),
            "x-slack-bolt-lazy-only": "1",
            "x-slack-bolt-lazy-function-name": request.lazy_function_name,
        }
        event[LAZY_MARK] = {
            key: request.context[key] for key in CARRIED_CONTEXT if request.context.get(key) is not None
        }
        target = self._function_name or request.context["aws_lambda_invoked_function_arn"]
        try:
            self._lambda.invoke(FunctionName=target, InvocationType="Event", Payload=json.dumps(event).encode())
        except Exception as exc:  # the ack stands; what it recorded waits in the store for the scheduled sweep
            log.warning(
                "could not start %s in %s (%s); the sweep picks the work up",
                request.lazy_function_name,
                target,
                type(exc).__name__,
            )


class LambdaRuntime:
    """One Lambda instance's app and services, built at its first invocation and reused while it lives."""

    def __init__(self, config: Config, *, lambda_client: Any = None, **service_options) -> None:
        self.config = config
        self.services: Services = build_services(config, **service_options)
        assert isinstance(self.services.metrics, CloudWatchMetrics)
        self.metrics: CloudWatchMetrics = self.services.metrics
        verify_store(config, self.services.stores)  # raises ConfigError, naming the variable of a missing table
        self.app: App = build_app(config, self.services)
        self.services.start()
        self.app.listener_runner.lazy_listener_runner = LabelFunctionInvoker(
            lambda_client or build_lambda_client(), config.label_function
        )

    def __call__(self, event: Any, context: Any) -> dict:
        try:
            return self._invoke(event, context)
        finally:
            self.metrics.flush()  # what this invocation counted, as CloudWatch EMF lines in its log

    def _invoke(self, event: Any, context: Any) -> dict:
        if event == SWEEP_EVENT:
            answer = self.sweep(context)
        elif isinstance(event, dict) and isinstance(event.get(LAZY_MARK), dict):
            answer = self.handle_request(event, context)
        else:
            return self.handle_request(event, context)  # an ack: no Slack call of its own within Slack's 3 s
        # After the work of this instance's first invocation that isn't an ack: the start-up check, once.
        self.services.moderation_channel.check_at_start()
        return answer

    def handle_request(self, event: Any, context: Any) -> dict:
        """An API Gateway request (HTTP API payload 2.0 or REST API 1.0), or a lazy invocation of one."""
        if not isinstance(event, dict) or not isinstance(event.get("headers"), dict):
            return {"statusCode": 400, "headers": {}, "body": ""}
        method = (event.get("requestContext") or {}).get("http", {}).get("method") or event.get("httpMethod")
        flow = self.app.oauth_flow
        if method == "GET" and flow is not None and _path(event) in (flow.install_path, flow.redirect_uri_path):
            # "Add to Slack" (bot.oauth): the install page, and Slack's redirect back with the code and state
            headers = {str(name).lower(): value for name, value in event["headers"].items()}
            request = to_bolt_request({**event, "headers": headers, "body": "", "isBase64Encoded": False})
            if _path(event) == flow.install_path:
                return to_aws_response(flow.handle_installation(request))
            return to_aws_response(flow.handle_callback(request))
        if method != "POST" or _path(event) not in (EVENTS_PATH, None):
            return {"statusCode": 404, "headers": {}, "body": "Not Found"}
        headers = {str(name).lower(): value for name, value in event["headers"].items()}
        invoked_lazily = isinstance(event.get(LAZY_MARK), dict)
        if not invoked_lazily:  # from the internet: lazy listeners run only in an invocation
            headers = {name: value for name, value in headers.items() if name not in LAZY_HEADERS}
        if malformed_timestamp(headers.get("x-slack-request-timestamp")):
            return {"statusCode": 401, "headers": {}, "body": ""}
        event = {**event, "headers": headers}
        request = to_bolt_request(event)
        request.context["aws_lambda_function_name"] = context.function_name
        request.context["aws_lambda_invoked_function_arn"] = context.invoked_function_arn
        request.context["lambda_request"] = event
        if invoked_lazily:
            request.context.update({key: value for key, value in event[LAZY_MARK].items() if key in CARRIED_CONTEXT})
        return to_aws_response(self.app.dispatch(request))

    def sweep(self, context: Any) -> dict:
        """The scheduled invocation: requeue what outlived an invocation (longer than this function may run),
        label what is queued while time allows, post the due replies, run the upkeep."""
        work = self.services.pool
        assert isinstance(work, InvocationWork)
        budget = context.get_remaining_time_in_millis() / 1000
        ran = work.sweep_queue(
            stalled_after_seconds=budget + STALL_MARGIN_SECONDS,
            time_left=lambda: context.get_remaining_time_in_millis() / 1000,
            job_budget=min(SWEEP_JOB_SECONDS, budget / 2),
        )
        try:  # the queue as the sweep leaves it: once a schedule period, whatever the traffic
            stats = self.services.stores.queue.queue_stats()
            self.metrics.gauge("queue_depth", stats.depth)
            self.metrics.gauge("queue_oldest_age_seconds", round(stats.oldest_age_seconds, 1), "Seconds")
        except Exception:
            log.exception("reading the queue for the metrics failed")
        return {"jobs": ran}


def build_lambda_client(timeout_seconds: float = 3.0) -> Any:
    """Lambda's Invoke, for lazy listeners: a short timeout (it runs inside Slack's 3-second ack), botocore's
    standard retries."""
    return aws_client(
        "lambda",
        BotoConfig(
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"mode": "standard", "total_max_attempts": 2},
        ),
    )


def _path(event: dict) -> str | None:
    """The request's path without an API Gateway stage prefix (None when the event doesn't say)."""
    path = event.get("rawPath") or event.get("path")
    if not isinstance(path, str):
        return None
    stage = (event.get("requestContext") or {}).get("stage")
    if isinstance(stage, str) and stage not in ("$default", "") and path.startswith(f"/{stage}/"):
        path = path[len(stage) + 1 :]
    return path


_runtime: LambdaRuntime | ConfigError | None = None  # per Lambda instance: built once, reused by later invocations


def handler(event: Any, context: Any) -> dict:
    """Both functions' entry point: EventsFunction's Handler in template.yaml, and LabelFunction's CMD in the
    Dockerfile its container image is built from."""
    global _runtime
    if _runtime is None:
        _runtime = _start(os.environ)
    if isinstance(_runtime, ConfigError):
        log.error("labelbot: configuration error: %s", _runtime)
        return MISCONFIGURED
    started = time.perf_counter()
    answer = _runtime(event, context)
    log.debug("invocation took %.1f ms", (time.perf_counter() - started) * 1000)
    return answer


def _start(environ: Mapping[str, str]) -> LambdaRuntime | ConfigError:
    """The instance's runtime, or the configuration error every invocation then reports in one line."""
    try:
        config = load_config(environ, mode="lambda")
    except ConfigError as exc:
        configure_logging("INFO", environment_secrets(), "json")
        return exc
    configure_logging(config.log_level, (*config.secrets, *environment_secrets()), config.log_format)
    try:
        return LambdaRuntime(config)
    except ConfigError as exc:
        return exc
