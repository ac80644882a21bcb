"""Installing labelbot with "Add to Slack" (Slack's OAuth v2), through Bolt's own flow: the install page
(GET /slack/install), the redirect back from Slack (GET /slack/oauth_redirect), each install kept in the bot's store
(bot.store.installations), each state single-use and 10 minutes long. What this module adds is what Bolt leaves to
the app: the scopes (manifest.yml's), where Slack's pages are (SLACK_API_URL's host: slack.com, or a test's fake),
and the pages a person sees, in their browser's language (English or Japanese), saying what happened and what to do
next. The client secret and the tokens are never in a page or a log line."""

from __future__ import annotations

import html
import logging
from urllib.parse import urlsplit

from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_flow import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation

from bot.i18n import N_, choose_language, words_for
from bot.store import Stores
from bot.store.installations import OAUTH_STATE_SECONDS
from bot.workspaces import TEAM_URL

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# What the bot asks a workspace for: manifest.yml's bot scopes (tests/test_oauth.py keeps the two equal).
BOT_SCOPES = (
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "files:read",
    "files:write",
    "im:write",
    "chat:write",
    "reactions:write",
    "commands",
    "channels:read",
    "groups:read",
    "users:read",
)
# Why an install failed, as Bolt names it, in words for the person who tried (the rest: "something went wrong").
FAILURES = {
    "access_denied": N_("You cancelled the installation, so labelbot wasn't added. You can start again any time."),
    "invalid_browser": N_(
        "This installation was started in another browser (or its cookie expired). Start again from the install "
        "page in this browser."
    ),
    "invalid_state": N_(
        "This installation link has expired or was already used. Start again from the install page: each link "
        "works once, for 10 minutes."
    ),
    "missing_code": N_("Slack didn't send the installation's code back. Start again from the install page."),
    "invalid_code": N_(
        "Slack didn't accept the installation's code (it works once, for 10 minutes). Start again from the "
        "install page."
    ),
    "storage_error": N_("labelbot couldn't keep the installation. Please try again in a few minutes."),
}
SOMETHING_WENT_WRONG = N_("Something went wrong while installing labelbot. Please start again from the install page.")


def oauth_settings(
    *, client_id: str, client_secret: str, stores: Stores, slack_api_url: str, redirect_uri: str | None = None
) -> OAuthSettings:
    """Bolt's OAuthSettings over the bot's store. slack_api_url: SLACK_API_URL (Slack's own by default), whose host
    also serves the authorize page; redirect_uri: the app's Redirect URL, when it has more than one."""
    settings = OAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorization_url(slack_api_url),
        installation_store=stores.installations,
        installation_store_bot_only=True,  # the bot acts for itself: no user token is asked for or kept
        state_store=stores.oauth_states,
        state_expiration_seconds=OAUTH_STATE_SECONDS,
        callback_options=CallbackOptions(success=_installed, failure=_not_installed),
    )
    settings.install_page_rendering_enabled = True
    return settings


class InstallFlow(OAuthFlow):
    """Bolt's OAuth flow with labelbot's install page: what it does, and Slack's "Add to Slack" button; an install
    also keeps its workspace's URL (for /labels find's permalinks)."""

    def run_installation(self, code: str) -> Installation | None:
        installation = super().run_installation(code)
        if installation is None or not installation.bot_token:
            return installation
        url = installation.enterprise_url  # an org-wide install's: Bolt asked auth.test for it
        if not installation.is_enterprise_install:
            try:
                url = self.client.auth_test(token=installation.bot_token).get("url")
            except (SlackApiError, OSError) as exc:  # the install stands; /labels find answers without links
                log.warning("auth.test after an install failed: %s", type(exc).__name__)
            if isinstance(url, str) and url.startswith("https://"):
                installation.set_custom_value(TEAM_URL, url if url.endswith("/") else url + "/")
        return installation

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        tr = _words(request)
        alt = html.escape(tr("Add to Slack"))
        button = (
            f'<p><a href="{html.escape(url)}"><img alt="{alt}" height="40" width="139" '
            'src="https://platform.slack-edge.com/img/add_to_slack.png" '
            'srcset="https://platform.slack-edge.com/img/add_to_slack.png 1x, '
            'https://platform.slack-edge.com/img/add_to_slack@2x.png 2x"></a></p>'
        )
        intro = tr(
            "labelbot answers every photo or screenshot posted in a channel it is in with what is in it, in the "
            "image's thread. Add it to your Slack workspace:"
        )
        return _html(tr("Add labelbot to Slack"), f"<p>{html.escape(intro)}</p>{button}")


def authorization_url(slack_api_url: str) -> str:
    """Slack's authorize page on SLACK_API_URL's host: https://slack.com/oauth/v2/authorize for Slack itself."""
    parts = urlsplit(slack_api_url)
    return f"{parts.scheme}://{parts.netloc}/oauth/v2/authorize"


def _installed(args: SuccessArgs) -> BoltResponse:
    installation = args.installation
    tr = _words(args.request)
    if installation.is_enterprise_install:
        where = installation.enterprise_name or installation.enterprise_id or ""
        said = tr("labelbot is installed for every workspace of %(org)s.", org=where)
    else:
        said = tr("labelbot is installed in %(workspace)s.", workspace=installation.team_name or installation.team_id)
    log.info(
        "installed in %s (enterprise %s) by %s",
        installation.team_id or "-",
        installation.enterprise_id or "-",
        installation.user_id or "-",
    )
    next_steps = tr(
        "Next: invite it to a channel with /invite @labelbot, then post a photo or a screenshot there. /labels help "
        "in any channel says what it can do."
    )
    return _page(args.settings, 200, tr("Installed"), [said, next_steps])


def _not_installed(args: FailureArgs) -> BoltResponse:
    tr = _words(args.request)
    log.info("an install failed: %s", args.reason)  # Bolt's reason: a word such as invalid_state, no secret
    said = tr(FAILURES.get(args.reason, SOMETHING_WENT_WRONG))
    return _page(args.settings, args.suggested_status_code, tr("Not installed"), [said])


def _words(request: BoltRequest):
    """The browser's language, if the bot speaks it (Accept-Language), else English."""
    accepted = (request.headers.get("accept-language") or [""])[0]
    for part in accepted.split(","):
        language = choose_language(part.split(";")[0].strip())
        if language is not None:
            return words_for(language)
    return words_for("en")


def _html(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>labelbot: {html.escape(title)}</title></head>"
        '<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; padding: 0 1em">'
        f"<h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def _page(settings: OAuthSettings, status: int, title: str, paragraphs: list[str]) -> BoltResponse:
    body = "".join(f"<p>{html.escape(paragraph)}</p>" for paragraph in paragraphs)
    return BoltResponse(
        status=status,
        body=_html(title, body),
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Set-Cookie": [settings.state_utils.build_set_cookie_for_deletion()],  # the state is spent either way
        },
    )
