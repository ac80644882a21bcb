"""Pure: the text DetectText read in an image, as the bot repeats it: the confident lines in reading order, every
credential-shaped run replaced by [hidden] (with the kinds found named for the poster), clipped, and literal in
Slack (nothing in a screenshot can mention, ping or link anyone)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.i18n import ENGLISH, N_, Words
from bot.index_terms import GAP, index_string, normalised, text_terms
from bot.mrkdwn import escape


@dataclass(frozen=True)
class TextDetection:
    """One of DetectText's TextDetections: a LINE or a WORD, its box as ratios of the image's width and height."""

    kind: str  # "LINE" | "WORD"
    text: str
    confidence: float
    left: float
    top: float
    width: float
    height: float
    id: int = 0
    parent_id: int | None = None  # a WORD's LINE


# ---- when to read -----------------------------------------------------------------------------------------------

TEXT_MODES = ("auto", "on", "off")  # /labels text: with a text-bearing label (the default), every image, never
# LABELBOT_TEXT_ENGINE: who reads: auto (the local reader in Japanese channels, DetectText elsewhere), always
# DetectText, always the local reader (bot.local_text)
TEXT_ENGINES = ("auto", "rekognition", "local")


def text_engine_for(engine: str, language: str) -> str:
    """Who reads a channel's images, "local" or "rekognition", under LABELBOT_TEXT_ENGINE in a channel of this
    language: DetectText reads Latin script only, so `auto` reads Japanese channels' images locally."""
    if engine == "auto":
        return "local" if language == "ja" else "rekognition"
    return engine


def parse_text_labels(text: str, where: str) -> frozenset[str]:
    """The text-bearing labels file (bot/text_labels.txt, or LABELBOT_TEXT_LABELS): a label a line, lower-cased.
    Raises ValueError naming the file and line of a line that isn't a label name."""
    names = set()
    for number, raw in enumerate(text.splitlines(), 1):
        name = " ".join(raw.split("#", 1)[0].split())
        if not name:
            continue
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 '()&.-]*", name) or len(name) > 100:
            raise ValueError(f"{where} line {number}: {raw.strip()!r} is not a label name")
        names.add(name.lower())
    if not names:
        raise ValueError(f"{where} lists no label")
    return frozenset(names)


def wants_text(mode: str, label_names: tuple[str, ...] | list[str], text_labels: frozenset[str]) -> bool:
    """Whether DetectText runs for an image, from the channel's text mode and the image's labels' names, parents
    and aliases."""
    if mode == "auto":
        return any(name.lower() in text_labels for name in label_names)
    return mode == "on"


# ---- what is repeated: confident lines in reading order, secrets hidden ------------------------------------------

HIDDEN = N_("[hidden]")
TEXT_LINE_LIMIT = 300  # characters of text in the reply, an ellipsis marking a cut
LINE_SEPARATOR = " · "
MAX_INDEXED_WORDS = 100  # distinct words of an image's text in the tag index: DetectText returns up to 100 words

# Credential-shaped runs, each with how the poster's warning names it. A run is replaced whole; for a `key=value`
# shape only the value goes. Checked on each line and on the joined text (OCR may split a line), before anything
# is kept, logged or posted (a `password:` ending one line and its value the next: the line separator between).
SECRET_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (N_("a private key"), re.compile(r"-{2,}\s*BEGIN\b[A-Z0-9 ]*PRIVATE\s+KEY\s*-{2,}", re.IGNORECASE)),
    (N_("a Slack token"), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}|\bxapp-[A-Za-z0-9-]{8,}")),
    (N_("a Slack webhook URL"), re.compile(r"https?://hooks\.slack\.com/\S+", re.IGNORECASE)),
    (N_("an AWS access key"), re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    (N_("a GitHub token"), re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    (N_("a JSON Web Token"), re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*)?")),
    (N_("a Stripe key"), re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}")),
    (N_("a Google API key"), re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    (N_("a password in a URL"), re.compile(r"(?<=://)[^\s:/@]+:[^\s@/]+(?=@)")),
    (
        N_("a password or secret"),
        re.compile(
            r"(?<![A-Za-z])(?:password|passwd|pwd|pass|secret|api[_-]?key|access[_-]?key|token|client[_-]?secret)"
            r"(?:[_-]?[a-z]+)?\s*[:=]\s*(?:·\s*)?\"?(?P<value>[^\s\"']{4,})",
            re.IGNORECASE,
        ),
    ),
    (
        # Japanese cues (パスワード: hunter2, 暗証番号は 1234), the value in ASCII once folded
        N_("a password or secret"),
        re.compile(
            r"(?:パスワード|暗証番号|パスコード|トークン|API\s?キー|アクセスキー|シークレット|秘密鍵)\s*(?:[:=]|は)\s*"
            r"(?:·\s*)?[\"「]?(?P<value>[!-~]{4,})",
            re.IGNORECASE,
        ),
    ),
)


@dataclass(frozen=True)
class ScreenText:
    """The text the bot repeats and indexes of one image: its lines, redacted; the kinds of secret hidden."""

    lines: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    # Where the lines read are, (left, top, width, height) as ratios of the image: Show where outlines them.
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    # Those of the lines in which a secret was hidden: Show where and the poster's safe copy cover them.
    secret_boxes: tuple[tuple[float, float, float, float], ...] = ()

    @property
    def text(self) -> str:
        return LINE_SEPARATOR.join(self.lines)


def read_text(detections: tuple[TextDetection, ...] | list[TextDetection], min_confidence: float) -> ScreenText:
    """The LINE detections at or above min_confidence, in reading order, each with its secrets hidden."""
    kinds: list[str] = []
    lines = []
    boxes = []
    secret = []  # whether each line held a secret
    for line in reading_order(d for d in detections if d.kind == "LINE" and d.confidence >= min_confidence):
        redacted, found = redact(" ".join(line.text.split()))
        kinds.extend(found)
        if redacted:
            lines.append(redacted)
            boxes.append((line.left, line.top, line.width, line.height))
            secret.append(bool(found))
    joined, found = redact(LINE_SEPARATOR.join(lines))  # a secret OCR split over two lines
    if found:
        split = joined.split(LINE_SEPARATOR)
        # The lines the second pass changed held part of a secret; if a line's own text had the separator in it,
        # which ones can't be told, and every line is covered.
        changed = [a != b for a, b in zip(lines, split, strict=True)] if len(split) == len(lines) else None
        secret = [was or (changed is None or changed[i]) for i, was in enumerate(secret)]
        lines = split
        kinds.extend(found)
    secret_boxes = tuple(box for box, held in zip(boxes, secret, strict=True) if held)
    return ScreenText(tuple(lines), tuple(dict.fromkeys(kinds)), tuple(boxes), secret_boxes)


def reading_order(lines) -> list[TextDetection]:
    """Top to bottom, then left to right: lines whose middles are within half a line's height of a row's first line
    are on that row."""
    rows: list[list[TextDetection]] = []
    for line in sorted(lines, key=lambda d: (d.top, d.left)):
        middle = line.top + line.height / 2
        if rows:
            first = rows[-1][0]
            if abs(middle - (first.top + first.height / 2)) <= max(first.height, line.height) / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda d: d.left)]


def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """text with every credential-shaped run replaced by HIDDEN, and the kinds found (each once, in the patterns'
    order). Matched on the text NFKC-folded (a full-width AWS key is one, a full-width colon a colon), replaced where
    it is in the text as written."""
    kinds = []
    for kind, pattern in SECRET_PATTERNS:
        folded, where = normalised(text)
        spans = [_secret_span(match) for match in pattern.finditer(folded)]
        spans = [(where[start], where[end - 1] + 1) for start, end in spans if end > start]
        if spans:
            for start, end in reversed(spans):
                text = text[:start] + HIDDEN + text[end:]
            if kind not in kinds:
                kinds.append(kind)
    return text, tuple(kinds)


def _secret_span(match: re.Match[str]) -> tuple[int, int]:
    """What goes of a match: its value for a `key=value` shape (nothing if that is HIDDEN already), else all of it."""
    if "value" in match.re.groupindex:
        return (0, 0) if match.group("value") == HIDDEN else match.span("value")
    return match.span()


def secret_warning(kinds: tuple[str, ...], tr: Words = ENGLISH) -> str:
    """The poster's one ephemeral message, in tr's language: the kinds found, never a value."""
    return tr.plural(
        ":warning: This screenshot seems to show %(kinds)s; consider rotating it. I replaced it with %(hidden)s in "
        "my reply and the search index, and kept no copy.",
        ":warning: This screenshot seems to show %(kinds)s; consider rotating them. I replaced them with %(hidden)s "
        "in my reply and the search index, and kept no copy.",
        len(kinds),
        kinds=tr.and_join(tr(kind) for kind in kinds),
        hidden=tr(HIDDEN),
    )


# ---- as Slack shows it -----------------------------------------------------------------------------------------


def clip_text(text: str, limit: int = TEXT_LINE_LIMIT) -> str:
    """At most about `limit` characters, cut at a word where there is one near, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip(" ·") + "…"


def text_block(text: str, limit: int = TEXT_LINE_LIMIT, tr: Words = ENGLISH) -> dict:
    """The reply's text line as a context block that Slack shows literally: in inline code (no bold, link or emoji
    of the screenshot's), &<> escaped (no <!channel> or <@U…>), and verbatim (Slack links no URL or name itself).
    A hidden secret's mark is in tr's language."""
    if tr is not ENGLISH:
        text = text.replace(HIDDEN, tr(HIDDEN))
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text_mrkdwn(text, limit), "verbatim": True}]}


def text_mrkdwn(text: str, limit: int = TEXT_LINE_LIMIT) -> str:
    return ":memo: " + code_span(clip_text(text, limit))


def code_span(text: str) -> str:
    """Inline code showing text as it is (a backtick of its own would end the span, so it becomes ')."""
    text = text.replace("`", "'").replace("\n", " ")
    return f"`{escape(text)}`" if text.strip() else ""


def index_words(text: str, limit: int = MAX_INDEXED_WORDS) -> tuple[str, ...]:
    """The first `limit` distinct terms of the text as the tag index makes them (bot.index_terms: words lower-cased,
    Japanese in overlapping pairs; HIDDEN is none of the image's)."""
    terms = text_terms(text.replace(HIDDEN, " " * len(HIDDEN)))
    return tuple(dict.fromkeys(term.text.lower() for term, _ in terms))[:limit]


# What the tag index holds in place of HIDDEN: a token that no search can make, so [hidden] is not searchable and no
# phrase matches across a hidden secret.
INDEX_GAP = GAP


def indexed_text(text: str, limit: int = MAX_INDEXED_WORDS) -> str:
    """The prefix of the text the tag index holds: up to where its (limit + 1)th distinct term begins (counted as
    index_words counts them; inside a Japanese run, after the character the term's pair would add), so it holds the
    first `limit` distinct terms and no other. Both backends index this, so an image's index cost is bounded alike."""
    seen: set[str] = set()
    for term, starts_word in text_terms(text.replace(HIDDEN, " " * len(HIDDEN))):
        key = term.text.lower()
        if key not in seen:
            if len(seen) == limit:
                return text[: term.start if starts_word else term.end - 1].rstrip()
            seen.add(key)
    return text


def text_for_index(text: str, limit: int = MAX_INDEXED_WORDS) -> str:
    """What the tag index tokenizes of an image's text: its indexed prefix's terms (bot.index_terms.index_string),
    each HIDDEN as the INDEX_GAP token."""
    return index_string(indexed_text(text, limit).replace(HIDDEN, f" {INDEX_GAP} "))
