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


def pack_lines(lines: list[str], limit: int, max_texts: int) -> tuple[list[str], int]:
    """Lines joined into as few texts of at most `limit` characters as hold them (a longer line clipped), at most
    max_texts of them; and how many lines were left out. Block Kit caps both a block's text and the blocks."""
    texts: list[list[str]] = []
    for index, line in enumerate(lines):
        line = clip(line, limit)
        if texts and len("\n".join([*texts[-1], line])) <= limit:
            texts[-1].append(line)
        elif len(texts) < max_texts:
            texts.append([line])
        else:
            return ["\n".join(text) for text in texts], len(lines) - index
    return ["\n".join(text) for text in texts], 0


def literal(text: str, limit: int = MAX_LITERAL) -> str:
    """User text for inside inline code: shown as typed, no mrkdwn, mention or backtick of theirs."""
    return escape(clip(text.replace("`", "'"), limit))


def literal_list(values: tuple[str, ...]) -> str:
    """Names for a sentence: each in inline code, shown literally, separated by commas."""
    return ", ".join(f"`{literal(value)}`" for value in values)


def slack_date(epoch: float, link: str | None = None) -> str:
    """A date in each reader's own time zone (Slack's date formatting), optionally linked; the fallback is UTC."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(epoch)))
    link_part = f"^{link}" if link else ""
    return f"<!date^{int(epoch)}^{{date_short_pretty}} {{time}}{link_part}|{fallback}>"
