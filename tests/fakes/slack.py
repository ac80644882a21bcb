"""A loopback Slack: the Web API methods the bot calls and a file host, recording everything it is sent."""

from __future__ import annotations

import collections
import io
import itertools
import json
import mimetypes
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import yaml
from PIL import Image

from tests.fakes import block_kit
from tests.fakes.block_kit import Verdict, Violation
from tests.fakes.http_server import LoopbackServer, Request, Response
from tests.fakes.slack_oauth import OAuth
from tests.fakes.slack_rate_limits import SlackRateLimits

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0001"

# The bot token's scopes unless a test takes some away (fake_slack.scopes): manifest.yml's bot scopes, what the app
# asks Slack for (files:write among them: files_upload_v2 needs it for files.getUploadURLExternal and
# files.completeUploadExternal).
BOT_SCOPES = frozenset(
    yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text(encoding="utf-8"))["oauth_config"]["scopes"][
        "bot"
    ]
)
# The scope a bot token needs for each method whose scope the fake checks (docs.slack.dev/reference/methods/…,
# "Scopes"); a token without it is answered missing_scope, naming what was needed and what the token has.
METHOD_SCOPES = {
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "files.delete": "files:write",
    "conversations.open": "im:write",  # a bot token's 1:1 DM
}
MAX_UPLOAD_BYTES = 1024**3  # Slack takes files of up to 1 GB (slack_sdk's MAX_V2_FILE_SIZE too)
MAX_ALT_TXT = 1000  # files.getUploadURLExternal: alt_txt_too_large over 1,000 characters

SIGN_IN_PAGE = b"<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to Slack</body></html>"


@dataclass
class HostedFile:
    data: bytes
    content_type: str = "application/octet-stream"
    sign_in_page: bool = False  # what Slack serves when the token lacks files:read
    redirect_to: str | None = None
    status: int = 200
    chunked: bool = False  # no Content-Length; body streamed in pieces
    content_length: int | None = None  # a lying Content-Length
    delay_seconds: float = 0.0  # a slow host: wait this long before answering
    stall_seconds: float = 0.0  # a host that stalls mid-file: send half the body, wait this long, send the rest
    trickle_seconds: float = 0.0  # a host that sends the body 1 KB at a time, this long apart
    downloads: list[dict] = field(default_factory=list)  # headers of each GET
    team: str = TEAM_ID  # the workspace it was posted in: only that workspace's token downloads it


@dataclass
class ApiCall:
    method: str
    args: dict
    headers: dict
    received_at: float = field(default_factory=time.monotonic)  # when the request arrived
    status: int = 200  # the answer's HTTP status (429: rate limited, with retry_after seconds)
    retry_after: int | None = None


@dataclass
class UploadTicket:
    """What files.getUploadURLExternal handed out: a file id and a single-use upload URL for `length` bytes."""

    file_id: str
    filename: str
    length: int
    upload_url: str
    alt_txt: str | None = None
    snippet_type: str | None = None
    used: bool = False  # the upload URL was posted to (it takes one request, whatever came of it)
    data: bytes | None = None  # the bytes, once an upload of exactly `length` bytes arrived
    completed: bool = False  # files.completeUploadExternal took it (it takes a file once)


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.block_kit_violations: list[Violation] = []  # what Slack would have refused or cut (block_kit.py)
        self.files: dict[str, HostedFile] = {}
        self.file_objects: dict[str, dict] = {}
        self.socket_mode_url: str | None = None
        self._reactions: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
        self.channels: list[dict] = []  # users.conversations answers: the channels the bot is in
        self.users: dict[str, dict] = {}  # users.info answers: user id -> fields such as is_admin, locale
        # conversations.info answers: channel id -> fields over a public channel the bot is in (is_private,
        # is_member, is_im…); None: channel_not_found (the bot can't see it).
        self.conversations: dict[str, dict | None] = {}
        self._forced: dict[str, collections.deque[Response]] = collections.defaultdict(collections.deque)
        # Called as on_answer(method, args) after a call was answered ok and before the answer is sent back:
        # e.g. a test kills the bot there, so Slack has done the call but the bot never hears of it.
        self.on_answer: Callable[[str, dict], None] | None = None
        self.thread_messages: list[dict] = []  # what chat.postMessage posted, as conversations.replies shows it
        self.token_error: str | None = None  # e.g. "token_revoked": every Web API call is refused with it
        # Slack's rate limits (tests.fakes.slack_rate_limits): a call over them is answered 429. None: no limits.
        self.rate_limits: SlackRateLimits | None = None
        self._answers_to_lose: collections.Counter[str] = collections.Counter()
        # The bot token's scopes: discard one (fake_slack.scopes.discard("files:write")) and the methods that need it
        # (METHOD_SCOPES) answer missing_scope.
        self.scopes: set[str] = set(BOT_SCOPES)
        # files.getUploadURLExternal refuses a longer `length` (file_upload_size_restricted): lower it to test that.
        self.max_upload_bytes = MAX_UPLOAD_BYTES
        # OAuth v2 (tests/fakes/slack_oauth.py): the authorize page, oauth.v2.access, the tokens it issued
        self.oauth = OAuth()
        # Many workspaces: each channel's workspace (absent: TEAM_ID's, the test token's), and each workspace's org.
        # A token sees only its workspace's channels (an org-wide install's: its org's) and the app's DMs; anything
        # else is channel_not_found, as Slack answers a channel the token can't see.
        self.channel_teams: dict[str, str] = {}
        self.team_orgs: dict[str, str] = {}
        self._tickets: dict[str, UploadTicket] = {}  # by file id
        self._shared: list[dict] = []  # what files.completeUploadExternal shared (uploads()), deleted later or not
        self.deleted_files: list[str] = []  # what files.delete deleted, in order
        # Each request to an upload URL: {"path", "headers" (lower-case names), "length", "status"}.
        self.upload_requests: list[dict] = []
        self._file_ids = itertools.count(1)
        self.serving_files = 0  # file downloads in their delay_seconds now, and the most at once so far
        self.most_files_served_at_once = 0
        self._ts = itertools.count(1)
        self._changed = threading.Condition()
        self.server = LoopbackServer(self._route)
        self.url = self.server.url
        self.api_url = f"{self.url}/api/"

    # ---- many workspaces ----------------------------------------------------------------------------------
    def works_in(self, token: str, team: str) -> bool:
        """Whether a bot token works in the workspace `team`: the test token in TEAM_ID, an issued token in its
        workspace, an org-wide install's in every workspace of its org (team_orgs)."""
        if token == "xoxb-test-token":
            return team == TEAM_ID
        workspace = self.oauth.issued.get(token)
        if workspace is None:
            return False
        if workspace.is_enterprise_install:
            return self.team_orgs.get(team) == workspace.enterprise_id
        return workspace.team_id == team

    def token_sees(self, token: str, channel: str) -> bool:
        if channel.startswith("D"):  # the app's DMs (dm_channel): the fake doesn't tell whose
            return True
        return self.works_in(token, self.channel_teams.get(channel, TEAM_ID))

    # ---- what tests arrange -------------------------------------------------------------------------------
    def add_file(
        self,
        file_id: str,
        data: bytes,
        name: str,
        mimetype: str,
        filetype: str,
        *,
        host: str | None = None,
        thumbs: dict[int, tuple[bytes, int, int]] | None = None,
        **kw,
    ) -> dict:
        """Host a file and return the file object Slack would put in a file_share event. thumbs: {N: (data, width,
        height)} adds Slack's thumb_N, thumb_N_w and thumb_N_h, hosted at files-tmb (thumb_file(file_id, N) is
        its HostedFile, e.g. to count or break its downloads)."""
        self.files[file_id] = HostedFile(data=data, content_type=mimetype, **kw)
        base = f"http://{host}:{self.server.port}" if host else self.url
        file_object = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "size": len(data),
            "url_private": f"{base}/files-pri/{TEAM_ID}-{file_id}/{name}",
            "url_private_download": f"{base}/files-pri/{TEAM_ID}-{file_id}/download/{name}",
        }
        try:  # Slack gives an image's size as original_w and original_h
            with Image.open(io.BytesIO(data)) as image:
                file_object["original_w"], file_object["original_h"] = image.size
        except Exception:  # noqa: S110 (not an image Pillow knows, or damaged: Slack gives no size either)
            pass
        for size, (thumb, width, height) in (thumbs or {}).items():
            png = thumb.startswith(b"\x89PNG")
            self.files[f"{file_id}~thumb_{size}"] = HostedFile(
                data=thumb, content_type=f"image/{'png' if png else 'jpeg'}"
            )
            stem = name.rsplit(".", 1)[0]
            file_object[f"thumb_{size}"] = (
                f"{base}/files-tmb/{TEAM_ID}-{file_id}~thumb_{size}/{stem}_{size}.{'png' if png else 'jpg'}"
            )
            file_object[f"thumb_{size}_w"], file_object[f"thumb_{size}_h"] = width, height
        self.file_objects[file_id] = file_object
        return dict(file_object)

    def thumb_file(self, file_id: str, size: int) -> HostedFile:
        return self.files[f"{file_id}~thumb_{size}"]

    def lose_next_answer(self, method: str, times: int = 1) -> None:
        """The next `times` calls of method are done (a post is posted) but their connection is closed before the
        answer: the bot cannot tell whether Slack did it."""
        with self._changed:
            self._answers_to_lose[method] += times

    def fail_next(self, method: str, status: int = 200, error: str | None = None, headers: dict | None = None) -> None:
        body = {"ok": False, "error": error} if error else {"ok": False}
        self._forced[method].append(Response(status, body, headers))

    # ---- what tests inspect ---------------------------------------------------------------------------------
    def posts(self) -> list[dict]:
        return [c.args for c in self.calls if c.method == "chat.postMessage" and c.args.get("_ok")]

    def wait_for_posts(self, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.posts()) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} posts, got {len(self.posts())}: {self.posts()}")
                self._changed.wait(remaining)
        return self.posts()

    def calls_to(self, method: str) -> list[dict]:
        """The arguments of each answered call to `method`."""
        return [c.args for c in self.calls if c.method == method and c.args.get("_ok")]

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.calls_to(method)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} {method} calls, got {self.calls_to(method)}")
                self._changed.wait(remaining)
        return self.calls_to(method)

    def reactions(self, channel: str, timestamp: str) -> list[str]:
        """The emoji names added to a message, in the order they were added."""
        return list(self._reactions.get((channel, timestamp), ()))

    def downloads(self) -> list[dict]:
        return [headers for f in self.files.values() for headers in f.downloads]

    def uploads(self) -> list[dict]:
        """Each file files.completeUploadExternal shared, in order: id, title, filename, data (the bytes), channel
        (None: not shared, the file stays private), thread_ts, initial_comment, alt_txt, snippet_type, permalink and
        ts (its message's, None when private)."""
        with self._changed:
            return [dict(shared) for shared in self._shared]

    def wait_for_uploads(self, count: int = 1, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self._shared) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"expected {count} uploads, got {len(self._shared)}: {self.uploads()}")
                self._changed.wait(remaining)
        return self.uploads()

    def close(self) -> None:
        self.server.close()

    # ---- the server side ----------------------------------------------------------------------------------
    def _route(self, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if path.startswith("/api/"):
            return self._api(path[len("/api/") :], request)
        if path.startswith(("/files-pri/", "/files-tmb/")):
            return self._serve_file(path, request)
        if path.startswith("/upload/v1/"):
            return self._receive_upload(path, request)
        return Response(404, "not found")

    def _api(self, method: str, request: Request) -> Response | None:
        if request.headers.get("content-type", "").startswith("application/json"):
            args = request.json()
        else:
            args = dict(parse_qsl(request.body.decode()))
        if isinstance(args.get("blocks"), str):
            args["blocks"] = json.loads(args["blocks"])
        call = ApiCall(method, args, request.headers)
        forced = None
        with self._changed:
            self.calls.append(call)
            if self._forced[method]:
                forced = self._forced[method].popleft()
        if forced is not None:
            call.status, call.retry_after = forced.status, _retry_after(forced.headers)
            self._notify()
            return forced
        if method.startswith("response_url."):  # tests point response_urls at /api/response_url.…: no token
            return self._answer_response_url(args)
        # Checked before the token: a violation fails the test whatever else Slack would have answered.
        if (refused := self._judge(method, block_kit.check_api_call(method, args))) is not None:
            self._notify()
            return refused
        if method == "oauth.v2.access":  # the app's client ID and secret, no token
            self._notify()
            return Response(200, self.oauth.access(args, request.headers))
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token in self.oauth.issued and method == "auth.test":
            self._notify()
            return Response(200, self.oauth.auth_test(token))
        if token in self.oauth.revoked:
            self._notify()
            return Response(200, {"ok": False, "error": "token_revoked"})
        if self.oauth.expired(token):
            self._notify()
            return Response(200, {"ok": False, "error": "token_expired"})
        if token != "xoxb-test-token" and token not in self.oauth.issued and method != "apps.connections.open":
            self._notify()
            return Response(200, {"ok": False, "error": "invalid_auth"})
        channel = args.get("channel")
        if isinstance(channel, str) and channel and not self.token_sees(token, channel):
            self._notify()
            return Response(200, {"ok": False, "error": "channel_not_found"})
        if self.token_error is not None:  # the app was uninstalled or its token revoked
            self._notify()
            return Response(200, {"ok": False, "error": self.token_error})
        if (needed := METHOD_SCOPES.get(method)) is not None and needed not in self.scopes:
            self._notify()
            provided = ",".join(sorted(self.scopes))
            return Response(200, {"ok": False, "error": "missing_scope", "needed": needed, "provided": provided})
        if self.rate_limits is not None and (wait := self.rate_limits.retry_after(method, args)) is not None:
            call.status, call.retry_after = 429, wait
            self._notify()
            return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(wait)})
        response = self._answer(method, args)
        args["_ok"] = True
        with self._changed:
            lose = self._answers_to_lose[method] > 0
            if lose:
                self._answers_to_lose[method] -= 1
        self._notify()
        if self.on_answer is not None:
            self.on_answer(method, args)
        return None if lose else response

    def _answer(self, method: str, args: dict) -> Response:
        if method == "auth.test":
            return Response(
                200,
                {
                    "ok": True,
                    "url": "https://fake.slack.com/",
                    "team": "Fake",
                    "user": "labelbot",
                    "team_id": TEAM_ID,
                    "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID,
                },
            )
        if method == "chat.postMessage":
            channel = str(args.get("channel", ""))
            if channel.startswith("U"):  # a user ID: Slack posts in the app's DM with that user, and says which
                channel = dm_channel(channel)
            elif (refused := self._post_refused(channel)) is not None:
                return Response(200, {"ok": False, "error": refused})
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self._remember_message({**args, "channel": channel}, ts)
            return Response(200, {"ok": True, "channel": channel, "ts": ts, "message": {"ts": ts}})
        if method == "chat.update":
            # Only a message the bot posted: Slack refuses others' (cant_update_message) and unknown ones.
            message = self._message(args.get("channel"), args.get("ts"))
            if message is None:
                return Response(200, {"ok": False, "error": "message_not_found"})
            message.update(text=args.get("text", ""), blocks=args.get("blocks"), edited=True)
            if args.get("metadata"):
                message["metadata"] = args["metadata"]
            return Response(200, {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")})
        if method == "chat.getPermalink":
            channel, ts = str(args.get("channel", "")), str(args.get("message_ts", ""))
            if channel in self.conversations and self.conversations[channel] is None:
                return Response(200, {"ok": False, "error": "channel_not_found"})
            link = f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"
            return Response(200, {"ok": True, "channel": channel, "permalink": link})
        if method == "chat.delete":  # a message gone already (deleted twice) is message_not_found, as in Slack
            with self._changed:
                if self._message(args.get("channel"), args.get("ts")) is None:
                    return Response(200, {"ok": False, "error": "message_not_found"})
                self.thread_messages = [
                    m for m in self.thread_messages if (m["channel"], m["ts"]) != (args.get("channel"), args.get("ts"))
                ]
            return Response(200, {"ok": True, "channel": args.get("channel"), "ts": args.get("ts")})
        if method == "files.info":
            file_object = self.file_objects.get(args.get("file", ""))
            if file_object is None:
                return Response(200, {"ok": False, "error": "file_not_found"})
            return Response(200, {"ok": True, "file": file_object})
        if method == "users.info":  # the user's locale (e.g. "ja-JP") only when asked with include_locale, as Slack
            user_id = args.get("user", "")
            user = {"id": user_id, "is_admin": False, **self.users.get(user_id, {})}
            if str(args.get("include_locale", "")).lower() not in ("true", "1"):
                user.pop("locale", None)
            return Response(200, {"ok": True, "user": user})
        if method == "conversations.info":
            channel_id = str(args.get("channel", ""))
            if not channel_id or (channel_id in self.conversations and self.conversations[channel_id] is None):
                return Response(200, {"ok": False, "error": "channel_not_found"})
            public = {"id": channel_id, "is_channel": True, "is_private": False, "is_member": True}
            return Response(200, {"ok": True, "channel": {**public, **(self.conversations.get(channel_id) or {})}})
        if method == "users.conversations":
            start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
            page, rest = self.channels[start : start + limit], start + limit < len(self.channels)
            metadata = {"next_cursor": str(start + limit) if rest else ""}
            return Response(200, {"ok": True, "channels": page, "response_metadata": metadata})
        if method == "chat.postEphemeral":  # Slack refuses one with no user, or in a channel the bot can't post in
            if not args.get("user"):
                return Response(200, {"ok": False, "error": "user_not_found"})
            if not args.get("channel") or (refused := self._post_refused(str(args["channel"]))) is not None:
                return Response(200, {"ok": False, "error": refused or "channel_not_found"})
            return Response(200, {"ok": True, "message_ts": f"{int(time.time())}.000001"})
        if method == "views.publish":  # a generic ok answer
            return Response(200, {"ok": True, "view": args.get("view"), "message_ts": f"{int(time.time())}.000001"})
        if method == "reactions.add":
            added = self._reactions[(args.get("channel", ""), args.get("timestamp", ""))]
            if args.get("name") in added:
                return Response(200, {"ok": False, "error": "already_reacted"})
            added.append(args.get("name", ""))
            return Response(200, {"ok": True})
        if method == "apps.connections.open":
            return Response(200, {"ok": True, "url": self.socket_mode_url})
        if method == "conversations.replies":
            return self._thread(args)
        if method == "conversations.open":
            return self._open_dm(args)
        if method == "files.delete":
            return self._delete_file(args)
        if method == "files.getUploadURLExternal":
            return self._upload_url(args)
        if method == "files.completeUploadExternal":
            return self._complete_upload(args)
        return Response(200, {"ok": False, "error": "unknown_method"})

    def _open_dm(self, args: dict) -> Response:
        """conversations.open with one user: the app's DM with them (dm_channel). Slack refuses a missing or unknown
        user (user_not_found), a deactivated one (user_disabled), a bot (cannot_dm_bot), more than one user for a
        1:1 DM: more users would be a group DM, which the fake doesn't open."""
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if not users and not args.get("channel"):
            return Response(200, {"ok": False, "error": "users_list_not_supplied"})
        if len(users) != 1:
            return Response(200, {"ok": False, "error": "method_not_supported_for_channel_type"})
        user = self.users.get(users[0], {})
        if not users[0].startswith("U") or user.get("not_found"):
            return Response(200, {"ok": False, "error": "user_not_found"})
        if user.get("deleted"):
            return Response(200, {"ok": False, "error": "user_disabled"})
        if user.get("is_bot"):
            return Response(200, {"ok": False, "error": "cannot_dm_bot"})
        return Response(200, {"ok": True, "channel": {"id": dm_channel(users[0])}})

    def _delete_file(self, args: dict) -> Response:
        """files.delete: a bot token deletes only files its bot uploaded (cant_delete_file); an unknown id is
        file_not_found, one deleted already file_deleted."""
        file_id = str(args.get("file") or "")
        with self._changed:
            if file_id in self.deleted_files:
                return Response(200, {"ok": False, "error": "file_deleted"})
            file_object = self.file_objects.get(file_id)
            if file_object is None:
                return Response(200, {"ok": False, "error": "file_not_found"})
            if file_object.get("user") != BOT_USER_ID:
                return Response(200, {"ok": False, "error": "cant_delete_file"})
            del self.file_objects[file_id]
            self.files.pop(file_id, None)  # no longer downloadable
            self.deleted_files.append(file_id)
            for message in self.thread_messages:
                if message.get("files"):
                    message["files"] = [f for f in message["files"] if f.get("id") != file_id]
        return Response(200, {"ok": True})

    # ---- Slack's external upload (files_upload_v2): a URL and file id, the bytes posted there, then the share ------
    def _upload_url(self, args: dict) -> Response:
        """files.getUploadURLExternal: a file id and an upload URL on the fake's own host (Slack's are on
        files.slack.com), for a file of `length` bytes; errors as the method's page lists them."""
        filename, length = str(args.get("filename") or ""), str(args.get("length", "")).strip()
        if not filename or length in ("", "0"):  # Slack: missing_argument, "typically … when the length provided is 0"
            return Response(200, {"ok": False, "error": "missing_argument"})
        if not length.isdigit():
            return _invalid_arguments("length", "must be a positive integer")
        if int(length) > self.max_upload_bytes:
            return Response(200, {"ok": False, "error": "file_upload_size_restricted"})
        if len(str(args.get("alt_txt") or "")) > MAX_ALT_TXT:
            return Response(200, {"ok": False, "error": "alt_txt_too_large"})
        file_id = f"FUP{next(self._file_ids):08d}"
        url = f"{self.url}/upload/v1/{secrets.token_urlsafe(24)}"
        ticket = UploadTicket(
            file_id, filename, int(length), url, args.get("alt_txt") or None, args.get("snippet_type") or None
        )
        with self._changed:
            self._tickets[file_id] = ticket
        return Response(200, {"ok": True, "upload_url": url, "file_id": file_id})

    def _receive_upload(self, path: str, request: Request) -> Response:
        """A POST of the file to its upload URL, raw or multipart/form-data (Slack takes either): 200 when exactly the
        announced length arrived. The URL takes one request; another, or an unknown URL, is a 404. No token needed."""
        data = _uploaded_bytes(request)
        with self._changed:
            url = self.url + path
            ticket = next((t for t in self._tickets.values() if t.upload_url == url), None)
            if request.method != "POST":
                status, body = 405, "method not allowed"
            elif ticket is None or ticket.used:
                status, body = 404, "not found"
            elif data is None or len(data) != ticket.length:
                got = "no file" if data is None else f"{len(data)} bytes"
                status, body = 400, f"length mismatch: {ticket.length} bytes announced, {got} received"
            else:
                ticket.data, status, body = data, 200, f"OK - {len(data)}"
            if ticket is not None and request.method == "POST":
                ticket.used = True
            length = None if data is None else len(data)
            self.upload_requests.append(
                {"path": path, "headers": dict(request.headers), "length": length, "status": status}
            )
            self._changed.notify_all()
        return Response(status, body, {"Content-Type": "text/plain; charset=utf-8"})

    def _complete_upload(self, args: dict) -> Response:
        """files.completeUploadExternal: shares each uploaded file (once) where the bot can post, as a message in the
        channel or thread carrying the files and initial_comment; a file not uploaded is file_not_found."""
        try:
            files = args["files"] if isinstance(args.get("files"), list) else json.loads(args.get("files") or "")
        except ValueError:
            return _invalid_arguments("files", "must provide a JSON array")
        if not isinstance(files, list) or not files or not all(isinstance(f, dict) and f.get("id") for f in files):
            return _invalid_arguments("files", "must provide an array of objects, each with an id")
        channels = [c for c in str(args.get("channel_id") or args.get("channels") or "").split(",") if c]
        if args.get("thread_ts") and len(channels) > 1:
            return _invalid_arguments("thread_ts", "takes one channel")
        for channel in channels:
            if (refused := self._post_refused(channel)) is not None:
                return Response(200, {"ok": False, "error": refused})
        with self._changed:
            tickets = [self._tickets.get(str(f["id"])) for f in files]
            if any(t is None or t.data is None or t.completed for t in tickets):
                return Response(200, {"ok": False, "error": "file_not_found"})
            for ticket in tickets:
                ticket.completed = True
        file_objects = [self._file_object(ticket, f.get("title")) for ticket, f in zip(tickets, files, strict=True)]
        for channel in channels or [None]:
            ts = None
            if channel is not None:
                ts = f"{int(time.time())}.{next(self._ts):06d}"
                message = {**args, "channel": channel, "text": args.get("initial_comment", ""), "metadata": None}
                self._remember_message({**message, "blocks": None}, ts, files=[dict(f) for f in file_objects])
            with self._changed:
                for ticket, file_object in zip(tickets, file_objects, strict=True):
                    self._shared.append(
                        {
                            "id": ticket.file_id,
                            "title": file_object["title"],
                            "filename": ticket.filename,
                            "data": ticket.data,
                            "channel": channel,
                            "thread_ts": args.get("thread_ts") or None,
                            "initial_comment": args.get("initial_comment") or None,
                            "alt_txt": ticket.alt_txt,
                            "snippet_type": ticket.snippet_type,
                            "permalink": file_object["permalink"],
                            "ts": ts,
                        }
                    )
        return Response(200, {"ok": True, "files": file_objects})

    def _file_object(self, ticket: UploadTicket, title: object) -> dict:
        """The uploaded file as Slack describes it, hosted (url_private) and known to files.info."""
        mimetype = mimetypes.guess_type(ticket.filename)[0] or "application/octet-stream"
        filetype = ticket.filename.rsplit(".", 1)[-1].lower() if "." in ticket.filename else "binary"
        assert ticket.data is not None
        file_object = self.add_file(ticket.file_id, ticket.data, ticket.filename, mimetype, filetype)
        file_object.update(
            title=str(title or ticket.filename),
            user=BOT_USER_ID,
            created=int(time.time()),
            permalink=f"https://fake.slack.com/files/{BOT_USER_ID}/{ticket.file_id}/{ticket.filename}",
        )
        if ticket.alt_txt:
            file_object["alt_txt"] = ticket.alt_txt
        self.file_objects[ticket.file_id] = dict(file_object)
        return file_object

    def _post_refused(self, channel: str) -> str | None:
        """Why Slack refuses a post in the channel (conversations: None, the bot can't see it; is_member False)."""
        if channel in self.conversations and self.conversations[channel] is None:
            return "channel_not_found"
        if (self.conversations.get(channel) or {}).get("is_member") is False:
            return "not_in_channel"
        return None

    def _message(self, channel: object, ts: object) -> dict | None:
        return next((m for m in self.thread_messages if (m["channel"], m["ts"]) == (channel, ts)), None)

    def message(self, channel: str, ts: str) -> dict:
        """A message the bot posted, as it is now (chat.update changes it)."""
        found = self._message(channel, ts)
        assert found is not None, f"no message {ts} in {channel}"
        return found

    def _remember_message(self, args: dict, ts: str, files: list[dict] | None = None) -> None:
        """Keep a post for conversations.replies; files: a file share's files (its message says upload: true)."""
        message = {
            "type": "message",
            "channel": args.get("channel"),
            "ts": ts,
            "text": args.get("text", ""),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "metadata": args.get("metadata"),
            "blocks": args.get("blocks"),
        }
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        if files is not None:
            message.update(files=files, upload=True)
        self.thread_messages.append(message)

    def _thread(self, args: dict) -> Response:
        """conversations.replies over the bot's own posts (the fake knows no one else's); `oldest` is ignored,
        as the fake's ts and the test events' ts come from different counters. Metadata only when asked for."""
        channel, ts = args.get("channel"), args.get("ts")
        thread = [m for m in self.thread_messages if m["channel"] == channel and ts in (m["ts"], m.get("thread_ts"))]
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 1000)
        page, rest = thread[start : start + limit], start + limit < len(thread)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        messages = [
            {k: v for k, v in m.items() if k != "channel" and (k != "metadata" or (with_metadata and v))} for m in page
        ]
        metadata = {"next_cursor": str(start + limit) if rest else ""}
        return Response(200, {"ok": True, "messages": messages, "has_more": rest, "response_metadata": metadata})

    def _serve_file(self, path: str, request: Request) -> Response | None:
        file_id = path.split("/")[2].split("-", 1)[1]
        hosted = self.files.get(file_id)
        if hosted is None:
            return Response(404, "not found")
        hosted.downloads.append(dict(request.headers))
        self._notify()
        if hosted.delay_seconds:
            with self._changed:
                self.serving_files += 1
                self.most_files_served_at_once = max(self.most_files_served_at_once, self.serving_files)
            time.sleep(hosted.delay_seconds)
            with self._changed:
                self.serving_files -= 1
        if hosted.redirect_to:
            return Response(302, b"", {"Location": hosted.redirect_to})
        if hosted.sign_in_page:
            return Response(200, SIGN_IN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if self._is_slack_host(request) and not self.works_in(token, hosted.team):
            return Response(200, SIGN_IN_PAGE, {"Content-Type": "text/html; charset=utf-8"})
        headers = {"Content-Type": hosted.content_type}
        response = Response(hosted.status, hosted.data, headers)
        if hosted.content_length is not None:
            headers["Content-Length"] = str(hosted.content_length)
            headers["Connection"] = "close"
        if hosted.chunked:
            response.stream = (hosted.data[i : i + 65536] for i in range(0, len(hosted.data), 65536))
        if hosted.stall_seconds:
            headers.setdefault("Content-Length", str(len(hosted.data)))
            response.stream = _stalling(hosted.data, hosted.stall_seconds)
        elif hosted.trickle_seconds:
            headers.setdefault("Content-Length", str(len(hosted.data)))
            response.stream = _trickling(hosted.data, hosted.trickle_seconds)
        elif hosted.delay_seconds and response.stream is None:
            # written as a stream so a client that gave up meanwhile is no error on the server side
            headers.setdefault("Content-Length", str(len(hosted.data)))
            response.stream = iter((hosted.data,))
        return response

    def _is_slack_host(self, request: Request) -> bool:
        return request.host.startswith("127.0.0.1")

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # ---- Block Kit, checked as Slack checks it (tests/fakes/block_kit.py) --------------------------------------------
    def check_command_ack(self, body: str) -> None:
        """A slash command's ack body is a message Slack shows the user, so the same rules hold (tests/harness.py)."""
        self._judge("slash command ack", block_kit.check_message(block_kit.ack_message(body)))

    def assert_no_block_kit_violations(self) -> None:
        """Fails naming each method and reason (the fake_slack fixture calls it at teardown)."""
        violations = "\n".join(str(violation) for violation in self.block_kit_violations)
        assert not violations, f"the bot sent what Slack would refuse or cut:\n{violations}"

    def take_block_kit_violations(self) -> list[Violation]:
        """The violations so far, forgotten: for a test that expects some (the fake_slack fixture fails on any left)."""
        with self._changed:
            taken, self.block_kit_violations = self.block_kit_violations, []
        return taken

    def _judge(self, method: str, verdict: Verdict) -> Response | None:
        """Record what Slack would refuse or cut; Slack's refusal to send back, or None to answer as usual."""
        if verdict.reasons:
            with self._changed:
                self.block_kit_violations.append(Violation(method, verdict.reasons))
        return block_kit.refusal(method, verdict) if verdict.refused else None

    def _answer_response_url(self, args: dict) -> Response:
        """A response_url takes a message without a token and answers as an incoming webhook does: ok, or a 400."""
        refused = self._judge("response_url", block_kit.check_message(args))
        self._notify()
        return refused or Response(200, "ok", {"Content-Type": "text/plain"})


def dm_channel(user_id: str) -> str:
    """The ID of the app's DM with a user, as the fake makes it."""
    return "D" + user_id[1:]


def _invalid_arguments(argument: str, problem: str) -> Response:
    """Slack's answer to an argument of the wrong form: invalid_arguments, saying which in response_metadata."""
    messages = {"messages": [f"[ERROR] {problem} [json-pointer:/{argument}]"]}
    return Response(200, {"ok": False, "error": "invalid_arguments", "response_metadata": messages})


def _uploaded_bytes(request: Request) -> bytes | None:
    """The file in an upload URL's request: the body itself, or a multipart/form-data body's file part (the first
    part with a filename, else one named file or filename). None: a multipart body with no such part."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return request.body
    head = b"Content-Type: " + content_type.encode() + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    parts = list(message.iter_parts()) if message.is_multipart() else []
    chosen = next((p for p in parts if p.get_filename()), None) or next(
        (p for p in parts if p.get_param("name", header="content-disposition") in ("file", "filename")), None
    )
    return None if chosen is None else chosen.get_payload(decode=True)


def _retry_after(headers: dict) -> int | None:
    value = headers.get("Retry-After")
    return int(value) if value is not None else None


def _trickling(data: bytes, seconds: float):
    for start in range(0, len(data), 1024):
        yield data[start : start + 1024]
        time.sleep(seconds)


def _stalling(data: bytes, seconds: float):
    half = len(data) // 2
    yield data[:half]
    time.sleep(seconds)
    yield data[half:]
