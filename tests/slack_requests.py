"""Requests the way Slack sends them: event envelopes and slash commands, signed with the signing secret."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.fakes.slack import BOT_USER_ID, TEAM_ID

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
_event_ids = itertools.count(1)
_ts = itertools.count(1)


@dataclass
class HttpAnswer:
    status: int
    body: str
    seconds: float

    def json(self) -> dict:
        return json.loads(self.body)


def next_ts() -> str:
    return f"{int(time.time())}.{next(_ts):06d}"


def file_share_event(
    channel: str,
    files: list[dict],
    *,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str = "UALICE",
    **extra,
) -> dict:
    event = {
        "type": "message",
        "subtype": "file_share",
        "channel": channel,
        "user": user,
        "text": "",
        "ts": ts or next_ts(),
        "files": files,
        "channel_type": "channel",
        **extra,
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def envelope(
    event: dict,
    event_id: str | None = None,
    *,
    team: str = TEAM_ID,
    enterprise: str | None = None,
    enterprise_install: bool = False,
    bot_user: str = BOT_USER_ID,
) -> dict:
    """An Events API envelope from the workspace `team` (of the org `enterprise`); enterprise_install: for an
    org-wide install, whose authorization names the org alone."""
    authorization = {
        "enterprise_id": enterprise,
        "team_id": None if enterprise_install else team,
        "user_id": bot_user,
        "is_bot": True,
        "is_enterprise_install": enterprise_install,
    }
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        **({"enterprise_id": enterprise} if enterprise else {}),
        "api_app_id": "A0001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_event_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [authorization],
    }


def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


def post(url: str, body: str, headers: dict, content_type: str) -> HttpAnswer:
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": content_type, **headers}, method="POST"
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return HttpAnswer(response.status, response.read().decode(), time.perf_counter() - started)
    except urllib.error.HTTPError as error:
        return HttpAnswer(error.code, error.read().decode(), time.perf_counter() - started)


def post_event(
    url: str,
    event: dict,
    *,
    retry_num: int | None = None,
    event_id: str | None = None,
    team: str = TEAM_ID,
    enterprise: str | None = None,
    enterprise_install: bool = False,
    **sign,
) -> HttpAnswer:
    body = json.dumps(
        envelope(event, event_id, team=team, enterprise=enterprise, enterprise_install=enterprise_install)
    )
    headers = signed_headers(body, **sign)
    if retry_num is not None:
        headers.update({"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"})
    return post(url, body, headers, "application/json")


def post_command(
    url: str,
    text: str,
    *,
    channel: str = "C0001",
    user: str = "UALICE",
    team: str = TEAM_ID,
    enterprise: str | None = None,
    enterprise_install: bool = False,
    response_url: str = "http://127.0.0.1:9/unused",
    **sign,
) -> HttpAnswer:
    org = {"enterprise_id": enterprise, "is_enterprise_install": str(enterprise_install).lower()} if enterprise else {}
    body = urlencode(
        {
            "token": "legacy",
            "team_id": team,
            **org,
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "alice",
            "command": "/labels",
            "text": text,
            "response_url": response_url,
            "trigger_id": "1.2.3",
            "api_app_id": "A0001",
        }
    )
    return post(url, body, signed_headers(body, **sign), "application/x-www-form-urlencoded")


def post_interaction(url: str, payload: dict, **sign) -> HttpAnswer:
    """An interactivity request (shortcut, button, …): the JSON payload in a signed form field `payload`."""
    body = urlencode({"payload": json.dumps(payload)})
    return post(url, body, signed_headers(body, **sign), "application/x-www-form-urlencoded")


def block_actions(
    message: dict, action_id: str, *, user: str, response_url: str = "http://127.0.0.1:9/unused", team: str = TEAM_ID
) -> dict:
    """Slack's block_actions payload for a press of the button `action_id` in a message the bot posted (as the fake
    Slack holds it: channel, ts, blocks)."""
    block, button = next(
        (block, element)
        for block in message.get("blocks") or ()
        if block.get("type") == "actions"
        for element in block["elements"]
        if element.get("action_id") == action_id
    )
    thread = {"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}  # a reply in a thread
    return {
        "type": "block_actions",
        "token": "legacy-verification-token",
        "api_app_id": "A0001",
        "team": {"id": team, "domain": "fake"},
        "user": {"id": user, "username": user.lower(), "team_id": team},
        "container": {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": message["channel"],
            "is_ephemeral": False,
            **thread,
        },
        "channel": {"id": message["channel"], "name": "moderation"},
        "message": {
            "type": "message",
            "user": BOT_USER_ID,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "blocks": message.get("blocks"),
            **thread,
        },
        "trigger_id": "1.2.3",
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": block.get("block_id", "a1b2"),  # Slack makes one up for a block without
                "text": button["text"],
                "value": button["value"],
                "action_ts": next_ts(),
            }
        ],
    }
