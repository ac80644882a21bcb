"""Pure: a channel's labelling settings and the /labels command grammar."""

from __future__ import annotations

from dataclasses import dataclass, replace

# Rekognition's MinConfidence accepts 0-100; more than 20 labels no longer reads as a short answer.
THRESHOLD_RANGE = (0.0, 100.0)
MAX_LABELS_RANGE = (1, 20)


@dataclass(frozen=True)
class ChannelSettings:
    threshold: float
    max_labels: int


@dataclass(frozen=True)
class ChannelOverrides:
    """What a channel changed; None means 'use the workspace default'."""

    threshold: float | None = None
    max_labels: int | None = None

    def apply_to(self, defaults: ChannelSettings) -> ChannelSettings:
        return ChannelSettings(
            threshold=defaults.threshold if self.threshold is None else self.threshold,
            max_labels=defaults.max_labels if self.max_labels is None else self.max_labels,
        )


@dataclass(frozen=True)
class SetThreshold:
    value: float


@dataclass(frozen=True)
class SetMaxLabels:
    value: int


@dataclass(frozen=True)
class ShowStatus:
    pass


@dataclass(frozen=True)
class ShowHelp:
    pass


@dataclass(frozen=True)
class CommandError:
    message: str


Command = SetThreshold | SetMaxLabels | ShowStatus | ShowHelp | CommandError

HELP_TEXT = (
    "*/labels* tunes how I label images in this channel:\n"
    "• `/labels threshold 90` — only show labels I am at least 90% sure of "
    f"({THRESHOLD_RANGE[0]:g}–{THRESHOLD_RANGE[1]:g})\n"
    f"• `/labels max 3` — show at most 3 labels per image ({MAX_LABELS_RANGE[0]}–{MAX_LABELS_RANGE[1]})\n"
    "• `/labels status` — this channel's settings\n"
    "• `/labels help` — this list"
)


def parse_command(text: str) -> Command:
    words = text.strip().split()
    if not words or words[0].lower() == "help":
        return ShowHelp()
    verb, args = words[0].lower(), words[1:]
    if verb == "status":
        return ShowStatus()
    if verb == "threshold":
        return _parse_threshold(args)
    if verb == "max":
        return _parse_max(args)
    return CommandError(f"I don't know `{_literal(words[0])}`.\n{HELP_TEXT}")


def _parse_threshold(args: list[str]) -> Command:
    low, high = THRESHOLD_RANGE
    usage = f"The threshold is a percentage from {low:g} to {high:g}, e.g. `/labels threshold 90`."
    if len(args) != 1:
        return CommandError(usage)
    try:
        value = float(args[0].rstrip("%"))
    except ValueError:
        return CommandError(usage)
    if not low <= value <= high:
        return CommandError(usage)
    return SetThreshold(round(value, 1))


def _parse_max(args: list[str]) -> Command:
    low, high = MAX_LABELS_RANGE
    usage = f"The maximum is a whole number of labels from {low} to {high}, e.g. `/labels max 3`."
    if len(args) != 1 or not args[0].isdigit():
        return CommandError(usage)
    value = int(args[0])
    if not low <= value <= high:
        return CommandError(usage)
    return SetMaxLabels(value)


def apply_command(overrides: ChannelOverrides, command: SetThreshold | SetMaxLabels) -> ChannelOverrides:
    if isinstance(command, SetThreshold):
        return replace(overrides, threshold=command.value)
    return replace(overrides, max_labels=command.value)


def describe_status(overrides: ChannelOverrides, defaults: ChannelSettings) -> str:
    effective = overrides.apply_to(defaults)

    def origin(value: object) -> str:
        return "default" if value is None else "set for this channel"

    return (
        "Labelling in this channel:\n"
        f"• threshold {format_percent(effective.threshold)} ({origin(overrides.threshold)})\n"
        f"• at most {effective.max_labels} labels per image ({origin(overrides.max_labels)})"
    )


def format_percent(value: float) -> str:
    return f"{value:.1f}%" if value % 1 else f"{value:.0f}%"


def _literal(word: str) -> str:
    """Show user text literally inside inline code: no mrkdwn, mentions or backticks of theirs."""
    return word.replace("`", "'").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")[:40]
