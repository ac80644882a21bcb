"""The monthly call limit (LABELBOT_MONTHLY_CALL_LIMIT), told to people: the channel whose images weren't sent gets
one line a UTC day; the admins get one DM when the month's calls reach 80 % of the limit and one at 100 %.

Each notice is claimed in the store first (UsageCounters.claim_notice), so it goes once whichever process or Lambda
instance meets it. A notice Slack refuses is logged and not sent again that day (or month): they explain, nothing
depends on them. The month's total comes from this process's own counts (bot.usage.CallCounter): whoever made the
call that crossed a mark is the one that sees it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import ENGLISH, Words
from bot.install_context import current_or_one
from bot.store import UsageCounters
from bot.usage import CallCounter, usage_month
from bot.usage_report import month_name

log = logging.getLogger(__name__)

ADMIN_MARKS = (80, 100)  # percent of the limit at which the admins are told


def limit_reached_line(limit: int, tr: Words = ENGLISH) -> str:
    return tr(
        "labelbot reached this month's limit of %(limit)s Rekognition calls, so I'm not labelling new images here "
        "until next month (images I've seen before are still answered). An admin can raise "
        "LABELBOT_MONTHLY_CALL_LIMIT.",
        limit=tr.number(limit),
    )


def admin_line(mark: int, total: int, limit: int, month: str, tr: Words = ENGLISH) -> str:
    if mark >= 100:
        return tr(
            "labelbot reached its limit of %(limit)s Rekognition calls for %(month)s (UTC): new images aren't labelled "
            "until next month; images seen before are still answered from the cache. Raise "
            "LABELBOT_MONTHLY_CALL_LIMIT (MonthlyCallLimit on AWS) and restart to go on. `/labels usage` shows where "
            "the calls went.",
            limit=tr.number(limit),
            month=month_name(month, tr),
        )
    return tr(
        "labelbot has used %(total)s of its %(limit)s Rekognition calls for %(month)s (UTC), %(share)s of "
        "LABELBOT_MONTHLY_CALL_LIMIT. Past the limit, new images aren't labelled until next month. `/labels usage` "
        "shows where the calls went.",
        total=tr.number(total),
        limit=tr.number(limit),
        month=month_name(month, tr),
        share=tr.percent(mark),
    )


class CallLimitNotices:
    def __init__(
        self,
        usage: UsageCounters,
        slack: WebClient,
        counter: CallCounter,
        admins: Collection[str],
        *,
        fallback_channel: str | None = None,
        words_for: Callable[[str], Words] = lambda destination: ENGLISH,
        clock: Callable[[], float] = time.time,
        destinations: Callable[[], Collection[str]] | None = None,
    ) -> None:
        """admins: who gets the DMs; without any, fallback_channel (LABELBOT_MODERATION_CHANNEL) gets them, and
        without that they are WARNING lines in the log. words_for: the language of a destination (a channel's, an
        admin's). destinations (many workspaces): the current install's, instead of admins and fallback_channel."""
        self._usage = usage
        self._slack = slack
        self._counter = counter
        configured = tuple(sorted(admins)) or ((fallback_channel,) if fallback_channel else ())
        self._admin_destinations = destinations or (lambda: configured)
        self._words_for = words_for
        self._clock = clock
        self._settled: set[tuple[str, str, str]] = set()  # (install, month, notice) claimed, here or elsewhere

    def after_job(self, channel_id: str, *, limited: bool) -> None:
        """After each job: `limited` if the job's image (or its text) wasn't sent for the limit. Never raises."""
        # The install's own cap; where only every install's together is set (LABELBOT_TOTAL_MONTHLY_CALL_LIMIT), that
        # one for the channel's line (the admins' marks are of the install's own calls: for its own cap only)
        limit = self._counter.limit if self._counter.limit is not None else self._counter.total_limit
        if limit is None:
            return
        now = self._clock()
        month = usage_month(now)
        try:
            if limited and self._claim(month, f"limit:{channel_id}:{time.strftime('%F', time.gmtime(now))}"):
                line = limit_reached_line(limit, self._words_for(channel_id))
                self._post(channel_id, line, "the channel's limit notice")
            total = self._counter.month_total(month)
            for mark in ADMIN_MARKS if self._counter.limit is not None else ():
                if total * 100 >= limit * mark and self._claim(month, f"admins:{mark}"):
                    self._tell_admins(lambda tr: admin_line(mark, total, limit, month, tr), mark)  # noqa: B023
        except Exception:
            log.exception("sending the monthly limit's notices failed")

    def _claim(self, month: str, notice: str) -> bool:
        """True if this process is the one to send the notice; one store write per notice and process at most, so a
        month past 80 % doesn't cost a write per job."""
        settled = (current_or_one(), month, notice)
        if settled in self._settled:
            return False
        if len(self._settled) > 10_000:  # a year of days in many channels: start again (the store still decides)
            self._settled.clear()
        claimed = self._usage.claim_notice(month, notice)
        self._settled.add(settled)
        return claimed

    def _tell_admins(self, line: Callable[[Words], str], mark: int) -> None:
        """line(tr): the notice in a destination's language."""
        log.warning("Rekognition calls this month reached %d %% of LABELBOT_MONTHLY_CALL_LIMIT", mark)
        destinations = tuple(self._admin_destinations())
        if not destinations:
            log.warning("no LABELBOT_ADMINS to tell: %s", line(ENGLISH))
        for destination in destinations:
            self._post(destination, line(self._words_for(destination)), f"the admins' {mark} % notice")

    def _post(self, channel: str, text: str, what: str) -> None:
        try:
            self._slack.chat_postMessage(channel=channel, text=text, unfurl_links=False, unfurl_media=False)
        except SlackApiError as exc:
            log.warning("%s to %s could not be posted: %s", what, channel, exc.response.get("error"))
        except OSError as exc:
            log.warning("%s to %s failed: %r", what, channel, exc)
