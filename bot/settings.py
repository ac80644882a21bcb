"""Pure: a channel's labelling settings and the /labels command grammar."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace

from bot.mrkdwn import literal

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
class Reset:
    pass


@dataclass(frozen=True)
class Find:
    words: str
    channel_id: str | None = None  # None: the channel the command was run in
    since_days: float | None = None


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
class CommandError:
    message: str
    show_help: bool = field(default=False)


Change = SetEnabled | SetThreshold | SetMaxLabels | SetTags | AddFilterLabels | Reset
Command = Change | Find | ShowTags | ShowStatus | ShowHelp | CommandError

VERBS = ("on", "off", "threshold", "max", "tags", "include", "exclude", "find", "status", "reset", "help")

HELP_TEXT = (
    "*/labels* tunes how I label images in this channel:\n"
    "• `/labels on` / `/labels off` — label new images here automatically, or not\n"
    "• `/labels threshold 90` — only show labels I am at least 90% sure of "
    f"({THRESHOLD_RANGE[0]:g}–{THRESHOLD_RANGE[1]:g}, as Rekognition's MinConfidence)\n"
    f"• `/labels max 3` — show at most 3 labels per image ({MAX_LABELS_RANGE[0]}–{MAX_LABELS_RANGE[1]})\n"
    "• `/labels tags on` — add emoji reactions for what is in each image (`/labels tags` shows the map)\n"
    "• `/labels include Dog, Cat` — only ever show these labels (`/labels include clear` to undo)\n"
    "• `/labels exclude Person` — never show these labels (`/labels exclude clear` to undo)\n"
    "• `/labels find whiteboard in #design since 7d` — find labelled images (newest first)\n"
    "• `/labels status` — this channel's settings\n"
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
    if verb in ("on", "off", "status", "reset") and args:
        return _usage(f"`/labels {verb}` takes nothing after it.")
    if verb in ("on", "off"):
        return SetEnabled(verb == "on")
    if verb == "status":
        return ShowStatus()
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
    if verb == "find":
        return _parse_find(args)
    guess = difflib.get_close_matches(verb, VERBS, n=1, cutoff=0.6)
    hint = f" Did you mean `/labels {guess[0]}`?" if guess else ""
    return CommandError(f"I don't know `{literal(words[0])}`.{hint}", show_help=True)


def _usage(message: str) -> CommandError:
    return CommandError(message)


def _parse_threshold(args: list[str]) -> Command:
    low, high = THRESHOLD_RANGE
    usage = f"The threshold is a percentage from {low:g} to {high:g}, e.g. `/labels threshold 90`."
    if len(args) != 1:
        return _usage(usage)
    try:
        value = float(args[0].rstrip("%"))
    except ValueError:
        return _usage(usage)
    if not low <= value <= high:
        return _usage(usage)
    return SetThreshold(round(value, 1))


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


def _parse_find(args: list[str]) -> Command:
    usage = "Search like this: `/labels find whiteboard`, `/labels find dog in #random since 7d`."
    words: list[str] = []
    channel_id = since_days = None
    index = 0
    while index < len(args):
        word = args[index]
        if word.lower() in ("in", "since") and index + 1 < len(args):
            value = args[index + 1]
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
            index += 2
            continue
        words.append(word)
        index += 1
    if not words:
        return _usage(usage)
    return Find(" ".join(words), channel_id, since_days)


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
    current = getattr(overrides.apply_to(defaults), change.kind)
    merged = () if not change.labels else _merge(current, change.labels)
    return replace(overrides, **{change.kind: merged})


def check_change(overrides: ChannelOverrides, change: Change, defaults: ChannelSettings) -> str | None:
    """A reason the change can't apply (e.g. too many filter labels), or None."""
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
    current = getattr(settings, change.kind)
    if not current:
        return f"cleared the list of labels to {change.kind}"
    return f"set the labels to {change.kind} to {_literal_list(current)}"


def describe_status(overrides: ChannelOverrides, defaults: ChannelSettings) -> str:
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
        f"• never these labels: {names(effective.exclude)} ({origin('exclude')})"
    )


def format_percent(value: float) -> str:
    return f"{value:.1f}%" if value % 1 else f"{value:.0f}%"


def _literal_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"`{literal(value)}`" for value in values)
