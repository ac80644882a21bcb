"""The Slack Web API client: slack_sdk's WebClient with bounded retries, and a watch for a refused bot token."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Mapping
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.metrics import Metrics

log = logging.getLogger(__name__)

# Errors meaning Slack no longer accepts the bot token at all: every later call fails the same way.
TOKEN_REFUSED_ERRORS = frozenset({"invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed"})
TIMEOUT_SECONDS = 30  # each call's connect and each read; slack_sdk's urlopen timeout
# Calls that post something new each time: a retry after an answer was lost would post it twice.
NOT_IDEMPOTENT_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral"})
MAX_RETRY_AFTER_SECONDS = 20  # a 429 asking for a longer wait fails the call instead (the caller retries later)


class SlackTokenRefused(Exception):
    """Slack refused the bot token; nothing will work on this workspace until an admin gives the bot a new one."""


def token_refused(exc: BaseException) -> bool:
    return isinstance(exc, SlackApiError) and exc.response.get("error") in TOKEN_REFUSED_ERRORS


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Waits out a 429's Retry-After like slack_sdk's, but only up to max_wait_seconds: a worker thread is not
    parked for minutes on one call (a reply that fails so goes out at the next reply sweep)."""

    def __init__(
        self,
        max_retry_count: int = 3,
        *,
        max_wait_seconds: float = MAX_RETRY_AFTER_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds
        self._metrics = metrics or Metrics()

    def can_retry(self, *, state, request, response=None, error=None) -> bool:
        if response is not None and response.status_code == 429:  # every 429, the last one (not retried) too
            self._metrics.count("slack_rate_limited", method=_method(request.url))
        return super().can_retry(state=state, request=request, response=response, error=error)

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        wait = retry_after_seconds(response.headers)
        return wait is None or wait <= self.max_wait_seconds  # None: slack_sdk waits its default second


def retry_after_seconds(headers: Mapping | None) -> float | None:
    """A 429's Retry-After in seconds, from a response's headers (any case; a value or slack_sdk's list of them),
    or None when there is none or it isn't a number."""
    for name, value in (headers or {}).items():
        if str(name).lower() == "retry-after":
            value = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return None
    return None


def rate_limited(exc: BaseException) -> bool:
    """A 429 that the client's own retries did not get past (or asked for a wait over their cap)."""
    return isinstance(exc, SlackApiError) and exc.response.status_code == 429


class PostOnceConnectionRetryHandler(ConnectionErrorRetryHandler):
    """slack_sdk's retry of a failed connection, except where a retry could post twice: a chat.postMessage whose
    connection failed after the request went out (reset, closed before the answer) may have been posted already, so
    it is retried only when the connection was never made (refused, no DNS answer). The reply's poster then looks in
    the thread before posting again (bot.pipeline: a reply whose post may have reached Slack)."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        if _method(request.url) in NOT_IDEMPOTENT_METHODS:
            return _never_connected(error)
        return True


def _method(url: str) -> str:
    """The Web API method a request's URL calls: https://slack.com/api/chat.postMessage -> chat.postMessage."""
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _never_connected(error: BaseException | None) -> bool:
    reason = getattr(error, "reason", error)  # urllib wraps a failure to connect in URLError(reason)
    return isinstance(error, URLError) and isinstance(reason, ConnectionRefusedError | socket.gaierror)


class GuardedWebClient(WebClient):
    """A WebClient that notices when Slack refuses the bot token (on any call) and tells on_token_refused: once for
    its one token; with a token that is a function (many installs: bot.workspaces.Workspaces.token, read at each
    call), at each refusal, from the refused call's thread (so for the install it worked for)."""

    def __init__(
        self, *, token: str | Callable[[], str] | None = None, metrics: Metrics | None = None, **kwargs
    ) -> None:
        self._token_source = token if callable(token) else None
        super().__init__(token=None if callable(token) else token, **kwargs)
        self._metrics = metrics or Metrics()
        self._token_refused_callbacks: list[Callable[[str, str], None]] = []
        self._refused = threading.Event()
        self._refused_lock = threading.Lock()

    @property
    def token(self) -> str | None:
        """The token each call sends: the one given, or its function's answer now."""
        return self._token_source() if self._token_source is not None else self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value

    @property
    def token_refused(self) -> bool:
        return self._refused.is_set()

    def on_token_refused(self, callback: Callable[[str, str], None]) -> None:
        """callback(api_method, error) runs once, in the thread of the first call Slack refused."""
        self._token_refused_callbacks.append(callback)

    def api_call(self, api_method: str, **kwargs):  # every WebClient method goes through here
        self._metrics.count("slack_calls", method=api_method)
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if token_refused(exc):
                self._note_token_refused(api_method, str(exc.response.get("error")))
            raise

    def _note_token_refused(self, api_method: str, error: str) -> None:
        if self._token_source is None:
            with self._refused_lock:
                if self._refused.is_set():
                    return
                self._refused.set()
        for callback in self._token_refused_callbacks:
            try:
                callback(api_method, error)
            except Exception:
                log.exception("reacting to the refused Slack token failed")


def build_web_client(
    token: str | Callable[[], str],
    base_url: str,
    *,
    timeout: float = TIMEOUT_SECONDS,
    metrics: Metrics | None = None,
) -> GuardedWebClient:
    """Retries dropped connections (a post only if it surely never reached Slack), 429s (Retry-After, at most
    MAX_RETRY_AFTER_SECONDS) and 500/503 a few times; counts its calls and 429s by method in `metrics`. token: the
    bot token, or what gives the current install's (bot.workspaces.Workspaces.token)."""
    return GuardedWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        metrics=metrics,
        retry_handlers=[
            PostOnceConnectionRetryHandler(max_retry_count=2),
            BoundedRateLimitRetryHandler(max_retry_count=3, metrics=metrics),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def respond_ephemeral(respond: Callable[..., object] | None, text: str, doing: str) -> None:
    """Best effort: an ephemeral answer through an interaction's response_url (Bolt's `respond`; None when the
    payload has none). A failure is logged as "could not <doing>" and goes no further."""
    if respond is None:
        return
    try:
        respond(text=text, response_type="ephemeral", replace_original=False)
    except Exception as exc:
        log.warning("could not %s: %s", doing, type(exc).__name__)
