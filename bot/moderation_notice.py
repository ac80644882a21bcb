"""Pure: what moderation says to its admins: the notice with its two buttons, the same notice once decided, and the
buttons' value (which image it is about). The held image's neutral line in its thread is bot.render's HELD_LINE."""

from __future__ import annotations

import re

from bot.i18n import ENGLISH, N_, Words
from bot.mrkdwn import clip, escape, slack_date
from bot.render import Reply
from bot.store.protocols import HeldImage

RELEASE_ACTION = "moderation_release"  # "Looks fine"
KEEP_ACTION = "moderation_keep"  # "Keep flagged"
MAX_FILE_NAME = 200
MAX_KEPT_BLOCKS = 10  # of a pressed notice's blocks (it has 3): a payload's blocks are Slack's, still bounded
# What each decision is called, on the buttons, the decided notice and the Home tab
VERDICTS = {"released": N_("Looks fine"), "kept": N_("Keep flagged")}
# A button's value names the image: channel, message ts and file id (Slack's shapes), joined by spaces.
_VALUE = re.compile(r"([CDG][A-Z0-9]{2,20}) (\d{1,12}\.\d{1,8}) (F[A-Z0-9]{2,20})")


def button_value(image: HeldImage) -> str:
    return f"{image.channel_id} {image.message_ts} {image.file_id}"


def image_of_button(value: object) -> tuple[str, str, str] | None:
    """(channel, message ts, file id) from a button's value; None for anything the bot didn't write."""
    match = _VALUE.fullmatch(value) if isinstance(value, str) else None
    return None if match is None else (match[1], match[2], match[3])


def render_notice(image: HeldImage, file_name: str, permalink: str | None, tr: Words = ENGLISH) -> Reply:
    """The admin's notice: who posted what where, the categories found, a link to the message, two buttons; in
    tr's language (the moderation channel's, or the admin's for a DM)."""
    blocks = [*_about(image, file_name, permalink, tr), _buttons(image, tr)]
    return Reply(text=_summary(image, file_name, tr), blocks=blocks)


def render_decided_notice(image: HeldImage | None, notice_blocks: object = None, tr: Words = ENGLISH) -> Reply:
    """The pressed notice once decided: its blocks as Slack sent them with the press, less the buttons, and a line
    saying who decided what and when; without them (not in the payload), the facts rebuilt from the record, less the
    file's name and link. image None: it is no longer held (its message or file was deleted in Slack)."""
    kept = [b for b in notice_blocks if isinstance(b, dict) and b.get("type") != "actions"] if notice_blocks else []
    if image is None:
        line = tr("This image is no longer held: its message or file was deleted in Slack.")
        return Reply(text=line, blocks=[*kept[:MAX_KEPT_BLOCKS], {"type": "context", "elements": [_mrkdwn(line)]}])
    assert image.decision is not None and image.decided_at is not None
    who, when = f"<@{image.decided_by}>", slack_date(image.decided_at)
    if image.decision == "released":
        line = tr("*Looks fine*: %(admin)s labelled it %(date)s.", admin=who, date=when)
    else:
        line = tr("*Keep flagged*: %(admin)s kept it flagged %(date)s.", admin=who, date=when)
    facts = kept[:MAX_KEPT_BLOCKS] or _about(image, "", None, tr)
    blocks = [*facts, {"type": "context", "elements": [_mrkdwn(line)]}]
    verdict = tr(VERDICTS[image.decision])
    return Reply(text=f"{_summary(image, '', tr)} {verdict}: {who}.", blocks=blocks)


def _summary(image: HeldImage, file_name: str, tr: Words) -> str:
    return tr(
        "An image by %(user)s in %(channel)s was held for review: %(file)s.",
        user=f"<@{image.user_id}>",
        channel=f"<#{image.channel_id}>",
        file=_name(file_name, tr),
    )


def _about(image: HeldImage, file_name: str, permalink: str | None, tr: Words) -> list[dict]:
    where = f"<{permalink}|{_name(file_name, tr)}>" if permalink else _name(file_name, tr)
    found = describe_categories(image.categories, tr)
    return [
        {
            "type": "section",
            "text": _mrkdwn(
                tr(
                    ":warning: *An image was held for review*\n%(file)s, posted by %(user)s in %(channel)s %(date)s",
                    file=where,
                    user=f"<@{image.user_id}>",
                    channel=f"<#{image.channel_id}>",
                    date=slack_date(image.held_at),
                )
            ),
        },
        {
            "type": "section",
            "text": _mrkdwn(
                clip(tr("*Amazon Rekognition found:* %(categories)s", categories=found or tr("nothing named")), 3000)
            ),
        },
    ]


def _buttons(image: HeldImage, tr: Words) -> dict:
    value = button_value(image)
    return {
        "type": "actions",
        "block_id": "moderation_decision",
        "elements": [
            _button(tr(VERDICTS["released"]), RELEASE_ACTION, value, "primary"),
            _button(tr(VERDICTS["kept"]), KEEP_ACTION, value, "danger"),
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


def _name(file_name: str, tr: Words) -> str:
    return escape(clip(file_name or tr("an image"), MAX_FILE_NAME))


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def describe_categories(categories: tuple[tuple[str, float], ...], tr: Words = ENGLISH) -> str:
    """`Violence 91%, Alcohol 62.5%`: what moderation found, for admins only (the channel never sees it); each
    category named in tr's language (a name the catalogue lacks, a newer model's, as Rekognition wrote it)."""
    return tr.join(f"{escape(tr.stored(category))} {tr.percent(confidence)}" for category, confidence in categories)
