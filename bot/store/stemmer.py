"""Words stemmed exactly as the SQLite index stems them: SQLite's own FTS5 tokenizer, run in memory."""

from __future__ import annotations

import functools
import sqlite3
import threading

from bot.index_terms import search_terms
from bot.store.encoding import TAG_TOKENIZER

_stemmer_lock = threading.Lock()


@functools.cache
def _stemmer() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
    db.execute(f"CREATE VIRTUAL TABLE words USING fts5(text, tokenize = '{TAG_TOKENIZER}')")
    db.execute("CREATE VIRTUAL TABLE terms USING fts5vocab(words, 'instance')")  # each term with its offset
    return db


@functools.lru_cache(maxsize=50_000)
def index_stems(text: str) -> tuple[str, ...]:
    """The terms SQLite's full-text index makes of text (lower case, no diacritics, porter stems), in order:
    SQLite's own FTS5 tokenizer makes them here too, so both indexes match the same words."""
    with _stemmer_lock:
        db = _stemmer()
        db.execute("INSERT INTO words (rowid, text) VALUES (1, ?)", (text,))
        try:
            return tuple(term for (term,) in db.execute("SELECT term FROM terms ORDER BY offset"))
        finally:
            db.execute("DELETE FROM words WHERE rowid = 1")


def search_stems(word: str) -> tuple[str, ...]:
    """A search word's stems as the index holds them: one (a word's stem, a Japanese word of one or two characters),
    or a longer Japanese word's run of overlapping pairs (bot.index_terms)."""
    return index_stems(" ".join(search_terms(word)))
