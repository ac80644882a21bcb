"""Block Kit checked the way Slack checks it, for the loopback fake Slack (tests/fakes/slack.py).

Each block is parsed with slack_sdk's models (`Block.parse`) and validated (`to_dict()` runs `validate_json()` on the
block and on every element and text object in it); what slack_sdk's model could not represent (an unknown type or
field, an empty text or list, a string where Slack wants an object) is an error, as it is for Slack; and Slack's
documented limits that slack_sdk does not enforce are checked here. A reason reads like Slack's own: what is wrong,
then where, as `[json-pointer:/blocks/0/text/text]`.

Where each limit comes from (Slack's Block Kit reference, docs.slack.dev/reference/block-kit/…):
- blocks: "up to 50 blocks in each message, and 100 blocks in modals or Home tabs" (here; slack_sdk's View checks 100)
- section block: text 1 to 3,000 characters (slack_sdk), at most 10 fields (slack_sdk), each field's text ≤ 2,000 (here)
- actions block: at most 25 elements; context block: at most 10 elements (slack_sdk, matching the docs)
- header block: plain_text (here), ≤ 150 characters (slack_sdk)
- button element: text plain_text (here), ≤ 75 characters; action_id ≤ 255; url ≤ 3,000; value ≤ 2,000 (slack_sdk)
- block_id ≤ 255 (slack_sdk); every text object: 1 to 3,000 characters (here)
- a message's `text`: Slack posts at most 40,000 characters and truncates the rest, with a `message_truncated` warning
  (api.slack.com/changelog/2018-04-truncating-really-long-messages): a violation, though not a refusal
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from tests.fakes.http_server import Response

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_TEXT = 3000
MAX_FIELD_TEXT = 2000
TEXT_TYPES = frozenset({"plain_text", "mrkdwn"})
PLAIN_TEXT_ONLY = frozenset({"header", "button"})  # their `text` may not be mrkdwn

MESSAGE_METHODS = frozenset({"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"})
VIEW_METHODS = frozenset({"views.publish", "views.open", "views.update", "views.push"})

# What slack_sdk raises for a block it knows whose fields are missing or of the wrong kind.
_PARSE_ERRORS = (SlackObjectFormationError, TypeError, ValueError, KeyError, AttributeError)
_MISSING = object()


@dataclass(frozen=True)
class Verdict:
    """Slack's judgement of one payload: what it refuses outright, and what it accepts only by cutting it short."""

    refused: tuple[str, ...] = ()
    truncated: tuple[str, ...] = ()

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.refused + self.truncated


@dataclass(frozen=True)
class Violation:
    """A payload the bot sent that Slack would have refused or cut: where it went and why."""

    method: str  # a Web API method, "response_url" or "slash command ack"
    reasons: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.method}: " + "; ".join(self.reasons)


# ---- what the fake asks --------------------------------------------------------------------------------------------


def check_api_call(method: str, args: dict) -> Verdict:
    """The Block Kit in a Web API call's arguments (methods without any pass)."""
    if method in MESSAGE_METHODS:
        return check_message(args)
    if method in VIEW_METHODS:
        return Verdict(refused=tuple(view_problems(args.get("view"))))
    return Verdict()


def check_message(message: dict) -> Verdict:
    """A message payload: chat.* arguments, a response_url post or a slash command's ack body."""
    long_text = isinstance(message.get("text"), str) and len(message["text"]) > MAX_MESSAGE_TEXT
    truncated = (f"text is longer than {MAX_MESSAGE_TEXT:,} characters and was truncated [json-pointer:/text]",)
    return Verdict(
        refused=tuple(blocks_problems(message.get("blocks"), "/blocks", MAX_MESSAGE_BLOCKS)),
        truncated=truncated if long_text else (),
    )


def ack_message(body: str) -> dict:
    """The message in an HTTP ack's body: Slack reads JSON as a message payload, anything else as its text."""
    try:
        message = json.loads(body)
    except ValueError:
        return {"text": body}
    return message if isinstance(message, dict) else {"text": body}


def refusal(method: str, verdict: Verdict) -> Response:
    """Slack's answer to a payload it refuses: views.* say invalid_arguments with the reasons in response_metadata,
    message methods invalid_blocks with them in `errors` too, and a response_url (a webhook) 400 invalid_blocks."""
    messages = {"messages": [f"[ERROR] {reason}" for reason in verdict.refused]}
    if method in VIEW_METHODS:
        return Response(200, {"ok": False, "error": "invalid_arguments", "response_metadata": messages})
    if method in MESSAGE_METHODS:
        body = {"ok": False, "error": "invalid_blocks", "errors": list(verdict.refused), "response_metadata": messages}
        return Response(200, body)
    return Response(400, "invalid_blocks", {"Content-Type": "text/plain"})


# ---- the checks ----------------------------------------------------------------------------------------------------


def view_problems(view: object) -> list[str]:
    """A view (views.publish/open/update/push): the view's own fields by slack_sdk's View, then each block."""
    if isinstance(view, str):  # form-encoded calls send the view as JSON
        try:
            view = json.loads(view)
        except ValueError:
            return ["must provide a JSON object [json-pointer:/view]"]
    if not isinstance(view, dict):
        return ["must provide an object [json-pointer:/view]"]
    try:
        View(**view).validate_json()  # type, title, 1 to 100 blocks, private_metadata, callback_id…
    except _PARSE_ERRORS as exc:
        return [f"{exc} [json-pointer:/view]"]
    return blocks_problems(view.get("blocks"), "/view/blocks", MAX_VIEW_BLOCKS)


def blocks_problems(blocks: object, pointer: str, max_blocks: int) -> list[str]:
    """A `blocks` array: how many, then each block."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return [f"must provide an array [json-pointer:{pointer}]"]
    too_many = [f"no more than {max_blocks} items allowed [json-pointer:{pointer}]"] if len(blocks) > max_blocks else []
    return too_many + [problem for i, block in enumerate(blocks) for problem in block_problems(block, f"{pointer}/{i}")]


def block_problems(block: object, pointer: str) -> list[str]:
    """One block: parsed and validated by slack_sdk, compared with what it understood, then Slack's other limits."""
    if not isinstance(block, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    try:
        parsed = Block.parse(block)
        # Block.parse gives None (or, in older slack_sdk, a bare Block) for a type it doesn't know: Slack refuses it.
        if parsed is None or type(parsed) is Block:
            return [f"unsupported type: {block.get('type')!r} [json-pointer:{pointer}/type]"]
        understood = parsed.to_dict()  # validate_json() on the block and on each element and text object in it
    except _PARSE_ERRORS as exc:
        return [f"{exc} [json-pointer:{pointer}]"]
    return lost_in_parsing(block, understood, pointer) + limit_problems(block, pointer)


def lost_in_parsing(sent: object, understood: object, pointer: str) -> list[str]:
    """What slack_sdk's model left out or changed (an unknown field or element type, an empty text or list, a string
    for an object): Slack refuses the whole payload for any of it."""
    if understood is _MISSING:
        return [_dropped(sent, pointer)]
    if isinstance(sent, dict) and isinstance(understood, dict):
        return [
            problem
            for key, value in sent.items()
            for problem in lost_in_parsing(value, understood.get(key, _MISSING), f"{pointer}/{key}")
        ]
    if isinstance(sent, list) and isinstance(understood, list) and len(sent) == len(understood):
        return [
            problem
            for i, (one, its_model) in enumerate(zip(sent, understood, strict=True))
            for problem in lost_in_parsing(one, its_model, f"{pointer}/{i}")
        ]
    if sent == understood:
        return []
    if isinstance(sent, dict):  # slack_sdk skipped it: an element type it doesn't know
        return [_unsupported(sent, pointer)]
    if isinstance(understood, dict):
        return [f"must provide an object [json-pointer:{pointer}]"]
    if pointer.endswith("/type"):  # slack_sdk read an unknown text type as mrkdwn
        return [f"unsupported type: {_shown(sent)} [json-pointer:{pointer}]"]
    return [f"invalid value {_shown(sent)} [json-pointer:{pointer}]"]


def limit_problems(block: dict, pointer: str) -> list[str]:
    """Slack's limits that slack_sdk leaves unchecked, anywhere in the block."""
    return [problem for where, part in _objects(block, pointer) for problem in _part_problems(part, where)]


def _part_problems(part: dict, pointer: str) -> list[str]:
    """One object's text lengths and kinds, where the Block Kit reference sets limits slack_sdk doesn't check."""
    kind, text, problems = part.get("type"), part.get("text"), []
    if kind in TEXT_TYPES and isinstance(text, str) and len(text) > MAX_TEXT:
        problems.append(f"must be less than {MAX_TEXT + 1} characters [json-pointer:{pointer}/text]")
    if kind in PLAIN_TEXT_ONLY and isinstance(text, dict) and text.get("type") != "plain_text":
        problems.append(f"must be a plain_text text object [json-pointer:{pointer}/text/type]")
    if kind == "section":
        for i, field in enumerate(part.get("fields") or []):
            if isinstance(field, dict) and len(str(field.get("text", ""))) > MAX_FIELD_TEXT:
                problems.append(
                    f"must be less than {MAX_FIELD_TEXT + 1} characters [json-pointer:{pointer}/fields/{i}/text]"
                )
    return problems


def _objects(value: object, pointer: str) -> Iterator[tuple[str, dict]]:
    """Every object in a block, the block itself first, with its JSON pointer."""
    if isinstance(value, dict):
        yield pointer, value
        for key, child in value.items():
            yield from _objects(child, f"{pointer}/{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _objects(child, f"{pointer}/{i}")


def _unsupported(sent: dict, pointer: str) -> str:
    if "type" in sent:
        return f"unsupported type: {sent['type']!r} [json-pointer:{pointer}/type]"
    return f"unsupported object [json-pointer:{pointer}]"


def _dropped(sent: object, pointer: str) -> str:
    if sent is None or sent in ("", [], {}):
        return f"must not be empty or null [json-pointer:{pointer}]"
    return f"unsupported field [json-pointer:{pointer}]"


def _shown(value: object) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:59] + "…"
