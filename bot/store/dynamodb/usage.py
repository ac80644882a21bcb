"""Usage counters on DynamoDB, in the Jobs table's partition "usage#<month>": sk "calls" holds the month's total and
one counter per API; sk "channel#<id>" one counter per outcome; sk "translations" Amazon Translate's calls and
characters (an item of its own: never in the Rekognition total the cap reads); sk "notice#<name>" marks a notice
sent. A capped count is one conditional update (ADD, on condition that the total is under the limit), so Lambda
instances together never pass the cap. The items expire 400 days after the month (last month stays for /labels
usage; a year back for whoever asks). Another install's partitions are "usage#<workspace>/<month>", each of its
items naming it (by_install); all installs' calls together "usage#*/<month>" (each install's call counted there
first, under the overall cap if there is one, and given back if the install's own cap refuses it); the one
workspace's as they always were."""

from __future__ import annotations

import calendar

from bot.install_context import workspace_or_current
from bot.store.dynamodb.base import DynamoTables, install_set
from bot.store.encoding import in_workspace
from bot.store.protocols import ALL_INSTALLS, IMAGE_OUTCOMES, REKOGNITION_APIS, MonthUsage

KEPT_DAYS = 400


def usage_pk(month: str) -> str:
    return f"usage#{month}"


class DynamoUsageCounters:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def count_call(
        self,
        month: str,
        api: str,
        *,
        limit: int | None = None,
        total_limit: int | None = None,
        workspace: str | None = None,
    ) -> int | None:
        if api not in REKOGNITION_APIS:
            raise ValueError(f"unknown Rekognition API {api!r}")
        # An install's calls count in every install's month first (the overall cap, the metrics' gauge)
        every = bool(workspace_or_current(workspace))
        if every and self._count(ALL_INSTALLS, month, api, total_limit) is None:
            return None
        counted = self._count(workspace, month, api, limit)
        if counted is None and every:  # the install's own cap: the call isn't made after all
            self._tables.update(
                self._tables.jobs_table,
                {"pk": usage_pk(in_workspace(ALL_INSTALLS, month)), "sk": "calls"},
                f"ADD #total :less, #{api} :less",
                less=-1,
            )
        return counted

    def _count(self, workspace: str | None, month: str, api: str, limit: int | None) -> int | None:
        counted = self._update(
            workspace,
            month,
            "calls",
            f"#total :one, #{api} :one",
            None if limit is None else "attribute_not_exists(#total) OR #total < :limit",
            one=1,
            limit=limit,
        )
        return None if counted is None else int(counted["total"])

    def count_translation(self, month: str, characters: int, *, workspace: str | None = None) -> None:
        self._update(
            workspace, month, "translations", "#calls :one, #characters :characters", one=1, characters=characters
        )

    def claim_notice(self, month: str, notice: str, *, workspace: str | None = None) -> bool:
        return self._update(workspace, month, f"notice#{notice}", "", "attribute_not_exists(#pk)") is not None

    def count_images(
        self, month: str, channel_id: str, counts: dict[str, int], *, workspace: str | None = None
    ) -> None:
        unknown = set(counts) - set(IMAGE_OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}")
        added = ", ".join(f"#{outcome} :{outcome}" for outcome in counts)
        self._update(workspace, month, f"channel#{channel_id}", added, channel=channel_id, **counts)

    def _update(
        self,
        workspace: str | None,
        month: str,
        sk: str,
        add: str,
        condition: str | None = None,
        *,
        channel: str | None = None,
        **values,
    ) -> dict | None:
        """Update one item of the install's month: ADD `add` (the counters), SET its channel if given, its expiry
        (with the month) and its install (by_install); None when the condition failed."""
        also, install = install_set(workspace)
        sets = ("#channel_id = :channel, " if channel is not None else "") + "#expires_at = :expires_at" + also
        if channel is not None:
            values["channel"] = channel
        return self._tables.update(
            self._tables.jobs_table,
            {"pk": usage_pk(in_workspace(workspace, month)), "sk": sk},
            (f"ADD {add} " if add else "") + "SET " + sets,
            condition,
            expires_at=_expires_at(month),
            **install,
            **values,
        )

    def month_usage(
        self, month: str, *, channel_id: str | None = None, busiest: int = 5, workspace: str | None = None
    ) -> MonthUsage:
        pk = usage_pk(in_workspace(workspace, month))
        items = list(self._tables.query(self._tables.jobs_table, "#pk = :pk", {"pk": pk}))
        totals = next((item for item in items if item["sk"] == "calls"), {})
        translated = next((item for item in items if item["sk"] == "translations"), {})
        channels = [
            item
            for item in items
            if item["sk"].startswith("channel#") and (channel_id is None or item.get("channel_id") == channel_id)
        ]
        top = sorted(channels, key=lambda item: (-int(item.get("seen", 0)), item["channel_id"]))
        return MonthUsage(
            month,
            {api: int(totals.get(api, 0)) for api in REKOGNITION_APIS},
            {outcome: sum(int(item.get(outcome, 0)) for item in channels) for outcome in IMAGE_OUTCOMES},
            tuple((item["channel_id"], int(item.get("seen", 0))) for item in top if item.get("seen"))[:busiest],
            translate_calls=int(translated.get("calls", 0)),
            translate_characters=int(translated.get("characters", 0)),
        )


def _expires_at(month: str) -> int:
    year, number = map(int, month.split("-"))
    last_day = calendar.monthrange(year, number)[1]
    return calendar.timegm((year, number, last_day, 23, 59, 59)) + KEPT_DAYS * 86400
