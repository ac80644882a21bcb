"""Pure: the /labels usage answer: this calendar month (UTC) and last month side by side, the Rekognition calls per
API with the cache's hits, Amazon Translate's calls and characters (where either month has some), the estimated cost,
and the busiest channels."""

from __future__ import annotations

import math
import unicodedata

from bot.i18n import ENGLISH, N_, Words
from bot.pricing import PRICES_SOURCE, TRANSLATE_PRICE_SOURCE, TRANSLATE_USD_PER_MILLION_CHARACTERS, month_cost
from bot.store.protocols import REKOGNITION_APIS, MonthUsage

# The table's rows: (indent, name, MonthUsage.images key).
ROWS = (
    ("", N_("images seen"), "seen"),
    ("  ", N_("labelled"), "labelled"),
    ("  ", N_("held for review"), "held"),
    ("  ", N_("failed"), "failed"),
    ("  ", N_("not sent: monthly limit"), "limited"),
    ("  ", N_("answered from the cache"), "cache_hits"),
)


def month_name(month: str, tr: Words = ENGLISH) -> str:
    """ "2026-12" -> "December 2026", "2026年12月"."""
    year, number = month.split("-")
    return tr.month(int(year), int(number))


def previous_month(month: str) -> str:
    year, number = map(int, month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def describe_usage(
    this: MonthUsage,
    last: MonthUsage,
    prices: dict[str, float],
    *,
    channel_id: str | None,
    limit: int | None = None,
    tr: Words = ENGLISH,
) -> str:
    """The answer, in tr's language; channel_id: an answer about one channel (for someone who isn't an admin): its
    images, and the workspace's calls and cost, which aren't split by channel. limit: LABELBOT_MONTHLY_CALL_LIMIT."""
    rows = [("", month_name(this.month, tr), month_name(last.month, tr))]
    rows += [(indent + tr(name), f"{this.images[key]:,}", f"{last.images[key]:,}") for indent, name, key in ROWS]
    calls = tr("Rekognition calls (whole workspace)") if channel_id else tr("Rekognition calls")
    rows.append((calls, f"{this.total_calls:,}", f"{last.total_calls:,}"))
    rows += [(f"  {api}", f"{this.calls[api]:,}", f"{last.calls[api]:,}") for api in REKOGNITION_APIS]
    translated = bool(this.translate_calls or last.translate_calls)
    if translated:  # label names the label table lacks (bot.label_translation); not in the Rekognition limit
        calls = tr("Amazon Translate calls (whole workspace)") if channel_id else tr("Amazon Translate calls")
        rows.append((calls, f"{this.translate_calls:,}", f"{last.translate_calls:,}"))
        characters = "  " + tr("characters sent")
        rows.append((characters, f"{this.translate_characters:,}", f"{last.translate_characters:,}"))
    cost = tr("estimated cost (whole workspace)") if channel_id else tr("estimated cost")
    rows.append((cost, f"${month_cost(this, prices):,.2f}", f"${month_cost(last, prices):,.2f}"))
    widths = [max(display_width(row[column]) for row in rows) for column in range(3)]
    table = "\n".join(
        f"{pad(row[0], widths[0])}  {pad(row[1], widths[1], right=True)}  {pad(row[2], widths[2], right=True)}".rstrip()
        for row in rows
    )
    if channel_id:
        title = tr("*labelbot's usage in %(channel)s* (calendar months, UTC)", channel="<#" + channel_id + ">")
    else:
        title = tr("*labelbot's usage in this workspace* (calendar months, UTC)")
    lines = [title, f"```\n{table}\n```"]
    if this.busiest and not channel_id:
        busiest = " · ".join(f"<#{channel}> {count:,}" for channel, count in this.busiest)
        lines.append(tr("Busiest channels this month (images seen): %(channels)s", channels=busiest))
    lines.append(limit_line(this.total_calls, limit, tr))
    price_list = ", ".join(f"{api} ${prices[api]:g}" for api in REKOGNITION_APIS)
    lines.append(
        tr(
            "_Cost at %(prices)s per call (%(source)s, or LABELBOT_PRICE_PER_CALL_USD)._",
            prices=price_list,
            source=PRICES_SOURCE,
        )
    )
    if translated:
        lines.append(
            tr(
                "_Amazon Translate at $%(price)s per million characters sent (%(source)s)._",
                price=f"{TRANSLATE_USD_PER_MILLION_CHARACTERS:.2f}",
                source=TRANSLATE_PRICE_SOURCE,
            )
        )
    return "\n".join(lines)


def display_width(text: str) -> int:
    """Columns text takes in a monospaced font: a wide (CJK) character takes two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def pad(text: str, width: int, *, right: bool = False) -> str:
    spaces = " " * (width - display_width(text))
    return spaces + text if right else text + spaces


def limit_line(calls: int, limit: int | None, tr: Words = ENGLISH) -> str:
    """The month's calls against LABELBOT_MONTHLY_CALL_LIMIT, in a sentence."""
    if limit is None:
        return tr("No monthly limit on Rekognition calls (LABELBOT_MONTHLY_CALL_LIMIT is not set).")
    if calls >= limit:
        return tr(
            "Monthly limit: %(used)s: reached, new images are not labelled until next month.",
            used=limit_used(calls, limit, tr),
        )
    return tr("Monthly limit: %(used)s.", used=limit_used(calls, limit, tr))


def limit_used(calls: int, limit: int, tr: Words = ENGLISH) -> str:
    """ "1,500 of 10,000 Rekognition calls (15%)", the share rounded down: 100% only once the limit is reached."""
    return tr(
        "%(calls)s of %(limit)s Rekognition calls (%(share)s)",
        calls=format(calls, ","),
        limit=format(limit, ","),
        share=tr.percent(math.floor(calls * 1000 / limit) / 10),
    )
