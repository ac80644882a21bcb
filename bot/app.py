"""build_app(config, services) -> the Bolt app with every listener registered. Nothing global, so tests build
as many apps as they like."""

from __future__ import annotations

import logging

from slack_bolt import App, BoltRequest, BoltResponse

from bot.config import Config
from bot.listeners import commands, files, home, moderation, shortcuts, where
from bot.services import Services

log = logging.getLogger(__name__)

MALFORMED_EVENT = "labelbot_malformed_event"  # what an Events API envelope's unusable `event` becomes


class LabelbotApp(App):
    """Bolt's App, except that an Events API envelope whose `event` is not an object with a type is acked and
    ignored: Bolt would answer it 500 or 404, and Slack would send it again. Its signature is checked all the same
    (Bolt verifies the raw body, which stays as it came)."""

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        body = req.body
        if isinstance(body, dict) and body.get("type") == "event_callback":
            event = body.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event["type"]:
                body["event"] = {"type": MALFORMED_EVENT, "was": type(event).__name__}
        return super().dispatch(req)


def build_app(config: Config, services: Services) -> App:
    app = LabelbotApp(
        # Named: without a name Bolt takes its caller's file name from inspect.stack(), which reads the source of
        # every frame on the stack (most of the time an app took to build).
        name="labelbot",
        client=services.slack,
        signing_secret=config.signing_secret or "",
        request_verification_enabled=not config.socket_mode,
        # Ack only after the listener has recorded the job: if the store write fails, Slack gets a 500 and retries.
        process_before_response=True,
    )

    @app.event(MALFORMED_EVENT)
    def ignore_malformed_event(event: dict) -> None:
        log.debug("ignoring an event callback whose event is not an object with a type (a %s)", event.get("was"))

    files.register(app, services)
    commands.register(app, services)
    home.register(app, services)
    shortcuts.register(app, services)
    moderation.register(app, services)
    where.register(app, services)
    return app
