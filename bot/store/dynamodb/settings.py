"""Channel settings on DynamoDB: one item per channel in the Settings table, read with GetItem and written with
UpdateItem (SET/REMOVE of the fields a command changed: `/labels max 3` leaves a threshold someone else just set
alone). A user who opted out of labelling (/labels me off) is an item of the same table, channel_id "user#<id>"
(channel IDs start with C, G or D: no channel has that key). Another install's are keyed "<workspace>/<id>" and
"user#<workspace>/<id>" (bot.store.encoding.in_workspace); the one workspace's as they always were. An install's own
settings (its moderation channel) are the item "install#<workspace>"."""

from __future__ import annotations

from collections.abc import Collection

from bot.install_context import workspace_or_current
from bot.settings import ChannelOverrides
from bot.store.dynamodb.base import DynamoTables, install_set
from bot.store.dynamodb.wire import to_wire, update_args
from bot.store.encoding import in_workspace

SETTINGS_FIELDS = (
    "threshold",
    "max_labels",
    "enabled",
    "tags",
    "include",
    "exclude",
    "moderation",
    "moderation_threshold",
    "moderation_ignored",
    "text",
    "language",
)


class DynamoChannelSettings:
    def __init__(self, tables: DynamoTables) -> None:
        self._tables = tables

    def get_overrides(self, channel_id: str, *, workspace: str | None = None) -> ChannelOverrides:
        item = self._tables.get(self._tables.settings_table, {"channel_id": in_workspace(workspace, channel_id)}) or {}
        return ChannelOverrides(
            threshold=None if item.get("threshold") is None else float(item["threshold"]),
            max_labels=None if item.get("max_labels") is None else int(item["max_labels"]),
            enabled=item.get("enabled"),
            tags=item.get("tags"),
            include=None if item.get("include") is None else tuple(item["include"]),
            exclude=None if item.get("exclude") is None else tuple(item["exclude"]),
            moderation=item.get("moderation"),
            moderation_threshold=None
            if item.get("moderation_threshold") is None
            else float(item["moderation_threshold"]),
            moderation_ignored=None if item.get("moderation_ignored") is None else tuple(item["moderation_ignored"]),
            text=item.get("text"),
            language=item.get("language"),
        )

    def save_overrides(
        self,
        channel_id: str,
        overrides: ChannelOverrides,
        *,
        fields: Collection[str] | None = None,
        workspace: str | None = None,
    ) -> None:
        """An update, never a put: of the fields written (all, or `fields`), those set are SET, those reset to None
        REMOVEd; anything else in the item is kept."""
        values = {name: getattr(overrides, name) for name in SETTINGS_FIELDS if fields is None or name in fields}
        given = {name: list(v) if isinstance(v, tuple) else v for name, v in values.items() if v is not None}
        also, install = install_set(workspace)  # by_install: an uninstall finds it
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in [*given, "updated_at"]) + also
        reset = [name for name, value in values.items() if value is None]
        if reset:
            update += " REMOVE " + ", ".join(f"#{name}" for name in reset)
        self._tables.client.update_item(
            TableName=self._tables.settings_table,
            Key=to_wire({"channel_id": in_workspace(workspace, channel_id)}),
            **update_args(update, **given, **install, updated_at=self._tables.clock()),
        )

    def user_labels_off(self, user_id: str, *, workspace: str | None = None) -> bool:
        item = self._tables.get(self._tables.settings_table, {"channel_id": user_key(user_id, workspace)}) or {}
        return bool(item.get("labels_off"))

    def set_user_labels_off(self, user_id: str, off: bool, *, workspace: str | None = None) -> None:
        also, install = install_set(workspace)
        self._tables.client.update_item(
            TableName=self._tables.settings_table,
            Key=to_wire({"channel_id": user_key(user_id, workspace)}),
            **update_args(
                "SET #labels_off = :off, #updated_at = :now" + also,
                off=off,
                now=self._tables.clock(),
                **install,
            ),
        )

    def moderation_channel(self, *, workspace: str | None = None) -> str | None:
        item = self._tables.get(self._tables.settings_table, {"channel_id": install_key(workspace)}) or {}
        return item.get("moderation_channel") or None

    def set_moderation_channel(self, channel_id: str | None, *, workspace: str | None = None) -> None:
        also, install = install_set(workspace)
        self._tables.client.update_item(
            TableName=self._tables.settings_table,
            Key=to_wire({"channel_id": install_key(workspace)}),
            **update_args(
                "SET #moderation_channel = :channel, #updated_at = :now" + also,
                channel=channel_id or "",
                now=self._tables.clock(),
                **install,
            ),
        )


def install_key(workspace: str | None = None) -> str:
    """The item of an install's own settings (no channel's key starts with "install#")."""
    return "install#" + workspace_or_current(workspace)


def user_key(user_id: str, workspace: str | None = None) -> str:
    return "user#" + in_workspace(workspace, user_id)
