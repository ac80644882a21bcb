"""SlackFileDownloader against the loopback Slack: who gets the token, redirects, the sign-in page, size, failures.

The fake Slack listens on 127.0.0.1 and its API URL is SLACK_API_URL, so 127.0.0.1 is the trusted "Slack host".
"localhost" reaches the same loopback interface under another host name: the stand-in for a host outside Slack.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from bot.slack_files import (
    MAX_REDIRECTS,
    DownloadError,
    FileTooLarge,
    MissingFilesReadScope,
    SlackFileDownloader,
)
from tests.conftest import BOT_TOKEN
from tests.fakes.http_server import LoopbackServer, Request, Response
from tests.fakes.slack import SIGN_IN_PAGE, FakeSlack

MiB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # not decoded here: any non-HTML bytes will do


@pytest.fixture(autouse=True)
def token_never_logged(caplog) -> Iterator[None]:
    """Every test in this file runs with DEBUG logging on; afterwards no record may contain the bot token."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        assert BOT_TOKEN not in text, f"token logged by {record.name}: {record.getMessage()}"
        assert BOT_TOKEN.removeprefix("xoxb-") not in text


@pytest.fixture
def downloader(fake_slack: FakeSlack) -> SlackFileDownloader:
    return SlackFileDownloader(BOT_TOKEN, fake_slack.api_url, MiB, pool_size=2)


class RecordingServer:
    """A loopback host outside Slack that records every request it receives."""

    def __init__(self, body: bytes = b"outside") -> None:
        self.requests: list[Request] = []
        self.body = body
        self.server = LoopbackServer(self._route)
        self.port = self.server.port

    def _route(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(200, self.body, {"Content-Type": "application/octet-stream"})

    def url(self, path: str = "/file.png") -> str:
        return f"http://localhost:{self.port}{path}"


@pytest.fixture
def outside() -> Iterator[RecordingServer]:
    server = RecordingServer()
    yield server
    server.server.close()


def download_url(file_object: dict) -> str:
    return file_object["url_private_download"]


# ---- the token ---------------------------------------------------------------------------------------------


def test_download_sends_the_bot_token_to_the_slack_host(fake_slack, downloader):
    file_object = fake_slack.add_file("F1", PNG, "cat.png", "image/png", "png")

    assert downloader.download(download_url(file_object)) == PNG

    (headers,) = fake_slack.files["F1"].downloads
    assert headers["authorization"] == f"Bearer {BOT_TOKEN}"


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://slack.com/api/files.info", True),
        ("https://files.slack.com/files-pri/T1-F1/download/cat.png", True),
        ("https://FILES.Slack.COM/files-pri/T1-F1/cat.png", True),
        ("https://files.slack.com:443/files-pri/T1-F1/cat.png", True),
        ("https://a.slack-edge.com/80588/img/cat.png", True),
        ("http://a.slack-edge.com/80588/img/cat.png", False),
        ("http://files.slack.com/files-pri/T1-F1/cat.png", False),
        ("http://slack.com/", False),
        ("ftp://files.slack.com/cat.png", False),
        ("//files.slack.com/cat.png", False),
        ("files.slack.com/cat.png", False),
        ("", False),
        ("https://evil-slack.com/cat.png", False),
        ("https://slack.com.evil.com/cat.png", False),
        ("https://files.slack.com.evil.com/cat.png", False),
        ("https://evilslack.com/cat.png", False),
        ("https://slack-edge.com.evil.com/cat.png", False),
        ("https://evil.com/files.slack.com/cat.png", False),
        ("https://evil.com/?next=https://files.slack.com/", False),
        ("https://evil.com#.slack.com", False),
        # userinfo: everything before "@" is a user name, the host is what follows
        ("https://slack.com@evil.com/", False),
        ("https://files.slack.com:443@evil.com/", False),
        ("https://user:pass@files.slack.com/cat.png", True),
        # urllib.parse and urllib3 disagree on backslashes: never trust a URL the request might read differently
        ("https://evil.com\\@files.slack.com/cat.png", False),
        ("https://evil.com\\.slack.com/cat.png", False),
        ("https://files.slack.com\t.evil.com/", False),
        (" https://files.slack.com/cat.png", False),
        ("https://[::1", False),
    ],
)
def test_is_slack_url(url, trusted):
    downloader = SlackFileDownloader(BOT_TOKEN, "https://slack.com/api/", MiB)

    assert downloader.is_slack_url(url) is trusted


def test_is_slack_url_trusts_the_configured_api_host(fake_slack, downloader):
    port = fake_slack.server.port

    assert downloader.is_slack_url(f"http://127.0.0.1:{port}/files-pri/T1-F1/cat.png")
    assert not downloader.is_slack_url(f"https://127.0.0.1:{port}/files-pri/T1-F1/cat.png")  # other scheme
    assert not downloader.is_slack_url(f"http://localhost:{port}/files-pri/T1-F1/cat.png")  # other host
    assert not downloader.is_slack_url(f"http://127.0.0.1:{port + 1}/files-pri/T1-F1/cat.png")  # other port
    assert not downloader.is_slack_url(f"http://127.0.0.1:{port}@localhost:{port}/cat.png")
    assert not downloader.is_slack_url(f"http://localhost:{port}\\@127.0.0.1:{port}/cat.png")
    # and the real Slack hosts stay trusted alongside it
    assert downloader.is_slack_url("https://files.slack.com/files-pri/T1-F1/cat.png")


@pytest.mark.parametrize(
    "make_url",
    [
        lambda fake, out: out.url(),
        lambda fake, out: f"http://127.0.0.1:{fake.server.port}@localhost:{out.port}/file.png",
        # urllib.parse reads the host as 127.0.0.1, urllib3 would connect to localhost with the token
        lambda fake, out: f"http://localhost:{out.port}\\@127.0.0.1:{fake.server.port}/files-pri/T0001-F1/a.png",
    ],
    ids=["other-host", "userinfo", "backslash"],
)
def test_a_url_outside_slack_is_never_fetched(fake_slack, downloader, outside, make_url):
    fake_slack.add_file("F1", PNG, "a.png", "image/png", "png")

    with pytest.raises(DownloadError, match="isn't hosted on Slack"):
        downloader.download(make_url(fake_slack, outside))

    assert outside.requests == []
    assert fake_slack.downloads() == []


# ---- redirects --------------------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_followed_without_the_token(fake_slack, downloader):
    target = fake_slack.add_file("F2", PNG, "cat.png", "image/png", "png", host="localhost")
    assert target["url_private_download"].startswith("http://localhost:")
    source = fake_slack.add_file("F1", b"", "cat.png", "image/png", "png", redirect_to=download_url(target))

    assert downloader.download(download_url(source)) == PNG

    (first,) = fake_slack.files["F1"].downloads
    (second,) = fake_slack.files["F2"].downloads
    assert first["authorization"] == f"Bearer {BOT_TOKEN}"
    assert "authorization" not in second
    assert second["host"].startswith("localhost:")


def test_a_redirect_to_an_outside_server_carries_no_token(fake_slack, downloader, outside):
    source = fake_slack.add_file("F1", b"", "cat.png", "image/png", "png", redirect_to=outside.url("/cdn/cat.png"))

    assert downloader.download(download_url(source)) == b"outside"

    (request,) = outside.requests
    assert request.path == "/cdn/cat.png"
    assert "authorization" not in request.headers


@pytest.mark.parametrize("relative", [False, True], ids=["absolute", "relative"])
def test_a_redirect_within_the_slack_host_keeps_the_token(fake_slack, downloader, relative):
    target = fake_slack.add_file("F2", PNG, "cat.png", "image/png", "png")
    location = download_url(target)
    if relative:
        location = "/" + location.split("/", 3)[3]
    source = fake_slack.add_file("F1", b"", "cat.png", "image/png", "png", redirect_to=location)

    assert downloader.download(download_url(source)) == PNG

    (first,) = fake_slack.files["F1"].downloads
    (second,) = fake_slack.files["F2"].downloads  # once: the redirect's connection was not reused half-read
    assert first["authorization"] == f"Bearer {BOT_TOKEN}"
    assert second["authorization"] == f"Bearer {BOT_TOKEN}"


def test_a_redirect_loop_ends_with_a_download_error(fake_slack, downloader):
    file_object = fake_slack.add_file("F1", PNG, "cat.png", "image/png", "png")
    fake_slack.files["F1"].redirect_to = download_url(file_object)

    with pytest.raises(DownloadError, match="redirected this download too many times"):
        downloader.download(download_url(file_object))

    # each hop requested exactly once (a half-read redirect left on a kept-alive connection made urllib3 resend)
    assert len(fake_slack.files["F1"].downloads) == MAX_REDIRECTS + 1


@pytest.mark.parametrize("location", ["http://[::1/cat.png", "file:///etc/passwd"])
def test_a_redirect_that_cannot_be_followed_is_a_download_error(fake_slack, downloader, location):
    source = fake_slack.add_file("F1", b"", "cat.png", "image/png", "png", redirect_to=location)

    with pytest.raises(DownloadError) as raised:
        downloader.download(download_url(source))

    assert type(raised.value) is DownloadError


# ---- Slack's sign-in page: the files:read scope is missing ------------------------------------------------


def test_the_sign_in_page_means_files_read_is_missing(fake_slack, downloader, caplog):
    file_object = fake_slack.add_file("F1", PNG, "cat.png", "image/png", "png", sign_in_page=True)

    with pytest.raises(MissingFilesReadScope, match="`files:read`"):
        downloader.download(download_url(file_object))

    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "bot.slack_files"]
    assert len(errors) == 1
    assert "files:read" in errors[0].getMessage()


@pytest.mark.parametrize(
    "body",
    [SIGN_IN_PAGE, b"\n  <html><body>Sign in</body></html>", b"<!doctype HTML>\n<html lang=en>"],
    ids=["doctype", "html-after-whitespace", "lowercase-doctype"],
)
def test_html_served_as_octet_stream_is_the_sign_in_page_too(fake_slack, downloader, caplog, body):
    file_object = fake_slack.add_file("F1", body, "cat.png", "application/octet-stream", "png")

    with pytest.raises(MissingFilesReadScope) as raised:
        downloader.download(download_url(file_object))

    assert "files:read" in str(raised.value)
    assert any(r.levelno == logging.ERROR and "files:read" in r.getMessage() for r in caplog.records)


def test_a_file_mentioning_html_later_is_not_the_sign_in_page(fake_slack, downloader):
    data = b"plain text, then <html> appears later"
    file_object = fake_slack.add_file("F1", data, "notes.txt", "text/plain", "text")

    assert downloader.download(download_url(file_object)) == data


# ---- size ------------------------------------------------------------------------------------------------


def test_check_size():
    downloader = SlackFileDownloader(BOT_TOKEN, "https://slack.com/api/", MiB)
    downloader.check_size(0)
    downloader.check_size(MiB)

    with pytest.raises(FileTooLarge, match="over 1 MB"):
        downloader.check_size(MiB + 1)


def test_a_declared_content_length_over_the_cap_is_refused_before_reading(fake_slack, downloader):
    # The body itself is small: only the header can have tripped the cap.
    file_object = fake_slack.add_file("F1", PNG, "big.png", "image/png", "png", content_length=50 * MiB)

    with pytest.raises(FileTooLarge, match="over 1 MB"):
        downloader.download(download_url(file_object))


def test_a_real_file_over_the_cap_is_refused(fake_slack, downloader):
    file_object = fake_slack.add_file("F1", b"\0" * (MiB + 1), "big.png", "image/png", "png")

    with pytest.raises(FileTooLarge):
        downloader.download(download_url(file_object))


def test_the_cap_is_enforced_while_streaming_without_content_length(fake_slack, downloader):
    too_big = fake_slack.add_file("F1", b"\1" * (MiB + 1), "big.png", "image/png", "png", chunked=True)
    just_fits = fake_slack.add_file("F2", b"\2" * MiB, "ok.png", "image/png", "png", chunked=True)

    with pytest.raises(FileTooLarge):
        downloader.download(download_url(too_big))
    assert downloader.download(download_url(just_fits)) == b"\2" * MiB


def test_downloads_keep_working_after_a_refused_file(fake_slack, downloader):
    """A refused or cut-off body must not leave its unread bytes for the next request on the connection."""
    big = fake_slack.add_file("F1", b"\1" * (MiB + 1), "big.png", "image/png", "png")
    small = fake_slack.add_file("F2", PNG, "cat.png", "image/png", "png")
    moved = fake_slack.add_file("F3", PNG, "moved.png", "image/png", "png", redirect_to=download_url(small))

    for _ in range(3):
        with pytest.raises(FileTooLarge):
            downloader.download(download_url(big))
        assert downloader.download(download_url(small)) == PNG
        assert downloader.download(download_url(moved)) == PNG


# ---- failures ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hosted", [True, False], ids=["status-404", "unknown-file"])
def test_404_is_a_download_error(fake_slack, downloader, hosted):
    if hosted:
        url = download_url(fake_slack.add_file("F1", b"gone", "cat.png", "image/png", "png", status=404))
    else:
        url = f"{fake_slack.url}/files-pri/T0001-FNOPE/download/cat.png"

    with pytest.raises(DownloadError, match="no longer on Slack") as raised:
        downloader.download(url)

    assert type(raised.value) is DownloadError


def test_another_status_is_a_download_error_naming_it(fake_slack, downloader):
    file_object = fake_slack.add_file("F1", b"no", "cat.png", "image/png", "png", status=403)

    with pytest.raises(DownloadError, match="HTTP 403"):
        downloader.download(download_url(file_object))


def test_a_body_shorter_than_its_content_length_is_a_download_error(fake_slack, downloader):
    file_object = fake_slack.add_file("F1", PNG, "cat.png", "image/png", "png", content_length=len(PNG) + 1000)

    with pytest.raises(DownloadError, match="cut off") as raised:
        downloader.download(download_url(file_object))

    assert type(raised.value) is DownloadError


def test_a_connection_cut_mid_file_is_a_download_error(fake_slack, downloader):
    """The host closes the connection after half of what it announced."""
    data = b"\3" * (256 * 1024)
    file_object = fake_slack.add_file("F1", data, "cat.png", "image/png", "png", content_length=2 * len(data))

    with pytest.raises(DownloadError, match="cut off") as raised:
        downloader.download(download_url(file_object))

    assert type(raised.value) is DownloadError


def test_a_host_that_never_answers_times_out_as_a_download_error(fake_slack):
    downloader = SlackFileDownloader(BOT_TOKEN, fake_slack.api_url, MiB, read_timeout=0.2)
    file_object = fake_slack.add_file("F1", PNG, "cat.png", "image/png", "png", delay_seconds=1.5)

    with pytest.raises(DownloadError, match="couldn't download") as raised:
        downloader.download(download_url(file_object))

    assert type(raised.value) is DownloadError


def test_a_host_that_stalls_mid_file_times_out_as_a_download_error(fake_slack):
    downloader = SlackFileDownloader(BOT_TOKEN, fake_slack.api_url, MiB, read_timeout=0.2)
    file_object = fake_slack.add_file("F1", PNG, "cat.png", "image/png", "png", stall_seconds=1.5)

    with pytest.raises(DownloadError, match="cut off") as raised:
        downloader.download(download_url(file_object))

    assert type(raised.value) is DownloadError


def test_a_host_that_trickles_the_file_is_given_up_on_at_the_deadline(fake_slack):
    """Each 1 KB comes well within the read timeout, so only the deadline on the whole body ends it."""
    downloader = SlackFileDownloader(BOT_TOKEN, fake_slack.api_url, MiB, read_timeout=5, deadline_seconds=0.5)
    big = PNG * 8
    file_object = fake_slack.add_file("F1", big, "cat.png", "image/png", "png", trickle_seconds=0.05)
    assert len(big) > 40 * 1024  # 2 s or more at this pace
    started = time.monotonic()

    with pytest.raises(DownloadError, match="too slow"):
        downloader.download(download_url(file_object))

    assert time.monotonic() - started < 1.5
    fast = fake_slack.add_file("F2", PNG, "cat.png", "image/png", "png")
    assert downloader.download(download_url(fast)) == PNG  # the pool's connections are still good


# ---- logging -----------------------------------------------------------------------------------------------


def test_the_token_is_never_logged(fake_slack, downloader, outside, caplog):
    """The autouse fixture checks every test; this one walks every logging path on purpose."""
    caplog.set_level(logging.DEBUG)
    ok = fake_slack.add_file("F1", PNG, "a.png", "image/png", "png")
    moved = fake_slack.add_file("F2", b"", "b.png", "image/png", "png", redirect_to=outside.url())
    sign_in = fake_slack.add_file("F3", PNG, "c.png", "image/png", "png", sign_in_page=True)
    cut = fake_slack.add_file("F4", PNG, "d.png", "image/png", "png", content_length=len(PNG) * 2)

    downloader.download(download_url(ok))
    downloader.download(download_url(moved))
    for file_object in (sign_in, cut):
        with pytest.raises(DownloadError):
            downloader.download(download_url(file_object))
    with pytest.raises(DownloadError):
        downloader.download(outside.url())

    assert {r.levelno for r in caplog.records} >= {logging.DEBUG, logging.WARNING, logging.ERROR}
    assert BOT_TOKEN not in caplog.text
