"""Who may change a channel's settings: everyone, or (with LABELBOT_ADMINS) those users and workspace admins; and who
may decide on a held image: those users and workspace admins (with or without LABELBOT_ADMINS).

Asked inside the /labels ack, so the users.info client should have a short timeout and no retries: when Slack
doesn't answer in time the user is told to try again, and nothing is remembered."""

from __future__ import annotations

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger(__name__)

DENIED = (
    "Only labelbot's admins (LABELBOT_ADMINS) and workspace admins or owners can change its settings. "
    "`/labels status`, `/labels find` and `/labels help` work for everyone."
)
UNCHECKED = "I couldn't check with Slack whether you're a workspace admin just now; try again in a moment."


class SettingsPermission:
    def __init__(self, admins: frozenset[str], slack: WebClient, *, cache_seconds: float = 600.0) -> None:
        self._admins = admins
        self._slack = slack
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def may_change(self, user_id: str) -> bool:
        return self.decide(user_id) is True

    def decide(self, user_id: str) -> bool | None:
        """True or False; None when Slack couldn't say in time whether the user is a workspace admin."""
        if not self._admins or user_id in self._admins:
            return True
        return self._workspace_admin(user_id)

    def may_review(self, user_id: str) -> bool | None:
        """Whether the user may decide on an image moderation held: one of LABELBOT_ADMINS, or a workspace admin or
        owner (also when LABELBOT_ADMINS is unset: then not everyone). None as for decide."""
        return True if user_id in self._admins else self._workspace_admin(user_id)

    def _workspace_admin(self, user_id: str) -> bool | None:
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[1] < self._cache_seconds:
            return cached[0]
        allowed = self._is_workspace_admin(user_id)
        if allowed is not None:
            with self._lock:
                self._cache[user_id] = (allowed, time.monotonic())
        return allowed

    def _is_workspace_admin(self, user_id: str) -> bool | None:
        try:
            user = self._slack.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("users.info for %s failed: %s", user_id, error)
            return False if error == "user_not_found" else None
        except OSError as exc:  # a timeout or a dropped connection
            log.warning("users.info for %s failed: %s", user_id, type(exc).__name__)
            return None
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
