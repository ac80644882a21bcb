"""Pure: the terms the tag index makes of a text and of a search, for every script it meets.

Latin (and other spaced) text splits into words, as SQLite's FTS5 tokenizer splits it; it stems them itself. Japanese
(and Chinese) text has no spaces between words, so it is indexed the way search engines index CJK text: each run of
kanji and kana as its overlapping two-character terms (明日の会議 -> 明日 日の の会 会議), a run of one character as
itself, and each character of the longer runs once more as a term of its own, after everything else (so a search of
one kanji, 猫, finds 黒猫 without breaking any phrase). A search word is the same terms: 会議 is one term, 午後三時 the
phrase 午後 後三 三時 (its terms adjacent and in order, so 三時午後 doesn't match it), 猫 the single character.

Both texts and searches are NFKC-normalised first, so full-width letters and digits are the ASCII ones and half-width
katakana the full-width ones. Positions are kept in the text as written, for the snippet's bold.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from typing import NamedTuple

# Kana (hiragana, katakana with its prolonged-sound mark and small letters), kanji (CJK unified ideographs and their
# extension A and compatibility forms), and 々 〆 (iteration and closing marks), after NFKC.
# A term no search can make (searches keep letters and digits; this private-use character is neither): what the
# index holds in place of a hidden secret (no phrase matches across it), and before a text's single characters.
GAP = "\ue000"
CJK = "\u3005\u3006\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(f"([{CJK}]+)|((?:(?![{CJK}])[^\\W_])+)|({GAP})")


class Term(NamedTuple):
    text: str  # the term as indexed (a normalised word, not yet stemmed; two CJK characters; one)
    start: int  # where it is in the text as written
    end: int


def normalised(text: str) -> tuple[str, list[int]]:
    """The text NFKC-normalised character by character, and where each of its characters was in the text."""
    out: list[str] = []
    where: list[int] = []
    for position, char in enumerate(text):
        folded = unicodedata.normalize("NFKC", char) if not char.isascii() else char
        out.append(folded)
        where.extend([position] * len(folded))
    return "".join(out), where


def text_terms(text: str) -> Iterator[tuple[Term, bool]]:
    """The text's terms in order, each with whether it starts a new word of the text: a Latin word, a CJK run's
    overlapping pairs (only the first starts one) or the run's one character."""
    folded, where = normalised(text)
    for match in _RUN.finditer(folded):
        start = where[match.start()]
        end = where[match.end() - 1] + 1
        if match.group(2) or match.group(3):
            yield Term(match.group(2) or match.group(3), start, end), True
            continue
        run = match.group(1)
        if len(run) == 1:
            yield Term(run, start, end), True
            continue
        for n in range(len(run) - 1):
            first = match.start() + n
            yield Term(run[n : n + 2], where[first], where[first + 1] + 1), n == 0


def cjk_characters(terms: list[Term]) -> list[str]:
    """Each character of the text's CJK pairs once, in order: indexed after the text, so that a search of one
    character finds it (a run of one character is its own term already)."""
    pairs = (term.text for term in terms if len(term.text) == 2 and is_cjk(term.text))
    return list(dict.fromkeys(char for pair in pairs for char in pair))


def is_cjk(text: str) -> bool:
    return bool(text) and all(_is_cjk_char(char) for char in text)


def _is_cjk_char(char: str) -> bool:
    return re.fullmatch(f"[{CJK}]", char) is not None


def search_terms(word: str) -> tuple[str, ...]:
    """A search word's terms, as text_terms makes them of a text holding it: one term for a Latin word, a CJK word of
    one or two characters; its pairs for a longer one; a mixed word (APIキー) its parts' terms, as a phrase."""
    return tuple(term.text for term, _ in text_terms(word))


def index_string(text: str) -> str:
    """What the index tokenizes of a text or a label name: its terms in order, then (after a GAP) the single
    characters of its CJK runs. SQLite's tokenizer and the DynamoDB store's stemmer (bot.store.stemmer) both read it."""
    terms = [term for term, _ in text_terms(text)]
    characters = cjk_characters(terms)
    return " ".join([*(term.text for term in terms), *((GAP, *characters) if characters else ())])
