"""Pure: which emoji reactions tag an image, from a shipped, editable label -> emoji map."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.config import ConfigError
from bot.i18n import ENGLISH, Words
from bot.render import Label, escape

SHIPPED_MAP = Path(__file__).with_name("emoji_map.txt")
ENV_VAR = "LABELBOT_EMOJI_MAP"
MAX_TAGS_PER_IMAGE = 3
# Slack's emoji names: lower-case letters, digits, _ + - (what reactions.add accepts as `name`).
EMOJI_NAME = re.compile(r"[a-z0-9_+-]+")
MAX_LABEL_NAME = 100
# The ephemeral /labels tags answer stays within a Block Kit section's 3000 characters.
MAX_DESCRIBE = 3000


@dataclass(frozen=True)
class EmojiMap:
    by_label: dict[str, str]  # label name as written in the map -> emoji short name, in file order
    source: Path | None = None  # None: the shipped map
    _lookup: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lookup", {name.lower(): emoji for name, emoji in self.by_label.items()})

    @classmethod
    def load(cls, path: Path | None = None) -> EmojiMap:
        """The shipped map, or the file LABELBOT_EMOJI_MAP names; a bad line is a ConfigError naming it."""
        where = f"{ENV_VAR} ({path})" if path is not None else f"the shipped emoji map ({SHIPPED_MAP})"
        try:
            text = Path(path or SHIPPED_MAP).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where} cannot be read: {exc}") from None
        return cls(parse_map(text, where), source=path)

    @property
    def origin(self) -> str:
        """Where the map came from, for log lines and /labels tags."""
        return f"the map in {ENV_VAR} ({self.source})" if self.source else "the shipped map (bot/emoji_map.txt)"

    def emoji_for(self, name: str) -> str | None:
        return self._lookup.get(name.lower())

    def choose(self, labels: Iterable[Label], threshold: float, limit: int = MAX_TAGS_PER_IMAGE) -> list[str]:
        """Emoji for one image's labels at or over the threshold, most confident first, de-duplicated, ≤ limit.

        A label tags with its own emoji (by name or one of its aliases), or else with the emoji of its nearest
        mapped parent: Rekognition lists all ancestors in no promised order, so "nearest" is the mapped parent
        with the most ancestors of its own in this response (a Labrador's Dog before its Pet or Animal), then
        the order Rekognition gave.
        """
        labels = list(labels)
        ancestors = {label.name.lower(): {p.lower() for p in label.parents} for label in labels}
        kept = sorted((x for x in labels if x.confidence >= threshold), key=lambda x: x.confidence, reverse=True)
        chosen: list[str] = []
        for label in kept:
            if len(chosen) >= limit:
                break
            emoji = self._emoji_of(label, ancestors)
            if emoji is not None and emoji not in chosen:
                chosen.append(emoji)
        return chosen

    def _emoji_of(self, label: Label, ancestors: dict[str, set[str]]) -> str | None:
        for name in (label.name, *label.aliases):
            emoji = self.emoji_for(name)
            if emoji is not None:
                return emoji
        mapped = [parent for parent in label.parents if self.emoji_for(parent) is not None]
        if not mapped:
            return None
        own = {p.lower() for p in label.parents}

        def depth(parent: str) -> int:  # how many of the label's other ancestors sit above this parent
            return len(ancestors.get(parent.lower(), set()) & own)

        nearest = max(mapped, key=depth)  # max keeps the first of equals: Rekognition's order breaks ties
        return self.emoji_for(nearest)

    def describe(self, tr: Words = ENGLISH) -> str:
        """The /labels tags answer in tr's language: the map, grouped by emoji (each label named as tr names it),
        and how to change it, in ≤ MAX_DESCRIBE chars."""
        if self.source:
            origin = tr("The map in %(variable)s (%(path)s):", variable=ENV_VAR, path=str(self.source))
        else:
            origin = tr("The shipped map (bot/emoji_map.txt):")
        head = (
            tr(
                "With `/labels tags on` I react to each image with up to %(count)s emoji for its most confident "
                "labels; an unlisted label counts through its parent (Labrador → Dog).",
                count=MAX_TAGS_PER_IMAGE,
            )
            + " "
            + origin
            + "\n"
        )
        foot = "\n" + tr(
            "To change it: copy `bot/emoji_map.txt`, edit it (one `Label: emoji_name` a line), set `%(variable)s` to "
            "the copy and restart me.",
            variable=ENV_VAR,
        )
        if not self.by_label:
            return head + tr("(empty: no image gets an emoji)") + foot
        groups: dict[str, list[str]] = {}
        for name, emoji in self.by_label.items():
            groups.setdefault(emoji, []).append(escape(tr.label(name)))
        more = " " + tr.plural("… and %(count)s more label", "… and %(count)s more labels", 9999)
        budget = MAX_DESCRIBE - len(head) - len(foot) - len(more)
        shown: list[str] = []
        used = 0
        for emoji, names in groups.items():
            entry = f":{emoji}: {tr.join(names)}"
            if used + len(entry) + 1 > budget:
                break
            shown.append(entry)
            used += len(entry) + 1
        body = " ".join(shown)  # the emoji themselves separate the groups
        left = sum(len(names) for names in list(groups.values())[len(shown) :])
        if left:
            body += " " + tr.plural("… and %(count)s more label", "… and %(count)s more labels", left)
        return head + body + foot

    def __len__(self) -> int:
        return len(self.by_label)


def parse_map(text: str, where: str) -> dict[str, str]:
    """`Label: emoji_name` lines (# comments, blank lines); a bad or repeated line is a ConfigError."""
    by_label: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, colon, emoji = line.partition(":")
        name = " ".join(name.split())
        emoji = emoji.strip().strip(":").strip()
        if not colon or not name or not emoji:
            raise ConfigError(f"{where} line {number}: expected `Label: emoji_name`, got {raw.strip()!r}")
        if len(name) > MAX_LABEL_NAME:
            raise ConfigError(f"{where} line {number}: the label is longer than {MAX_LABEL_NAME} characters")
        if not EMOJI_NAME.fullmatch(emoji):
            raise ConfigError(
                f"{where} line {number}: {emoji!r} is not a Slack emoji name "
                "(lower-case letters, digits, _ + - only, e.g. `Dog: dog`)"
            )
        key = name.lower()
        if key in first_line:
            raise ConfigError(f"{where} line {number}: {name!r} is already mapped on line {first_line[key]}")
        first_line[key] = number
        by_label[name] = emoji
    return by_label
