"""app_home_opened: acked at once; then (lazily) the Home tab is gathered and published for whoever opened it.

Everyone sees the same tab, so it covers only the public channels the bot is in: their settings, and the counts,
top labels and problems of their images. Nothing of private channels or conversations, but for this month's usage:
the whole workspace's totals, which name no channel."""

from __future__ import annotations

import logging
import time

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.home import MAX_HELD, RECENT_ERRORS, SUMMARY_DAYS, TOP_LABELS, HomeChannel, build_home_view
from bot.i18n import Sentence
from bot.pricing import month_cost
from bot.services import Services
from bot.store.protocols import MonthUsage
from bot.usage import usage_month

log = logging.getLogger(__name__)

CHANNEL_PAGE_SIZE = 200
MAX_CHANNEL_PAGES = 5  # at most 1,000 channels: users.conversations is Tier 3, and the tab shows fewer anyway


def register(app: App, services: Services) -> None:
    def ack_event(ack) -> None:
        ack()

    def publish(event: dict) -> None:
        if event.get("tab") != "home" or not isinstance(event.get("user"), str):
            return  # the Messages tab
        publish_home(services, event["user"])

    app.event("app_home_opened")(ack=ack_event, lazy=[publish])


def publish_home(services: Services, user_id: str) -> None:
    channels, problem = member_channels(services)
    settings = services.settings_for  # the channel's overrides over the workspace defaults
    home = [HomeChannel(c["id"], str(c.get("name") or ""), settings(c["id"])) for c in channels]
    public = {c["id"] for c in channels}  # public now: a channel made private drops out
    since = time.time() - SUMMARY_DAYS * 86400
    summary = services.stores.summary.labelling_summary(
        since, top_labels=TOP_LABELS, recent_errors=RECENT_ERRORS, channel_ids=public
    )
    held = services.stores.moderation.held_since(since, channel_ids=public, limit=MAX_HELD)
    month = month_usage(services)
    tr = services.readers.of_user(user_id)  # the viewer's language (users.info, kept ten minutes)
    view = build_home_view(
        home,
        summary,
        services.defaults,
        channels_problem=tr.said(problem) if problem else None,
        held=held,
        moderation_shown=services.defaults.moderation or any(c.settings.moderation for c in home),
        reviewer=bool(held) and services.permission.may_review(user_id) is True,
        tr=tr,
        workspace_url=services.search.workspace_url(),
        month=month,
        month_cost_usd=month_cost(month, services.config.prices_usd) if month is not None else 0.0,
        call_limit=services.config.monthly_call_limit,
        month_unavailable=month is None,
    )
    try:
        services.slack.views_publish(user_id=user_id, view=view)
    except SlackApiError as exc:
        log.warning("publishing the Home tab for %s failed: %s", user_id, exc.response.get("error"))


def month_usage(services: Services) -> MonthUsage | None:
    """This UTC month's workspace-wide usage, or None (logged) when the store can't say: the tab publishes without."""
    try:
        return services.stores.usage.month_usage(usage_month(time.time()), busiest=0)  # the tab names no channel
    except Exception:
        log.exception("reading this month's usage for the Home tab failed")
        return None


def member_channels(services: Services) -> tuple[list[dict], Sentence | None]:
    """The public channels the bot is in (users.conversations, paginated), and any problem listing them."""
    channels: list[dict] = []
    cursor = None
    for _ in range(MAX_CHANNEL_PAGES):
        try:
            response = services.slack.users_conversations(
                types="public_channel", exclude_archived=True, limit=CHANNEL_PAGE_SIZE, cursor=cursor
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            log.warning("listing the bot's channels for the Home tab failed: %s", error)
            if error == "missing_scope":
                return channels, Sentence(
                    "I couldn't list all my channels: Slack said `%(error)s` (the app needs the `channels:read` "
                    "scope).",
                    error=error,
                )
            return channels, Sentence("I couldn't list all my channels: Slack said `%(error)s`.", error=error)
        channels += [
            c
            for c in response.get("channels") or []
            if isinstance(c, dict) and isinstance(c.get("id"), str) and not c.get("is_private")
        ]
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return channels, None
    return channels, Sentence("Showing my first %(count)s channels.", count=f"{len(channels):,}")
