"""The Slack Web API client: slack_sdk's WebClient with bounded retries, and a watch for a refused bot token."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

log = logging.getLogger(__name__)

# Errors meaning Slack no longer accepts the bot token at all: every later call fails the same way.
TOKEN_REFUSED_ERRORS = frozenset({"invalid_auth", "token_revoked", "token_expired", "account_inactive", "not_authed"})
TIMEOUT_SECONDS = 30  # each call's connect and each read; slack_sdk's urlopen timeout
MAX_RETRY_AFTER_SECONDS = 20  # a 429 asking for a longer wait fails the call instead (the caller retries later)


class SlackTokenRefused(Exception):
    """Slack refused the bot token; nothing will work on this workspace until an admin gives the bot a new one."""


def token_refused(exc: BaseException) -> bool:
    return isinstance(exc, SlackApiError) and exc.response.get("error") in TOKEN_REFUSED_ERRORS


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Waits out a 429's Retry-After like slack_sdk's, but only up to max_wait_seconds: a worker thread is not
    parked for minutes on one call (a reply that fails so goes out at the next reply sweep)."""

    def __init__(self, max_retry_count: int = 3, *, max_wait_seconds: float = MAX_RETRY_AFTER_SECONDS) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        for name, value in (response.headers or {}).items():
            if name.lower() == "retry-after":
                value = value[0] if isinstance(value, list | tuple) and value else value
                try:
                    return float(value) <= self.max_wait_seconds
                except (TypeError, ValueError):
                    return True  # slack_sdk then waits its default second
        return True


class GuardedWebClient(WebClient):
    """A WebClient that notices when Slack refuses the bot token (on any call) and tells on_token_refused, once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._token_refused_callbacks: list[Callable[[str, str], None]] = []
        self._refused = threading.Event()
        self._refused_lock = threading.Lock()

    @property
    def token_refused(self) -> bool:
        return self._refused.is_set()

    def on_token_refused(self, callback: Callable[[str, str], None]) -> None:
        """callback(api_method, error) runs once, in the thread of the first call Slack refused."""
        self._token_refused_callbacks.append(callback)

    def api_call(self, api_method: str, **kwargs):  # every WebClient method goes through here
        try:
            return super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if token_refused(exc):
                self._note_token_refused(api_method, str(exc.response.get("error")))
            raise

    def _note_token_refused(self, api_method: str, error: str) -> None:
        with self._refused_lock:
            if self._refused.is_set():
                return
            self._refused.set()
        for callback in self._token_refused_callbacks:
            try:
                callback(api_method, error)
            except Exception:
                log.exception("reacting to the refused Slack token failed")


def build_web_client(token: str, base_url: str, *, timeout: float = TIMEOUT_SECONDS) -> GuardedWebClient:
    """Retries dropped connections, 429s (Retry-After, at most MAX_RETRY_AFTER_SECONDS) and 500/503 a few times."""
    return GuardedWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            BoundedRateLimitRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )
