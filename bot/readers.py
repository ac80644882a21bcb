"""Which language a message is written in: who reads it decides. What goes to a channel (a reply, a notice posted
there, a Show where caption) is in the channel's language (/labels language, else LABELBOT_LANGUAGE); what goes to
one person (an ephemeral, a DM, the App Home, an answer to a command) in their Slack's language where labelbot speaks
it, else the workspace's. Asking a person's language costs a users.info call at most every ten minutes (bot.people);
when Slack can't say in time, the workspace's language is used and nothing is delayed further."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n import Words, words_for
from bot.people import People, Person

# Slack's user IDs (U…, and W… in Enterprise Grid); anything else a message is posted to is a conversation.
_USER_PREFIXES = ("U", "W")


class Readers:
    def __init__(self, people: People, channel_language: Callable[[str], str | None], workspace_language: str) -> None:
        self._people = people
        self._channel_language = channel_language
        self.workspace_language = workspace_language

    def of_person(self, person: Person | None) -> Words:
        """A person Slack described (None: it couldn't say): their language, else the workspace's."""
        return words_for((person.language if person is not None else None) or self.workspace_language)

    def of_user(self, user_id: str) -> Words:
        """A person by user ID (users.info asked, or its kept answer)."""
        return self.of_person(self._people.person(user_id) if user_id else None)

    def of_channel(self, channel_id: str) -> Words:
        return words_for(self._channel_language(channel_id) or self.workspace_language)

    def of_destination(self, destination: str) -> Words:
        """Where chat.postMessage sends it: a user ID (the app's DM with them) or a conversation."""
        if destination.startswith(_USER_PREFIXES):
            return self.of_user(destination)
        return self.of_channel(destination)
