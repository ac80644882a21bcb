"""Usage counters on SQLite: Rekognition calls per month and API, images per month, channel and outcome, Amazon
Translate calls and characters per month (a table of their own: never in the Rekognition total). A capped count is one
write transaction (SQLite's lock: a BEGIN IMMEDIATE), so processes sharing the file never pass the cap. Another
install's months are keyed "<workspace>/<month>" (bot.store.encoding.in_workspace), all installs' calls together
"*/<month>"; the one workspace's as they always were."""

from __future__ import annotations

from bot.install_context import workspace_or_current
from bot.store.encoding import in_workspace
from bot.store.protocols import ALL_INSTALLS, IMAGE_OUTCOMES, REKOGNITION_APIS, MonthUsage
from bot.store.sqlite.database import SqliteDatabase

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_calls (
    month TEXT NOT NULL,   -- UTC calendar month, 2026-12
    api TEXT NOT NULL,     -- DetectLabels | DetectModerationLabels | DetectText
    calls INTEGER NOT NULL,
    PRIMARY KEY (month, api)
);
CREATE TABLE IF NOT EXISTS usage_images (
    month TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    outcome TEXT NOT NULL,  -- seen | labelled | held | failed | cache_hits
    images INTEGER NOT NULL,
    PRIMARY KEY (month, channel_id, outcome)
);
CREATE TABLE IF NOT EXISTS usage_translations (
    month TEXT PRIMARY KEY,
    calls INTEGER NOT NULL,       -- TranslateText calls
    characters INTEGER NOT NULL   -- the characters they sent
);
CREATE TABLE IF NOT EXISTS usage_notices (
    month TEXT NOT NULL,
    notice TEXT NOT NULL,  -- limit:<channel>:<day> | admins:80 | admins:100
    PRIMARY KEY (month, notice)
);
"""


class SqliteUsageCounters:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def count_call(
        self,
        month: str,
        api: str,
        *,
        limit: int | None = None,
        total_limit: int | None = None,
        workspace: str | None = None,
    ) -> int | None:
        key = in_workspace(workspace, month)
        # An install's calls count in every install's month too (the overall cap, the metrics' gauge)
        counted = [key, in_workspace(ALL_INSTALLS, month)] if workspace_or_current(workspace) else [key]
        with self._database.transaction() as db:
            query = "SELECT COALESCE(SUM(calls), 0) FROM usage_calls WHERE month=?"
            (total,) = db.execute(query, (key,)).fetchone()
            if limit is not None and total >= limit:
                return None
            if (
                total_limit is not None
                and len(counted) > 1
                and db.execute(query, (counted[1],)).fetchone()[0] >= total_limit
            ):
                return None
            db.executemany(
                "INSERT INTO usage_calls (month, api, calls) VALUES (?, ?, 1)"
                " ON CONFLICT (month, api) DO UPDATE SET calls = calls + 1",
                [(month_key, api) for month_key in counted],
            )
            return int(total) + 1

    def count_translation(self, month: str, characters: int, *, workspace: str | None = None) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO usage_translations (month, calls, characters) VALUES (?, 1, ?)"
                " ON CONFLICT (month) DO UPDATE SET calls = calls + 1, characters = characters + excluded.characters",
                (in_workspace(workspace, month), characters),
            )

    def claim_notice(self, month: str, notice: str, *, workspace: str | None = None) -> bool:
        with self._database.transaction() as db:
            inserted = db.execute(
                "INSERT INTO usage_notices (month, notice) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (in_workspace(workspace, month), notice),
            )
            return inserted.rowcount == 1

    def count_images(
        self, month: str, channel_id: str, counts: dict[str, int], *, workspace: str | None = None
    ) -> None:
        key = in_workspace(workspace, month)
        unknown = set(counts) - set(IMAGE_OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}")
        with self._database.transaction() as db:
            db.executemany(
                "INSERT INTO usage_images (month, channel_id, outcome, images) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (month, channel_id, outcome) DO UPDATE SET images = images + excluded.images",
                [(key, channel_id, outcome, count) for outcome, count in counts.items()],
            )

    def month_usage(
        self, month: str, *, channel_id: str | None = None, busiest: int = 5, workspace: str | None = None
    ) -> MonthUsage:
        key = in_workspace(workspace, month)
        where, params = ("month=? AND channel_id=?", (key, channel_id)) if channel_id else ("month=?", (key,))
        with self._database.reading() as db:
            calls = dict(db.execute("SELECT api, calls FROM usage_calls WHERE month=?", (key,)).fetchall())
            images = dict(
                db.execute(f"SELECT outcome, SUM(images) FROM usage_images WHERE {where} GROUP BY outcome", params)
            )
            top = db.execute(
                f"SELECT channel_id, images FROM usage_images WHERE {where} AND outcome='seen'"
                " ORDER BY images DESC, channel_id LIMIT ?",
                (*params, busiest),
            ).fetchall()
            translated = db.execute("SELECT calls, characters FROM usage_translations WHERE month=?", (key,)).fetchone()
        return MonthUsage(
            month,
            {api: int(calls.get(api, 0)) for api in REKOGNITION_APIS},
            {outcome: int(images.get(outcome, 0)) for outcome in IMAGE_OUTCOMES},
            tuple((row[0], int(row[1])) for row in top),
            translate_calls=int(translated["calls"]) if translated else 0,
            translate_characters=int(translated["characters"]) if translated else 0,
        )
