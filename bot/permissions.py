"""Who may change a channel's settings: everyone, or (with LABELBOT_ADMINS) those users and workspace admins; and who
may decide on a held image: those users and workspace admins (with or without LABELBOT_ADMINS).

Whether someone is a workspace admin comes from bot.people (users.info, kept ten minutes): when Slack doesn't answer
in time the user is told to try again, and nothing is remembered."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n import N_
from bot.people import People, Person

DENIED = N_(
    "Only labelbot's admins (LABELBOT_ADMINS) and workspace admins or owners can change its settings. "
    "`/labels status`, `/labels find` and `/labels help` work for everyone."
)
UNCHECKED = N_("I couldn't check with Slack whether you're a workspace admin just now; try again in a moment.")


class SettingsPermission:
    def __init__(self, admins: frozenset[str], people: People) -> None:
        self._admins = admins
        self._people = people

    def may_change(self, user_id: str) -> bool:
        return self.decide(user_id) is True

    def decide(self, user_id: str) -> bool | None:
        """True or False; None when Slack couldn't say in time whether the user is a workspace admin."""
        return self.decide_as(user_id, lambda: self._people.person(user_id))

    def decide_as(self, user_id: str, person: Person | Callable[[], Person | None] | None) -> bool | None:
        """decide, with what Slack said of the user already asked (None: it couldn't say in time), or how to ask it
        (asked only when LABELBOT_ADMINS doesn't settle it): a command asks users.info once, for its language and
        this."""
        if not self._admins or user_id in self._admins:
            return True
        if callable(person):
            person = person()
        return None if person is None else person.admin

    def may_review(self, user_id: str) -> bool | None:
        """Whether the user may decide on an image moderation held: one of LABELBOT_ADMINS, or a workspace admin or
        owner (also when LABELBOT_ADMINS is unset: then not everyone). None as for decide."""
        return True if user_id in self._admins else self._workspace_admin(user_id)

    def _workspace_admin(self, user_id: str) -> bool | None:
        person = self._people.person(user_id)
        return None if person is None else person.admin
