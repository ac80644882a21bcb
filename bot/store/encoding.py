"""What both backends store alike: labels, results and moderation categories as JSON, a message ts as a number,
and how the tag index splits and stems words."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import astuple

from bot.i18n import Sentence, label_translations
from bot.install_context import workspace_or_current
from bot.render import ImageResult, Instance, Label
from bot.screen_text import HIDDEN

# How the tag index splits and stems words: SQLite FTS5's tokenizer, which the DynamoDB store runs too.
TAG_TOKENIZER = "porter unicode61 remove_diacritics 2"


def search_words(text: str) -> tuple[str, ...]:
    """The words of a search or a label, lower-cased, as the index splits them (letters and digits)."""
    return tuple(re.findall(r"[^\W_]+", text.lower()))


def label_names(labels: Iterable[Label]) -> tuple[str, ...]:
    """What the tag index knows of an image: each label's name, parents and aliases, once each, and each of those in
    the other languages labelbot speaks (bot.i18n: 猫 for Cat), matched whole as written."""
    english = dict.fromkeys(name for label in labels for name in (label.name, *label.parents, *label.aliases))
    translated = (other for name in english for other in label_translations(name))
    return tuple(dict.fromkeys([*english, *translated]))


def ts_microseconds(message_ts: str) -> int:
    """A Slack ts ("seconds.micro") as whole microseconds, so message order is numeric order."""
    seconds, _, fraction = message_ts.partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def label_to_dict(label: Label) -> dict:
    return {
        "name": label.name,
        "confidence": label.confidence,
        "parents": list(label.parents),
        "aliases": list(label.aliases),
        # [left, top, width, height, confidence] each: what "Show where" draws, with no Rekognition call
        **({"instances": [list(astuple(i)) for i in label.instances]} if label.instances else {}),
    }


def label_from_dict(data: dict) -> Label:
    return Label(
        data["name"],
        data["confidence"],
        tuple(data.get("parents", ())),
        tuple(data.get("aliases", ())),
        tuple(Instance(*map(float, box)) for box in data.get("instances", ())),
    )


def result_to_dict(result: ImageResult) -> dict:
    return {
        "file_id": result.file_id,
        "file_name": result.file_name,
        "error": result.error,
        **_sentence_to_dict(result.error),
        "skipped": result.skipped,
        "labels": [label_to_dict(label) for label in result.labels],
        **({"limited": True} if result.limited else {}),
        **({"held": [list(category) for category in result.held]} if result.held else {}),
        **({"text": result.text} if result.text else {}),
        **({"text_boxes": [list(box) for box in result.text_boxes]} if result.text_boxes else {}),
        **({"secret_text_boxes": [list(box) for box in result.secret_text_boxes]} if result.secret_text_boxes else {}),
    }


def result_from_dict(data: dict) -> ImageResult:
    return ImageResult(
        file_id=data["file_id"],
        file_name=data["file_name"],
        error=reason_from_dict(data.get("error"), data.get("error_sentence")),
        skipped=data.get("skipped", False),
        limited=data.get("limited", False),
        labels=tuple(label_from_dict(x) for x in data.get("labels", ())),
        held=tuple((str(name), float(confidence)) for name, confidence in data.get("held", ())),
        text=str(data.get("text", "")),
        text_boxes=tuple(tuple(map(float, box)) for box in data.get("text_boxes", ())),
        secret_text_boxes=_secret_text_boxes(data),
    )


def _sentence_to_dict(reason: str | None) -> dict:
    """A reason said as a Sentence keeps its message id and values too (error_sentence), so that it can be said
    again in a reader's language; "error" stays its English text."""
    if isinstance(reason, Sentence):
        return {"error_sentence": {"message": reason.message, "params": reason.params}}
    return {}


def reason_from_dict(text: str | None, sentence: object) -> str | None:
    """A stored reason: a Sentence again where its id and values were kept (and still make a sentence), else the
    English text as stored."""
    if text is None or not isinstance(sentence, dict):
        return text
    try:
        return Sentence(str(sentence["message"]), **dict(sentence.get("params") or {}))
    except (KeyError, TypeError, ValueError):  # not a sentence this code can say: its English text still is
        return text


def _secret_text_boxes(data: dict) -> tuple[tuple[float, float, float, float], ...]:
    """The lines to cover; a result stored before they were recorded, whose text has a hidden secret: all of them."""
    if "secret_text_boxes" in data:
        return tuple(tuple(map(float, box)) for box in data["secret_text_boxes"])
    if HIDDEN in str(data.get("text", "")):
        return tuple(tuple(map(float, box)) for box in data.get("text_boxes", ()))
    return ()


def categories_to_json(categories: tuple[tuple[str, float], ...]) -> str:
    """A held image's moderation categories, [[category, confidence], ...]."""
    return json.dumps([list(category) for category in categories])


def categories_from_json(text: str) -> tuple[tuple[str, float], ...]:
    return tuple((str(name), float(confidence)) for name, confidence in json.loads(text))


def in_workspace(workspace: str | None, key: str) -> str:
    """A key of one install's record: as it is for the one workspace (""), so a single-workspace install's records
    keep their keys; "<workspace>/<key>" for another (Slack's IDs have no "/"). workspace None: the current
    install's (bot.install_context)."""
    workspace = workspace_or_current(workspace)
    return f"{workspace}/{key}" if workspace else key


def workspace_id(key: str) -> str:
    """The ID in a key in_workspace made: "<workspace>/C1" -> "C1", "C1" -> "C1"."""
    return key.rpartition("/")[2]


def of_workspace(workspace: str | None, key: str) -> bool:
    """Whether a key in_workspace made is the install's (workspace None: the current one's)."""
    workspace = workspace_or_current(workspace)
    return key.startswith(workspace + "/") if workspace else "/" not in key
