"""The loopback Slack's external upload (files_upload_v2): files.getUploadURLExternal, the upload URL, then
files.completeUploadExternal, each refusing what Slack refuses with Slack's own error."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.conftest import BOT_TOKEN
from tests.fakes.slack import BOT_USER_ID
from tests.fakes.slack_rate_limits import METHOD_RULES, TIER_4

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8  # not decoded: any bytes will do, CR LF included
THREAD_TS = "1700000000.000100"


@pytest.fixture
def client(fake_slack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, str]:
    """POST to an upload URL as slack_sdk does (no token): the status and body, a non-200 included."""
    request = urllib.request.Request(url, data=data, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as raised:
        call()
    return raised.value


def test_files_upload_v2_shares_the_bytes_in_the_thread(client, fake_slack):
    response = client.files_upload_v2(
        channel="C1", thread_ts=THREAD_TS, file=PNG, filename="where.png", title="Where", initial_comment="Found it"
    )

    [shared] = fake_slack.uploads()
    assert (shared["data"], shared["title"], shared["filename"]) == (PNG, "Where", "where.png")
    assert (shared["channel"], shared["thread_ts"], shared["initial_comment"]) == ("C1", THREAD_TS, "Found it")
    assert response["file"]["id"] == shared["id"]
    assert response["file"]["title"] == "Where"
    assert response["file"]["permalink"] == f"https://fake.slack.com/files/{BOT_USER_ID}/{shared['id']}/where.png"
    # the share is a message in the thread, carrying the file; files.info knows the file
    replies = client.conversations_replies(channel="C1", ts=THREAD_TS)["messages"]
    [message] = [m for m in replies if m.get("files")]
    assert (message["thread_ts"], message["text"], message["upload"]) == (THREAD_TS, "Found it", True)
    assert message["files"][0]["id"] == shared["id"]
    assert client.files_info(file=shared["id"])["file"]["size"] == len(PNG)
    # the upload URL is on the fake's own host, and slack_sdk sent it the bytes without the token
    [upload] = fake_slack.upload_requests
    assert upload["path"].startswith("/upload/v1/")
    assert (upload["status"], upload["length"]) == (200, len(PNG))
    assert "authorization" not in upload["headers"]
    assert BOT_TOKEN not in json.dumps(upload["headers"])


def test_without_files_write_the_upload_url_is_refused_missing_scope(client, fake_slack):
    fake_slack.scopes.discard("files:write")

    error = error_of(lambda: client.files_upload_v2(channel="C1", file=PNG, filename="where.png"))

    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "files:write"
    assert "files:write" not in error.response["provided"].split(",")
    assert "chat:write" in error.response["provided"].split(",")
    assert fake_slack.upload_requests == [] and fake_slack.uploads() == []


def test_complete_without_files_write_is_refused_missing_scope(client, fake_slack):
    ticket = client.files_getUploadURLExternal(filename="where.png", length=len(PNG))
    assert post(ticket["upload_url"], PNG)[0] == 200
    fake_slack.scopes.discard("files:write")

    error = error_of(lambda: client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id="C1"))

    assert (error.response["error"], error.response["needed"]) == ("missing_scope", "files:write")


def test_a_file_over_the_size_limit_is_refused(client, fake_slack):
    fake_slack.max_upload_bytes = len(PNG) - 1

    error = error_of(lambda: client.files_upload_v2(channel="C1", file=PNG, filename="where.png"))

    assert error.response["error"] == "file_upload_size_restricted"
    assert fake_slack.upload_requests == []


@pytest.mark.parametrize(
    ("length", "error"),
    [("0", "missing_argument"), ("", "missing_argument"), ("-5", "invalid_arguments"), ("12kb", "invalid_arguments")],
)
def test_length_must_be_a_positive_integer(client, length, error):
    refused = error_of(
        lambda: client.api_call("files.getUploadURLExternal", params={"filename": "where.png", "length": length})
    )

    assert refused.response["error"] == error


def test_alt_txt_over_1000_characters_is_refused(client):
    error = error_of(lambda: client.files_getUploadURLExternal(filename="a.png", length=3, alt_txt="x" * 1001))

    assert error.response["error"] == "alt_txt_too_large"


@pytest.mark.parametrize(
    ("conversation", "error"), [({"is_member": False}, "not_in_channel"), (None, "channel_not_found")]
)
def test_sharing_where_the_bot_cant_post_is_refused(client, fake_slack, conversation, error):
    fake_slack.conversations["C2"] = conversation

    refused = error_of(lambda: client.files_upload_v2(channel="C2", thread_ts=THREAD_TS, file=PNG, filename="a.png"))

    assert refused.response["error"] == error
    assert fake_slack.uploads() == []
    assert [m for m in fake_slack.thread_messages if m.get("files")] == []


@pytest.mark.parametrize("sent", [PNG[:-1], PNG + b"!"])
def test_bytes_that_dont_match_the_announced_length_are_refused_and_the_file_cant_be_shared(client, fake_slack, sent):
    ticket = client.files_getUploadURLExternal(filename="where.png", length=len(PNG))

    status, body = post(ticket["upload_url"], sent)

    assert status == 400 and "length" in body
    error = error_of(lambda: client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}], channel_id="C1"))
    assert error.response["error"] == "file_not_found"


def test_a_file_never_uploaded_or_unknown_is_file_not_found(client, fake_slack):
    ticket = client.files_getUploadURLExternal(filename="where.png", length=len(PNG))

    for file_id in (ticket["file_id"], "F0NOSUCHFILE"):
        error = error_of(lambda file_id=file_id: client.files_completeUploadExternal(files=[{"id": file_id}]))
        assert error.response["error"] == "file_not_found"
    assert fake_slack.uploads() == []


def test_the_upload_url_takes_one_upload_and_a_file_is_shared_once(client, fake_slack):
    ticket = client.files_getUploadURLExternal(filename="where.png", length=len(PNG))

    assert post(ticket["upload_url"], PNG) == (200, f"OK - {len(PNG)}")
    assert post(ticket["upload_url"], PNG)[0] == 404
    assert post(fake_slack.url + "/upload/v1/never-issued", PNG)[0] == 404

    files = [{"id": ticket["file_id"], "title": "Where"}]
    assert client.files_completeUploadExternal(files=files, channel_id="C1")["files"][0]["id"] == ticket["file_id"]
    error = error_of(lambda: client.files_completeUploadExternal(files=files, channel_id="C1"))
    assert error.response["error"] == "file_not_found"
    assert len(fake_slack.uploads()) == 1


def test_a_multipart_upload_is_taken_as_its_file_part(client, fake_slack):
    ticket = client.files_getUploadURLExternal(filename="where.png", length=len(PNG))
    boundary = "labelbotboundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="filename"; filename="where.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )

    status, _ = post(ticket["upload_url"], body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    client.files_completeUploadExternal(files=[{"id": ticket["file_id"]}])

    assert status == 200
    [shared] = fake_slack.uploads()
    assert (shared["data"], shared["title"], shared["channel"]) == (PNG, "where.png", None)  # no channel: private


def test_the_upload_methods_are_tier_4():
    assert METHOD_RULES["files.getUploadURLExternal"] == (TIER_4,)
    assert METHOD_RULES["files.completeUploadExternal"] == (TIER_4,)


def test_files_delete_takes_only_the_bots_own_files_once_and_needs_files_write(client, fake_slack):
    [uploaded] = client.files_upload_v2(content=b"picture", filename="where.jpg", channel="C0001")["files"]
    fake_slack.add_file("F_USERS", b"photo", "cat.jpg", "image/jpeg", "jpg")
    fake_slack.file_objects["F_USERS"]["user"] = "UALICE"  # someone's photo

    assert error_of(lambda: client.files_delete(file="F_USERS")).response["error"] == "cant_delete_file"
    assert error_of(lambda: client.files_delete(file="F_NOWHERE")).response["error"] == "file_not_found"
    fake_slack.scopes.discard("files:write")
    assert error_of(lambda: client.files_delete(file=uploaded["id"])).response["error"] == "missing_scope"
    fake_slack.scopes.add("files:write")
    assert client.files_delete(file=uploaded["id"])["ok"] is True
    assert error_of(lambda: client.files_delete(file=uploaded["id"])).response["error"] == "file_deleted"
    assert fake_slack.deleted_files == [uploaded["id"]] and "F_USERS" in fake_slack.file_objects


def test_conversations_open_gives_the_dm_of_one_user_and_refuses_what_slack_refuses(client, fake_slack):
    fake_slack.users.update(UGONE={"deleted": True}, UBOT2={"is_bot": True})

    assert client.conversations_open(users="UALICE")["channel"]["id"] == "DALICE"
    for users, error in (("UGONE", "user_disabled"), ("UBOT2", "cannot_dm_bot"), ("W/x", "user_not_found")):
        assert error_of(lambda users=users: client.conversations_open(users=users)).response["error"] == error
    fake_slack.scopes.discard("im:write")
    assert error_of(lambda: client.conversations_open(users="UALICE")).response["error"] == "missing_scope"
