"""Pure: what moderation says to its admins: the notice with its two buttons, the same notice once decided, and the
buttons' value (which image it is about). The held image's neutral line in its thread is bot.render's HELD_LINE."""

from __future__ import annotations

import re

from bot.mrkdwn import clip, escape, slack_date
from bot.render import Reply
from bot.settings import format_percent
from bot.store.protocols import HeldImage

RELEASE_ACTION = "moderation_release"  # "Looks fine"
KEEP_ACTION = "moderation_keep"  # "Keep flagged"
MAX_FILE_NAME = 200
MAX_KEPT_BLOCKS = 10  # of a pressed notice's blocks (it has 3): a payload's blocks are Slack's, still bounded
# What each decision is called, on the buttons, the decided notice and the Home tab
VERDICTS = {"released": "Looks fine", "kept": "Keep flagged"}
# A button's value names the image: channel, message ts and file id (Slack's shapes), joined by spaces.
_VALUE = re.compile(r"([CDG][A-Z0-9]{2,20}) (\d{1,12}\.\d{1,8}) (F[A-Z0-9]{2,20})")


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


def render_decided_notice(image: HeldImage | None, notice_blocks: object = None) -> Reply:
    """The pressed notice once decided: its blocks as Slack sent them with the press, less the buttons, and a line
    saying who decided what and when; without them (not in the payload), the facts rebuilt from the record, less the
    file's name and link. image None: it is no longer held (its message or file was deleted in Slack)."""
    kept = [b for b in notice_blocks if isinstance(b, dict) and b.get("type") != "actions"] if notice_blocks else []
    if image is None:
        line = "This image is no longer held: its message or file was deleted in Slack."
        return Reply(text=line, blocks=[*kept[:MAX_KEPT_BLOCKS], {"type": "context", "elements": [_mrkdwn(line)]}])
    assert image.decision is not None and image.decided_at is not None
    done = "labelled it" if image.decision == "released" else "kept it flagged"
    verdict = VERDICTS[image.decision]
    line = f"*{verdict}*: <@{image.decided_by}> {done} {slack_date(image.decided_at)}."
    facts = kept[:MAX_KEPT_BLOCKS] or _about(image, "", None)
    blocks = [*facts, {"type": "context", "elements": [_mrkdwn(line)]}]
    return Reply(text=f"{_summary(image, '')} {verdict}: <@{image.decided_by}>.", blocks=blocks)


def _summary(image: HeldImage, file_name: str) -> str:
    return f"An image by <@{image.user_id}> in <#{image.channel_id}> was held for review: {_name(file_name)}."


def _about(image: HeldImage, file_name: str, permalink: str | None) -> list[dict]:
    where = f"<{permalink}|{_name(file_name)}>" if permalink else _name(file_name)
    found = describe_categories(image.categories)
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
            _button(VERDICTS["released"], RELEASE_ACTION, value, "primary"),
            _button(VERDICTS["kept"], KEEP_ACTION, value, "danger"),
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


def describe_categories(categories: tuple[tuple[str, float], ...]) -> str:
    """`Violence 91%, Alcohol 62.5%`: what moderation found, for admins only (the channel never sees it)."""
    return ", ".join(f"{escape(category)} {format_percent(confidence)}" for category, confidence in categories)
