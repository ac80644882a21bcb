"""The /labels slash command: answered ephemerally within the ack; a change is also announced in the channel.

The announcement is made by a lazy listener, after the ack. Bolt starts lazy listeners even when the ack function
raised, so the ack function hands over the line itself, and only once the change is saved: Bolt copies the
request's context for its lazy listeners after the ack function returns (process_before_response=True)."""

from __future__ import annotations

import logging
import time

from slack_bolt import App, BoltContext
from slack_sdk.errors import SlackApiError

from bot.i18n import N_, Words, words_for
from bot.labels_command import (
    CommandError,
    Find,
    SetMine,
    SetModerationChannel,
    ShowHelp,
    ShowMine,
    ShowStatus,
    ShowTags,
    ShowUsage,
    parse_command,
)
from bot.labels_help import help_text
from bot.permissions import DENIED, UNCHECKED
from bot.services import Services
from bot.settings import (
    ModerationNotices,
    announce_change,
    apply_change,
    check_change,
    confirm_change,
    describe_mine,
    describe_status,
    mine_line,
)
from bot.usage import usage_month
from bot.usage_report import describe_usage, previous_month

log = logging.getLogger(__name__)

ONLY_OWNERS = N_("Only workspace admins and owners can choose where held images' notices go.")

ANNOUNCEMENT = "labelbot_announcement"  # the context key of a saved change's channel line


def register(app: App, services: Services) -> None:
    def answer(ack, command: dict, context: BoltContext) -> None:
        text, announcement = handle_labels_command(command, services)
        if announcement is not None:
            context[ANNOUNCEMENT] = announcement
        ack(response_type="ephemeral", text=text)

    def announce(command: dict, context: BoltContext) -> None:
        """After the ack: one visible line in the channel, so everyone knows why the bot changed."""
        text = context.get(ANNOUNCEMENT)
        if not isinstance(text, str):
            return  # not a change, refused, or its save failed
        try:
            services.slack.chat_postMessage(channel=command["channel_id"], text=text)
        except SlackApiError as exc:  # e.g. not_in_channel: the change still holds
            log.info("could not announce a settings change in %s: %s", command["channel_id"], exc.response.get("error"))
        except OSError as exc:  # the connection failed; after it was sent, Slack may have posted it: not again
            log.warning("announcing a settings change in %s failed: %r", command["channel_id"], exc)

    app.command("/labels")(ack=answer, lazy=[announce])


def run_labels_command(command: dict, services: Services) -> str:
    """The ephemeral answer to a /labels command (a change is saved first)."""
    return handle_labels_command(command, services)[0]


def handle_labels_command(command: dict, services: Services) -> tuple[str, str | None]:
    """(the ephemeral answer, the channel line announcing the change or None). A change is saved before this
    returns; if saving fails it raises, and there is no line to announce."""
    channel_id, user_id = command.get("channel_id", ""), command.get("user_id", "")
    # To the person who typed it: in their language (one users.info a command at most, kept ten minutes, also
    # telling whether they are a workspace admin); the line announcing a change: in the channel's.
    person = services.people.person(user_id)
    tr = services.readers.of_person(person)
    parsed = parse_command(command.get("text") or "", tr)
    if isinstance(parsed, CommandError):
        return parsed.message + ("\n\n" + help_text(tr) if parsed.show_help else ""), None
    if isinstance(parsed, ShowHelp):
        return help_text(tr), None
    if isinstance(parsed, ShowTags):
        return services.emoji_map.describe(tr), None
    if isinstance(parsed, Find):
        return services.search.answer(parsed, channel_id=channel_id, user_id=user_id, tr=tr), None
    if isinstance(parsed, SetMine):
        services.stores.settings.set_user_labels_off(user_id, parsed.labels_off)
        return describe_mine(parsed.labels_off, changed=True, tr=tr), None  # about the user alone: not announced
    if isinstance(parsed, ShowMine):
        return describe_mine(services.stores.settings.user_labels_off(user_id), tr=tr), None
    overrides = services.stores.settings.get_overrides(channel_id)
    if isinstance(parsed, ShowUsage):
        return usage_answer(services, channel_id, user_id, tr), None
    if isinstance(parsed, ShowStatus):
        status = describe_status(
            overrides, services.defaults, moderation_notices(services), tr, text_engine=services.text_engine
        )
        return status + "\n" + mine_line(services.stores.settings.user_labels_off(user_id), tr), None
    if isinstance(parsed, SetModerationChannel):
        return set_moderation_channel(services, parsed, user_id, tr), None
    allowed = services.permission.decide_as(user_id, person)
    if not allowed:
        return tr(UNCHECKED if allowed is None else DENIED), None
    has_reviewers = bool(services.review.destinations)  # the moderation channel, or the admins' DMs
    problem = check_change(
        overrides,
        parsed,
        services.defaults,
        tr,
        has_reviewers=has_reviewers,
        per_install=services.config.many_workspaces,
    )
    if problem:
        return problem, None
    changed = apply_change(overrides, parsed, services.defaults)
    # Only what this command changed: someone else's change to another setting meanwhile stays.
    services.stores.settings.save_overrides(channel_id, changed, fields=changed.changed_fields(overrides))
    settings = changed.apply_to(services.defaults)
    return confirm_change(parsed, settings, tr), announce_change(
        parsed, settings, user_id, words_for(settings.language)
    )


def usage_answer(services: Services, channel_id: str, user_id: str, tr: Words) -> str:
    """Admins (LABELBOT_ADMINS, workspace admins and owners) see the whole workspace; everyone else this channel."""
    month = usage_month(time.time())
    admin = services.permission.may_review(user_id) is True
    scope = None if admin else channel_id
    usage = services.stores.usage
    this = usage.month_usage(month, channel_id=scope)
    last = usage.month_usage(previous_month(month), channel_id=scope)
    return describe_usage(
        this, last, services.config.prices_usd, channel_id=scope, limit=services.config.monthly_call_limit, tr=tr
    )


def set_moderation_channel(services: Services, parsed: SetModerationChannel, user_id: str, tr: Words) -> str:
    """/labels moderation channel #CHANNEL: with many workspaces, where this install's held images' notices go; set by
    one of its admins or owners."""
    if not services.config.many_workspaces:
        return tr(
            "This labelbot serves one workspace: its moderation channel is LABELBOT_MODERATION_CHANNEL in its "
            "configuration (or, without one, LABELBOT_ADMINS get the notices)."
        )
    allowed = services.permission.may_review(user_id)
    if not allowed:
        return tr(UNCHECKED) if allowed is None else tr(ONLY_OWNERS)
    services.stores.settings.set_moderation_channel(parsed.channel_id)
    if parsed.channel_id is None:
        return tr(
            "Held images' notices go nowhere now, so moderation can't be turned on in a channel. Choose a channel "
            "with `/labels moderation channel #channel`."
        )
    return tr(
        "Held images' notices now go to %(channel)s, where workspace admins and owners decide on them. Invite me "
        "there with `/invite @labelbot` if I'm not in it yet.",
        channel=f"<#{parsed.channel_id}>",
    )


def moderation_notices(services: Services) -> ModerationNotices:
    """Where held images' notices go, and whether the bot is in that channel: the answer remembered from start-up or
    the last status (younger than a minute), else one conversations.info call with a 2 s timeout."""
    config = services.config
    # With many workspaces, the install's own channel (/labels moderation channel): one read of its settings
    install_channel = next(iter(services.review.destinations), None) if config.many_workspaces else None
    return ModerationNotices(
        channel_id=install_channel if config.many_workspaces else config.moderation_channel,
        admins=bool(config.admins),
        channel_access=services.moderation_channel.access(),
        per_install=config.many_workspaces,
    )
