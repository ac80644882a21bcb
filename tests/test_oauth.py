"""Installing with "Add to Slack" (bot/oauth.py): Bolt's OAuth flow over the bot's store, against the fake Slack's
authorize page and oauth.v2.access (tests/fakes/slack_oauth.py), on SQLite and DynamoDB: the install page, the
redirect with a good, reused, expired or forged state, a cancelled install, two workspaces and an org."""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.logs import TEXT_FORMAT, RedactingFormatter
from bot.oauth import BOT_SCOPES, InstallFlow, authorization_url, oauth_settings
from tests.conftest import Clock
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET, Workspace

REDIRECT = "https://labelbot.example.com/slack/oauth_redirect"
ONE = Workspace(team_id="T0ONE", team_name="Team One")
TWO = Workspace(team_id="T0TWO", team_name="チーム二")


@pytest.fixture
def flow(make_store, fake_slack):
    clock = Clock()
    stores = make_store(clock=clock)
    settings = oauth_settings(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        stores=stores,
        slack_api_url=fake_slack.api_url,
        redirect_uri=REDIRECT,
    )
    flow = InstallFlow(settings=settings, client=WebClient(base_url=fake_slack.api_url))
    flow.stores, flow.clock = stores, clock
    return flow


def get(path_query: str = "", *, cookie: str | None = None, language: str | None = None) -> BoltRequest:
    headers = {**({"cookie": cookie} if cookie else {}), **({"accept-language": language} if language else {})}
    return BoltRequest(body="", query=path_query, headers=headers)


def start(flow) -> tuple[str, str]:
    """The install page: the authorize URL its button links to, and the state cookie it sets."""
    page = flow.handle_installation(get())
    assert page.status == 200 and page.headers["content-type"] == ["text/html; charset=utf-8"]
    [url] = re.findall(r'<a href="([^"]+)"', page.body)
    [cookie] = page.headers["set-cookie"]
    return html.unescape(url), cookie.split(";")[0]


def test_the_install_page_sends_the_browser_to_slack_with_the_bots_scopes_and_a_state(flow, fake_slack):
    url, cookie = start(flow)

    parts = urlsplit(url)
    query = dict(pair.split("=", 1) for pair in parts.query.split("&"))
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == authorization_url(fake_slack.api_url)
    assert query["client_id"] == CLIENT_ID and query["state"] == cookie.split("=", 1)[1]
    assert unquote(query["scope"]).split(",") == list(BOT_SCOPES)
    assert authorization_url("https://slack.com/api/") == "https://slack.com/oauth/v2/authorize"


def test_an_approved_install_is_kept_for_its_workspace_and_the_page_says_what_next(flow, fake_slack, caplog):
    caplog.set_level(logging.DEBUG)
    url, cookie = start(flow)
    back = fake_slack.oauth.approve(url, TWO, installer="UHANAKO")

    page = flow.handle_callback(get(urlsplit(back).query, cookie=cookie, language="ja,en;q=0.8"))

    assert page.status == 200
    assert "チーム二" in page.body and "/invite @labelbot" in page.body
    bot = flow.stores.installations.find_bot(enterprise_id=None, team_id="T0TWO")
    [exchange] = fake_slack.oauth.exchanges
    assert bot.bot_token == exchange["access_token"] and bot.bot_user_id == "UBOT"
    assert bot.bot_scopes == list(BOT_SCOPES)
    assert flow.stores.installations.find_installation(enterprise_id=None, team_id="T0TWO").user_id == "UHANAKO"
    logged = "\n".join(RedactingFormatter(TEXT_FORMAT, (CLIENT_SECRET,)).format(r) for r in caplog.records)
    assert "oauth.v2.access" in logged  # slack_sdk's DEBUG lines, its answer included, as the bot's log writes them
    for secret in (CLIENT_SECRET, bot.bot_token):
        assert secret not in page.body and secret not in logged
    assert page.headers["set-cookie"][0].startswith("slack-app-oauth-state=deleted;")


def test_a_reused_forged_or_expired_state_installs_nothing(flow, fake_slack):
    url, cookie = start(flow)
    back = urlsplit(fake_slack.oauth.approve(url, ONE)).query
    assert flow.handle_callback(get(back, cookie=cookie)).status == 200

    reused = flow.handle_callback(get(back, cookie=cookie))
    forged_state = "state=" + "A" * 43
    forged = flow.handle_callback(
        get(re.sub(r"state=[^&]+", forged_state, back), cookie="slack-app-oauth-state=" + "A" * 43)
    )
    url2, cookie2 = start(flow)
    flow.clock.now += 601
    expired = flow.handle_callback(get(urlsplit(fake_slack.oauth.approve(url2, TWO)).query, cookie=cookie2))

    for page in (reused, forged, expired):
        assert page.status == 401 and "expired or was already used" in page.body
    assert flow.stores.installations.find_bot(enterprise_id=None, team_id="T0TWO") is None
    assert len(fake_slack.oauth.exchanges) == 1  # no code was spent on a bad state


def test_another_browsers_redirect_is_refused(flow, fake_slack):
    url, _ = start(flow)
    page = flow.handle_callback(get(urlsplit(fake_slack.oauth.approve(url, ONE)).query))  # no cookie
    assert page.status == 400 and "another browser" in page.body
    assert flow.stores.installations.find_bot(enterprise_id=None, team_id="T0ONE") is None


def test_a_cancelled_install_says_so_and_keeps_nothing(flow, fake_slack):
    url, cookie = start(flow)
    page = flow.handle_callback(get(urlsplit(fake_slack.oauth.cancel(url)).query, cookie=cookie, language="en-US"))
    assert page.status == 200 and "You cancelled the installation" in page.body
    assert fake_slack.oauth.exchanges == []


def test_two_workspaces_and_an_org_each_get_their_own_token(flow, fake_slack):
    org = Workspace(
        team_id=None, team_name="", enterprise_id="E0ORG", enterprise_name="Org", is_enterprise_install=True
    )
    for workspace in (ONE, TWO, org):
        url, cookie = start(flow)
        page = flow.handle_callback(get(urlsplit(fake_slack.oauth.approve(url, workspace)).query, cookie=cookie))
        assert page.status == 200, page.body

    installations = flow.stores.installations
    tokens = {
        installations.find_bot(enterprise_id=None, team_id="T0ONE").bot_token,
        installations.find_bot(enterprise_id=None, team_id="T0TWO").bot_token,
        installations.find_bot(enterprise_id="E0ORG", team_id="T0ANY", is_enterprise_install=True).bot_token,
    }
    assert tokens == {exchange["access_token"] for exchange in fake_slack.oauth.exchanges} and len(tokens) == 3
    assert "every workspace of Org" in page.body


def test_the_scopes_asked_for_are_the_manifests():
    manifest = yaml.safe_load(Path(__file__).parent.parent.joinpath("manifest.yml").read_text())
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]
