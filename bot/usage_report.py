"""Pure: the /labels usage answer: this calendar month (UTC) and last month side by side, the Rekognition calls per
API with the cache's hits, the estimated cost, and the busiest channels."""

from __future__ import annotations

import calendar
import math

from bot.pricing import PRICES_SOURCE, month_cost
from bot.settings import format_percent
from bot.store.protocols import REKOGNITION_APIS, MonthUsage

ROWS = (
    ("images seen", "seen"),
    ("  labelled", "labelled"),
    ("  held for review", "held"),
    ("  failed", "failed"),
    ("  not sent: monthly limit", "limited"),
    ("  answered from the cache", "cache_hits"),
)


def month_name(month: str) -> str:
    """ "2026-12" -> "December 2026"."""
    year, number = month.split("-")
    return f"{calendar.month_name[int(number)]} {year}"


def previous_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def describe_usage(
    this: MonthUsage, last: MonthUsage, prices: dict[str, float], *, channel_id: str | None, limit: int | None = None
) -> str:
    """The answer; channel_id: an answer about one channel (for someone who isn't an admin): its images, and the
    workspace's calls and cost, which aren't split by channel. limit: LABELBOT_MONTHLY_CALL_LIMIT."""
    scope = f"in <#{channel_id}>" if channel_id else "in this workspace"
    rows = [("", month_name(this.month), month_name(last.month))]
    rows += [(name, f"{this.images[key]:,}", f"{last.images[key]:,}") for name, key in ROWS]
    calls_scope = " (whole workspace)" if channel_id else ""
    rows.append((f"Rekognition calls{calls_scope}", f"{this.total_calls:,}", f"{last.total_calls:,}"))
    rows += [(f"  {api}", f"{this.calls[api]:,}", f"{last.calls[api]:,}") for api in REKOGNITION_APIS]
    rows.append(
        (f"estimated cost{calls_scope}", f"${month_cost(this, prices):,.2f}", f"${month_cost(last, prices):,.2f}")
    )
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    table = "\n".join(
        f"{row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}  {row[2].rjust(widths[2])}".rstrip() for row in rows
    )
    lines = [f"*labelbot's usage {scope}* (calendar months, UTC)", f"```\n{table}\n```"]
    if this.busiest and not channel_id:
        busiest = " · ".join(f"<#{channel}> {count:,}" for channel, count in this.busiest)
        lines.append(f"Busiest channels this month (images seen): {busiest}")
    lines.append(limit_line(this.total_calls, limit))
    price_list = ", ".join(f"{api} ${prices[api]:g}" for api in REKOGNITION_APIS)
    lines.append(f"_Cost at {price_list} per call ({PRICES_SOURCE}, or LABELBOT_PRICE_PER_CALL_USD)._")
    return "\n".join(lines)


def limit_line(calls: int, limit: int | None) -> str:
    """The month's calls against LABELBOT_MONTHLY_CALL_LIMIT, in a sentence."""
    if limit is None:
        return "No monthly limit on Rekognition calls (LABELBOT_MONTHLY_CALL_LIMIT is not set)."
    reached = ": reached, new images are not labelled until next month" if calls >= limit else ""
    return f"Monthly limit: {limit_used(calls, limit)}{reached}."


def limit_used(calls: int, limit: int) -> str:
    """ "1,500 of 10,000 Rekognition calls (15%)", the share rounded down: 100% only once the limit is reached."""
    return f"{calls:,} of {limit:,} Rekognition calls ({format_percent(math.floor(calls * 1000 / limit) / 10)})"
