"""Pure: the /labels command grammar: what a user typed in, a Command out."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from bot.i18n import ENGLISH, LANGUAGES, N_, Words, choose_language
from bot.moderation import MODERATION_CATEGORIES, UnknownCategory, categories_named
from bot.mrkdwn import literal, literal_list
from bot.screen_text import TEXT_MODES

# Rekognition's MinConfidence accepts 0-100; more than 20 labels no longer reads as a short answer.
THRESHOLD_RANGE = (0.0, 100.0)
MAX_LABELS_RANGE = (1, 20)
PERCENT_RANGE = tuple(f"{value:g}" for value in THRESHOLD_RANGE)  # as the answers write them: 0, 100
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
class SetModerationChannel:
    """moderation channel #CHANNEL: where the install's held images' notices go (many workspaces); None: nowhere."""

    channel_id: str | None


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
Command = (
    Change
    | Find
    | ShowTags
    | ShowStatus
    | ShowUsage
    | ShowHelp
    | SetMine
    | ShowMine
    | SetModerationChannel
    | CommandError
)

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
MODERATION_VERBS = ("on", "off", "threshold", "ignore", "channel")


def parse_command(text: str, tr: Words = ENGLISH) -> Command:
    """What the user asked for; a CommandError's message in tr's language (the user's)."""
    words = text.strip().split()
    if not words or words[0].lower() == "help":
        return ShowHelp()
    verb, args = words[0].lower(), words[1:]
    rest = text.strip()[len(words[0]) :].strip()
    if verb in ("on", "off", "status", "usage", "reset") and args:
        return _usage(tr("`/labels %(verb)s` takes nothing after it.", verb=verb))
    if verb in ("on", "off"):
        return SetEnabled(verb == "on")
    if verb == "status":
        return ShowStatus()
    if verb == "usage":
        return ShowUsage()
    if verb == "reset":
        return Reset()
    if verb == "threshold":
        return _parse_threshold(args, tr)
    if verb == "max":
        return _parse_max(args, tr)
    if verb == "tags":
        return _parse_tags(args, tr)
    if verb in ("include", "exclude"):
        return _parse_filter(verb, rest, tr)
    if verb == "moderation":
        return _parse_moderation(args, rest, tr)
    if verb == "text":
        return _parse_text(args, tr)
    if verb == "language":
        return _parse_language(args, tr)
    if verb == "find":
        return _parse_find(rest, tr)
    if verb == "me":
        return _parse_me(args, tr)
    guess = difflib.get_close_matches(verb, VERBS, n=1, cutoff=0.6)
    unknown = tr("I don't know `%(word)s`.", word=literal(words[0]))
    if guess:
        unknown += " " + tr("Did you mean `%(command)s`?", command="/labels " + guess[0])
    return CommandError(unknown, show_help=True)


def _usage(message: str) -> CommandError:
    return CommandError(message)


def _parse_threshold(args: list[str], tr: Words) -> Command:
    usage = tr(
        "The threshold is a percentage from %(low)s to %(high)s, e.g. `/labels threshold 90`.",
        low=PERCENT_RANGE[0],
        high=PERCENT_RANGE[1],
    )
    value = _parse_percent(args, usage)
    return value if isinstance(value, CommandError) else SetThreshold(value)


def _parse_percent(args: list[str], usage: str) -> float | CommandError:
    low, high = THRESHOLD_RANGE
    if len(args) != 1:
        return _usage(usage)
    try:
        value = float(args[0].rstrip("%"))
    except ValueError:
        return _usage(usage)
    if not low <= value <= high:
        return _usage(usage)
    return round(value, 1)


def _parse_max(args: list[str], tr: Words) -> Command:
    low, high = MAX_LABELS_RANGE
    usage = tr(
        "The maximum is a whole number of labels from %(low)s to %(high)s, e.g. `/labels max 3`.", low=low, high=high
    )
    if len(args) != 1 or not args[0].isdigit():
        return _usage(usage)
    value = int(args[0])
    if not low <= value <= high:
        return _usage(usage)
    return SetMaxLabels(value)


def _parse_tags(args: list[str], tr: Words) -> Command:
    if not args:
        return ShowTags()
    if len(args) == 1 and args[0].lower() in ("on", "off"):
        return SetTags(args[0].lower() == "on")
    return _usage(tr("Use `/labels tags on`, `/labels tags off`, or `/labels tags` to see the label → emoji map."))


FILTER_USAGE = {
    "include": N_(
        "Name the labels to include, separated by commas, e.g. `/labels include Dog, Golden Retriever`, or "
        "`/labels include clear`."
    ),
    "exclude": N_(
        "Name the labels to exclude, separated by commas, e.g. `/labels exclude Dog, Golden Retriever`, or "
        "`/labels exclude clear`."
    ),
}


def _parse_filter(kind: str, rest: str, tr: Words) -> Command:
    usage = tr(FILTER_USAGE[kind])
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
            return _usage(
                tr(
                    "`%(name)s` is longer than Rekognition's %(limit)s characters.",
                    name=literal(name),
                    limit=MAX_FILTER_LABEL_LENGTH,
                )
            )
        if not FILTER_LABEL_PATTERN.fullmatch(name):
            return _usage(
                tr(
                    "`%(name)s` has characters Rekognition doesn't allow in a label name (letters, digits, spaces "
                    "and ' - _ ( ) . are fine).",
                    name=literal(name),
                )
            )
        if name.lower() not in (x.lower() for x in labels):
            labels.append(name)
    if not labels:
        return _usage(usage)
    return AddFilterLabels(kind, tuple(labels))


def _parse_moderation(args: list[str], rest: str, tr: Words) -> Command:
    usage = tr(
        "Use `/labels moderation on`, `/labels moderation off`, `/labels moderation threshold 80` or "
        "`/labels moderation ignore Alcohol, Gambling` (`/labels moderation ignore none` to count every category)."
    )
    if not args:
        return _usage(usage)
    word, more = args[0].lower(), args[1:]
    if word in ("on", "off"):
        if more:
            return _usage(tr("`/labels %(verb)s` takes nothing after it.", verb="moderation " + word))
        return SetModeration(word == "on")
    if word == "threshold":
        value = _parse_percent(
            more,
            tr(
                "The moderation threshold is a percentage from %(low)s to %(high)s, e.g. "
                "`/labels moderation threshold 80`.",
                low=PERCENT_RANGE[0],
                high=PERCENT_RANGE[1],
            ),
        )
        return value if isinstance(value, CommandError) else SetModerationThreshold(value)
    if word == "ignore":
        return _parse_ignore(rest[len(args[0]) :].strip(), tr)
    if word == "channel":
        if len(more) == 1 and more[0].lower() == "none":
            return SetModerationChannel(None)
        match = re.fullmatch(r"<#([CG][A-Z0-9]+)(?:\|[^>]*)?>", more[0]) if len(more) == 1 else None
        if match is None:
            return _usage(
                tr(
                    "Pick the channel from Slack's suggestions, e.g. `/labels moderation channel #mod-review` "
                    "(`/labels moderation channel none` to stop the notices)."
                )
            )
        return SetModerationChannel(match.group(1))
    guess = difflib.get_close_matches(word, MODERATION_VERBS, n=1, cutoff=0.6)
    unknown = tr("I don't know `%(word)s`.", word="/labels moderation " + literal(args[0]))
    if guess:
        unknown += " " + tr("Did you mean `%(command)s`?", command="/labels moderation " + guess[0])
    return _usage(f"{unknown} {usage}")


def _parse_me(args: list[str], tr: Words) -> Command:
    if not args:
        return ShowMine()
    if len(args) == 1 and args[0].lower() in ("on", "off"):
        return SetMine(labels_off=args[0].lower() == "off")
    return _usage(
        tr(
            "Use `/labels me off` (I leave the images you post alone), `/labels me on` (I label them again) or "
            "`/labels me` (which is in force)."
        )
    )


def _parse_text(args: list[str], tr: Words) -> Command:
    usage = tr(
        "Use `/labels text auto` (read the text of screenshots, documents, signs and other images with text), "
        "`/labels text on` (every image) or `/labels text off` (never)."
    )
    if len(args) == 1 and args[0].lower() in TEXT_MODES:
        return SetText(args[0].lower())
    if len(args) == 1:
        guess = difflib.get_close_matches(args[0].lower(), TEXT_MODES, n=1, cutoff=0.5)
        if guess:
            unknown = tr("I don't know `%(word)s`.", word="/labels text " + literal(args[0]))
            return _usage(unknown + " " + tr("Did you mean `%(command)s`?", command="/labels text " + guess[0]))
    return _usage(usage)


def _parse_language(args: list[str], tr: Words) -> Command:
    spoken = tr.join(f"`{code}` ({name})" for code, name in LANGUAGES.items())
    usage = tr(
        "Use `/labels language ja`, `/labels language en` or `/labels language default`. I speak %(languages)s.",
        languages=spoken,
    )
    if len(args) != 1:
        return _usage(usage)
    if args[0].lower() == "default":
        return SetLanguage(None)
    language = choose_language(args[0])
    if language is None:
        return _usage(tr("I don't speak `%(language)s` yet.", language=literal(args[0])) + " " + usage)
    return SetLanguage(language)


def _parse_ignore(names: str, tr: Words) -> Command:
    usage = tr(
        "Name the moderation categories that don't count here, separated by commas, e.g. "
        "`/labels moderation ignore Alcohol, Swimwear or Underwear`, or `/labels moderation ignore none`. "
        "Rekognition's categories are %(categories)s.",
        categories=literal_list(MODERATION_CATEGORIES),
    )
    try:
        return IgnoreModerationCategories(categories_named(names))
    except UnknownCategory as exc:
        if not exc.name:
            return _usage(usage)
        if exc.suggestion:
            return _usage(
                tr("`%(name)s` is not one of Rekognition's moderation categories.", name=literal(exc.name))
                + " "
                + tr("Did you mean `%(command)s`?", command=literal(exc.suggestion))
            )
        return _usage(
            tr("`%(name)s` is not one of Rekognition's moderation categories.", name=literal(exc.name)) + " " + usage
        )


# Slack (and the phones' and Macs' smart punctuation) may send curly quotes: each counts as a straight one.
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "＂": '"'})


def _parse_find(rest: str, tr: Words) -> Command:
    usage = tr(
        'Search like this: `/labels find whiteboard`, `/labels find "connection refused"`, '
        "`/labels find dog in #random since 7d`."
    )
    text = rest.translate(QUOTES)
    if text.count('"') % 2:
        return _usage(tr('Close the quote around your phrase, e.g. `/labels find "connection refused"`.'))
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
                    return _usage(tr("Pick the channel from Slack's suggestions after `in`, e.g. `in #random`."))
                channel_id = match.group(1)
            else:
                match = re.fullmatch(r"(\d+)([hdw])", value.lower())
                if not match:
                    return _usage(
                        tr("Say how far back with hours, days or weeks, e.g. `since 24h`, `since 7d`, `since 2w`.")
                    )
                since_days = int(match.group(1)) * SINCE_UNITS[match.group(2)]
                if not 0 < since_days <= MAX_SINCE_DAYS:
                    return _usage(tr("`since` goes back at most %(days)s days.", days=MAX_SINCE_DAYS))
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
