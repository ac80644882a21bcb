"""Pure: the few helpers every Slack text the bot writes shares (escaping, clipping, dates)."""

from __future__ import annotations

import time

MAX_LITERAL = 60  # characters of a user's word repeated back inside inline code


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: user-supplied text can never become a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def literal(text: str, limit: int = MAX_LITERAL) -> str:
    """User text for inside inline code: shown as typed, no mrkdwn, mention or backtick of theirs."""
    return escape(clip(text.replace("`", "'"), limit))


def slack_date(epoch: float, link: str | None = None) -> str:
    """A date in each reader's own time zone (Slack's date formatting), optionally linked; the fallback is UTC."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(epoch)))
    link_part = f"^{link}" if link else ""
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time}}{link_part}|{fallback}>"
