"""Slack's OAuth installs and states in the bot's store (bot/store/installations.py), on SQLite and DynamoDB alike:
what Bolt's OAuth flow saves and its per-request authorisation finds, each workspace and org apart, token rotation,
uninstall, and each "Add to Slack" state consumed once."""

from __future__ import annotations

import os
import threading

import pytest
from slack_sdk.oauth.installation_store import Installation

from tests.conftest import Clock
from tests.test_store import recorded_calls


def install(team: str | None, *, enterprise: str | None = None, user: str = "UADMIN", token: str = "xoxb-1", **kw):
    return Installation(
        app_id="A0APP",
        enterprise_id=enterprise,
        team_id=team,
        team_name=f"team {team}",
        bot_token=token,
        bot_id="B0BOT",
        bot_user_id="U0BOT",
        bot_scopes="chat:write,files:read",
        user_id=user,
        user_scopes="",
        **kw,
    )


def test_an_install_is_found_by_its_workspace_and_by_no_other(make_store):
    store = make_store()
    installations = store.installations
    saved = install("T1", token="xoxb-team-one", bot_refresh_token="xoxe-1", bot_token_expires_in=43200)
    installations.save(saved)
    installations.save(install("T2", token="xoxb-team-two", user="UOTHER"))

    bot = installations.find_bot(enterprise_id=None, team_id="T1")
    found = installations.find_installation(enterprise_id=None, team_id="T1")
    by_installer = installations.find_installation(enterprise_id=None, team_id="T2", user_id="UOTHER")

    assert (bot.bot_token, bot.bot_user_id, bot.bot_refresh_token) == ("xoxb-team-one", "U0BOT", "xoxe-1")
    assert bot.bot_token_expires_at == saved.bot_token_expires_at and bot.bot_scopes == ["chat:write", "files:read"]
    assert found.installed_at == pytest.approx(saved.installed_at, abs=1e-3)
    assert (found.team_id, found.bot_token, found.user_id, found.app_id) == ("T1", "xoxb-team-one", "UADMIN", "A0APP")
    assert by_installer.bot_token == "xoxb-team-two"
    assert installations.find_bot(enterprise_id=None, team_id="T3") is None
    assert installations.find_installation(enterprise_id=None, team_id="T1", user_id="UOTHER") is None


def test_an_org_wide_install_serves_every_workspace_of_its_org_and_a_workspace_install_in_it_stays_its_own(
    make_store,
):
    installations = make_store().installations
    installations.save(install(None, enterprise="E1", token="xoxb-org", is_enterprise_install=True))
    installations.save(install("T9", enterprise="E1", token="xoxb-workspace-in-org"))

    # Events in an org-wide install's workspaces name their team; Bolt asks with is_enterprise_install=True
    org = installations.find_bot(enterprise_id="E1", team_id="T5", is_enterprise_install=True)
    own = installations.find_bot(enterprise_id="E1", team_id="T9")

    assert (org.bot_token, org.is_enterprise_install) == ("xoxb-org", True)
    assert own.bot_token == "xoxb-workspace-in-org"
    assert installations.find_bot(enterprise_id="E2", team_id="T5", is_enterprise_install=True) is None


def test_a_rotated_bot_token_is_what_the_installation_gives_from_then_on(make_store):
    installations = make_store().installations
    installations.save(install("T1", token="xoxe.xoxb-old", bot_refresh_token="xoxe-r1", bot_token_expires_in=60))
    refreshed = installations.find_bot(enterprise_id=None, team_id="T1")
    refreshed.bot_token, refreshed.bot_refresh_token = "xoxe.xoxb-new", "xoxe-r2"

    installations.save_bot(refreshed)  # what Bolt's token rotation saves

    found = installations.find_installation(enterprise_id=None, team_id="T1")
    assert (found.bot_token, found.bot_refresh_token) == ("xoxe.xoxb-new", "xoxe-r2")


def test_uninstalling_deletes_that_workspaces_install_whole_and_nothing_else(make_store, store_kind):
    store = make_store()
    installations = store.installations
    installations.save(install("T1", user="UA"))
    installations.save(install("T1", user="UB"))
    installations.save(install("T2"))
    calls = recorded_calls(store) if store_kind == "dynamodb" else []

    installations.delete_installation(enterprise_id=None, team_id="T1", user_id="UA")
    assert installations.find_installation(enterprise_id=None, team_id="T1", user_id="UA") is None
    assert installations.find_installation(enterprise_id=None, team_id="T1", user_id="UB") is not None
    installations.delete_all(enterprise_id=None, team_id="T1")

    assert installations.find_installation(enterprise_id=None, team_id="T1") is None
    assert installations.find_installation(enterprise_id=None, team_id="T1", user_id="UB") is None
    assert installations.find_bot(enterprise_id=None, team_id="T1") is None
    assert installations.find_bot(enterprise_id=None, team_id="T2").bot_token == "xoxb-1"
    assert "Scan" not in {name for name, _ in calls}


def test_an_oauth_state_is_consumed_once_and_not_after_it_expires(make_store):
    clock = Clock()
    states = make_store(clock=clock).oauth_states

    first, second = states.issue(), states.issue()

    assert first != second and len(first) >= 40
    assert states.consume(first) is True
    assert states.consume(first) is False  # reused
    assert states.consume("made-up") is False and states.consume("") is False
    clock.now += 601  # Bolt's 10 minutes, and a second
    assert states.consume(second) is False  # expired


def test_two_redirects_with_one_state_at_once_let_one_through(make_store):
    states = make_store().oauth_states
    state = states.issue()
    start = threading.Barrier(8)
    outcomes: list[bool] = []

    def consume() -> None:
        start.wait()
        outcomes.append(states.consume(state))

    threads = [threading.Thread(target=consume) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(outcomes) == [False] * 7 + [True]


def test_the_sqlite_file_holding_tokens_is_readable_by_its_owner_only(make_store, store_kind):
    if store_kind != "sqlite":
        pytest.skip("DynamoDB: the tables' access is the Lambda roles' (tests/test_template.py)")
    store = make_store()
    store.installations.save(install("T1", token="xoxb-secret"))
    path = store.backend._db.execute("PRAGMA database_list").fetchone()["file"]
    assert os.stat(path).st_mode & 0o777 == 0o600
