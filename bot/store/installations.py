"""Slack's OAuth installs, kept in the bot's own store: Bolt's InstallationStore and OAuthStateStore (slack_sdk's
interfaces, which Bolt's OAuth flow and per-request authorisation call) over a few primitives each backend writes.

An installation is kept per workspace, or per org for an org-wide (Enterprise Grid) install, under the key
"<enterprise id or ->:<team id or ->": its bot ("bot": token, refresh token, bot user, scopes), and who installed it
("installer", and "installer:<user id>" for each installer). Only the latest of each is kept (no history: a token is
kept in one place, and deleting a workspace deletes all of it). The values are slack_sdk's own dictionaries as JSON,
tokens included, as Slack's own stores keep them: the SQLite file is created owner-only (0600), and the DynamoDB items
are readable by the two Lambda roles only (README, "Permissions").

A state is a random 256-bit string kept until it expires (OAUTH_STATE_SECONDS) and consumed at most once: the
backend's take is one conditional delete (SQLite: DELETE ... WHERE unexpired, one row; DynamoDB: DeleteItem with a
condition), so two redirects with the same state can't both pass.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

log = logging.getLogger(__name__)

OAUTH_STATE_SECONDS = 600  # how long an "Add to Slack" click stays valid (Bolt's default)
NONE = "-"


def workspace_key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False) -> str:
    """The key an install is kept under: an org-wide install's is its org's alone (its events name a team too)."""
    return f"{enterprise_id or NONE}:{NONE if is_enterprise_install else team_id or NONE}"


def _encode(values: dict[str, Any]) -> str:
    return json.dumps(values, default=lambda value: value.isoformat() if isinstance(value, datetime) else str(value))


class KeptInstallations(InstallationStore):
    """slack_sdk's InstallationStore over a backend's get/put/delete of JSON entries by (workspace key, entry)."""

    def __init__(
        self,
        get: Callable[[str, str], str | None],
        put: Callable[[str, str, str], None],
        delete: Callable[[str, str | None], None],
        entries: Callable[[str], list[str]],
        claim: Callable[[str, str, float, float], bool],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """get(key, entry) -> JSON or None; put(key, entry, JSON); delete(key, entry): one entry, or with None every
        entry of the key; entries(key): the key's entries (one partition or index range: never a scan);
        claim(key, entry, until, now): one conditional write of the entry unless another's claim is held past now,
        True for one caller at a time."""
        self._get = get
        self._put = put
        self._delete = delete
        self._entries = entries
        self._claim = claim
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return log

    def save(self, installation: Installation) -> None:
        key = workspace_key(installation.enterprise_id, installation.team_id, installation.is_enterprise_install)
        values = _encode(installation.to_dict_for_copying())
        self._put(key, "installer", values)
        if installation.user_id:
            self._put(key, f"installer:{installation.user_id}", values)
        if installation.bot_token:
            self.save_bot(installation.to_bot())

    def save_bot(self, bot: Bot) -> None:
        key = workspace_key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        self._put(key, "bot", _encode(bot.to_dict_for_copying()))

    def find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        return self.find_bot_by_key(workspace_key(enterprise_id, team_id, is_enterprise_install))

    def find_bot_by_key(self, key: str) -> Bot | None:
        """The bot of the install kept under `key` (workspace_key), or None."""
        found = self._get(key, "bot")
        return None if found is None else Bot(**json.loads(found))

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = workspace_key(enterprise_id, team_id, is_enterprise_install)
        found = self._get(key, f"installer:{user_id}" if user_id else "installer")
        if found is None:
            return None
        installation = Installation(**json.loads(found))
        bot = self.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install)
        if bot is not None and bot.bot_token != installation.bot_token:  # refreshed (token rotation) since
            installation.bot_id, installation.bot_user_id = bot.bot_id, bot.bot_user_id
            installation.bot_token, installation.bot_scopes = bot.bot_token, bot.bot_scopes
            installation.bot_refresh_token = bot.bot_refresh_token
            installation.bot_token_expires_at = bot.bot_token_expires_at
        return installation

    def claim(self, key: str, what: str, seconds: float) -> bool:
        """Whether this caller does `what` for the install now (e.g. rotating its token): True for one caller, in
        any process, until it releases the claim or `seconds` pass."""
        now = self._clock()
        return self._claim(key, f"claim:{what}", now + seconds, now)

    def release(self, key: str, what: str) -> None:
        self._delete(key, f"claim:{what}")

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._delete(workspace_key(enterprise_id, team_id), "bot")

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        key = workspace_key(enterprise_id, team_id)
        if user_id:
            self._delete(key, f"installer:{user_id}")
            return
        for entry in self._entries(key):
            if entry == "installer" or entry.startswith("installer:"):
                self._delete(key, entry)

    def delete_install(self, key: str) -> None:
        """Every entry of the install kept under `key` (its bot, installers and claims): an uninstall."""
        self._delete(key, None)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._delete(workspace_key(enterprise_id, team_id), None)


class KeptOAuthStates(OAuthStateStore):
    """slack_sdk's OAuthStateStore over a backend's put(state, expires_at) and take(state, now) -> bool (a
    conditional delete of a state that hasn't expired: True for one caller at most)."""

    def __init__(
        self,
        put: Callable[[str, float], None],
        take: Callable[[str, float], bool],
        *,
        expiration_seconds: int = OAUTH_STATE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._put = put
        self._take = take
        self._expiration = expiration_seconds
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return log

    def issue(self, *args, **kwargs) -> str:
        state = secrets.token_urlsafe(32)
        self._put(state, self._clock() + self._expiration)
        return state

    def consume(self, state: str) -> bool:
        return bool(state) and self._take(state, self._clock())
