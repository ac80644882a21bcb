"""Pure: whether an image's poster asked for it not to be labelled: `/labels me off` (kept per user in the settings
store) or `#nolabel` in the message. Such an image gets no labels, text, index entry, tags or Show where; where
moderation is on it is still checked, and held like anyone's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store import ChannelSettingsStore

# "#nolabel" as a word of its own, any case: not inside a longer tag such as #nolabels or #nolabel_please.
NOLABEL = re.compile(r"(?<![\w#])#nolabel(?![\w-])", re.IGNORECASE)
# Set on the job's copy of the file object (bot.slack_file_objects.job_file) when the poster opted out.
POSTER_OPTED_OUT = "labelbot_poster_opted_out"


def asks_no_labels(text: object) -> bool:
    """Whether a message's text carries #nolabel."""
    return isinstance(text, str) and NOLABEL.search(text) is not None


def poster_opted_out(message: dict, settings: ChannelSettingsStore) -> bool:
    """#nolabel in the message, or its poster's /labels me off (one store read, only without the tag)."""
    if asks_no_labels(message.get("text")):
        return True
    user_id = message.get("user")
    return isinstance(user_id, str) and bool(user_id) and settings.user_labels_off(user_id)
