"""Usage counters on DynamoDB, in the Jobs table's partition "usage#<month>": sk "calls" holds the month's total and
one counter per API; sk "channel#<id>" one counter per outcome; sk "translations" Amazon Translate's calls and
characters (an item of its own: never in the Rekognition total the cap reads); sk "notice#<name>" marks a notice
sent. A capped count is one conditional update (ADD, on condition that the total is under the limit), so Lambda
instances together never pass the cap. The items expire 400 days after the month (last month stays for /labels
usage; a year back for whoever asks). Another install's partitions are "usage#<workspace>/<month>", all installs'
calls together "usage#*/<month>" (counted first where there is an overall cap, and given back if the install's own
cap refuses the call); the one workspace's as they always were."""

from __future__ import annotations

import calendar

from bot.install_context import workspace_or_current
from bot.store.dynamodb.base import DynamoTables, of_install
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
        counted = self._tables.update(
            self._tables.jobs_table,
            {"pk": usage_pk(in_workspace(workspace, month)), "sk": "calls"},
            f"ADD #total :one, #{api} :one SET #expires_at = :expires_at" + _install_set(workspace),
            None if limit is None else "attribute_not_exists(#total) OR #total < :limit",
            one=1,
            limit=limit,
            expires_at=_expires_at(month),
            **of_install(workspace),
        )
        return None if counted is None else int(counted["total"])

    def count_translation(self, month: str, characters: int, *, workspace: str | None = None) -> None:
        self._tables.update(
            self._tables.jobs_table,
            {"pk": usage_pk(in_workspace(workspace, month)), "sk": "translations"},
            "ADD #calls :one, #characters :characters SET #expires_at = :expires_at" + _install_set(workspace),
            one=1,
            characters=characters,
            expires_at=_expires_at(month),
            **of_install(workspace),
        )

    def claim_notice(self, month: str, notice: str, *, workspace: str | None = None) -> bool:
        claimed = self._tables.update(
            self._tables.jobs_table,
            {"pk": usage_pk(in_workspace(workspace, month)), "sk": f"notice#{notice}"},
            "SET #expires_at = :expires_at" + _install_set(workspace),
            "attribute_not_exists(#pk)",
            expires_at=_expires_at(month),
            **of_install(workspace),
        )
        return claimed is not None

    def count_images(
        self, month: str, channel_id: str, counts: dict[str, int], *, workspace: str | None = None
    ) -> None:
        unknown = set(counts) - set(IMAGE_OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}")
        added = ", ".join(f"#{outcome} :{outcome}" for outcome in counts)
        self._tables.update(
            self._tables.jobs_table,
            {"pk": usage_pk(in_workspace(workspace, month)), "sk": f"channel#{channel_id}"},
            f"ADD {added} SET #channel_id = :channel, #expires_at = :expires_at" + _install_set(workspace),
            channel=channel_id,
            expires_at=_expires_at(month),
            **of_install(workspace),
            **counts,
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


def _install_set(workspace: str | None) -> str:
    """The SET of the item's install (by_install: an uninstall finds it), where it is another install's."""
    return ", #workspace = :workspace" if of_install(workspace) else ""


def _expires_at(month: str) -> int:
    year, number = map(int, month.split("-"))
    last_day = calendar.monthrange(year, number)[1]
    return calendar.timegm((year, number, last_day, 23, 59, 59)) + KEPT_DAYS * 86400
