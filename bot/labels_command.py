"""Pure: the /labels command grammar: what a user typed in, a Command out."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from bot.i18n import LANGUAGES, choose_language
from bot.moderation import MODERATION_CATEGORIES, UnknownCategory, categories_named
from bot.mrkdwn import literal, literal_list
from bot.screen_text import TEXT_MODES

# Rekognition's MinConfidence accepts 0-100; more than 20 labels no longer reads as a short answer.
THRESHOLD_RANGE = (0.0, 100.0)
MAX_LABELS_RANGE = (1, 20)
# Rekognition's limits for Settings.GeneralLabels inclusion/exclusion filters (botocore's service model). Its
# pattern [A-Za-z0-9àâèçñó'-_(). ]* reads '-_ as a range that also admits ; @ < > and more; we accept only the
# characters it evidently means.
MAX_FILTER_LABELS = 100
MAX_FILTER_LABEL_LENGTH = 50
FILTER_LABEL_PATTERN = re.compile(r"[A-Za-z0-9àâèçñó'\-_(). ]*")
MAX_SINCE_DAYS = 3650
SINCE_UNITS = {"h": 1 / 24, "d": 1, "w": 7}


@dataclass(frozen=True)
class SetEnabled:
    value: bool


@dataclass(frozen=True)
class SetThreshold:
    value: float


@dataclass(frozen=True)
class SetMaxLabels:
    value: int


@dataclass(frozen=True)
class SetTags:
    value: bool


@dataclass(frozen=True)
class AddFilterLabels:
    """include/exclude LABEL[, LABEL…] adds to the list; an empty `labels` (… clear) empties it."""

    kind: str  # "include" | "exclude"
    labels: tuple[str, ...]


@dataclass(frozen=True)
class SetModeration:
    value: bool


@dataclass(frozen=True)
class SetModerationThreshold:
    value: float


@dataclass(frozen=True)
class IgnoreModerationCategories:
    """moderation ignore CATEGORY[, CATEGORY…] names every top-level category that doesn't count (it replaces the
    list: there are only ten); an empty `categories` (… ignore none) counts them all."""

    categories: tuple[str, ...]


@dataclass(frozen=True)
class SetText:
    value: str  # one of TEXT_MODES


@dataclass(frozen=True)
class SetLanguage:
    value: str | None  # a code of bot.i18n.LANGUAGES; None: back to the workspace's language


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Find:
    words: str  # the words outside quotes, space-separated
    channel_id: str | None = None  # None: the channel the command was run in
    since_days: float | None = None
    phrases: tuple[str, ...] = ()  # each quoted phrase, as typed (an exact phrase of the text in images)
    typed: str = ""  # the search as typed, without `in` and `since` (quotes straightened); "": the words

    @property
    def search(self) -> str:
        """What to repeat back of the search."""
        return self.typed or self.words


@dataclass(frozen=True)
class ShowTags:
    pass


@dataclass(frozen=True)
class ShowStatus:
    pass


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class SetMine:
    """/labels me off|on: the user's own images, everywhere (anyone may; no admin needed)."""

    labels_off: bool


@dataclass(frozen=True)
class ShowMine:
    pass


@dataclass(frozen=True)
class ShowUsage:
    pass


@dataclass(frozen=True)
class CommandError:
    message: str
    show_help: bool = field(default=False)


Change = (
    SetEnabled
    | SetThreshold
    | SetMaxLabels
    | SetTags
    | AddFilterLabels
    | SetModeration
    | SetModerationThreshold
    | IgnoreModerationCategories
    | SetText
    | SetLanguage
    | Reset
)
Command = Change | Find | ShowTags | ShowStatus | ShowUsage | ShowHelp | SetMine | ShowMine | CommandError

VERBS = (
    "on",
    "off",
    "threshold",
    "max",
    "tags",
    "include",
    "exclude",
    "moderation",
    "text",
    "language",
    "find",
    "me",
    "status",
    "usage",
    "reset",
    "help",
)
MODERATION_VERBS = ("on", "off", "threshold", "ignore")

HELP_TEXT = (
    "*/labels* tunes how I label images in this channel:\n"
    "• `/labels on` / `/labels off` — label new images here automatically, or not\n"
    "• `/labels threshold 90` — only show labels I am at least 90% sure of "
    f"({THRESHOLD_RANGE[0]:g}–{THRESHOLD_RANGE[1]:g}, as Rekognition's MinConfidence)\n"
    f"• `/labels max 3` — show at most 3 labels per image ({MAX_LABELS_RANGE[0]}–{MAX_LABELS_RANGE[1]})\n"
    "• `/labels tags on` — add emoji reactions for what is in each image (`/labels tags` shows the map)\n"
    "• `/labels include Dog, Cat` — only ever show these labels (`/labels include clear` to undo)\n"
    "• `/labels exclude Person` — never show these labels (`/labels exclude clear` to undo)\n"
    "• `/labels moderation on` / `/labels moderation off` — check each image for unsafe content first, and hold "
    "a flagged one for an admin's review instead of labelling it\n"
    "• `/labels moderation threshold 80` — hold an image when I am at least 80% sure of a category "
    f"({THRESHOLD_RANGE[0]:g}–{THRESHOLD_RANGE[1]:g})\n"
    "• `/labels moderation ignore Alcohol, Swimwear or Underwear` — these categories don't count here "
    "(`/labels moderation ignore none` to count them all)\n"
    "• `/labels text auto` / `on` / `off` — read the text in images and show it under the labels: `auto` for "
    "screenshots, documents, signs and other images with text, `on` for every image, `off` never (anything shaped "
    "like a password or token is hidden)\n"
    "• `/labels language ja` — reply in this channel in Japanese (`en` English, `default` the workspace's language)\n"
    "• `/labels find whiteboard in #design since 7d` — find labelled images (newest first) by their labels or "
    'the text in them; `/labels find "connection refused"` finds the exact phrase\n'
    "• `/labels me off` — never label, read or index the images *you* post, in any channel (`/labels me on` "
    "undoes it, `/labels me` says which is in force); add `#nolabel` to one message for that message alone. "
    "Where an admin turned moderation on, your images are still checked for it\n"
    "• `/labels status` — this channel's settings\n"
    "• `/labels usage` — images and Rekognition calls this month and last, and their estimated cost\n"
    "• `/labels reset` — back to the defaults\n"
    "• `/labels help` — this list\n"
    "Message menu → *Label this image* labels any message's images on request."
)


def parse_command(text: str) -> Command:
    words = text.strip().split()
    if not words or words[0].lower() == "help":
        return ShowHelp()
    verb, args = words[0].lower(), words[1:]
    rest = text.strip()[len(words[0]) :].strip()
    if verb in ("on", "off", "status", "usage", "reset") and args:
        return _usage(f"`/labels {verb}` takes nothing after it.")
    if verb in ("on", "off"):
        return SetEnabled(verb == "on")
    if verb == "status":
        return ShowStatus()
    if verb == "usage":
        return ShowUsage()
    if verb == "reset":
        return Reset()
    if verb == "threshold":
        return _parse_threshold(args)
    if verb == "max":
        return _parse_max(args)
    if verb == "tags":
        return _parse_tags(args)
    if verb in ("include", "exclude"):
        return _parse_filter(verb, rest)
    if verb == "moderation":
        return _parse_moderation(args, rest)
    if verb == "text":
        return _parse_text(args)
    if verb == "language":
        return _parse_language(args)
    if verb == "find":
        return _parse_find(rest)
    if verb == "me":
        return _parse_me(args)
    guess = difflib.get_close_matches(verb, VERBS, n=1, cutoff=0.6)
    hint = f" Did you mean `/labels {guess[0]}`?" if guess else ""
    return CommandError(f"I don't know `{literal(words[0])}`.{hint}", show_help=True)


def _usage(message: str) -> CommandError:
    return CommandError(message)


def _parse_threshold(args: list[str]) -> Command:
    value = _parse_percent(args, "The threshold", "/labels threshold 90")
    return value if isinstance(value, CommandError) else SetThreshold(value)


def _parse_percent(args: list[str], what: str, example: str) -> float | CommandError:
    low, high = THRESHOLD_RANGE
    usage = f"{what} is a percentage from {low:g} to {high:g}, e.g. `{example}`."
    if len(args) != 1:
        return _usage(usage)
    try:
        value = float(args[0].rstrip("%"))
    except ValueError:
        return _usage(usage)
    if not low <= value <= high:
        return _usage(usage)
    return round(value, 1)


def _parse_max(args: list[str]) -> Command:
    low, high = MAX_LABELS_RANGE
    usage = f"The maximum is a whole number of labels from {low} to {high}, e.g. `/labels max 3`."
    if len(args) != 1 or not args[0].isdigit():
        return _usage(usage)
    value = int(args[0])
    if not low <= value <= high:
        return _usage(usage)
    return SetMaxLabels(value)


def _parse_tags(args: list[str]) -> Command:
    if not args:
        return ShowTags()
    if len(args) == 1 and args[0].lower() in ("on", "off"):
        return SetTags(args[0].lower() == "on")
    return _usage("Use `/labels tags on`, `/labels tags off`, or `/labels tags` to see the label → emoji map.")


def _parse_filter(kind: str, rest: str) -> Command:
    usage = (
        f"Name the labels to {kind}, separated by commas, e.g. `/labels {kind} Dog, Golden Retriever`, "
        f"or `/labels {kind} clear`."
    )
    if not rest:
        return _usage(usage)
    if rest.lower() == "clear":
        return AddFilterLabels(kind, ())
    labels: list[str] = []
    for raw in rest.split(","):
        name = " ".join(raw.split())
        if not name:
            continue
        if len(name) > MAX_FILTER_LABEL_LENGTH:
            return _usage(f"`{literal(name)}` is longer than Rekognition's {MAX_FILTER_LABEL_LENGTH} characters.")
        if not FILTER_LABEL_PATTERN.fullmatch(name):
            return _usage(
                f"`{literal(name)}` has characters Rekognition doesn't allow in a label name "
                "(letters, digits, spaces and ' - _ ( ) . are fine)."
            )
        if name.lower() not in (x.lower() for x in labels):
            labels.append(name)
    if not labels:
        return _usage(usage)
    return AddFilterLabels(kind, tuple(labels))


def _parse_moderation(args: list[str], rest: str) -> Command:
    usage = (
        "Use `/labels moderation on`, `/labels moderation off`, `/labels moderation threshold 80` or "
        "`/labels moderation ignore Alcohol, Gambling` (`/labels moderation ignore none` to count every category)."
    )
    if not args:
        return _usage(usage)
    word, more = args[0].lower(), args[1:]
    if word in ("on", "off"):
        if more:
            return _usage(f"`/labels moderation {word}` takes nothing after it.")
        return SetModeration(word == "on")
    if word == "threshold":
        value = _parse_percent(more, "The moderation threshold", "/labels moderation threshold 80")
        return value if isinstance(value, CommandError) else SetModerationThreshold(value)
    if word == "ignore":
        return _parse_ignore(rest[len(args[0]) :].strip())
    guess = difflib.get_close_matches(word, MODERATION_VERBS, n=1, cutoff=0.6)
    hint = f" Did you mean `/labels moderation {guess[0]}`?" if guess else ""
    return _usage(f"I don't know `/labels moderation {literal(args[0])}`.{hint} {usage}")


def _parse_me(args: list[str]) -> Command:
    if not args:
        return ShowMine()
    if len(args) == 1 and args[0].lower() in ("on", "off"):
        return SetMine(labels_off=args[0].lower() == "off")
    return _usage(
        "Use `/labels me off` (I leave the images you post alone), `/labels me on` (I label them again) or "
        "`/labels me` (which is in force)."
    )


def _parse_text(args: list[str]) -> Command:
    usage = (
        "Use `/labels text auto` (read the text of screenshots, documents, signs and other images with text), "
        "`/labels text on` (every image) or `/labels text off` (never)."
    )
    if len(args) == 1 and args[0].lower() in TEXT_MODES:
        return SetText(args[0].lower())
    if len(args) == 1:
        guess = difflib.get_close_matches(args[0].lower(), TEXT_MODES, n=1, cutoff=0.5)
        if guess:
            return _usage(f"I don't know `/labels text {literal(args[0])}`. Did you mean `/labels text {guess[0]}`?")
    return _usage(usage)


def _parse_language(args: list[str]) -> Command:
    spoken = ", ".join(f"`{code}` ({name})" for code, name in LANGUAGES.items())
    usage = f"Use `/labels language ja`, `/labels language en` or `/labels language default`. I speak {spoken}."
    if len(args) != 1:
        return _usage(usage)
    if args[0].lower() == "default":
        return SetLanguage(None)
    language = choose_language(args[0])
    if language is None:
        return _usage(f"I don't speak `{literal(args[0])}` yet. {usage}")
    return SetLanguage(language)


def _parse_ignore(names: str) -> Command:
    usage = (
        "Name the moderation categories that don't count here, separated by commas, e.g. "
        "`/labels moderation ignore Alcohol, Swimwear or Underwear`, or `/labels moderation ignore none`. "
        f"Rekognition's categories are {literal_list(MODERATION_CATEGORIES)}."
    )
    try:
        return IgnoreModerationCategories(categories_named(names))
    except UnknownCategory as exc:
        if not exc.name:
            return _usage(usage)
        if exc.suggestion:
            return _usage(
                f"`{literal(exc.name)}` is not one of Rekognition's moderation categories. "
                f"Did you mean `{literal(exc.suggestion)}`?"
            )
        return _usage(f"`{literal(exc.name)}` is not one of Rekognition's moderation categories. {usage}")


# Slack (and the phones' and Macs' smart punctuation) may send curly quotes: each counts as a straight one.
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "＂": '"'})


def _parse_find(rest: str) -> Command:
    usage = (
        'Search like this: `/labels find whiteboard`, `/labels find "connection refused"`, '
        "`/labels find dog in #random since 7d`."
    )
    text = rest.translate(QUOTES)
    if text.count('"') % 2:
        return _usage('Close the quote around your phrase, e.g. `/labels find "connection refused"`.')
    # A quoted phrase, or a run of anything else but spaces and quotes.
    tokens = list(re.finditer(r'"([^"]*)"|([^\s"]+)', text))
    words: list[str] = []
    phrases: list[str] = []
    cut: list[tuple[int, int]] = []  # the `in` and `since` parts, left out of what is repeated back
    channel_id = since_days = None
    index = 0
    while index < len(tokens):
        token = tokens[index]
        word = token.group(2)
        if word is not None and word.lower() in ("in", "since") and index + 1 < len(tokens):
            value = tokens[index + 1].group(0)
            if word.lower() == "in":
                match = re.fullmatch(r"<#([CGD][A-Z0-9]+)(?:\|[^>]*)?>", value)
                if not match:
                    return _usage("Pick the channel from Slack's suggestions after `in`, e.g. `in #random`.")
                channel_id = match.group(1)
            else:
                match = re.fullmatch(r"(\d+)([hdw])", value.lower())
                if not match:
                    return _usage(
                        "Say how far back with hours, days or weeks, e.g. `since 24h`, `since 7d`, `since 2w`."
                    )
                since_days = int(match.group(1)) * SINCE_UNITS[match.group(2)]
                if not 0 < since_days <= MAX_SINCE_DAYS:
                    return _usage(f"`since` goes back at most {MAX_SINCE_DAYS} days.")
            cut.append((token.start(), tokens[index + 1].end()))
            index += 2
            continue
        if word is not None:
            words.append(word)
        elif phrase := " ".join(token.group(1).split()):
            phrases.append(phrase)
        index += 1
    if not words and not phrases:
        return _usage(usage)
    kept, position = [], 0
    for start, end in cut:
        kept.append(text[position:start])
        position = end
    kept.append(text[position:])
    typed = " ".join(" ".join(kept).split())
    return Find(" ".join(words), channel_id, since_days, tuple(phrases), typed if phrases else "")
