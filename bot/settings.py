"""Pure: a channel's labelling settings, how a /labels change applies to them, and how they are described."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from bot.i18n import ENGLISH, LANGUAGES, N_, Words
from bot.labels_command import (
    MAX_FILTER_LABELS,
    AddFilterLabels,
    Change,
    IgnoreModerationCategories,
    Reset,
    SetEnabled,
    SetLanguage,
    SetMaxLabels,
    SetModeration,
    SetModerationThreshold,
    SetTags,
    SetText,
    SetThreshold,
)
from bot.mrkdwn import literal_list
from bot.screen_text import text_engine_for


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
    # The language of what goes to the channel (replies, change lines, Show where captions): bot.i18n.LANGUAGES
    language: str = "en"
    # For one image, not a channel: its poster opted out (/labels me off, or #nolabel in the message). No labels and
    # no text are asked for; moderation, where it is on, still is.
    poster_opted_out: bool = False


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
    language: str | None = None

    def changed_fields(self, before: ChannelOverrides) -> tuple[str, ...]:
        """The names of the fields whose value differs from before's: what a save of this change writes."""
        return tuple(name for name in self.__dataclass_fields__ if getattr(self, name) != getattr(before, name))

    def apply_to(self, defaults: ChannelSettings) -> ChannelSettings:
        return replace(
            defaults,
            **{name: getattr(self, name) for name in self.__dataclass_fields__ if getattr(self, name) is not None},
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
    per_install: bool = False  # many workspaces: the channel is the install's, set with /labels moderation channel

    @property
    def has_reviewers(self) -> bool:
        return self.channel_id is not None or self.admins


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
    if isinstance(change, SetLanguage):
        return replace(overrides, language=change.value)
    current = getattr(overrides.apply_to(defaults), change.kind)
    merged = () if not change.labels else _merge(current, change.labels)
    return replace(overrides, **{change.kind: merged})


NO_REVIEWERS = N_(
    "Moderation needs someone to review the images it holds, and no one is set up: whoever runs labelbot sets "
    "LABELBOT_MODERATION_CHANNEL to a channel ID the bot is in, or LABELBOT_ADMINS to the admins' user IDs (they get "
    "a DM). Nothing was changed."
)
NO_INSTALL_REVIEWERS = N_(
    "Moderation needs someone to review the images it holds, and no channel is set for them: a workspace admin or "
    "owner chooses one with `/labels moderation channel #channel`. Nothing was changed."
)
TOO_MANY_FILTER_LABELS = {
    "include": N_("Rekognition takes at most %(limit)s labels to include; that would make %(count)s."),
    "exclude": N_("Rekognition takes at most %(limit)s labels to exclude; that would make %(count)s."),
}


def check_change(
    overrides: ChannelOverrides,
    change: Change,
    defaults: ChannelSettings,
    tr: Words,
    *,
    has_reviewers: bool,
    per_install: bool = False,
) -> str | None:
    """A reason the change can't apply (e.g. too many filter labels, or moderation on with no one to tell:
    has_reviewers says whether held images' notices can go anywhere; per_install, that the install chooses where
    with /labels moderation channel), in tr's language, or None."""
    if isinstance(change, SetModeration) and change.value and not has_reviewers:
        return tr(NO_INSTALL_REVIEWERS if per_install else NO_REVIEWERS)
    if isinstance(change, AddFilterLabels) and change.labels:
        merged = _merge(getattr(overrides.apply_to(defaults), change.kind), change.labels)
        if len(merged) > MAX_FILTER_LABELS:
            return tr(TOO_MANY_FILTER_LABELS[change.kind], limit=MAX_FILTER_LABELS, count=len(merged))
    return None


def _merge(current: tuple[str, ...], added: tuple[str, ...]) -> tuple[str, ...]:
    known = {name.lower() for name in current}
    return current + tuple(name for name in added if name.lower() not in known)


def confirm_change(change: Change, settings: ChannelSettings, tr: Words) -> str:
    """The ephemeral answer to whoever made the change."""
    return tr("Done: %(change)s.", change=_describe(change, settings, tr))


def announce_change(change: Change, settings: ChannelSettings, user_id: str, tr: Words) -> str:
    """The one visible line that tells the channel why the bot changed."""
    return tr("<@%(user)s> %(change)s.", user=user_id, change=_describe(change, settings, tr))


# A change, as the end of "Done: …" and of "<@user> …": what was done, in the past tense.
TURNED = {
    SetEnabled: (
        N_("turned automatic image labelling on in this channel"),
        N_("turned automatic image labelling off in this channel"),
    ),
    SetTags: (N_("turned emoji tags on in this channel"), N_("turned emoji tags off in this channel")),
    SetModeration: (
        N_("turned moderation on in this channel: a flagged image waits for an admin's review instead of labels"),
        N_("turned moderation off in this channel"),
    ),
}
FILTER_CLEARED = {
    "include": N_("cleared the list of labels to include"),
    "exclude": N_("cleared the list of labels to exclude"),
}
FILTER_SET = {
    "include": N_("set the labels to include to %(labels)s"),
    "exclude": N_("set the labels to exclude to %(labels)s"),
}


def _describe(change: Change, settings: ChannelSettings, tr: Words) -> str:
    if isinstance(change, Reset):
        return tr("reset this channel's labelling settings to the defaults")
    if isinstance(change, SetEnabled | SetTags | SetModeration):
        on, off = TURNED[type(change)]
        return tr(on if change.value else off)
    if isinstance(change, SetThreshold):
        return tr("set the threshold to %(threshold)s", threshold=tr.percent(change.value))
    if isinstance(change, SetMaxLabels):
        return tr("set the number of labels per image to at most %(count)s", count=change.value)
    if isinstance(change, SetModerationThreshold):
        return tr("set the moderation threshold to %(threshold)s", threshold=tr.percent(change.value))
    if isinstance(change, IgnoreModerationCategories):
        if not settings.moderation_ignored:
            return tr("set moderation to count every category")
        return tr("set moderation to ignore %(categories)s", categories=literal_list(settings.moderation_ignored))
    if isinstance(change, SetText):
        return tr(
            "set text reading to %(mode)s: %(meaning)s", mode=change.value, meaning=tr(TEXT_READING[change.value])
        )
    if isinstance(change, SetLanguage):
        if change.value is None:
            return tr(
                "set this channel's language back to the workspace's: %(language)s",
                language=LANGUAGES[settings.language],
            )
        return tr("set this channel's language to %(language)s", language=LANGUAGES[change.value])
    current = getattr(settings, change.kind)
    if not current:
        return tr(FILTER_CLEARED[change.kind])
    return tr(FILTER_SET[change.kind], labels=literal_list(current))


TEXT_READING = {
    "auto": N_("I read the text of screenshots, documents, signs and other images with text in them"),
    "on": N_("I read the text in every image"),
    "off": N_("I don't read text in images"),
}


def describe_mine(labels_off: bool, *, changed: bool = False, tr: Words = ENGLISH) -> str:
    """The answer to /labels me (changed: to /labels me on|off, just saved)."""
    if labels_off:
        if changed:
            return tr(
                "Done: from now on, I don't label, read or index the images you post, in any channel (no reply, "
                "emoji tags or search entry). Where an admin turned moderation on, your images are still checked and "
                "held like anyone's. `/labels me on` undoes this."
            )
        return tr(
            "You opted out: I don't label, read or index the images you post, in any channel (no reply, emoji tags "
            "or search entry). Where an admin turned moderation on, your images are still checked and held like "
            "anyone's. `/labels me on` undoes this."
        )
    if changed:
        return tr(
            "Done: I label the images you post again, wherever labelling is on. `/labels me off` stops that for all "
            "of them; `#nolabel` in a message, for that message alone."
        )
    return tr(
        "I label the images you post wherever labelling is on. `/labels me off` stops that for all of them; "
        "`#nolabel` in a message, for that message alone."
    )


def mine_line(labels_off: bool, tr: Words = ENGLISH) -> str:
    """The /labels status line about the user's own images."""
    if labels_off:
        return tr("• your own images: not labelled (`/labels me off`; moderation still applies)")
    return tr("• your own images: labelled (`/labels me off` to opt out)")


def describe_status(
    overrides: ChannelOverrides,
    defaults: ChannelSettings,
    notices: ModerationNotices,
    tr: Words = ENGLISH,
    *,
    text_engine: str = "rekognition",
) -> str:
    """text_engine: LABELBOT_TEXT_ENGINE as it works (auto, rekognition or local): the line says who reads here."""
    effective = overrides.apply_to(defaults)
    if text_engine_for(text_engine, effective.language) == "local":
        reader = tr(
            "• text read by labelbot itself, Japanese included (LABELBOT_TEXT_ENGINE %(engine)s)", engine=text_engine
        )
    else:
        reader = tr(
            "• text read by Amazon Rekognition, Latin script only (LABELBOT_TEXT_ENGINE %(engine)s)", engine=text_engine
        )

    def line(message: str, name: str, **values: object) -> str:
        origin = tr("default") if getattr(overrides, name) is None else tr("set for this channel")
        return tr(message, **values, origin=origin)

    def names(values: tuple[str, ...]) -> str:
        return literal_list(values) if values else tr("none")

    lines = [
        tr("Labelling in this channel:"),
        line(
            N_("• automatic labelling on (%(origin)s)")
            if effective.enabled
            else N_("• automatic labelling off (%(origin)s)"),
            "enabled",
        ),
        line(N_("• threshold %(threshold)s (%(origin)s)"), "threshold", threshold=tr.percent(effective.threshold)),
        line(N_("• at most %(count)s labels per image (%(origin)s)"), "max_labels", count=effective.max_labels),
        line(N_("• emoji tags on (%(origin)s)") if effective.tags else N_("• emoji tags off (%(origin)s)"), "tags"),
        line(N_("• only these labels: %(labels)s (%(origin)s)"), "include", labels=names(effective.include)),
        line(N_("• never these labels: %(labels)s (%(origin)s)"), "exclude", labels=names(effective.exclude)),
        line(N_("• text reading %(mode)s (%(origin)s)"), "text", mode=effective.text),
        reader,
        line(N_("• language %(language)s (%(origin)s)"), "language", language=LANGUAGES[effective.language]),
        line(
            N_("• moderation on (%(origin)s)") if effective.moderation else N_("• moderation off (%(origin)s)"),
            "moderation",
        ),
        line(
            N_("• moderation threshold %(threshold)s (%(origin)s)"),
            "moderation_threshold",
            threshold=tr.percent(effective.moderation_threshold),
        ),
        line(
            N_("• moderation ignores: %(categories)s (%(origin)s)"),
            "moderation_ignored",
            categories=names(effective.moderation_ignored),
        ),
        _describe_notices(notices, tr),
    ]
    return "\n".join(lines)


def _describe_notices(notices: ModerationNotices, tr: Words) -> str:
    """Where held images' notices go, and a warning when the bot can't post there."""
    if notices.channel_id is not None:
        channel = "<#" + notices.channel_id + ">"
        line = tr("• moderation notices go to %(channel)s", channel=channel)
        if notices.channel_access == "not_member":
            line += "\n" + tr(
                ":warning: I'm not a member of %(channel)s (LABELBOT_MODERATION_CHANNEL), so the notices of held "
                "images can't be posted there: invite me with `/invite @labelbot` in that channel.",
                channel=channel,
            )
        elif notices.channel_access == "not_found":
            line += "\n" + tr(
                ":warning: I can't see %(channel)s (LABELBOT_MODERATION_CHANNEL), so the notices of held images "
                "can't be posted there: invite me if it is a private channel (`/invite @labelbot` in it), or ask "
                "whoever runs labelbot to check the channel ID.",
                channel=channel,
            )
        return line
    if notices.admins:
        return tr("• moderation notices go as DMs to the admins (LABELBOT_ADMINS)")
    if notices.per_install:
        return tr(
            "• moderation notices: nowhere yet, so moderation can't be turned on (a workspace admin or owner chooses "
            "a channel with `/labels moderation channel #channel`)"
        )
    return tr(
        "• moderation notices: nowhere yet, so moderation can't be turned on (it needs LABELBOT_MODERATION_CHANNEL "
        "or LABELBOT_ADMINS)"
    )
