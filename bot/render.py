"""Pure: label results and settings in, a Block Kit reply and its text fallback out."""

from __future__ import annotations

from dataclasses import dataclass

from bot.mrkdwn import clip, escape
from bot.settings import ChannelSettings, format_percent

SEPARATOR = " · "
MAX_SECTION_TEXT = 3000  # Block Kit's limit for a section's text


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageResult:
    """What labelling one file came to: labels, or a short reason it could not be labelled."""

    file_id: str
    file_name: str
    labels: tuple[Label, ...] = ()
    error: str | None = None
    skipped: bool = False  # turned out not to be an image: no line in the reply


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: list[dict]


def format_labels(labels: tuple[Label, ...] | list[Label], max_labels: int) -> str:
    ordered = sorted(labels, key=lambda label: label.confidence, reverse=True)[:max_labels]
    return SEPARATOR.join(f"{escape(label.name)} {label.confidence:.1f}%" for label in ordered)


def describe_result(result: ImageResult, settings: ChannelSettings) -> str:
    if result.error is not None:
        return result.error
    kept = [label for label in result.labels if label.confidence >= settings.threshold]
    if not kept:
        return f"No label reached this channel's {format_percent(settings.threshold)} threshold."
    return format_labels(kept, settings.max_labels)


def render_reply(results: list[ImageResult], settings: ChannelSettings) -> Reply | None:
    """One reply for all the images of a message, in the order they were posted; None if none was an image."""
    results = [r for r in results if not r.skipped]
    if not results:
        return None
    if len(results) == 1 or (results[0].error is not None and len({r.error for r in results}) == 1):
        lines = [describe_result(results[0], settings)]  # one image, or one reason for all (e.g. busy): one line
    else:
        lines = [f"*{escape(r.file_name)}*: {describe_result(r, settings)}" for r in results]
    text = "\n".join(lines)
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip(line, MAX_SECTION_TEXT)}} for line in lines
    ]
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"Amazon Rekognition · threshold {format_percent(settings.threshold)} · "
                    "`/labels help` to change",
                }
            ],
        }
    )
    return Reply(text=text, blocks=blocks)
