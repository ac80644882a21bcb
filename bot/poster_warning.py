"""The poster of an image whose text showed a secret: one ephemeral warning in the thread (the kinds found, never a
value), then, in the app's DM with them, a safe copy of the image with those lines covered (bot.where_picture) and one
sentence. labelbot never deletes or edits their message. Each failure is logged; the reply never waits for them."""

from __future__ import annotations

import logging
import threading
from pathlib import PurePosixPath

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import N_, Words
from bot.screen_text import secret_warning
from bot.slack_api import token_refused
from bot.store import Job

log = logging.getLogger(__name__)

# With the poster's safe copy, in the app's DM with them.
SAFE_COPY_NOTE = N_(
    "Here is your image with the secret covered: if you like, delete your message and share this copy instead."
)


def draw_safe_copy(prepared: bytes, secret_boxes, slots: threading.BoundedSemaphore) -> bytes | None:
    """The prepared image with the lines that held a secret covered, drawn in one of the CPU slots the preparing uses;
    None if it could not be drawn (the warning still goes out)."""
    from bot.where_picture import covered_copy  # its font and drawing load only where a secret was found

    try:
        with slots:
            return covered_copy(prepared, secret_boxes)
    except Exception:
        log.exception("drawing the safe copy failed")
        return None


def warn_poster(
    slack: WebClient, job: Job, kinds: tuple[str, ...], safe_copy: bytes | None, file_name: str, tr: Words
) -> None:
    """The ephemeral warning, then the safe copy (if it could be drawn) in a DM; both in tr's language (the
    poster's)."""
    if not job.user_id:
        return
    file_id = job.file.get("id")
    try:
        slack.chat_postEphemeral(
            channel=job.channel_id, user=job.user_id, thread_ts=job.thread_ts, text=secret_warning(kinds, tr)
        )
    except SlackApiError as exc:
        if token_refused(exc):
            return  # logged once by the client
        log.warning("warning the poster of file %s failed: %s", file_id, exc.response.get("error"))
    except OSError as exc:
        log.warning("warning the poster of file %s failed: %r", file_id, exc)
    if safe_copy is not None:
        send_safe_copy(slack, job, safe_copy, file_name, tr)


def send_safe_copy(slack: WebClient, job: Job, safe_copy: bytes, file_name: str, tr: Words) -> None:
    """The covered copy, uploaded into the app's DM with the poster (conversations.open needs im:write), with one
    sentence. Refused (a scope missing, the user gone): a log line saying why."""
    file_id = job.file.get("id")
    stem = PurePosixPath(file_name).stem or "image"
    try:
        dm = slack.conversations_open(users=job.user_id)["channel"]["id"]
        slack.files_upload_v2(
            channel=dm,
            file=safe_copy,
            filename=f"{stem}-covered.jpg",
            title=tr("%(file)s (secret covered)", file=stem),
            initial_comment=tr(SAFE_COPY_NOTE),
        )
    except SlackApiError as exc:
        if not token_refused(exc):
            log.warning("sending the safe copy of file %s to its poster failed: %s", file_id, exc.response.get("error"))
    except OSError as exc:
        log.warning("sending the safe copy of file %s to its poster failed: %r", file_id, exc)
