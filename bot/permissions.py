"""Who may change a channel's settings: everyone, or (with LABELBOT_ADMINS) those users and workspace admins."""

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


class SettingsPermission:
    def __init__(self, admins: frozenset[str], slack: WebClient, *, cache_seconds: float = 600.0) -> None:
        self._admins = admins
        self._slack = slack
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[bool, float]] = {}
        self._lock = threading.Lock()

    def may_change(self, user_id: str) -> bool:
        if not self._admins or user_id in self._admins:
            return True
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[1] < self._cache_seconds:
            return cached[0]
        allowed = self._is_workspace_admin(user_id)
        with self._lock:
            self._cache[user_id] = (allowed, time.monotonic())
        return allowed

    def _is_workspace_admin(self, user_id: str) -> bool:
        try:
            user = self._slack.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            log.warning(
                "users.info for %s failed (%s); treating them as not an admin", user_id, exc.response.get("error")
            )
            return False
        return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
