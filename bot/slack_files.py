"""The only code that downloads from Slack: host allow-list, redirects by hand, size cap, sign-in page check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.util import parse_url

from bot.i18n import Sentence

log = logging.getLogger(__name__)

SLACK_HOST_SUFFIXES = (".slack.com", ".slack-edge.com")
MAX_REDIRECTS = 5
CHUNK_BYTES = 64 * 1024
DOWNLOAD_DEADLINE_SECONDS = 120.0  # the whole body; Slack serves a 50 MB file in a few seconds


class DownloadError(Exception):
    """The file could not be downloaded; str() is a short, user-facing reason."""


class FileTooLarge(DownloadError):
    pass


class MissingFilesReadScope(DownloadError):
    pass


class SlackFileDownloader:
    def __init__(
        self,
        bot_token: str | Callable[[], str],
        slack_api_url: str,
        max_bytes: int,
        *,
        pool_size: int = 8,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        deadline_seconds: float = DOWNLOAD_DEADLINE_SECONDS,
    ) -> None:
        """read_timeout bounds each wait for bytes; deadline_seconds the whole body (a host trickling a byte every
        few seconds would otherwise hold a worker, and its share of the download budget, for hours). bot_token: the
        token, or where there are many installs what gives the current one's (bot.workspaces.Workspaces.token)."""
        self._token = bot_token if callable(bot_token) else lambda: bot_token
        self.deadline_seconds = deadline_seconds
        self._api_origin = _scheme_and_host(slack_api_url)
        self._api_port = _port(slack_api_url)
        self.max_bytes = max_bytes
        self._http = urllib3.PoolManager(
            maxsize=pool_size,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retries=urllib3.Retry(
                total=3,
                read=1,  # a host that hangs mid-answer costs one worker at most two read timeouts
                redirect=False,
                status_forcelist=(500, 502, 503, 504),
                backoff_factor=0.3,
                raise_on_status=False,
            ),
        )

    def is_slack_url(self, url: str) -> bool:
        """True for https Slack hosts and the configured SLACK_API_URL's own host and port: the only token holders."""
        origin = _scheme_and_host(url)
        if origin is None:
            return False
        if origin == self._api_origin and _port(url) == self._api_port:
            return True
        scheme, host = origin
        if scheme != "https":
            return False
        return host == "slack.com" or host.endswith(SLACK_HOST_SUFFIXES)

    def check_size(self, size: int) -> None:
        """Refuse before downloading when Slack's file object already says the file is over the cap."""
        if size > self.max_bytes:
            raise self._too_large()

    def download(self, url: str) -> bytes:
        if not self.is_slack_url(url):
            raise DownloadError(Sentence("This file isn't hosted on Slack, so I didn't download it."))
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"Authorization": f"Bearer {self._token()}"} if self.is_slack_url(url) else {}
            try:
                response = self._http.request("GET", url, headers=headers, redirect=False, preload_content=False)
            except urllib3.exceptions.HTTPError as exc:
                log.warning("download from %s failed: %s", _host_for_log(url), type(exc).__name__)
                raise DownloadError(Sentence("I couldn't download this file from Slack right now.")) from None
            complete = False
            try:
                if response.status in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    try:
                        url = urljoin(url, response.headers["Location"])
                    except ValueError:
                        log.warning("download from %s redirected to a malformed URL", _host_for_log(url))
                        raise DownloadError(
                            Sentence("Slack redirected this download somewhere I can't follow.")
                        ) from None
                    continue
                body = self._read_body(response, time.monotonic() + self.deadline_seconds)
                complete = True
                return body
            finally:
                if not complete:
                    # Unread bytes (a redirect's body, a refused or cut-off file) must not reach the next request
                    # on a kept-alive connection.
                    response.close()
                response.release_conn()
        raise DownloadError(Sentence("Slack redirected this download too many times."))

    def _read_body(self, response: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
        if response.status == 404:
            raise DownloadError(Sentence("This file is no longer on Slack."))
        if response.status != 200:
            raise DownloadError(
                Sentence("Slack answered HTTP %(status)s when I downloaded this file.", status=response.status)
            )
        if response.headers.get("Content-Type", "").lower().startswith("text/html"):
            raise self._sign_in_page()
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large()
        body = bytearray()
        try:
            # read1: whatever arrived, at most CHUNK_BYTES, so the deadline is looked at after every receive (a full
            # chunk from a trickling host could take its whole time).
            while chunk := response.read1(CHUNK_BYTES):
                body += chunk
                if len(body) > self.max_bytes:
                    raise self._too_large()
                if time.monotonic() > deadline:
                    log.warning("download gave up after %g s with %d bytes", self.deadline_seconds, len(body))
                    raise DownloadError(Sentence("The download from Slack was too slow; I gave up on this file."))
        except urllib3.exceptions.HTTPError as exc:
            log.warning("download interrupted after %d bytes: %s", len(body), type(exc).__name__)
            raise DownloadError(
                Sentence("The download from Slack was cut off; I couldn't read the whole file.")
            ) from None
        if _looks_like_html(body):
            raise self._sign_in_page()
        return bytes(body)

    def _too_large(self) -> FileTooLarge:
        return FileTooLarge(
            Sentence(
                "This file is over %(megabytes)s MB, more than I download.", megabytes=self.max_bytes // (1024 * 1024)
            )
        )

    @staticmethod
    def _sign_in_page() -> MissingFilesReadScope:
        log.error(
            "Slack answered a file download with its sign-in page: the app is missing the files:read scope. "
            "Add it under OAuth & Permissions and reinstall the app."
        )
        return MissingFilesReadScope(
            Sentence(
                "I can't open files in this workspace yet: the app is missing the `files:read` scope. "
                "An admin can add it and reinstall the app."
            )
        )


def _scheme_and_host(url: str) -> tuple[str, str] | None:
    """(scheme, host) of the server urllib3 will connect to, or None for a malformed or ambiguous URL.

    The token decision and the request must read the URL the same way: urllib.parse and urllib3 split
    `http://evil.example\\@files.slack.com/` differently (urllib3 connects to evil.example), so a URL with a
    backslash, whitespace or control character, or one the two parsers disagree on, is not trusted.
    """
    if any(ch == "\\" or ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return None
    try:
        split = urlsplit(url)
        parsed = parse_url(url)  # what PoolManager.request() connects to
        split_host = (split.hostname or "").lower()
    except ValueError:  # includes urllib3's LocationParseError
        return None
    scheme = (parsed.scheme or "").lower()
    host = (parsed.host or "").lower().removeprefix("[").removesuffix("]")
    if not host or scheme != split.scheme.lower() or host != split_host:
        return None
    return scheme, host


def _port(url: str) -> int:
    parsed = parse_url(url)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def _host_for_log(url: str) -> str:
    origin = _scheme_and_host(url)
    return origin[1] if origin else "an unparsable URL"


def _looks_like_html(body: bytes) -> bool:
    head = bytes(body[:256]).lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html"))
