"""Pure: the /labels help, every subcommand with an example, in the reader's language."""

from __future__ import annotations

from bot.i18n import ENGLISH, Words
from bot.labels_command import MAX_LABELS_RANGE, PERCENT_RANGE


def help_text(tr: Words = ENGLISH) -> str:
    """Every subcommand with an example, in tr's language."""
    low, high = PERCENT_RANGE
    fewest, most = MAX_LABELS_RANGE
    lines = [
        tr("*/labels* tunes how I label images in this channel:"),
        tr("• `/labels on` / `/labels off` — label new images here automatically, or not"),
        tr(
            "• `/labels threshold 90` — only show labels I am at least 90%% sure of (%(low)s–%(high)s, as "
            "Rekognition's MinConfidence)",
            low=low,
            high=high,
        ),
        tr("• `/labels max 3` — show at most 3 labels per image (%(fewest)s–%(most)s)", fewest=fewest, most=most),
        tr("• `/labels tags on` — add emoji reactions for what is in each image (`/labels tags` shows the map)"),
        tr("• `/labels include Dog, Cat` — only ever show these labels (`/labels include clear` to undo)"),
        tr("• `/labels exclude Person` — never show these labels (`/labels exclude clear` to undo)"),
        tr(
            "• `/labels moderation on` / `/labels moderation off` — check each image for unsafe content first, and "
            "hold a flagged one for an admin's review instead of labelling it"
        ),
        tr(
            "• `/labels moderation threshold 80` — hold an image when I am at least 80%% sure of a category "
            "(%(low)s–%(high)s)",
            low=low,
            high=high,
        ),
        tr(
            "• `/labels moderation ignore Alcohol, Swimwear or Underwear` — these categories don't count here "
            "(`/labels moderation ignore none` to count them all)"
        ),
        tr(
            "• `/labels text auto` / `on` / `off` — read the text in images and show it under the labels: `auto` "
            "for screenshots, documents, signs and other images with text, `on` for every image, `off` never "
            "(anything shaped like a password or token is hidden)"
        ),
        tr(
            "• `/labels language ja` — reply in this channel in Japanese (`en` English, `default` the workspace's "
            "language)"
        ),
        tr(
            "• `/labels find whiteboard in #design since 7d` — find labelled images (newest first) by their labels "
            'or the text in them; `/labels find "connection refused"` finds the exact phrase'
        ),
        tr(
            "• `/labels me off` — never label, read or index the images *you* post, in any channel (`/labels me "
            "on` undoes it, `/labels me` says which is in force); add `#nolabel` to one message for that message "
            "alone. Where an admin turned moderation on, your images are still checked for it"
        ),
        tr("• `/labels status` — this channel's settings"),
        tr("• `/labels usage` — images and Rekognition calls this month and last, and their estimated cost"),
        tr("• `/labels reset` — back to the defaults"),
        tr("• `/labels help` — this list"),
        tr("Message menu → *Label this image* labels any message's images on request."),
    ]
    return "\n".join(lines)


HELP_TEXT = help_text()
