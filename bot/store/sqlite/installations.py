"""Slack's OAuth installs and states on SQLite (bot.store.installations): two tables in the bot's file (0600)."""

from __future__ import annotations

from bot.store.installations import KeptInstallations, KeptOAuthStates
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
-- Each workspace's (or org's) install: its bot and who installed it, slack_sdk's values as JSON, tokens included.
CREATE TABLE IF NOT EXISTS installations (
    workspace TEXT NOT NULL,  -- "<enterprise id or ->:<team id or ->" (bot.store.installations.workspace_key)
    entry TEXT NOT NULL,      -- bot | installer | installer:<user id> | claim:<what> (saved: until when)
    saved TEXT NOT NULL,
    saved_at REAL NOT NULL,
    PRIMARY KEY (workspace, entry)
);
-- "Add to Slack" clicks' state parameters, each consumed once before it expires.
CREATE TABLE IF NOT EXISTS oauth_states (
    state TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


def sqlite_installations(database: SqliteDatabase) -> KeptInstallations:
    def get(key: str, entry: str) -> str | None:
        with database.reading() as db:
            row = db.execute("SELECT saved FROM installations WHERE workspace=? AND entry=?", (key, entry)).fetchone()
        return None if row is None else row["saved"]

    def put(key: str, entry: str, saved: str) -> None:
        with database.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO installations (workspace, entry, saved, saved_at) VALUES (?, ?, ?, ?)",
                (key, entry, saved, database.clock()),
            )

    def delete(key: str, entry: str | None) -> None:
        with database.transaction() as db:
            if entry is None:
                db.execute("DELETE FROM installations WHERE workspace=?", (key,))
            else:
                db.execute("DELETE FROM installations WHERE workspace=? AND entry=?", (key, entry))

    def entries(key: str) -> list[str]:
        with database.reading() as db:
            return [row["entry"] for row in db.execute("SELECT entry FROM installations WHERE workspace=?", (key,))]

    def claim(key: str, entry: str, until: float, now: float) -> bool:
        with database.transaction() as db:
            return (
                db.execute(
                    "INSERT INTO installations (workspace, entry, saved, saved_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (workspace, entry) DO UPDATE SET saved=excluded.saved, saved_at=excluded.saved_at"
                    " WHERE CAST(installations.saved AS REAL) <= ?",
                    (key, entry, repr(until), now, now),
                ).rowcount
                == 1
            )

    return KeptInstallations(get, put, delete, entries, claim, clock=database.clock)


def sqlite_oauth_states(database: SqliteDatabase) -> KeptOAuthStates:
    def put(state: str, expires_at: float) -> None:
        with database.transaction() as db:
            db.execute("DELETE FROM oauth_states WHERE expires_at <= ?", (database.clock(),))
            db.execute("INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)", (state, expires_at))

    def take(state: str, now: float) -> bool:
        with database.transaction() as db:
            return db.execute("DELETE FROM oauth_states WHERE state=? AND expires_at > ?", (state, now)).rowcount == 1

    return KeptOAuthStates(put, take, clock=database.clock)
