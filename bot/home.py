"""Pure: the App Home tab. The public channels the bot is in with their settings, the last days' labelling there
(how many images, the top labels) and the latest problems, within Block Kit's limits whatever the numbers.

Every user who opens the tab sees the same view, so it is given only what any member of the workspace may see:
public channels. Private channels, DMs and their images, labels and file names never reach it. Two exceptions: of the
week's images moderation held (in public channels too), admins also see who posted each and what was found; and this
month's usage is the whole workspace's totals (images by outcome, Rekognition calls, estimated cost), counts that name
no channel (so not the busiest channels, which may be private)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.i18n import ENGLISH, N_, Words
from bot.moderation_notice import VERDICTS, describe_categories
from bot.mrkdwn import clip, escape, pack_lines, slack_date
from bot.settings import ChannelSettings
from bot.store import HeldImage, LabellingSummary
from bot.store.protocols import MonthUsage
from bot.usage_report import limit_used, month_name

# Block Kit's limits for a Home tab view.
MAX_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_TEXT = 2000

SUMMARY_DAYS = 7
TOP_LABELS = 10
RECENT_ERRORS = 10
# What the tab shows at most; the rest is "…and N more". Keeps the view far below MAX_BLOCKS.
MAX_CHANNEL_BLOCKS = 30
MAX_ERROR_BLOCKS = 10
MAX_HELD_BLOCKS = 10
MAX_HELD = 50  # held images listed at most (store.moderation.held_since's limit)
MAX_FILTER_NAMES = 5
MAX_LINE = 600
MAX_REASON = 200
MAX_FILE_NAME = 80

_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+", re.IGNORECASE)
_TOKEN = re.compile(r"\b(?:xox[a-z]|xapp)-[A-Za-z0-9-]+|\bA(?:KIA|SIA)[A-Z0-9]{12,}\b")


@dataclass(frozen=True)
class HomeChannel:
    channel_id: str
    name: str
    settings: ChannelSettings


def build_home_view(
    channels: list[HomeChannel],
    summary: LabellingSummary,
    defaults: ChannelSettings,
    *,
    days: int = SUMMARY_DAYS,
    channels_problem: str | None = None,
    held: Sequence[HeldImage] = (),
    moderation_shown: bool = False,
    reviewer: bool = False,
    workspace_url: str | None = None,
    now: float | None = None,
    month: MonthUsage | None = None,
    month_cost_usd: float = 0.0,
    call_limit: int | None = None,
    month_unavailable: bool = False,
    tr: Words = ENGLISH,
) -> dict:
    """The `home` view for views.publish. `channels_problem`: why the channel list is missing or incomplete.
    `held`: the week's held images in those channels, listed when `moderation_shown` (moderation is on somewhere)
    or any was held; `reviewer`: the viewer may decide on them, and also sees who posted each and what was found.
    `month`: this UTC month's workspace-wide usage (its busiest channels are never shown), `month_cost_usd` its
    estimated cost and `call_limit` LABELBOT_MONTHLY_CALL_LIMIT; `month_unavailable`: reading it failed. In tr's
    language (the viewer's)."""
    now = time.time() if now is None else now
    blocks: list[dict] = [
        _header("labelbot"),
        _context(
            tr(
                "I label the images posted in my channels, in each image's thread. Updated %(date)s. Tune a channel "
                "with `/labels` there; message menu → *Label this image* labels any message on request. This tab "
                "covers public channels only, apart from the month's workspace-wide totals: private channels and "
                "conversations stay private.",
                date=slack_date(now),
            )
        ),
        {"type": "divider"},
        _header(tr.plural("Last %(count)s day in public channels", "Last %(count)s days in public channels", days)),
        {
            "type": "section",
            "fields": [
                _figure(tr("Images labelled"), tr.number(summary.images_labelled)),
                _figure(tr(FAILED), tr.number(summary.images_failed)),
            ],
        },
        _section(
            tr(
                "*Top labels:* %(labels)s",
                labels=" · ".join(
                    f"{escape(tr.label(name))} ({tr.number(count)})" for name, count in summary.top_labels
                )
                or tr("none yet"),
            )
        ),
        *_month_blocks(month, month_cost_usd, call_limit, month_unavailable, tr),
        {"type": "divider"},
        _header(tr("Public channels I'm in (%(count)s)", count=tr.number(len(channels)))),
    ]
    if channels_problem:
        blocks.append(_context(channels_problem))
    if channels:
        lines = [
            _channel_line(channel, tr) for channel in sorted(channels, key=lambda c: (c.name.lower(), c.channel_id))
        ]
        blocks += _packed_sections(
            lines,
            MAX_CHANNEL_BLOCKS,
            lambda count: tr.plural("…and %(count)s more channel.", "…and %(count)s more channels.", count),
        )
    elif not channels_problem:
        blocks.append(_section(tr("I'm in no public channel yet: `/invite @labelbot` in one, then post a photo.")))
    blocks.append(
        _context(
            tr(
                "Defaults: automatic labelling %(enabled)s · threshold %(threshold)s · at most %(max)s labels · "
                "emoji tags %(tags)s",
                enabled=_on_off(defaults.enabled, tr),
                threshold=tr.percent(defaults.threshold),
                max=defaults.max_labels,
                tags=_on_off(defaults.tags, tr),
            )
        )
    )
    if moderation_shown or held:
        blocks += [
            {"type": "divider"},
            _header(tr.plural("Held for review (last %(count)s day)", "Held for review (last %(count)s days)", days)),
        ]
        if held:
            lines = [_held_line(image, reviewer, workspace_url, tr) for image in held]
            blocks += _packed_sections(
                lines,
                MAX_HELD_BLOCKS,
                lambda count: tr.plural("…and %(count)s more held image.", "…and %(count)s more held images.", count),
            )
            if not reviewer:
                blocks.append(_context(tr("Admins decide from the notice I sent them; only they see what was found.")))
        else:
            blocks.append(_section(tr("None: no image was held for review.")))
    blocks += [
        {"type": "divider"},
        _header(tr.plural("Latest problems (last %(count)s day)", "Latest problems (last %(count)s days)", days)),
    ]
    if summary.recent_errors:
        unnamed = tr("image")
        lines = [
            f"{slack_date(e.finished_at)} · <#{e.channel_id}> · "
            f"*{escape(clip(e.file_name or unnamed, MAX_FILE_NAME))}* — {short_reason(e.reason, tr)}"
            for e in summary.recent_errors
        ]
        blocks += _packed_sections(
            lines,
            MAX_ERROR_BLOCKS,
            lambda count: tr.plural("…and %(count)s more problem.", "…and %(count)s more problems.", count),
        )
    else:
        blocks.append(_section(tr("None.")))
    return {"type": "home", "blocks": blocks[:MAX_BLOCKS]}


FAILED = N_("Couldn't label")


def _month_blocks(
    month: MonthUsage | None, cost_usd: float, call_limit: int | None, unavailable: bool, tr: Words
) -> list[dict]:
    """This month's usage: workspace-wide counts only, no channel (the busiest ones may be private)."""
    if month is None:
        if not unavailable:
            return []
        return [
            _header(tr("This month, whole workspace")),
            _section(tr("I couldn't read this month's usage just now: open this tab again in a while.")),
        ]
    images = month.images
    figures = [
        (tr("Images seen"), tr.number(images["seen"])),
        (tr("Labelled"), tr.number(images["labelled"])),
        (tr("Held for review"), tr.number(images["held"])),
        (tr(FAILED), tr.number(images["failed"])),
        (tr("Not sent: monthly cap"), tr.number(images["limited"])),
        (tr("Answered from the cache"), tr.number(images["cache_hits"])),
        (tr("Rekognition calls"), tr.number(month.total_calls)),
        (tr("Estimated cost"), f"${cost_usd:,.2f}"),
        (tr("Monthly cap"), _cap(month.total_calls, call_limit, tr)),
    ]
    return [
        _header(tr("%(month)s so far, whole workspace", month=month_name(month.month, tr))),
        {"type": "section", "fields": [_figure(name, value) for name, value in figures]},
        _context(
            tr(
                "Every channel and conversation together, by UTC calendar month; no channel is named here. The cost is "
                "estimated from the calls at the configured prices. `/labels usage` has the detail."
            )
        ),
    ]


def _cap(calls: int, limit: int | None, tr: Words) -> str:
    return tr("No monthly cap on Rekognition calls.") if limit is None else limit_used(calls, limit, tr)


def short_reason(reason: str | None, tr: Words = ENGLISH) -> str:
    """An error's user-facing reason in tr's language, one line, with no link or anything that looks like a token or
    key."""
    reason = _TOKEN.sub("[redacted]", _URL.sub("[link]", tr.said(reason) if reason else ""))
    return escape(clip(" ".join(reason.split()), MAX_REASON)) or tr("unknown")


def _channel_line(channel: HomeChannel, tr: Words) -> str:
    s = channel.settings
    name = escape(channel.name) if channel.name else ""
    parts = [
        f"<#{channel.channel_id}|{name}>" if name else f"<#{channel.channel_id}>",
        f"*{_on_off(s.enabled, tr)}*",
        tr("threshold %(threshold)s", threshold=tr.percent(s.threshold)),
        tr("max %(max)s", max=s.max_labels),
        tr("tags %(tags)s", tags=_on_off(s.tags, tr)),
    ]
    if s.include:
        parts.append(tr("only %(labels)s", labels=_names(s.include, tr)))
    if s.exclude:
        parts.append(tr("never %(labels)s", labels=_names(s.exclude, tr)))
    return clip(" · ".join(parts), MAX_LINE)


def _held_line(image: HeldImage, reviewer: bool, workspace_url: str | None, tr: Words) -> str:
    link = f"{workspace_url}archives/{image.channel_id}/p{image.message_ts.replace('.', '')}" if workspace_url else None
    if image.decision is None:
        state = tr("waiting for an admin")
    else:
        state = f"*{tr(VERDICTS[image.decision])}* (<@{image.decided_by}>)"
    parts = [slack_date(image.held_at, link), f"<#{image.channel_id}>", state]
    if reviewer:
        parts += [tr("posted by %(user)s", user=f"<@{image.user_id}>"), describe_categories(image.categories, tr)]
    return clip(" · ".join(parts), MAX_LINE)


def _names(values: tuple[str, ...], tr: Words) -> str:
    shown = tr.join(escape(value) for value in values[:MAX_FILTER_NAMES])
    more = len(values) - MAX_FILTER_NAMES
    return shown + (" " + tr.plural("+%(count)s more", "+%(count)s more", more) if more > 0 else "")


def _packed_sections(lines: list[str], max_blocks: int, more: Callable[[int], str]) -> list[dict]:
    """Lines packed into as few sections as fit; past max_blocks the rest is counted (more(count) says it), not
    shown."""
    texts, left_out = pack_lines(lines, MAX_SECTION_TEXT, max_blocks)
    return [_section(text) for text in texts] + ([_context(more(left_out))] if left_out else [])


def _figure(name: str, value: str) -> dict:
    return _mrkdwn(f"*{name}*\n{value}", MAX_FIELD_TEXT)


def _header(text: str) -> dict:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True}}


def _section(text: str) -> dict:
    return {"type": "section", "text": _mrkdwn(text, MAX_SECTION_TEXT)}


def _context(text: str) -> dict:
    return {"type": "context", "elements": [_mrkdwn(text, MAX_CONTEXT_TEXT)]}


def _mrkdwn(text: str, limit: int) -> dict:
    return {"type": "mrkdwn", "text": clip(text, limit)}


def _on_off(value: bool, tr: Words) -> str:
    return tr("on") if value else tr("off")
