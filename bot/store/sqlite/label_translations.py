"""Label names translated with Amazon Translate, on SQLite: a table of its own, kept for good (no purge)."""

from __future__ import annotations

from collections.abc import Collection

from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
-- Label names a language's label table lacks, translated once (bot.label_translation) and never purged: each costs
-- one Amazon Translate call ever per language.
CREATE TABLE IF NOT EXISTS label_translations (
    language TEXT NOT NULL,      -- the target language: ja
    name TEXT NOT NULL,          -- the label's English name, as Rekognition names it
    translation TEXT NOT NULL,
    translated_at REAL NOT NULL,
    PRIMARY KEY (language, name)
);
"""
NAMES_PER_QUERY = 500  # under SQLite's limit of host parameters in one statement (999 in old builds)


class SqliteLabelTranslations:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def translations(self, language: str, names: Collection[str]) -> dict[str, str]:
        wanted = list(dict.fromkeys(names))
        found: dict[str, str] = {}
        with self._database.reading() as db:
            for start in range(0, len(wanted), NAMES_PER_QUERY):
                chunk = wanted[start : start + NAMES_PER_QUERY]
                rows = db.execute(
                    "SELECT name, translation FROM label_translations WHERE language=? AND name IN"
                    f" ({','.join('?' * len(chunk))})",
                    (language, *chunk),
                )
                found.update((row["name"], row["translation"]) for row in rows)
        return found

    def keep_translation(self, language: str, name: str, text: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO label_translations (language, name, translation, translated_at)"
                " VALUES (?, ?, ?, ?)",
                (language, name, text, self._database.clock()),
            )
