"""The fake Slack's side of OAuth v2 (docs.slack.dev/authentication/installing-with-oauth): the authorize page a
browser is sent to, where a test plays the person who approves or cancels, and oauth.v2.access, which turns the code
into the workspace's bot token, as strictly as Slack: the app's client ID and secret (HTTP Basic, or in the form), a
code once and within 10 minutes, for the same redirect_uri; each workspace (or org, for an org-wide install) gets its
own token, which the fake's other methods then accept (FakeSlack.workspaces)."""

from __future__ import annotations

import base64
import itertools
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "fake-client-secret-0123456789abcdef"
APP_ID = "A0LABELBOT"
CODE_SECONDS = 600


@dataclass
class Workspace:
    """A workspace (or an org, for an org-wide install) the app is installed in: what auth.test says for its token."""

    team_id: str | None
    team_name: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    is_enterprise_install: bool = False
    bot_user_id: str = "UBOT"
    bot_id: str = "BBOT"
    scopes: tuple[str, ...] = ()


@dataclass
class Grant:
    """An approval on the authorize page: its code, for whom, to where, until when."""

    workspace: Workspace
    installer: str
    redirect_uri: str | None
    expires_at: float
    used: bool = False


@dataclass
class OAuth:
    """What the fake knows of the app's OAuth: its credentials, the codes it gave, the tokens it issued."""

    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    redirect_url: str = "http://127.0.0.1/slack/oauth_redirect"  # the app's configured redirect URL
    grants: dict[str, Grant] = field(default_factory=dict)
    issued: dict[str, Workspace] = field(default_factory=dict)  # token -> workspace
    exchanges: list[dict] = field(default_factory=list)  # each oauth.v2.access call's answer
    revoked: set[str] = field(default_factory=set)  # tokens of uninstalled apps: every call is token_revoked
    # Token rotation (the app's setting): an install's token then expires after expires_in seconds and comes with a
    # refresh token; oauth.v2.access with grant_type=refresh_token gives a new pair (the refreshed token lasts
    # refreshed_expires_in). A token past its expiry is token_expired; a refresh token works once.
    rotation: bool = False
    expires_in: int = 43200
    refreshed_expires_in: int = 43200
    expiry: dict[str, float] = field(default_factory=dict)  # token -> when it expires
    refresh_tokens: dict[str, Workspace] = field(default_factory=dict)
    refreshes: list[str] = field(default_factory=list)  # each refresh token spent, in order
    _tokens: itertools.count = field(default_factory=lambda: itertools.count(1))

    def approve(self, authorize_url: str, workspace: Workspace, installer: str = "UINSTALLER") -> str:
        """The person approved the install on Slack's page at authorize_url: where Slack sends their browser back
        (the redirect URI with code and state). Checks what Slack checks of the request: the client ID, a scope."""
        query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        assert query.get("client_id") == self.client_id, "authorize: unknown client_id"
        assert query.get("scope"), "authorize: no scope asked for"
        code = secrets.token_hex(16)
        self.grants[code] = Grant(
            workspace=Workspace(**{**workspace.__dict__, "scopes": tuple(query["scope"].split(","))}),
            installer=installer,
            redirect_uri=query.get("redirect_uri"),
            expires_at=time.time() + CODE_SECONDS,
        )
        return self._back(query, {"code": code, "state": query.get("state", "")})

    def cancel(self, authorize_url: str) -> str:
        """The person pressed Cancel: Slack sends the browser back with error=access_denied."""
        query = {key: values[0] for key, values in parse_qs(urlsplit(authorize_url).query).items()}
        return self._back(query, {"error": "access_denied", "state": query.get("state", "")})

    def _back(self, query: dict, params: dict) -> str:
        redirect = query.get("redirect_uri") or self.redirect_url
        return f"{redirect}?{urlencode(params)}"

    def access(self, args: dict, headers: dict) -> dict:
        """oauth.v2.access: a code for an install's token, or (grant_type=refresh_token) a refresh."""
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        if args.get("grant_type") == "refresh_token":
            return self._refresh(str(args.get("refresh_token")))
        grant = self.grants.get(str(args.get("code")))
        if grant is None or grant.used or grant.expires_at < time.time():
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri and args.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        grant.used = True
        workspace = grant.workspace
        token = self._issue(workspace, self.expires_in)
        answer = {**self._grant(token, workspace, self.expires_in), "authed_user": {"id": grant.installer}}
        self.exchanges.append(answer)
        return answer

    def _issue(self, workspace: Workspace, expires_in: int) -> str:
        token = f"xoxb-{workspace.team_id or workspace.enterprise_id}-{next(self._tokens)}-{secrets.token_hex(8)}"
        self.issued[token] = workspace
        if self.rotation:
            self.expiry[token] = time.time() + expires_in
        return token

    def _rotation_fields(self, token: str, workspace: Workspace, expires_in: int) -> dict:
        if not self.rotation:
            return {}
        refresh = f"xoxe-1-{secrets.token_hex(12)}"
        self.refresh_tokens[refresh] = workspace
        return {"refresh_token": refresh, "expires_in": expires_in}

    def _refresh(self, refresh_token: str) -> dict:
        workspace = self.refresh_tokens.pop(refresh_token, None)
        if workspace is None:
            return {"ok": False, "error": "invalid_refresh_token"}
        self.refreshes.append(refresh_token)
        token = self._issue(workspace, self.refreshed_expires_in)
        return self._grant(token, workspace, self.refreshed_expires_in)

    def _grant(self, token: str, workspace: Workspace, expires_in: int) -> dict:
        """oauth.v2.access's answer for a token it gave: an install's, or a refresh's."""
        return {
            "ok": True,
            "app_id": APP_ID,
            "access_token": token,
            "token_type": "bot",
            "scope": ",".join(workspace.scopes),
            "bot_user_id": workspace.bot_user_id,
            "team": None if workspace.is_enterprise_install else {"id": workspace.team_id, "name": workspace.team_name},
            "enterprise": (
                {"id": workspace.enterprise_id, "name": workspace.enterprise_name} if workspace.enterprise_id else None
            ),
            "is_enterprise_install": workspace.is_enterprise_install,
            **self._rotation_fields(token, workspace, expires_in),
        }

    def expired(self, token: str) -> bool:
        return token in self.expiry and self.expiry[token] <= time.time()

    def uninstall(self, team_or_org: str) -> list[str]:
        """The app was uninstalled from a workspace (or org): its tokens stop working. Returns them."""
        gone = [t for t, w in self.issued.items() if team_or_org in (w.team_id, w.enterprise_id)]
        for token in gone:
            self.revoked.add(self.issued.pop(token) and token)
        return gone

    def auth_test(self, token: str) -> dict | None:
        """auth.test for a token this OAuth issued (None: not one of them)."""
        workspace = self.issued.get(token)
        if workspace is None:
            return None
        return {
            "ok": True,
            "url": f"https://{(workspace.team_id or workspace.enterprise_id or 'org').lower()}.slack.com/",
            "team": workspace.team_name,
            "user": "labelbot",
            "team_id": workspace.team_id,
            "user_id": workspace.bot_user_id,
            "bot_id": workspace.bot_id,
            **({"enterprise_id": workspace.enterprise_id} if workspace.enterprise_id else {}),
            "is_enterprise_install": workspace.is_enterprise_install,
        }
