"""Which install a piece of work is for, and its bot token, in multi-workspace mode ("Add to Slack", issue 30).

Every piece of work runs for one install: a request from Slack for the workspace (or org) it names, a job for the
install its message came through (Job.workspace). That install's key (bot.store.installations.workspace_key) is
this thread's `current()` while the work runs (`working_for`), and the Slack clients (bot.slack_api) and the file
downloader ask `Workspaces` for its bot token at each call: one WebClient serves every workspace, and a call made
outside any install's work is refused instead of going out with some other workspace's token.

With one workspace (SLACK_BOT_TOKEN) the key is "" and the token is the configured one: nothing here is used.

Looking a token up costs no Slack call: the install kept the bot's user and ID (Bolt's flow asks auth.test once, at
install). The store is read once per install and process every CACHE_SECONDS; an uninstall forgets it at once in
the process that hears of it, and a token Slack refuses is forgotten by any process that sees it refused.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.install_context import current
from bot.store.installations import KeptInstallations, workspace_key

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0  # how long a process trusts the bot token it read for an install
ROTATE_BEFORE_SECONDS = 7200  # token rotation: a token is refreshed 2 hours before it expires (Bolt's default)
ROTATION_CLAIM_SECONDS = 30.0  # a process's claim to refresh an install's token lapses after this
ROTATION_WAIT_SECONDS = 1.5  # how long another caller waits for that refresh (inside an ack) before going on
TEAM_URL = "team_url"  # the install's workspace URL, kept with its bot (bot.oauth.InstallFlow)


class NoWorkspace(RuntimeError):
    """A Slack call made outside any install's work (a bug: never sent with a guessed token)."""


class NotInstalled(RuntimeError):
    """The install has no bot token kept: never installed, uninstalled, or its token revoked."""


def request_workspace(context) -> str:
    """The key of the install a request from Slack is for, from Bolt's context (its authorizations or team)."""
    return workspace_key(context.enterprise_id, context.team_id, context.is_enterprise_install)


class ContextCopyingExecutor(ThreadPoolExecutor):
    """Runs each function in a copy of its submitter's context: Bolt's lazy listeners, started from a request's
    dispatch, keep working for that request's install."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


@dataclass(frozen=True)
class KnownBot:
    bot: Bot
    read_at: float


class Workspaces:
    """The installs' bot tokens, from the installation store, kept in memory CACHE_SECONDS; where the app has token
    rotation on, a token due to expire within ROTATE_BEFORE_SECONDS is refreshed first, by one caller in any process
    (a claim in the store), while the others keep the current token, still good until it expires."""

    def __init__(
        self,
        installations: KeptInstallations,
        *,
        rotator: TokenRotator | None = None,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._installations = installations
        self._rotator = rotator
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._known: dict[str, KnownBot] = {}
        self._lock = threading.Lock()
        self._rotating: dict[str, threading.Lock] = {}
        self.store_reads = 0  # for tests and benchmarks: how often the store was asked

    def bot(self, key: str) -> Bot | None:
        """The install's bot (token, bot user and ID, scopes), or None where it has none."""
        now = self._clock()
        with self._lock:
            known = self._known.get(key)
        if known is not None and now - known.read_at < self._cache_seconds and not self._due(known.bot):
            return known.bot
        bot = self._read(key)
        if bot is not None and self._due(bot):
            bot = self._rotate(key, bot)
        return bot

    def _read(self, key: str) -> Bot | None:
        bot = self._installations.find_bot_by_key(key)
        with self._lock:
            self.store_reads += 1
            if bot is None:
                self._known.pop(key, None)
            else:
                self._known[key] = KnownBot(bot, self._clock())
        return bot

    def _due(self, bot: Bot) -> bool:
        """Whether the bot's token is to be refreshed now (rotation on, and it expires within ROTATE_BEFORE)."""
        expires_at = bot.bot_token_expires_at
        return bool(
            self._rotator is not None
            and bot.bot_refresh_token
            and expires_at is not None
            and expires_at - self._wall_clock() < ROTATE_BEFORE_SECONDS
        )

    def _rotate(self, key: str, bot: Bot) -> Bot:
        """The install's refreshed bot: refreshed here, or by another thread or process meanwhile; the current one
        when another process is still at it or Slack refused (logged), as it works until it expires."""
        assert self._rotator is not None
        with self._lock:
            lock = self._rotating.setdefault(key, threading.Lock())
        with lock:
            fresh = self._read(key) or bot  # another thread of this process may have done it
            if not self._due(fresh):
                return fresh
            if not self._installations.claim(key, "rotation", ROTATION_CLAIM_SECONDS):
                return self._wait_for_rotation(key, fresh)
            try:
                fresh = self._read(key) or fresh  # another process may have refreshed it just before the claim
                if not self._due(fresh):
                    return fresh
                refreshed = self._rotator.perform_bot_token_rotation(
                    bot=fresh, minutes_before_expiration=ROTATE_BEFORE_SECONDS // 60
                )
                if refreshed is None:
                    return fresh
                self._installations.save_bot(refreshed)
                log.info("refreshed the bot token of the install %s (token rotation)", key)
                with self._lock:
                    self._known[key] = KnownBot(refreshed, self._clock())
                return refreshed
            except SlackTokenRotationError as exc:
                log.error(
                    "refreshing the bot token of the install %s failed: %s", key, exc.api_error.response.get("error")
                )
                return fresh
            except Exception as exc:  # Slack unreachable, the store failing: the current token works until it expires
                log.error("refreshing the bot token of the install %s failed: %s", key, type(exc).__name__)
                return fresh
            finally:
                self._installations.release(key, "rotation")

    def _wait_for_rotation(self, key: str, bot: Bot) -> Bot:
        deadline = self._clock() + ROTATION_WAIT_SECONDS
        while self._clock() < deadline:
            time.sleep(0.1)
            fresh = self._read(key)
            if fresh is not None and not self._due(fresh):
                return fresh
        return bot

    def token(self, key: str | None = None) -> str:
        """The bot token of the install `key` (by default the current one's)."""
        key = current() if key is None else key
        if not key:
            raise NoWorkspace("a Slack call outside any install's work")
        bot = self.bot(key)
        if bot is None or not bot.bot_token:
            raise NotInstalled(f"no bot token kept for the install {key}")
        return bot.bot_token

    def url(self) -> str | None:
        """The current install's workspace URL (https://NAME.slack.com/, kept at install), for permalinks."""
        key = current()
        bot = self.bot(key) if key else None
        url = bot.custom_values.get(TEAM_URL) if bot is not None else None
        return url if isinstance(url, str) and url.startswith("https://") else None

    def forget(self, key: str) -> None:
        """Read the install from the store again next time (uninstalled, or its token refused)."""
        with self._lock:
            self._known.pop(key, None)


class WorkspaceAuthorize(Authorize):
    """Bolt's per-request authorisation from the kept installs (Workspaces' cache), without Bolt's auth.test per
    token: what auth.test would say (bot user, bot ID) was kept at install."""

    def __init__(self, workspaces: Workspaces) -> None:
        self._workspaces = workspaces

    def __call__(self, *, context, enterprise_id, team_id, user_id, **_actor) -> AuthorizeResult | None:
        key = workspace_key(enterprise_id, team_id, context.is_enterprise_install)
        bot = self._workspaces.bot(key)
        if bot is None or not bot.bot_token:
            log.info("a request for %s, which has no install (not installed, or uninstalled): ignored", key)
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=team_id or bot.team_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )
