"""Pure: Rekognition's moderation taxonomy and the rule that holds an image for an admin.

DetectModerationLabels (model 7) answers labels in a three-level taxonomy; a channel counts or ignores whole
top-level (L1) categories, and an image is held when a counted category was found at or above the channel's
threshold. Names follow the taxonomy table of Rekognition's developer guide ("Using the image and video moderation
APIs", label categories, model 7.0).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from bot.i18n import N_

# The top-level (L1) categories of moderation model 7, in the guide's order.
MODERATION_CATEGORIES = (
    N_("Explicit"),
    N_("Non-Explicit Nudity of Intimate parts and Kissing"),
    N_("Swimwear or Underwear"),
    N_("Violence"),
    N_("Visually Disturbing"),
    N_("Drugs & Tobacco"),
    N_("Alcohol"),
    N_("Rude Gestures"),
    N_("Gambling"),
    N_("Hate Symbols"),
)
_BY_FOLDED = {name.casefold(): name for name in MODERATION_CATEGORIES}
# Each second-level (L2) category's top level, for an L3 label whose L2 parent is not in the answer itself.
TOP_LEVEL_OF_L2 = {
    "Explicit Nudity": "Explicit",
    "Explicit Sexual Activity": "Explicit",
    "Sex Toys": "Explicit",
    "Non-Explicit Nudity": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Obstructed Intimate Parts": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Kissing on the Lips": "Non-Explicit Nudity of Intimate parts and Kissing",
    "Female Swimwear or Underwear": "Swimwear or Underwear",
    "Male Swimwear or Underwear": "Swimwear or Underwear",
    "Weapons": "Violence",
    "Graphic Violence": "Violence",
    "Death and Emaciation": "Visually Disturbing",
    "Crashes": "Visually Disturbing",
    "Products": "Drugs & Tobacco",
    "Drugs & Tobacco Paraphernalia & Use": "Drugs & Tobacco",
    "Alcohol Use": "Alcohol",
    "Alcoholic Beverages": "Alcohol",
    "Middle Finger": "Rude Gestures",
    "Nazi Party": "Hate Symbols",
    "White Supremacy": "Hate Symbols",
    "Extremist": "Hate Symbols",
}


@dataclass(frozen=True)
class ModerationLabel:
    """One label of DetectModerationLabels' answer."""

    name: str
    confidence: float
    parent: str = ""  # ParentName: "" at the top level
    level: int = 1  # TaxonomyLevel, 1-3


class UnknownCategory(ValueError):
    """A name that isn't a top-level category; str() says which and, if one is close, which was meant. `name` is
    what was typed (spaces tidied; "" when nothing was named) and `suggestion` the close category or None, for a
    caller that words its own answer (bot.labels_command: user text shown literally)."""

    def __init__(self, message: str, name: str = "", suggestion: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.suggestion = suggestion


def category_named(text: str) -> str:
    """The top-level category a user typed (any case, extra spaces, "and" for "&"), or UnknownCategory."""
    tidied = " ".join(text.split())
    folded = tidied.casefold()
    for candidate in (folded, folded.replace(" and ", " & ")):
        if candidate in _BY_FOLDED:
            return _BY_FOLDED[candidate]
    suggestion = _suggestion(folded)
    hint = f"; did you mean “{suggestion}”?" if suggestion else ""
    raise UnknownCategory(f"“{tidied}” is not one of Rekognition's moderation categories{hint}", tidied, suggestion)


def _suggestion(folded: str) -> str | None:
    """The category meant by a name that isn't one: a second-level name's top level ("Explicit Nudity" ->
    Explicit), a close spelling, or the one category holding what was typed ("swimwear"), if only one does."""
    second_level = {name.casefold(): top for name, top in TOP_LEVEL_OF_L2.items()}
    if folded in second_level:
        return second_level[folded]
    guess = difflib.get_close_matches(folded, list(_BY_FOLDED), n=1, cutoff=0.6)
    if guess:
        return _BY_FOLDED[guess[0]]
    holding = [name for key, name in _BY_FOLDED.items() if folded and folded in key]
    return holding[0] if len(holding) == 1 else None


def categories_named(text: str) -> tuple[str, ...]:
    """`Alcohol, Swimwear or Underwear` -> the categories, each once, in the taxonomy's order; "none" -> ()."""
    if text.strip().casefold() == "none":
        return ()
    named = {category_named(part) for part in text.split(",") if part.strip()}
    if not named:
        raise UnknownCategory("name one or more moderation categories, separated by commas, or `none`")
    return tuple(name for name in MODERATION_CATEGORIES if name in named)


def top_level_of(label: ModerationLabel, labels: Iterable[ModerationLabel]) -> str:
    """The L1 category a label belongs to, following ParentName through the answer's other labels, then the
    taxonomy. A name the taxonomy doesn't know (a newer model's) is its own category: it counts, and since only
    top-level names can be ignored, it can't be ignored by mistake (failing closed)."""
    parents = {item.name: item.parent for item in labels}
    name, seen = label.name, set()
    parent = label.parent
    while parent and name not in seen:
        seen.add(name)
        name, parent = parent, parents.get(parent, "")
    return TOP_LEVEL_OF_L2.get(name, name)


def held_categories(
    labels: Iterable[ModerationLabel], threshold: float, ignored: Iterable[str] = ()
) -> tuple[tuple[str, float], ...]:
    """The counted top-level categories found at or above threshold, each with its highest confidence, most
    confident first: the image is held when this is not empty."""
    labels = tuple(labels)
    skip = set(ignored)
    found: dict[str, float] = {}
    for label in labels:
        category = top_level_of(label, labels)
        if category in skip or label.confidence < threshold:
            continue
        found[category] = max(found.get(category, 0.0), label.confidence)
    return tuple(sorted(found.items(), key=lambda item: (-item[1], item[0])))


def describe_moderation(labels: Iterable[ModerationLabel], threshold: float, ignored: Iterable[str] = ()) -> list[str]:
    """What the moderation answer means, one line each, for `python -m bot label FILE --moderation`: every label
    with its top-level category and whether it counts at this threshold, then the verdict (held or not)."""
    labels, skip = tuple(labels), set(ignored)
    lines = [f"Moderation (threshold {threshold:g}%):" + ("" if labels else " nothing found")]
    for label in sorted(labels, key=lambda item: (-item.confidence, item.level, item.name)):
        category = top_level_of(label, labels)
        within = "" if category == label.name else f" ({category})"
        counts = (
            "ignored" if category in skip else "counts" if label.confidence >= threshold else f"below {threshold:g}%"
        )
        lines.append(f"  {label.name} {label.confidence:.1f}%{within}: {counts}")
    held = held_categories(labels, threshold, skip)
    if held:
        found = ", ".join(f"{name} {confidence:.1f}%" for name, confidence in held)
        lines.append(f"Held for an admin's review ({found}): no labels, no reactions, no DetectLabels call.")
    else:
        lines.append("Not held: labelled as usual.")
    return lines
