"""Pure: label results and settings in, a Block Kit reply and its text fallback out, in the channel's language
(settings.language: bot.i18n)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.i18n import N_, Words, words_for
from bot.mrkdwn import clip, escape, pack_lines
from bot.screen_text import text_block
from bot.settings import ChannelSettings

SEPARATOR = " · "
# Block Kit's limits for a message: a section's text, the blocks, the text fallback (Slack cuts a longer one).
MAX_SECTION_TEXT = 3000
MAX_BLOCKS = 50
MAX_TEXT = 40_000
# A held image's line (bot.moderation_notice): it never names a category; the poster and the channel see only that an
# admin will look.
HELD_LINE = N_("This image is waiting for an admin's review.")
# The reply's "Show where" button (bot.listeners.where): its value is the labelled message's ts.
SHOW_WHERE_ACTION = "show_where"


@dataclass(frozen=True)
class Instance:
    """One of a label's Instances: where Rekognition found it, a box as ratios of the image's width and height (of
    the prepared image it was sent), and how sure it is of this one."""

    left: float
    top: float
    width: float
    height: float
    confidence: float


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    instances: tuple[Instance, ...] = ()  # where it is in the image (only some labels: Cat, Person, Car…)


@dataclass(frozen=True)
class ImageResult:
    """What labelling one file came to: labels, or a short reason it could not be labelled."""

    file_id: str
    file_name: str
    labels: tuple[Label, ...] = ()
    error: str | None = None
    skipped: bool = False  # turned out not to be an image: no line in the reply
    # Not sent to Rekognition: the month's call limit was reached. No line in the reply (the channel is told once a
    # day, bot.usage_notices), and the job is done: it is not labelled later by surprise.
    limited: bool = False
    # Held for an admin's review (moderation): the counted categories found, (category, confidence); no labels.
    held: tuple[tuple[str, float], ...] = ()
    # The hash of the downloaded bytes (bot.analysis.content_hash), set on a held result: an admin's release of it
    # applies to the same content's re-posts. Not stored with the result.
    content_key: str = field(default="", compare=False)
    # The text DetectText read (bot.screen_text.ScreenText.text: lines in reading order, secrets already hidden);
    # "" when none was read. Shown under the image's line, literally; indexed with the labels.
    text: str = ""
    # The kinds of secret hidden in the text, for the poster's one warning. Not stored with the result.
    secrets: tuple[str, ...] = field(default=(), compare=False)
    # Where that text is, (left, top, width, height) ratios a line: Show where outlines them.
    text_boxes: tuple[tuple[float, float, float, float], ...] = ()
    # Those of the lines in which a secret was hidden: Show where covers them.
    secret_text_boxes: tuple[tuple[float, float, float, float], ...] = ()
    # The image with those lines covered, for the poster's safe copy (JPEG). Not stored with the result.
    safe_copy: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: list[dict]


def format_labels(labels: tuple[Label, ...] | list[Label], tr: Words) -> str:
    """Cat 99.2% · Kitten 96.4%, in the order given, each name in tr's language."""
    return SEPARATOR.join(f"{escape(tr.label(label.name))} {label.confidence:.1f}%" for label in labels)


def shown_labels(result: ImageResult, settings: ChannelSettings) -> list[Label]:
    """The labels the reply shows for the image: at or above the threshold, the most confident max_labels, a label
    that is only an ancestor of another kept label, at no higher confidence, folded into it (Cat's Pet, Mammal and
    Animal say nothing Cat doesn't). The index, emoji tags and include/exclude keep every label."""
    kept = sorted(
        (label for label in result.labels if label.confidence >= settings.threshold),
        key=lambda label: label.confidence,
        reverse=True,
    )
    folded = {
        ancestor
        for label in kept
        for ancestor in ancestors(label, kept)
        if ancestor.confidence <= label.confidence and ancestor is not label
    }
    return [label for label in kept if label not in folded][: settings.max_labels]


def ancestors(label: Label, labels: list[Label]) -> list[Label]:
    """The labels among `labels` that are label's parents, their parents, and so on (Rekognition lists each
    label's parents; a parent's own parents are found through its entry)."""
    by_name = {other.name: other for other in labels}
    found: list[Label] = []
    names = list(label.parents)
    while names:
        parent = by_name.get(names.pop())
        if parent is not None and parent not in found and parent is not label:
            found.append(parent)
            names.extend(parent.parents)
    return found


def labels_to_request(max_labels: int) -> int:
    """How many labels to ask DetectLabels for, so that max_labels remain once ancestors are folded: a label has up
    to five ancestors (Golden Retriever: Dog, Canine, Pet, Mammal, Animal), most of them shared."""
    return min(100, max(10, max_labels * 3))


def has_boxes(result: ImageResult, settings: ChannelSettings) -> bool:
    """Whether a label the reply shows for this image has instances: then Show where has something to draw."""
    return result.error is None and not result.held and any(label.instances for label in shown_labels(result, settings))


def describe_result(result: ImageResult, settings: ChannelSettings, tr: Words) -> str:
    if result.error is not None:
        return tr.said(result.error)  # a reason kept from when it happened, said in tr's language
    if result.held:
        return tr(HELD_LINE)
    shown = shown_labels(result, settings)
    if not shown:
        return tr("No label reached this channel's %(threshold)s threshold.", threshold=tr.percent(settings.threshold))
    return format_labels(shown, tr)


def render_reply(
    results: list[ImageResult], settings: ChannelSettings, *, show_where: str | None = None, tr: Words | None = None
) -> Reply | None:
    """One reply for all the images of a message, in the order they were posted; None if none was an image.
    show_where: the message's ts, for a Show where button where a label shown has boxes. tr: the channel's Words
    (settings.language's), with the label names its table lacks where they were found (bot.label_translation)."""
    results = [r for r in results if not r.skipped and not r.limited]
    if not results:
        return None
    tr = tr if tr is not None else words_for(settings.language)
    if len(results) == 1 or (results[0].error is not None and len({r.error for r in results}) == 1):
        lines = [describe_result(results[0], settings, tr)]  # one image, or one reason for all (e.g. busy): one line
        texts = [results[0].text]
    else:
        lines = [f"*{escape(r.file_name)}*: {describe_result(r, settings, tr)}" for r in results]
        texts = [r.text for r in results]
    button = show_where is not None and any(has_boxes(r, settings) for r in results)
    # The context block (and the button) close it.
    blocks = _image_sections(lines, texts, room=MAX_BLOCKS - 1 - button, tr=tr)
    if all(r.held for r in results):  # nothing Rekognition labelled: no line about its threshold either
        return Reply(text=clip("\n".join(lines), MAX_TEXT), blocks=blocks)
    if button:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": tr("Show where")},
                        "action_id": SHOW_WHERE_ACTION,
                        "value": show_where,
                    }
                ],
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": tr(
                        "Amazon Rekognition · threshold %(threshold)s · `/labels help` to change",
                        threshold=tr.percent(settings.threshold),
                    ),
                }
            ],
        }
    )
    return Reply(text=clip("\n".join(lines), MAX_TEXT), blocks=blocks)


def _image_sections(lines: list[str], texts: list[str], room: int, tr: Words) -> list[dict]:
    """A section per image, each followed by the text read in it (a literal context block, see
    bot.screen_text.text_block) where there is some and the message has the blocks for it; with more images than a
    message has blocks for, the lines packed into as few sections as hold them (then without their text), and any
    that still don't fit counted. The text fallback never carries an image's text: a notification shows no
    screenshot's words."""
    if len(lines) + sum(1 for text in texts if text) <= room:
        blocks = []
        for line, text in zip(lines, texts, strict=True):
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": clip(line, MAX_SECTION_TEXT)}})
            if text:
                blocks.append(text_block(text, tr=tr))
        return blocks
    if len(lines) <= room:
        packed, left_out = [clip(line, MAX_SECTION_TEXT) for line in lines], 0
    else:
        packed, left_out = pack_lines(lines, MAX_SECTION_TEXT, room - 1)
    more = [tr.plural("…and %(count)s more image.", "…and %(count)s more images.", left_out)] if left_out else []
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in packed + more]
