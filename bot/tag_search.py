"""`/labels find`: search the tag index and answer with up to 10 matches, newest first, with permalinks.

Privacy: a search covers the channel the command was run in. `in #other` is answered only when that channel is
public now (Slack is asked, the answer remembered for a minute) and no image the index holds of it was posted
while it was private; private channels' and conversations' images are never shown outside them. (A refusal reads
the same whether or not the index holds images there.)

Answered within the slash command's ack, so nothing here waits long: the workspace URL for permalinks comes from
one auth.test at start-up (`load_workspace_url`), and the public check's client has a short timeout, no retries.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.conversations import PublicChannels
from bot.i18n import ENGLISH, Words
from bot.index_terms import GAP, is_cjk, text_terms
from bot.labels_command import Find
from bot.mrkdwn import clip, escape, slack_date
from bot.render import Label
from bot.screen_text import HIDDEN, indexed_text
from bot.store import IndexedImage, TagIndex, search_words
from bot.store.encoding import label_names
from bot.store.stemmer import index_stems, search_stems

log = logging.getLogger(__name__)

MAX_RESULTS = 10
LABELS_PER_RESULT = 4
MAX_ANSWER = 3000  # an ephemeral answer stays readable (and within a section block's text limit)
MAX_ECHO = 60  # characters of the user's words repeated back
SNIPPET_WIDTH = 80  # characters of an image's text shown around its first match


class TagSearch:
    def __init__(
        self,
        index: TagIndex,
        slack: WebClient,
        *,
        retention_days: int | None = None,
        public_cache_seconds: float = 60.0,
        install_url: Callable[[], str | None] | None = None,
    ) -> None:
        """`slack` answers the public check inside the ack: give it a short timeout and no retry handlers.
        install_url: with many installs, the current one's workspace URL (kept at install: bot.workspaces), instead
        of the one workspace's from load_workspace_url."""
        self._index = index
        self._public = PublicChannels(slack, cache_seconds=public_cache_seconds)
        self._retention_days = retention_days
        self._workspace_url: str | None = None
        self._install_url = install_url

    def answer(self, find: Find, *, channel_id: str, user_id: str, tr: Words = ENGLISH) -> str:
        """The ephemeral answer to `/labels find` run in channel_id by user_id, in tr's language (the user's)."""
        echo = "“" + escape(clip(" ".join(find.search.split()), MAX_ECHO)) + "”"
        words = search_words(find.words)
        phrases = tuple(phrase for phrase in (search_words(p) for p in find.phrases) if phrase)
        if not words and not phrases:
            return tr("Give me a word to look for, e.g. `/labels find whiteboard`.")
        scope = find.channel_id or channel_id
        if scope != channel_id:
            public = self._index.channel_is_public(scope) and self._public.is_public(scope)
            channel = "<#" + scope + ">"
            if public is None:
                return tr(
                    "I couldn't check with Slack whether %(channel)s is public just now; try again in a moment.",
                    channel=channel,
                )
            if not public:
                return tr(
                    "I can't search %(channel)s from here: I search another channel only when it is public and I "
                    "have labelled images there, so images in private channels and conversations stay in them. Run "
                    "`/labels find %(search)s` in that channel instead.",
                    channel=channel,
                    search=escape(clip(find.search, MAX_ECHO)),
                )
        since = None if find.since_days is None else time.time() - find.since_days * 86400
        started = time.perf_counter()
        matches = self._index.search_images(words, channel_id=scope, since=since, limit=MAX_RESULTS, phrases=phrases)
        log.debug(
            "find: %d word(s), %d phrase(s) in %s, %d match(es) in %.1f ms",
            len(words),
            len(phrases),
            scope,
            len(matches),
            (time.perf_counter() - started) * 1000,
        )
        where = {"search": echo, "scope": _describe_scope(scope, channel_id, tr)}
        period = _describe_since(find.since_days, tr)
        if not matches:
            answer = (
                tr("No labelled images match %(search)s in %(scope)s in %(since)s.", **where, since=period)
                if period
                else tr("No labelled images match %(search)s in %(scope)s.", **where)
            )
            answer += " " + tr(
                "A label's broader names count too (`dog` finds a Labrador), and so does the text in images "
                '(`"connection refused"` in quotes finds the exact phrase).'
            )
            if self._retention_days:
                answer += " " + tr("I keep labels and text for %(days)s days.", days=self._retention_days)
            return answer
        if len(matches) == MAX_RESULTS:
            count = tr("The %(count)s newest images", count=len(matches))
        else:
            count = tr.plural("%(count)s image", "%(count)s images", len(matches))
        header = (
            tr(
                "%(count)s matching %(search)s in %(scope)s in %(since)s, newest first:",
                count=count,
                **where,
                since=period,
            )
            if period
            else tr("%(count)s matching %(search)s in %(scope)s, newest first:", count=count, **where)
        )
        lines = [self._describe_match(match, words, phrases, tr) for match in matches]
        return _fit(header, lines, tr)

    def _describe_match(
        self, match: IndexedImage, words: tuple[str, ...], phrases: tuple[tuple[str, ...], ...], tr: Words
    ) -> str:
        """When it was posted (in the reader's time zone, linked to the message), who posted it, its labels, and
        where its text matched."""
        parts = [slack_date(match.posted_at, self._permalink(match))]
        if match.user_id:
            parts.append(f"<@{match.user_id}>")
        if labels := _describe_labels(match.labels, match.matched, tr):
            parts.append(labels)
        if snippet := text_snippet(match.text, words, phrases):
            parts.append(":memo: " + snippet)
        return "• " + " · ".join(parts)

    def _permalink(self, match: IndexedImage) -> str | None:
        base = self.workspace_url()
        if base is None:
            return None
        link = f"{base}archives/{match.channel_id}/p{match.message_ts.replace('.', '')}"
        if match.thread_ts and match.thread_ts != match.message_ts:
            link += f"?thread_ts={match.thread_ts}&cid={match.channel_id}"
        return link

    def workspace_url(self) -> str | None:
        """https://WORKSPACE.slack.com/ once known (`load_workspace_url`); None: answers go without links."""
        return self._install_url() if self._install_url is not None else self._workspace_url

    def load_workspace_url(self, slack: WebClient) -> str | None:
        """Ask auth.test once for the permalinks' base; called at start-up and by the sweep until it is known.
        Never from an ack. With many installs there is nothing to load: each install's URL is kept with it."""
        if self._workspace_url is None and self._install_url is None:
            try:
                url = str(slack.auth_test().get("url") or "")
            except (SlackApiError, OSError) as exc:
                log.warning("auth.test failed, so /labels find answers without links for now: %s", type(exc).__name__)
                return None
            if url.startswith("https://"):
                self._workspace_url = url if url.endswith("/") else url + "/"
        return self._workspace_url


def _describe_labels(labels: tuple[Label, ...], matched_names: frozenset[str], tr: Words = ENGLISH) -> str:
    """The top few labels in tr's language, the ones the search matched in bold (with the matching parent or
    alias)."""
    shown = list(labels[:LABELS_PER_RESULT])
    matched = [label for label in labels if _matching_name(label, matched_names) is not None]
    if matched and not any(label in matched for label in shown):
        shown = shown[: LABELS_PER_RESULT - 1] + matched[:1]
    parts = []
    for label in shown:
        shown_name = tr.label(label.name)
        name = escape(clip(shown_name, 40))
        via = _matching_name(label, matched_names)
        via = via if via is None or via not in _english_names(label) else tr.label(via)  # as the reader reads it
        if via is None:
            parts.append(f"{name} {label.confidence:.0f}%")
        elif via in (label.name, shown_name):
            parts.append(f"*{name}* {label.confidence:.0f}%")
        else:
            parts.append(f"*{name}* ({escape(clip(via, 40))}) {label.confidence:.0f}%")
    return " · ".join(parts)


# The screenshot's own mrkdwn characters become look-alikes that format nothing, so the snippet's one bold is the
# match's: * _ ~ ` (bold, italics, strike, code); a colon, so no :emoji: and no scheme:// Slack would link; and a
# dot between letters or digits, so no bare domain or address either. &<> are escaped (no <!channel>, <@U…>, link).
LOOK_ALIKES = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ", ":": "∶", "\n": " ", "\r": " "})
INNER_DOT = re.compile(r"(?<=[^\W_])\.(?=[^\W_])")


def text_snippet(
    text: str, words: tuple[str, ...], phrases: tuple[tuple[str, ...], ...] = (), width: int = SNIPPET_WIDTH
) -> str:
    """About `width` characters of the text around its first match ("…" where it is cut), the words and phrases
    the search matched in its indexed prefix in bold, stemmed as the index stems (both backends bold the same
    words), and literal in Slack; "" when the text matched nothing. Pure."""
    indexed = indexed_text(text)  # a prefix of text: the positions are the same
    terms = []  # (stem, start, end), each term's stems in order (bot.index_terms); [hidden] a gap no stem matches
    characters = []  # (character, start, end) of each Japanese pair's characters, for a search of one
    for term, _ in text_terms(indexed.replace(HIDDEN, GAP + " " * (len(HIDDEN) - 1))):
        if term.text == GAP:
            terms.append((None, term.start, term.end))
        elif is_cjk(term.text):
            terms.append((term.text, term.start, term.end))
            if len(term.text) == 2:
                characters += [(term.text[0], term.start, term.start + 1), (term.text[1], term.end - 1, term.end)]
        else:
            terms += [(stem, term.start, term.end) for stem in index_stems(term.text)]
    searched = [search_stems(word) for word in words]
    wanted = {stems[0] for stems in searched if len(stems) == 1}
    marks = [(start, end) for stem, start, end in terms if stem in wanted]
    marks += [(start, end) for character, start, end in characters if character in wanted]
    runs = [stems for stems in searched if len(stems) > 1]  # a longer Japanese word: its pairs, adjacent
    for stems in runs + [tuple(itertools.chain.from_iterable(search_stems(word) for word in p)) for p in phrases]:
        for n in range(len(terms) - len(stems) + 1) if stems else ():
            if tuple(stem for stem, _, _ in terms[n : n + len(stems)]) == stems:
                marks.append((terms[n][1], terms[n + len(stems) - 1][2]))
    if not marks:
        return ""
    merged: list[list[int]] = []
    for start, end in sorted(marks):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    first_start, first_end = merged[0]
    begin = max(0, first_start - max(0, width - (first_end - first_start)) // 2)
    end = min(len(text), max(begin + width, first_end))
    begin = max(0, min(begin, end - width, first_start))
    if begin > 0 and (space := text.find(" ", begin, first_start)) != -1:
        begin = space + 1  # not in the middle of a word
    if end < len(text) and (space := text.rfind(" ", first_end, end)) != -1:
        end = space
    for start, stop in merged:
        if start < end < stop:
            end = stop  # a match is shown whole
    shown = [(start, stop) for start, stop in merged if stop <= end]
    pieces, position = [], begin
    for start, stop in shown:
        pieces += [_literal(text[position:start]), "*" + _literal(text[start:stop]) + "*"]
        position = stop
    pieces.append(_literal(text[position:end]))
    body = "".join(pieces).strip(" ·")
    return ("…" if begin > 0 else "") + body + ("…" if end < len(text) else "")


def _literal(text: str) -> str:
    return escape(INNER_DOT.sub("․", text.translate(LOOK_ALIKES)))


def _english_names(label: Label) -> tuple[str, ...]:
    return (label.name, *label.parents, *label.aliases)


def _matching_name(label: Label, matched_names: frozenset[str]) -> str | None:
    """The label's own name, parent or alias that the search matched (the index's stemming decided), in English or
    another language labelbot speaks (the names the index keeps of it), or None."""
    return next((name for name in label_names((label,)) if name in matched_names), None)


def _describe_scope(scope: str, current: str, tr: Words) -> str:
    if scope == current and scope.startswith("D"):
        return tr("this conversation")
    return "<#" + scope + ">"


def _describe_since(since_days: float | None, tr: Words) -> str:
    """ "the last 7 days", "the last hour"; "" without a since."""
    if since_days is None:
        return ""
    hours = round(since_days * 24)
    if hours % 24:
        return tr.plural("the last hour", "the last %(count)s hours", hours)
    return tr.plural("the last day", "the last %(count)s days", hours // 24)


def _fit(header: str, lines: list[str], tr: Words) -> str:
    """Header and lines within MAX_ANSWER characters, dropping the oldest matches if it must."""
    kept = list(lines)
    while kept:
        dropped = len(lines) - len(kept)
        tail = [tr("…and %(count)s older", count=dropped)] if dropped else []
        text = "\n".join([header, *kept, *tail])
        if len(text) <= MAX_ANSWER:
            return text
        kept.pop()
    return clip(header, MAX_ANSWER)
