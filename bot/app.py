"""build_app(config, services) -> the Bolt app with every listener registered. Nothing global, so tests build
as many apps as they like."""

from __future__ import annotations

import logging

from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from bot.config import Config
from bot.i18n import N_, words_for
from bot.install_context import working_for
from bot.listeners import commands, files, home, installs, moderation, shortcuts, where
from bot.oauth import InstallFlow, oauth_settings
from bot.services import Services
from bot.workspaces import ContextCopyingExecutor, WorkspaceAuthorize, request_workspace

log = logging.getLogger(__name__)

MALFORMED_EVENT = "labelbot_malformed_event"  # what an Events API envelope's unusable `event` becomes
# The answer to a command or button of a workspace labelbot no longer has (many workspaces; its language went with it)
NOT_INSTALLED = N_(
    "labelbot isn't installed in this workspace any more. A workspace admin can add it again with Add to Slack."
)


class LabelbotApp(App):
    """Bolt's App, except that an Events API envelope whose `event` is not an object with a type is acked and
    ignored: Bolt would answer it 500 or 404, and Slack would send it again. Its signature is checked all the same
    (Bolt verifies the raw body, which stays as it came)."""

    many_workspaces = False  # set by build_app: each request is worked on for the install it names

    def dispatch(self, req: BoltRequest) -> BoltResponse:
        body = req.body
        if isinstance(body, dict) and body.get("type") == "event_callback":
            event = body.get("event")
            if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event["type"]:
                body["event"] = {"type": MALFORMED_EVENT, "was": type(event).__name__}
        if not self.many_workspaces:
            return super().dispatch(req)
        # Its listeners, and the lazy ones they start, work for the install the request names (bot.workspaces);
        # Bolt's authorisation (WorkspaceAuthorize) ignores a request of an install labelbot doesn't have.
        with working_for(request_workspace(req.context)):
            return super().dispatch(req)


def build_app(config: Config, services: Services) -> App:
    many = services.workspaces is not None
    app = LabelbotApp(
        # Named: without a name Bolt takes its caller's file name from inspect.stack(), which reads the source of
        # every frame on the stack (most of the time an app took to build).
        name="labelbot",
        client=services.slack if not many else WebClient(base_url=config.slack_api_url),
        signing_secret=config.signing_secret or "",
        request_verification_enabled=not config.socket_mode,
        # Ack only after the listener has recorded the job: if the store write fails, Slack gets a 500 and retries.
        process_before_response=True,
        **(install_options(config, services) if many else {}),
    )
    app.many_workspaces = many

    @app.event(MALFORMED_EVENT)
    def ignore_malformed_event(event: dict) -> None:
        log.debug("ignoring an event callback whose event is not an object with a type (a %s)", event.get("was"))

    files.register(app, services)
    commands.register(app, services)
    home.register(app, services)
    shortcuts.register(app, services)
    moderation.register(app, services)
    where.register(app, services)
    installs.register(app, services)
    return app


def install_options(config: Config, services: Services) -> dict:
    """Many workspaces: Bolt's "Add to Slack" flow (bot.oauth), each request authorised from the kept installs
    (bot.workspaces: no Slack call), and lazy listeners that keep working for the request's install."""
    assert services.workspaces is not None and config.client_id and config.client_secret
    settings = oauth_settings(
        client_id=config.client_id,
        client_secret=config.client_secret,
        stores=services.stores,
        slack_api_url=config.slack_api_url,
        redirect_uri=config.redirect_uri,
    )
    return {
        "oauth_flow": InstallFlow(settings=settings, client=WebClient(base_url=config.slack_api_url)),
        "user_facing_authorize_error_message": "\n".join(words_for(code)(NOT_INSTALLED) for code in ("en", "ja")),
        "authorize": WorkspaceAuthorize(services.workspaces),
        "listener_executor": ContextCopyingExecutor(max_workers=5, thread_name_prefix="labelbot-lazy"),  # Bolt's 5
    }
