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
        """oauth.v2.access."""
        client_id, client_secret = args.get("client_id"), args.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.startswith("Basic "):
            client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id != self.client_id:
            return {"ok": False, "error": "invalid_client_id"}
        if client_secret != self.client_secret:
            return {"ok": False, "error": "bad_client_secret"}
        grant = self.grants.get(str(args.get("code")))
        if grant is None or grant.used or grant.expires_at < time.time():
            return {"ok": False, "error": "invalid_code"}
        if grant.redirect_uri and args.get("redirect_uri") != grant.redirect_uri:
            return {"ok": False, "error": "bad_redirect_uri"}
        grant.used = True
        workspace = grant.workspace
        token = f"xoxb-{workspace.team_id or workspace.enterprise_id}-{next(self._tokens)}-{secrets.token_hex(8)}"
        self.issued[token] = workspace
        answer = {
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
            "authed_user": {"id": grant.installer},
        }
        self.exchanges.append(answer)
        return answer

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
