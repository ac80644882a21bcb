"""The Home tab's summary on SQLite: read from the finished jobs (sqlite/messages.py)."""

from __future__ import annotations

import json
from collections.abc import Collection

from bot.install_context import workspace_or_current
from bot.store.encoding import reason_from_dict
from bot.store.protocols import LabellingError, LabellingSummary
from bot.store.sqlite.database import SqliteDatabase


class SqliteLabellingSummaries:
    def __init__(self, database: SqliteDatabase) -> None:
        self._database = database

    def labelling_summary(
        self,
        since: float,
        *,
        top_labels: int = 10,
        recent_errors: int = 10,
        channel_ids: Collection[str] | None = None,
        workspace: str | None = None,
    ) -> LabellingSummary:
        # A done job's updated_at is when it finished; result_json holds its labels or its short error.
        finished = (
            "jobs.state='done' AND jobs.updated_at >= ? AND jobs.result_json IS NOT NULL"
            " AND (? IS NULL OR jobs.channel_id IN (SELECT value FROM json_each(?)))"
            " AND EXISTS (SELECT 1 FROM messages m WHERE m.channel_id=jobs.channel_id AND m.message_ts=jobs.message_ts"
            " AND m.workspace=?)"  # the install's own
        )
        channels = None if channel_ids is None else json.dumps(sorted(channel_ids))
        scope = (since, channels, channels, workspace_or_current(workspace))
        error = "json_extract(jobs.result_json, '$.error')"
        skipped = "COALESCE(json_extract(jobs.result_json, '$.skipped'), 0)"
        held = "COALESCE(json_array_length(jobs.result_json, '$.held'), 0) > 0"  # held for review: not labelled
        limited = "COALESCE(json_extract(jobs.result_json, '$.limited'), 0)"  # past the monthly limit: not sent
        with self._database.reading() as db:
            labelled, failed = db.execute(
                f"SELECT COUNT(*) FILTER (WHERE {error} IS NULL AND NOT {skipped} AND NOT {held} AND NOT {limited}),"
                f" COUNT(*) FILTER (WHERE {error} IS NOT NULL) FROM jobs WHERE {finished}",
                scope,
            ).fetchone()
            top = db.execute(
                "SELECT json_extract(label.value, '$.name') AS name, COUNT(DISTINCT jobs.id) AS images"
                f" FROM jobs, json_each(jobs.result_json, '$.labels') AS label WHERE {finished}"
                " GROUP BY name ORDER BY images DESC, name LIMIT ?",
                (*scope, top_labels),
            ).fetchall()
            errors = db.execute(
                "SELECT jobs.updated_at, jobs.channel_id, json_extract(jobs.result_json, '$.file_name') AS file_name,"
                f" {error} AS reason, json_extract(jobs.result_json, '$.error_sentence') AS sentence"
                f" FROM jobs WHERE {finished} AND {error} IS NOT NULL"
                " ORDER BY jobs.updated_at DESC, jobs.id DESC LIMIT ?",
                (*scope, recent_errors),
            ).fetchall()
        return LabellingSummary(
            images_labelled=labelled,
            images_failed=failed,
            top_labels=tuple((r["name"], r["images"]) for r in top if r["name"]),
            recent_errors=tuple(
                LabellingError(
                    r["updated_at"],
                    r["channel_id"],
                    r["file_name"] or "",
                    reason_from_dict(r["reason"], json.loads(r["sentence"]) if r["sentence"] else None),
                )
                for r in errors
            ),
        )
