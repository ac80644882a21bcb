"""The reply's Show where button: acked at once; a lazy listener then draws and posts the picture
(bot.show_where), or tells the presser, only them, where it is or why it can't be."""

from __future__ import annotations

from slack_bolt import App

from bot.render import SHOW_WHERE_ACTION
from bot.services import Services
from bot.show_where import Press
from bot.slack_api import respond_ephemeral


def register(app: App, services: Services) -> None:
    def ack_press(ack) -> None:
        ack()  # within Slack's 3 seconds: the download, the drawing and the upload happen after it

    def show_where(body: dict, respond) -> None:
        message = body.get("message") or {}
        container = body.get("container") or {}
        action = (body.get("actions") or [{}])[0]
        channel_id = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        press = Press(
            channel_id=channel_id,
            message_ts=str(action.get("value", "")),
            thread_ts=str(message.get("thread_ts") or container.get("thread_ts") or action.get("value", "")),
            user_id=(body.get("user") or {}).get("id", ""),
        )
        answer = services.show_where.press(press)
        if answer:
            respond_ephemeral(respond, answer, "answer a Show where press")

    app.action(SHOW_WHERE_ACTION)(ack=ack_press, lazy=[show_where])
