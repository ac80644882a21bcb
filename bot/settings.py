"""Pure: a channel's labelling settings and the /labels command grammar."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from typing import Literal

from bot.moderation import MODERATION_CATEGORIES, UnknownCategory, categories_named
from bot.mrkdwn import literal
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
class ChannelSettings:
    threshold: float
    max_labels: int
    enabled: bool = True
    tags: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # DetectModerationLabels before the labels (bot.moderation): off, at this threshold, these categories not counted
    moderation: bool = False
    moderation_threshold: float = 60.0
    moderation_ignored: tuple[str, ...] = ()
    # DetectText after the labels (bot.screen_text): "auto" (images with a text-bearing label), "on" or "off"
    text: str = "auto"


@dataclass(frozen=True)
class ChannelOverrides:
    """What a channel changed; None means 'use the workspace default'."""

    threshold: float | None = None
    max_labels: int | None = None
    enabled: bool | None = None
    tags: bool | None = None
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None
    moderation: bool | None = None
    moderation_threshold: float | None = None
    moderation_ignored: tuple[str, ...] | None = None
    text: str | None = None

    def changed_fields(self, before: ChannelOverrides) -> tuple[str, ...]:
        """The names of the fields whose value differs from before's: what a save of this change writes."""
        return tuple(name for name in self.__dataclass_fields__ if getattr(self, name) != getattr(before, name))

    def apply_to(self, defaults: ChannelSettings) -> ChannelSettings:
        return ChannelSettings(
            **{
                name: getattr(defaults, name) if getattr(self, name) is None else getattr(self, name)
                for name in ChannelSettings.__dataclass_fields__
            }
        )


# ---- where held images' notices go -----------------------------------------------------------------------

# Whether the bot can post in LABELBOT_MODERATION_CHANNEL, as conversations.info says (bot.conversations): "member",
# "not_member" (a channel it can see but isn't in) or "not_found" (a private channel it isn't in, or a wrong ID).
ChannelAccess = Literal["member", "not_member", "not_found"]


@dataclass(frozen=True)
class ModerationNotices:
    """Where the notices of held images go, from the configuration and what Slack said of the channel: the facts
    check_change and describe_status need, handed in so this module asks no one."""

    channel_id: str | None = None  # LABELBOT_MODERATION_CHANNEL
    admins: bool = False  # LABELBOT_ADMINS is set: without a channel, each of them gets the notice as a DM
    channel_access: ChannelAccess | None = None  # None: no channel, or Slack didn't say just now

    @property
    def has_reviewers(self) -> bool:
        return self.channel_id is not None or self.admins


# ---- commands --------------------------------------------------------------------------------------------


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
    | Reset
)
Command = Change | Find | ShowTags | ShowStatus | ShowUsage | ShowHelp | CommandError

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
    "find",
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
    "• `/labels find whiteboard in #design since 7d` — find labelled images (newest first) by their labels or "
    'the text in them; `/labels find "connection refused"` finds the exact phrase\n'
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
    if verb == "find":
        return _parse_find(rest)
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


def _parse_ignore(names: str) -> Command:
    usage = (
        "Name the moderation categories that don't count here, separated by commas, e.g. "
        "`/labels moderation ignore Alcohol, Swimwear or Underwear`, or `/labels moderation ignore none`. "
        f"Rekognition's categories are {_literal_list(MODERATION_CATEGORIES)}."
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


def apply_change(overrides: ChannelOverrides, change: Change, defaults: ChannelSettings) -> ChannelOverrides:
    if isinstance(change, Reset):
        return ChannelOverrides()
    if isinstance(change, SetEnabled):
        return replace(overrides, enabled=change.value)
    if isinstance(change, SetThreshold):
        return replace(overrides, threshold=change.value)
    if isinstance(change, SetMaxLabels):
        return replace(overrides, max_labels=change.value)
    if isinstance(change, SetTags):
        return replace(overrides, tags=change.value)
    if isinstance(change, SetModeration):
        return replace(overrides, moderation=change.value)
    if isinstance(change, SetModerationThreshold):
        return replace(overrides, moderation_threshold=change.value)
    if isinstance(change, IgnoreModerationCategories):
        return replace(overrides, moderation_ignored=change.categories)
    if isinstance(change, SetText):
        return replace(overrides, text=change.value)
    current = getattr(overrides.apply_to(defaults), change.kind)
    merged = () if not change.labels else _merge(current, change.labels)
    return replace(overrides, **{change.kind: merged})


NO_REVIEWERS = (
    "Moderation needs someone to review the images it holds, and no one is set up: whoever runs labelbot sets "
    "LABELBOT_MODERATION_CHANNEL to a channel ID the bot is in, or LABELBOT_ADMINS to the admins' user IDs (they get "
    "a DM). Nothing was changed."
)


def check_change(
    overrides: ChannelOverrides, change: Change, defaults: ChannelSettings, *, has_reviewers: bool
) -> str | None:
    """A reason the change can't apply (e.g. too many filter labels, or moderation on with no one to tell:
    has_reviewers says whether held images' notices can go anywhere), or None."""
    if isinstance(change, SetModeration) and change.value and not has_reviewers:
        return NO_REVIEWERS
    if isinstance(change, AddFilterLabels) and change.labels:
        merged = _merge(getattr(overrides.apply_to(defaults), change.kind), change.labels)
        if len(merged) > MAX_FILTER_LABELS:
            return (
                f"Rekognition takes at most {MAX_FILTER_LABELS} labels to {change.kind}; that would make {len(merged)}."
            )
    return None


def _merge(current: tuple[str, ...], added: tuple[str, ...]) -> tuple[str, ...]:
    known = {name.lower() for name in current}
    return current + tuple(name for name in added if name.lower() not in known)


def confirm_change(change: Change, settings: ChannelSettings) -> str:
    """The ephemeral answer to whoever made the change."""
    return f"Done: {_describe(change, settings)}."


def announce_change(change: Change, settings: ChannelSettings, user_id: str) -> str:
    """The one visible line that tells the channel why the bot changed."""
    return f"<@{user_id}> {_describe(change, settings)}."


def _describe(change: Change, settings: ChannelSettings) -> str:
    if isinstance(change, Reset):
        return "reset this channel's labelling settings to the defaults"
    if isinstance(change, SetEnabled):
        return "turned automatic image labelling " + ("on" if change.value else "off") + " in this channel"
    if isinstance(change, SetThreshold):
        return f"set the threshold to {format_percent(change.value)}"
    if isinstance(change, SetMaxLabels):
        return f"set the number of labels per image to at most {change.value}"
    if isinstance(change, SetTags):
        return "turned emoji tags " + ("on" if change.value else "off") + " in this channel"
    if isinstance(change, SetModeration):
        if change.value:
            return "turned moderation on in this channel: a flagged image waits for an admin's review instead of labels"
        return "turned moderation off in this channel"
    if isinstance(change, SetModerationThreshold):
        return f"set the moderation threshold to {format_percent(change.value)}"
    if isinstance(change, IgnoreModerationCategories):
        if not settings.moderation_ignored:
            return "set moderation to count every category"
        return f"set moderation to ignore {_literal_list(settings.moderation_ignored)}"
    if isinstance(change, SetText):
        return f"set text reading to {change.value}: {TEXT_READING[change.value]}"
    current = getattr(settings, change.kind)
    if not current:
        return f"cleared the list of labels to {change.kind}"
    return f"set the labels to {change.kind} to {_literal_list(current)}"


TEXT_READING = {
    "auto": "I read the text of screenshots, documents, signs and other images with text in them",
    "on": "I read the text in every image",
    "off": "I don't read text in images",
}


def describe_status(overrides: ChannelOverrides, defaults: ChannelSettings, notices: ModerationNotices) -> str:
    effective = overrides.apply_to(defaults)

    def origin(name: str) -> str:
        return "default" if getattr(overrides, name) is None else "set for this channel"

    def names(values: tuple[str, ...]) -> str:
        return _literal_list(values) if values else "none"

    return (
        "Labelling in this channel:\n"
        f"• automatic labelling {'on' if effective.enabled else 'off'} ({origin('enabled')})\n"
        f"• threshold {format_percent(effective.threshold)} ({origin('threshold')})\n"
        f"• at most {effective.max_labels} labels per image ({origin('max_labels')})\n"
        f"• emoji tags {'on' if effective.tags else 'off'} ({origin('tags')})\n"
        f"• only these labels: {names(effective.include)} ({origin('include')})\n"
        f"• never these labels: {names(effective.exclude)} ({origin('exclude')})\n"
        f"• text reading {effective.text} ({origin('text')})\n"
        f"• moderation {'on' if effective.moderation else 'off'} ({origin('moderation')})\n"
        f"• moderation threshold {format_percent(effective.moderation_threshold)} "
        f"({origin('moderation_threshold')})\n"
        f"• moderation ignores: {names(effective.moderation_ignored)} ({origin('moderation_ignored')})\n"
        + _describe_notices(notices)
    )


def _describe_notices(notices: ModerationNotices) -> str:
    """Where held images' notices go, and a warning when the bot can't post there."""
    if notices.channel_id is not None:
        line = f"• moderation notices go to <#{notices.channel_id}>"
        if notices.channel_access == "not_member":
            line += (
                f"\n:warning: I'm not a member of <#{notices.channel_id}> (LABELBOT_MODERATION_CHANNEL), so the "
                "notices of held images can't be posted there: invite me with `/invite @labelbot` in that channel."
            )
        elif notices.channel_access == "not_found":
            line += (
                f"\n:warning: I can't see <#{notices.channel_id}> (LABELBOT_MODERATION_CHANNEL), so the notices "
                "of held images can't be posted there: invite me if it is a private channel "
                "(`/invite @labelbot` in it), or ask whoever runs labelbot to check the channel ID."
            )
        return line
    if notices.admins:
        return "• moderation notices go as DMs to the admins (LABELBOT_ADMINS)"
    return (
        "• moderation notices: nowhere yet, so moderation can't be turned on "
        "(it needs LABELBOT_MODERATION_CHANNEL or LABELBOT_ADMINS)"
    )


def format_percent(value: float) -> str:
    return f"{value:.1f}%" if value % 1 else f"{value:.0f}%"


def _literal_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{literal(value)}`" for value in values)
