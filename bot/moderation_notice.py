"""Pure: what moderation says in Slack. The neutral line in a held image's thread, the admin's notice with its two
buttons, the same notice once decided, and the buttons' value (which image it is about)."""

from __future__ import annotations

import re

from bot.mrkdwn import clip, escape, slack_date
from bot.render import Reply
from bot.settings import format_percent
from bot.store.protocols import HeldImage

# The thread's line never names a category: the poster and the channel see only that an admin will look.
HELD_LINE = "This image is waiting for an admin's review."
RELEASE_ACTION = "moderation_release"  # "Looks fine"
KEEP_ACTION = "moderation_keep"  # "Keep flagged"
MAX_FILE_NAME = 200
# A button's value names the image: channel, message ts and file id (Slack's shapes), joined by spaces.
_VALUE = re.compile(r"([CDG][A-Z0-9]{2,20}) (\d{1,12}\.\d{1,8}) (F[A-Z0-9]{2,20})")


def held_reply() -> Reply:
    return Reply(text=HELD_LINE, blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": HELD_LINE}}])


def button_value(image: HeldImage) -> str:
    return f"{image.channel_id} {image.message_ts} {image.file_id}"


def image_of_button(value: object) -> tuple[str, str, str] | None:
    """(channel, message ts, file id) from a button's value; None for anything the bot didn't write."""
    match = _VALUE.fullmatch(value) if isinstance(value, str) else None
    return None if match is None else (match[1], match[2], match[3])


def render_notice(image: HeldImage, file_name: str, permalink: str | None) -> Reply:
    """The admin's notice: who posted what where, the categories found, a link to the message, two buttons."""
    blocks = [*_about(image, file_name, permalink), _buttons(image)]
    return Reply(text=_summary(image, file_name), blocks=blocks)


def render_decided_notice(image: HeldImage, file_name: str, permalink: str | None) -> Reply:
    """The notice once an admin decided: the same facts, who decided what and when, no buttons."""
    assert image.decision is not None and image.decided_at is not None
    done = "labelled it" if image.decision == "released" else "kept it flagged"
    verdict = "Looks fine" if image.decision == "released" else "Keep flagged"
    line = f"*{verdict}*: <@{image.decided_by}> {done} {slack_date(image.decided_at)}."
    blocks = [*_about(image, file_name, permalink), {"type": "context", "elements": [_mrkdwn(line)]}]
    return Reply(text=f"{_summary(image, file_name)} {verdict}: <@{image.decided_by}>.", blocks=blocks)


def _summary(image: HeldImage, file_name: str) -> str:
    return f"An image by <@{image.user_id}> in <#{image.channel_id}> was held for review: {_name(file_name)}."


def _about(image: HeldImage, file_name: str, permalink: str | None) -> list[dict]:
    where = f"<{permalink}|{_name(file_name)}>" if permalink else _name(file_name)
    found = ", ".join(f"{escape(category)} {format_percent(confidence)}" for category, confidence in image.categories)
    return [
        {
            "type": "section",
            "text": _mrkdwn(
                f":warning: *An image was held for review*\n{where}, posted by <@{image.user_id}> in "
                f"<#{image.channel_id}> {slack_date(image.held_at)}"
            ),
        },
        {"type": "section", "text": _mrkdwn(clip(f"*Amazon Rekognition found:* {found or 'nothing named'}", 3000))},
    ]


def _buttons(image: HeldImage) -> dict:
    value = button_value(image)
    return {
        "type": "actions",
        "block_id": "moderation_decision",
        "elements": [
            _button("Looks fine", RELEASE_ACTION, value, "primary"),
            _button("Keep flagged", KEEP_ACTION, value, "danger"),
        ],
    }


def _button(text: str, action_id: str, value: str, style: str) -> dict:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
        "style": style,
    }


def _name(file_name: str) -> str:
    return escape(clip(file_name or "an image", MAX_FILE_NAME))


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}
