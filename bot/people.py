"""The people who use labelbot, as Slack's users.info describes them: whether one is a workspace admin or owner (who
may change settings and review held images, bot.permissions), and the language their Slack is set to (its locale,
which Slack only gives when asked with include_locale): what labelbot answers them in, where it speaks it.

One users.info call answers both, and its answer is kept ten minutes: an admin who is demoted, or someone who
switches Slack to Japanese, is seen as such within ten minutes. It is asked inside the 3-second ack of a command,
with the quick client (a short timeout, no retries): when Slack doesn't answer in time, nothing is remembered and the
caller falls back (the workspace's language; for permissions, "try again")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answers import KeptAnswers
from bot.i18n import language_of_locale
from bot.install_context import current_or_one

log = logging.getLogger(__name__)

CACHE_SECONDS = 600.0


@dataclass(frozen=True)
class Person:
    admin: bool  # a workspace admin or owner
    language: str | None  # the language of their Slack when labelbot speaks it, else None


class People:
    def __init__(
        self,
        slack: WebClient,
        *,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._slack = slack
        self._answers: KeptAnswers[tuple[str, str], Person] = KeptAnswers(cache_seconds, clock)

    def person(self, user_id: str) -> Person | None:
        """What Slack says of the user in the current install's workspace (kept CACHE_SECONDS: an admin of one
        workspace is no admin of another); None when it couldn't say in time (not kept)."""
        return self._answers.get((current_or_one(), user_id), lambda: self._ask(user_id))

    def _ask(self, user_id: str) -> Person | None:
        try:
            user = self._slack.users_info(user=user_id, include_locale=True)["user"]
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("users.info for %s failed: %s", user_id, error)
            return Person(admin=False, language=None) if error == "user_not_found" else None
        except OSError as exc:  # a timeout or a dropped connection
            log.warning("users.info for %s failed: %s", user_id, type(exc).__name__)
            return None
        return Person(
            admin=bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")),
            language=language_of_locale(user.get("locale")),
        )
