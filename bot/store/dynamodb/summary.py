"""The Home tab's summary on DynamoDB: the finished jobs of by_finish_day, one partition per day of the period."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection

from bot.install_context import workspace_or_current
from bot.store.dynamodb.base import DynamoTables, utc_days
from bot.store.encoding import result_from_dict
from bot.store.protocols import LabellingError, LabellingSummary


class DynamoLabellingSummaries:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def labelling_summary(
        self,
        since: float,
        *,
        top_labels: int = 10,
        recent_errors: int = 10,
        channel_ids: Collection[str] | None = None,
        workspace: str | None = None,
    ) -> LabellingSummary:
        workspace = workspace_or_current(workspace)
        now = self._tables.clock()
        finished = [
            item
            for day in utc_days(max(since, now - self._tables.retention), now)
            for item in self._tables.query(
                self._tables.jobs_table,
                "#finished_day = :day AND #finished_at >= :since",
                {"day": day, "since": since, "now": now},
                index="by_finish_day",
                where="attribute_not_exists(#expires_at) OR #expires_at > :now",
            )
            if (channel_ids is None or item["channel_id"] in channel_ids) and item.get("workspace", "") == workspace
        ]
        return summarize(finished, top_labels, recent_errors)


def summarize(finished: list[dict], top_labels: int, recent_errors: int) -> LabellingSummary:
    """SQLite's summary of finished jobs: counts, the labels on most images, the latest errors."""
    results = [(item, result_from_dict(json.loads(item["result"]))) for item in finished]
    per_label = Counter(name for _, r in results for name in {label.name for label in r.labels} if name)
    errors = sorted(
        ((item, r) for item, r in results if r.error is not None),
        key=lambda pair: (pair[0]["finished_at"], pair[0]["pk"], pair[0]["sk"]),
        reverse=True,
    )
    return LabellingSummary(
        images_labelled=sum(
            1 for _, r in results if r.error is None and not r.skipped and not r.held and not r.limited
        ),
        images_failed=len(errors),
        top_labels=tuple(sorted(per_label.items(), key=lambda pair: (-pair[1], pair[0]))[:top_labels]),
        recent_errors=tuple(
            LabellingError(float(item["finished_at"]), item["channel_id"], r.file_name or "", r.error)
            for item, r in errors[:recent_errors]
        ),
    )
