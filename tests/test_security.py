"""Security: nothing but a request Slack signed moments ago drives the bot, and a refused request leaves no trace
(no job, no download, no Slack or Rekognition call, no setting); text a user types into /labels is data, never
SQL, a mention, a broadcast, a link or formatting in the answer.

Also covered elsewhere: forged, stale (10 min) and unsigned requests (test_labelling_http, test_labels_command,
test_shortcut); file URLs outside Slack and redirects (test_slack_files); the SQLite file's mode 0600
(test_store); secrets in the real process's DEBUG logs (test_observability)."""

from __future__ import annotations

import json
import sqlite3
import time
from urllib.parse import urlencode

import pytest

from bot.mrkdwn import escape, literal
from tests import slack_requests
from tests.conftest import fixture_bytes
from tests.fakes.slack import TEAM_ID
from tests.slack_requests import envelope, file_share_event, signed_headers

SIX_MINUTES = 6 * 60  # Slack's window is 5 minutes either way


def cat_file(fake_slack, file_id: str = "F_CAT") -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")


def event_body(fake_slack) -> tuple[str, str]:
    return json.dumps(envelope(file_share_event("C0001", [cat_file(fake_slack)]))), "application/json"


def command_body(text: str = "threshold 1") -> tuple[str, str]:
    fields = {"team_id": TEAM_ID, "channel_id": "C0001", "user_id": "UALICE", "command": "/labels", "text": text}
    return urlencode(fields), "application/x-www-form-urlencoded"


def tampered(body: str) -> str:
    """The body with one character changed after signing (the channel, or the command's words)."""
    return body.replace("C0001", "C0002", 1)


def forged_headers(body: str) -> dict[str, dict[str, str]]:
    now = int(time.time())
    good = signed_headers(body, timestamp=now)
    return {
        "timestamp 6 minutes ahead, correctly signed": signed_headers(body, timestamp=now + SIX_MINUTES),
        "timestamp 6 minutes old, correctly signed": signed_headers(body, timestamp=now - SIX_MINUTES),
        "signature header missing": {"X-Slack-Request-Timestamp": str(now)},
        "timestamp header missing": {"X-Slack-Signature": good["X-Slack-Signature"]},
        "signature of another timestamp": {**good, "X-Slack-Request-Timestamp": str(now - 1)},
        "signature empty": {**good, "X-Slack-Signature": ""},
        "signature version v1": {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]},
        "timestamp not a number": {**good, "X-Slack-Request-Timestamp": "now"},
    }


FORGERIES = [*forged_headers("x"), "body altered after signing"]


def store_rows(bot) -> dict[str, int]:
    """Row counts of every table in the bot's database, read through a connection of our own."""
    with sqlite3.connect(bot.config.db_path) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


def assert_no_side_effects(bot, fake_slack, aws_env, calls_before: int, rows_before: dict[str, int]) -> None:
    time.sleep(0.3)  # anything the request set off would have started by now
    assert fake_slack.calls[calls_before:] == []
    assert fake_slack.downloads() == []
    assert aws_env.calls == []
    assert bot.services.stores.queue.queue_stats().depth == 0
    assert store_rows(bot) == rows_before


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("kind", ["event", "command"])
def test_a_request_slack_did_not_sign_just_now_is_refused_and_leaves_no_trace(
    start_bot, fake_slack, aws_env, kind, forgery
):
    bot = start_bot()
    body, content_type = event_body(fake_slack) if kind == "event" else command_body()
    calls_before, rows_before = len(fake_slack.calls), store_rows(bot)
    if forgery == "body altered after signing":
        headers, body = signed_headers(body), tampered(body)
    else:
        headers = forged_headers(body)[forgery]

    answer = slack_requests.post(bot.events_url, body, headers, content_type)

    assert answer.status == 401
    assert_no_side_effects(bot, fake_slack, aws_env, calls_before, rows_before)
    assert "(set for this channel)" not in bot.command("status").json()["text"]


@pytest.mark.parametrize("kind", ["event", "command"])
def test_the_same_request_signed_just_now_is_accepted(start_bot, fake_slack, aws_env, kind):
    """The control for the test above: with a good signature the very same request does have effects."""
    bot = start_bot()
    body, content_type = event_body(fake_slack) if kind == "event" else command_body()

    answer = slack_requests.post(bot.events_url, body, signed_headers(body), content_type)

    assert answer.status == 200
    [post] = fake_slack.wait_for_posts(1)
    if kind == "event":
        assert post["text"].startswith("Cat 99.2%")
    else:
        assert post["text"] == "<@UALICE> set the threshold to 1%."


def test_a_correctly_signed_request_replayed_after_six_minutes_is_refused(start_bot, fake_slack, aws_env):
    bot = start_bot()
    body, content_type = event_body(fake_slack)
    captured = signed_headers(body, timestamp=int(time.time()) - SIX_MINUTES)  # as if recorded 6 minutes ago
    calls_before, rows_before = len(fake_slack.calls), store_rows(bot)

    assert slack_requests.post(bot.events_url, body, captured, content_type).status == 401
    assert_no_side_effects(bot, fake_slack, aws_env, calls_before, rows_before)


# ------------------------------------------------------------------------ /labels input is data, not markup


HOSTILE = {
    "broadcast": "<!channel>",
    "mention": "<@U123>",
    "link": "<https://evil|click>",
    "formatting": "*bold*",
    "sql": "'; DROP TABLE jobs; --",
    "fts5 query syntax": 'cat" OR "dog',
    "fts5 column filter": "channel : C0002",
}
ANGLE_BRACKETS = [name for name, text in HOSTILE.items() if "<" in text]


def answer(bot, text: str) -> str:
    response = bot.command(text)
    assert response.status == 200
    return response.json()["text"]


@pytest.fixture
def labelled_bot(start_bot, fake_slack):
    """A bot with one labelled cat photo in C0001 and one in C0002 (the index and the job table have rows)."""
    bot = start_bot()
    bot.post_event(file_share_event("C0001", [cat_file(fake_slack, "F1")]))
    bot.post_event(file_share_event("C0002", [cat_file(fake_slack, "F2")]))
    fake_slack.wait_for_posts(2)
    time.sleep(0.2)
    return bot


def assert_store_intact(bot, rows_before: dict[str, int]) -> None:
    assert store_rows(bot) == rows_before  # every table still there, with the same rows
    assert answer(bot, "find cat").startswith("1 image matching")


@pytest.mark.parametrize("name", list(HOSTILE))
def test_find_shows_what_was_typed_literally_and_runs_it_as_words_only(labelled_bot, fake_slack, name):
    text = HOSTILE[name]
    rows_before = store_rows(labelled_bot)

    reply = answer(labelled_bot, f"find {text}")

    assert escape(text) in reply  # as typed: the three characters Slack reads as markup, escaped
    if name in ANGLE_BRACKETS:
        assert text not in reply
    assert "<!channel>" not in reply and "<@U123>" not in reply and "<https://evil" not in reply
    assert reply.startswith("No labelled images match")  # a column filter can't reach C0002's cat, nor OR add dogs
    assert_store_intact(labelled_bot, rows_before)
    assert [p for p in fake_slack.posts() if "thread_ts" not in p] == []  # nothing was posted in the channel


@pytest.mark.parametrize("verb", ["include", "exclude"])
@pytest.mark.parametrize("name", list(HOSTILE))
def test_include_and_exclude_show_what_was_typed_literally_in_code(labelled_bot, fake_slack, verb, name):
    text = HOSTILE[name]
    rows_before = store_rows(labelled_bot)

    reply = answer(labelled_bot, f"{verb} {text}")

    # Refused (characters Rekognition doesn't allow in a label name), with the input shown as typed, in code.
    assert f"`{literal(text)}` has characters Rekognition doesn't allow" in reply
    if name in ANGLE_BRACKETS:
        assert text not in reply
    assert_store_intact(labelled_bot, rows_before)
    assert "(set for this channel)" not in answer(labelled_bot, "status")
    assert [p for p in fake_slack.posts() if "thread_ts" not in p] == []


def test_a_label_name_that_reads_like_sql_is_stored_shown_and_sent_to_rekognition_verbatim(
    labelled_bot, fake_slack, aws_env
):
    sqlish = "Robert') DROP TABLE jobs --"  # only letters, spaces and ' ) - : a valid Rekognition label name
    rows_before = store_rows(labelled_bot)

    reply = answer(labelled_bot, f"include {sqlish}")

    assert reply == f"Done: set the labels to include to `{sqlish}`."
    assert f"• only these labels: `{sqlish}` (set for this channel)" in answer(labelled_bot, "status")
    rows_after = store_rows(labelled_bot)
    assert rows_after.pop("channel_settings") == rows_before.pop("channel_settings") + 1
    assert rows_after == rows_before
    labelled_bot.post_event(file_share_event("C0001", [cat_file(fake_slack, "F3")]))
    fake_slack.wait_for_posts(4)  # two replies, the announcement, the third reply
    assert aws_env.calls[-1].settings == {"GeneralLabels": {"LabelInclusionFilters": [sqlish]}}
    assert store_rows(labelled_bot)["jobs"] == rows_before["jobs"] + 1
