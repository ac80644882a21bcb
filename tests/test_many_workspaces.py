"""One deployment, many workspaces ("Add to Slack", issue 30): installed through the bot's own /slack/install and
/slack/oauth_redirect (a browser played with urllib, Slack's authorize page by the fake), then images and commands
from each workspace answered with that workspace's own token, in both runtimes. The fake Slack refuses a token in
another workspace's channel (channel_not_found) and its files (the sign-in page), as Slack does."""

from __future__ import annotations

import html
import itertools
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest

from bot.config import ConfigError, load_config
from bot.oauth import INSTALL_PATH, REDIRECT_PATH
from bot.render import SHOW_WHERE_ACTION
from bot.services import build_workspaces
from bot.usage import usage_month
from tests import slack_requests
from tests.conftest import both_runtimes, fixture_bytes
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET, Workspace
from tests.slack_requests import block_actions, file_share_event
from tests.test_show_where import BOXED
from tests.test_store import at_once

pytestmark = both_runtimes

ONE = Workspace(team_id="T0ONE", team_name="Team One", bot_user_id="UBOTONE", bot_id="BBOTONE")
TWO = Workspace(team_id="T0TWO", team_name="チーム二", bot_user_id="UBOTTWO", bot_id="BBOTTWO")
MANY = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}


@dataclass
class Page:
    status: int
    body: str
    headers: dict[str, str]


def browse(url: str, cookie: str | None = None) -> Page:
    """A browser's GET (no redirects followed: the test plays where the browser goes next)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Page(response.status, response.read().decode(), {k.lower(): v for k, v in response.headers.items()})
    except urllib.error.HTTPError as error:
        return Page(error.code, error.read().decode(), {k.lower(): v for k, v in error.headers.items()})


def install(bot, fake_slack, workspace: Workspace, installer: str = "UINSTALLER") -> Page:
    """Open the bot's install page, press Add to Slack, approve on Slack's page, come back: the page shown."""
    fake_slack.oauth.redirect_url = bot.url + REDIRECT_PATH
    page = browse(bot.url + INSTALL_PATH)
    assert page.status == 200, page.body
    [authorize] = re.findall(r'<a href="([^"]+)"', page.body)
    cookie = page.headers["set-cookie"].split(";")[0]
    back = fake_slack.oauth.approve(html.unescape(authorize), workspace, installer=installer)
    return browse(back, cookie)


def photo(fake_slack, file_id: str, team: str, tail: bytes = b"") -> dict:
    """A cat photo posted in `team`; a tail (bytes after the JPEG's end) makes it another image for the caches."""
    data = fixture_bytes("cat.jpg") + tail
    return fake_slack.add_file(file_id, data, "cat.jpg", "image/jpeg", "jpg", team=team)


def token_of(fake_slack, team: str) -> str:
    [token] = [t for t, w in fake_slack.oauth.issued.items() if w.team_id == team]
    return token


def calls_with(fake_slack, method: str) -> list[tuple[str, dict]]:
    """(token, args) of each call of `method` Slack answered ok."""
    return [
        (call.headers.get("authorization", "").removeprefix("Bearer "), call.args)
        for call in fake_slack.calls
        if call.method == method and call.args.get("_ok")
    ]


def test_two_workspaces_install_then_each_image_is_answered_with_its_workspaces_token(start_bot, fake_slack, aws_env):
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE", C0TWO="T0TWO")

    first, second = install(bot, fake_slack, ONE), install(bot, fake_slack, TWO)

    assert first.status == 200 and "Team One" in first.body and "/invite @labelbot" in first.body
    assert second.status == 200 and "チーム二" in second.body
    one, two = token_of(fake_slack, "T0ONE"), token_of(fake_slack, "T0TWO")
    bot.post_event(file_share_event("C0ONE", [photo(fake_slack, "F1", "T0ONE")]), team="T0ONE")
    bot.post_event(file_share_event("C0TWO", [photo(fake_slack, "F2", "T0TWO")]), team="T0TWO")

    posts = {post["channel"]: post for post in fake_slack.wait_for_posts(2)}
    assert posts["C0ONE"]["text"].startswith("Cat 99.2%") and posts["C0TWO"]["text"].startswith("Cat 99.2%")
    assert {args["channel"]: token for token, args in calls_with(fake_slack, "chat.postMessage")} == {
        "C0ONE": one,
        "C0TWO": two,
    }
    downloads = {f: fake_slack.files[f].downloads[0]["authorization"] for f in ("F1", "F2")}
    assert downloads == {"F1": f"Bearer {one}", "F2": f"Bearer {two}"}
    # The same bytes in two workspaces: two DetectLabels calls, never one workspace's answer reused in the other
    assert len(aws_env.calls) == 2


def test_an_event_of_a_workspace_without_an_install_is_acked_and_ignored(start_bot, fake_slack, aws_env):
    bot = start_bot(**MANY)
    install(bot, fake_slack, ONE)
    fake_slack.channel_teams.update(C0ELSE="T0ELSE")

    answer = bot.post_event(file_share_event("C0ELSE", [photo(fake_slack, "F9", "T0ELSE")]), team="T0ELSE")

    assert answer.status == 200  # Slack would retry anything else
    assert bot.services.stores.queue.queue_stats().depth == 0
    assert fake_slack.posts() == [] and aws_env.calls == []


def test_requests_are_authorised_from_the_kept_install_without_asking_slack(start_bot, fake_slack):
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE")
    install(bot, fake_slack, ONE)
    tests_before = len([c for c in fake_slack.calls if c.method == "auth.test"])

    for n in range(3):
        bot.post_event(file_share_event("C0ONE", [photo(fake_slack, f"F{n}", "T0ONE")]), team="T0ONE")
        answer = bot.command("status", channel="C0ONE", team="T0ONE")
        assert answer.status == 200 and "threshold" in answer.json()["text"].lower()
    fake_slack.wait_for_posts(3)

    assert len([c for c in fake_slack.calls if c.method == "auth.test"]) == tests_before  # none per request
    assert bot.services.workspaces.store_reads <= 2  # read once, kept (on Lambda: once per instance and cache)


@pytest.mark.server_only
def test_many_workspaces_config_is_checked_and_socket_mode_refused(tmp_path):
    base = {"SLACK_SIGNING_SECRET": "s", "LABELBOT_DB": str(tmp_path / "db.sqlite3")}
    assert load_config({**base, **MANY}, mode="http").many_workspaces
    refused = [
        ({**MANY, "SLACK_APP_TOKEN": "xapp-1"}, "auto", "Socket Mode serves one workspace"),
        ({**MANY}, "socket", "Socket Mode serves one workspace"),
        ({**MANY, "SLACK_BOT_TOKEN": "xoxb-1"}, "http", "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set"),
        ({"SLACK_CLIENT_ID": CLIENT_ID}, "http", "SLACK_CLIENT_SECRET is not set"),
        ({"SLACK_CLIENT_SECRET": CLIENT_SECRET}, "http", "SLACK_CLIENT_ID is not set"),
        ({**MANY, "SLACK_CLIENT_ID": "labelbot"}, "http", "SLACK_CLIENT_ID must be the app's Client ID"),
        ({**MANY, "LABELBOT_ADMINS": "U1"}, "http", "LABELBOT_ADMINS names one workspace's"),
        ({**MANY, "LABELBOT_MODERATION_CHANNEL": "C1"}, "http", "/labels moderation channel"),
        ({**MANY, "SLACK_REDIRECT_URI": "https://x.example/oauth"}, "http", "SLACK_REDIRECT_URI must be"),
    ]
    for environ, mode, message in refused:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config({**base, **environ}, mode=mode)
    config = load_config({**base, **MANY}, mode="http")
    assert CLIENT_SECRET in config.secrets and config.bot_token == ""


VIOLENCE = [
    {"Name": "Violence", "Confidence": 91.0, "ParentName": "", "TaxonomyLevel": 1},
    {"Name": "Graphic Violence", "Confidence": 91.0, "ParentName": "Violence", "TaxonomyLevel": 2},
]


def test_each_workspace_chooses_its_moderation_channel_and_sees_only_its_own_usage(start_bot, fake_slack, aws_env):
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE", C0TWO="T0TWO", C0MODTWO="T0TWO")
    fake_slack.users.update(UOWNER={"is_owner": True}, UMEMBER={})
    install(bot, fake_slack, ONE)
    install(bot, fake_slack, TWO)

    def command(text: str, team: str, channel: str, user: str = "UOWNER") -> str:
        answer = bot.command(text, channel=channel, team=team, user=user)
        assert answer.status == 200
        return answer.json()["text"]

    assert "Only workspace admins and owners" in command(
        "moderation channel <#C0MODTWO|mod>", "T0TWO", "C0TWO", user="UMEMBER"
    )
    assert "<#C0MODTWO>" in command("moderation channel <#C0MODTWO|mod>", "T0TWO", "C0TWO")
    assert command("moderation on", "T0TWO", "C0TWO").startswith("Done: turned moderation on in this channel")
    refused = command("moderation on", "T0ONE", "C0ONE")  # ONE chose no channel: no one would see its notices
    assert "/labels moderation channel #channel" in refused and "Nothing was changed" in refused
    assert "<#C0MODTWO>" in command("status", "T0TWO", "C0TWO")
    assert "<#C0MODTWO>" not in command("status", "T0ONE", "C0ONE")

    aws_env.moderation_labels = VIOLENCE
    bot.post_event(file_share_event("C0TWO", [photo(fake_slack, "F2", "T0TWO")], user="UPOSTER"), team="T0TWO")
    notices = fake_slack.wait_for_calls("chat.postMessage", 2)
    [notice] = [call for call in notices if call["channel"] == "C0MODTWO"]
    assert any(block["type"] == "actions" for block in notice["blocks"])  # the admins' buttons
    two = token_of(fake_slack, "T0TWO")
    assert [token for token, args in calls_with(fake_slack, "chat.postMessage") if args["channel"] == "C0MODTWO"] == [
        two
    ]
    store = bot.services.stores.moderation
    assert [image.file_id for image in store.held_since(0, workspace="-:T0TWO")] == ["F2"]
    assert store.held_since(0, workspace="-:T0ONE") == [] and store.held_since(0, workspace="") == []

    # the held line in the thread (after the settings change's announcement and the notice): counted before it
    assert any(post.get("thread_ts") for post in fake_slack.wait_for_posts(3))
    # An owner sees their workspace's month: TWO's one held image and one call; ONE's nothing
    assert re.search(r"images seen +1 +0\n", command("usage", "T0TWO", "C0TWO"))
    assert re.search(r"DetectModerationLabels +1 +0\n", command("usage", "T0TWO", "C0TWO"))
    assert re.search(r"images seen +0 +0\n", command("usage", "T0ONE", "C0ONE"))
    assert re.search(r"Rekognition calls +0 +0\n", command("usage", "T0ONE", "C0ONE"))


def test_a_rotating_token_is_refreshed_once_when_many_threads_and_processes_need_it_at_once(
    start_bot, fake_slack, aws_env
):
    fake_slack.oauth.rotation = True
    fake_slack.oauth.expires_in = 3600  # due: refreshed within 2 hours of its expiry
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE")
    install(bot, fake_slack, ONE)
    [first] = fake_slack.oauth.issued
    # another process (or Lambda instance) on the same store, with its own memory
    other = build_workspaces(bot.config, bot.services.stores)

    both = itertools.cycle([bot.services.workspaces, other])
    tokens = at_once(8, lambda: next(both).token("-:T0ONE"))

    assert len(fake_slack.oauth.refreshes) == 1  # one oauth.v2.access with the refresh token
    [refreshed] = [token for token in fake_slack.oauth.issued if token != first]
    assert set(tokens) <= {first, refreshed} and refreshed in tokens  # the old one still works until it expires
    kept = bot.services.stores.installations.find_bot(enterprise_id=None, team_id="T0ONE")
    assert kept.bot_token == refreshed and kept.bot_refresh_token in fake_slack.oauth.refresh_tokens
    fake_slack.oauth.expiry[first] = 0  # the old token expires
    bot.post_event(file_share_event("C0ONE", [photo(fake_slack, "F1", "T0ONE")]), team="T0ONE")
    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    assert {token for token, _ in calls_with(fake_slack, "chat.postMessage")} == {refreshed}
    assert len(fake_slack.oauth.refreshes) == 1


def everything_naming(stores, key: str) -> list[str]:
    """Every stored value that names the install `key` ("-:T0ONE", in a column, a key or an attribute): read
    table by table (a test may scan; the bot never does)."""
    backend, found = stores.backend, []
    if hasattr(backend, "reading"):  # SQLite
        with backend.reading() as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                if table.startswith("tag_words_"):  # the full-text index's own tables: tag_words is read instead
                    continue
                for row in db.execute(f"SELECT * FROM {table}"):
                    found += [f"{table}: {value}" for value in tuple(row) if isinstance(value, str) and key in value]
        return found
    for table in (backend.settings_table, backend.jobs_table, backend.tags_table):
        for page in backend.client.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                found += [f"{table}: {item}" for value in item.values() if key in str(value.get("S", ""))][:1]
    return found


def test_an_uninstall_deletes_that_workspaces_token_and_records_and_nothing_else(
    start_bot, fake_slack, aws_env, monkeypatch
):
    monkeypatch.setattr("bot.listeners.installs.SECOND_PASS_SECONDS", 0.5)
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE", C0TWO="T0TWO", C0MOD="T0ONE")
    fake_slack.users.update(UOWNER={"is_owner": True})
    install(bot, fake_slack, ONE)
    install(bot, fake_slack, TWO)
    for team, channel, file_id in (("T0ONE", "C0ONE", "F1"), ("T0TWO", "C0TWO", "F2")):
        bot.command("threshold 90", channel=channel, team=team, user="UOWNER")
        bot.command("me off", channel=channel, team=team, user="UMUTED")
        bot.command("moderation channel <#C0MOD|mod>", channel=channel, team=team, user="UOWNER")
        bot.post_event(file_share_event(channel, [photo(fake_slack, file_id, team)]), team=team)
    fake_slack.wait_for_posts(4)  # two announcements and two replies
    # ONE also has a Show where picture and a held image (with its notice), and a cached moderation answer
    aws_env.labels = BOXED
    event = file_share_event("C0ONE", [photo(fake_slack, "F5", "T0ONE", b"boxed")])
    bot.post_event(event, team="T0ONE")
    fake_slack.wait_for_posts(5)
    reply = next(m for m in fake_slack.thread_messages if m.get("thread_ts") == event["ts"])
    slack_requests.post_interaction(bot.events_url, block_actions(reply, SHOW_WHERE_ACTION, user="UBOB", team="T0ONE"))
    fake_slack.wait_for_uploads(1)
    bot.command("moderation on", channel="C0ONE", team="T0ONE", user="UOWNER")
    aws_env.moderation_labels = VIOLENCE
    bot.post_event(file_share_event("C0ONE", [photo(fake_slack, "F6", "T0ONE", b"flagged")]), team="T0ONE")
    fake_slack.wait_for_posts(8)  # the announcement, the notice and the held line
    aws_env.moderation_labels = []
    stores = bot.services.stores
    assert stores.moderation.held_since(0, workspace="-:T0ONE")
    assert everything_naming(stores, "-:T0ONE") and everything_naming(stores, "-:T0TWO")

    answer = bot.post_event({"type": "app_uninstalled"}, team="T0ONE")
    assert answer.status == 200
    fake_slack.oauth.uninstall("T0ONE")

    deadline = time.monotonic() + 15
    while everything_naming(stores, "-:T0ONE") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert everything_naming(stores, "-:T0ONE") == []
    assert stores.installations.find_bot(enterprise_id=None, team_id="T0ONE") is None
    # TWO is untouched: its token, settings, index and usage
    assert stores.installations.find_bot(enterprise_id=None, team_id="T0TWO") is not None
    assert stores.settings.get_overrides("C0TWO", workspace="-:T0TWO").threshold == 90.0
    assert [i.file_id for i in stores.tags.search_images(("cat",), channel_id=None, workspace="-:T0TWO")] == ["F2"]
    assert stores.usage.month_usage(usage_month(time.time()), workspace="-:T0TWO").total_calls == 1
    # Slack's later requests for ONE are acked and ignored
    posts = len(fake_slack.posts())
    assert stores.moderation.held_since(0, workspace="-:T0ONE") == []
    later = bot.post_event(file_share_event("C0ONE", [photo(fake_slack, "F3", "T0ONE")]), team="T0ONE")
    where = f"{fake_slack.url}/api/response_url.status"
    status = slack_requests.post_command(bot.events_url, "status", channel="C0ONE", team="T0ONE", response_url=where)
    assert later.status == 200 and status.status == 200
    [said] = [call.args["text"] for call in fake_slack.calls if call.method == "response_url.status"]
    assert said.startswith("labelbot isn't installed in this workspace any more.") and "インストール" in said
    assert everything_naming(stores, "-:T0ONE") == [] and len(fake_slack.posts()) == posts


def test_an_org_wide_install_answers_every_workspace_of_the_org_with_its_one_token(start_bot, fake_slack, aws_env):
    org = Workspace(
        team_id=None,
        team_name="",
        enterprise_id="E0ORG",
        enterprise_name="Org",
        is_enterprise_install=True,
        bot_user_id="UBOTORG",
        bot_id="BBOTORG",
    )
    bot = start_bot(**MANY)
    fake_slack.team_orgs.update(T0EAST="E0ORG", T0WEST="E0ORG")
    fake_slack.channel_teams.update(C0EAST="T0EAST", C0WEST="T0WEST")
    page = install(bot, fake_slack, org)
    assert page.status == 200 and "every workspace of Org" in page.body
    [token] = fake_slack.oauth.issued

    for team, channel, file_id in (("T0EAST", "C0EAST", "F1"), ("T0WEST", "C0WEST", "F2")):
        photo_file = photo(fake_slack, file_id, team)
        answer = bot.post_event(
            file_share_event(channel, [photo_file]), team=team, enterprise="E0ORG", enterprise_install=True
        )
        assert answer.status == 200
    assert {post["channel"] for post in fake_slack.wait_for_posts(2)} == {"C0EAST", "C0WEST"}
    assert {t for t, _ in calls_with(fake_slack, "chat.postMessage")} == {token}
    # Kept per org, as Slack scopes an org's channels: a search from either workspace finds both
    found = bot.services.stores.tags.search_images(("cat",), channel_id=None, workspace="E0ORG:-")
    assert sorted(i.channel_id for i in found) == ["C0EAST", "C0WEST"]
    command = bot.command("status", channel="C0WEST", team="T0WEST", enterprise="E0ORG", enterprise_install=True)
    assert command.status == 200 and "threshold" in command.json()["text"].lower()

    # A workspace-level install inside another org is a workspace of its own, with its own token
    north = Workspace(team_id="T0NORTH", team_name="North", enterprise_id="E0OTHER", enterprise_name="Other")
    fake_slack.channel_teams["C0NORTH"] = "T0NORTH"
    install(bot, fake_slack, north)
    event = file_share_event("C0NORTH", [photo(fake_slack, "F3", "T0NORTH")])
    assert bot.post_event(event, team="T0NORTH", enterprise="E0OTHER").status == 200
    fake_slack.wait_for_posts(3)
    sent = {args["channel"]: t for t, args in calls_with(fake_slack, "chat.postMessage")}
    assert sent["C0NORTH"] == token_of(fake_slack, "T0NORTH") != token
    assert bot.services.stores.tags.search_images(("cat",), channel_id=None, workspace="E0OTHER:T0NORTH")


def test_show_where_draws_uploads_and_deletes_with_the_workspaces_own_token(start_bot, fake_slack, aws_env):
    aws_env.labels = BOXED
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE")
    install(bot, fake_slack, ONE)
    install(bot, fake_slack, TWO)
    one = token_of(fake_slack, "T0ONE")
    event = file_share_event("C0ONE", [photo(fake_slack, "F1", "T0ONE")])
    bot.post_event(event, team="T0ONE")
    fake_slack.wait_for_posts(1)
    reply = next(m for m in fake_slack.thread_messages if m.get("thread_ts") == event["ts"])

    payload = block_actions(reply, SHOW_WHERE_ACTION, user="UBOB", team="T0ONE")
    assert slack_requests.post_interaction(bot.events_url, payload).status == 200
    [upload] = fake_slack.wait_for_uploads(1)
    deleted = {"type": "message", "subtype": "message_deleted", "channel": "C0ONE", "deleted_ts": event["ts"]}
    assert bot.post_event({**deleted, "hidden": True}, team="T0ONE").status == 200
    deadline = time.monotonic() + 15
    while not fake_slack.calls_to("files.delete") and time.monotonic() < deadline:
        time.sleep(0.05)

    methods = ("files.getUploadURLExternal", "files.completeUploadExternal", "files.delete")
    assert {token for token, _ in (pair for m in methods for pair in calls_with(fake_slack, m))} == {one}
    assert [call["file"] for call in fake_slack.calls_to("files.delete")] == [upload["id"]]


@pytest.mark.server_only
def test_a_job_whose_workspace_uninstalled_meanwhile_is_dropped_unlabelled(start_bot, fake_slack, aws_env):
    """A job claimed after another process deleted its install (this one still holding the token in memory) costs no
    call and keeps nothing."""
    bot = start_bot(start_workers=False, **MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE")
    install(bot, fake_slack, ONE)
    assert bot.services.workspaces.token("-:T0ONE")  # kept in this process's memory
    queue = bot.services.stores.queue
    queue.enqueue_message("C0ONE", "1.000001", "1.000001", [photo(fake_slack, "F1", "T0ONE")], workspace="-:T0ONE")
    [job] = queue.claim_message_jobs("C0ONE", "1.000001")
    bot.services.stores.installations.delete_install("-:T0ONE")  # the uninstall, heard by another process

    bot.services.pipeline.run_job(job)

    assert aws_env.calls == [] and fake_slack.posts() == [] and fake_slack.files["F1"].downloads == []
    assert bot.services.stores.tags.search_images(("cat",), channel_id=None, workspace="-:T0ONE") == []
    queue.requeue_stalled(older_than=time.time() + 1)
    assert queue.claim_job() is None  # done, never claimed again


def test_a_workspace_that_installs_again_right_after_uninstalling_keeps_its_new_install(
    start_bot, fake_slack, aws_env, monkeypatch
):
    monkeypatch.setattr("bot.listeners.installs.SECOND_PASS_SECONDS", 1.0)
    bot = start_bot(**MANY)
    fake_slack.channel_teams.update(C0ONE="T0ONE")
    install(bot, fake_slack, ONE)
    assert bot.post_event({"type": "app_uninstalled"}, team="T0ONE").status == 200
    fake_slack.oauth.uninstall("T0ONE")

    install(bot, fake_slack, ONE)  # within the uninstall's second pass
    bot.post_event(file_share_event("C0ONE", [photo(fake_slack, "F1", "T0ONE")]), team="T0ONE")
    fake_slack.wait_for_posts(1)
    time.sleep(1.5)

    stores = bot.services.stores
    assert stores.installations.find_bot(enterprise_id=None, team_id="T0ONE").bot_token == token_of(fake_slack, "T0ONE")
    assert [i.file_id for i in stores.tags.search_images(("cat",), channel_id=None, workspace="-:T0ONE")] == ["F1"]


def test_the_redirect_refuses_a_reused_state_another_browser_and_a_cancel_installing_nothing(
    start_bot, fake_slack, aws_env
):
    bot = start_bot(**MANY)
    assert install(bot, fake_slack, ONE).status == 200
    [exchange] = fake_slack.oauth.exchanges

    def started() -> tuple[str, str]:
        page = browse(bot.url + INSTALL_PATH)
        [authorize] = re.findall(r'<a href="([^"]+)"', page.body)
        return html.unescape(authorize), page.headers["set-cookie"].split(";")[0]

    authorize, cookie = started()
    back = fake_slack.oauth.approve(authorize, TWO)
    elsewhere = browse(back)  # the redirect in a browser without the install page's cookie
    assert elsewhere.status == 400 and "another browser" in elsewhere.body
    assert browse(back, cookie).status == 200  # the same link in the browser that started it
    reused = browse(back, cookie)
    assert reused.status == 401 and "expired or was already used" in reused.body
    authorize, cookie = started()
    cancelled = browse(fake_slack.oauth.cancel(authorize), cookie)
    assert cancelled.status == 200 and "You cancelled the installation" in cancelled.body

    assert len(fake_slack.oauth.exchanges) == 2 and fake_slack.oauth.exchanges[0] == exchange  # ONE's and TWO's
    installed = bot.services.stores.installations
    assert installed.find_bot(enterprise_id=None, team_id="T0TWO").bot_token == token_of(fake_slack, "T0TWO")
