"""Label one file: fetch -> prepare -> detect -> (filter, render) -> post, the same whichever way it arrived."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.images import ImageError, prepare_for_rekognition
from bot.rekognition import RekognitionError, RekognitionLabeler
from bot.render import ImageResult, render_reply
from bot.settings import ChannelSettings
from bot.slack_files import DownloadError, SlackFileDownloader
from bot.store import Job, Store

log = logging.getLogger(__name__)

IMAGE_FILETYPES = frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "bmp", "tiff", "tif", "ico"})
UNSUPPORTED_IMAGE_FILETYPES = frozenset({"svg", "eps", "psd", "ai", "raw", "dng", "cr2", "nef", "arw"})
# Errors after which posting again can never succeed: drop the reply and say so in the log.
PERMANENT_POST_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "token_revoked", "account_inactive"}
)
MAX_JOB_ATTEMPTS = 3
GAVE_UP = "I couldn't label this image: labelling it was interrupted three times."
KEPT_FILE_FIELDS = (
    "id",
    "name",
    "title",
    "mimetype",
    "filetype",
    "size",
    "url_private",
    "url_private_download",
    "file_access",
)


def is_candidate_image(file: dict) -> bool:
    """From the event alone: could this file be an image? (Files Slack sent without details count.)"""
    if file.get("file_access") == "check_file_info":
        return True
    mimetype = str(file.get("mimetype") or "").lower()
    filetype = str(file.get("filetype") or "").lower()
    return mimetype.startswith("image/") or filetype in IMAGE_FILETYPES or filetype in UNSUPPORTED_IMAGE_FILETYPES


def job_file(file: dict) -> dict:
    """What a job keeps of Slack's file object."""
    return {key: file[key] for key in KEPT_FILE_FIELDS if key in file}


@dataclass
class Pipeline:
    store: Store
    slack: WebClient
    downloader: SlackFileDownloader
    labeler: RekognitionLabeler
    defaults: ChannelSettings

    def settings_for(self, channel_id: str) -> ChannelSettings:
        return self.store.get_overrides(channel_id).apply_to(self.defaults)

    def run_job(self, job: Job) -> None:
        started = time.monotonic()
        try:
            if job.attempts > MAX_JOB_ATTEMPTS:
                # Claimed this often only if the process died while working on it: don't crash-loop on one file.
                log.error("file %s was interrupted %d times; giving up on it", job.file.get("id"), MAX_JOB_ATTEMPTS)
                result = ImageResult(job.file["id"], _file_name(job.file), error=GAVE_UP)
            else:
                result = self.label_file(job.file, self.settings_for(job.channel_id))
        except Exception:
            log.exception("labelling file %s failed unexpectedly", job.file.get("id"))
            result = ImageResult(
                job.file["id"], _file_name(job.file), error="Something went wrong labelling this image."
            )
        self.store.finish_job(job.id, result)
        log.info(
            "job %d channel=%s file=%s outcome=%s duration_ms=%.0f",
            job.id,
            job.channel_id,
            job.file.get("id"),
            "skipped" if result.skipped else "error" if result.error else "labelled",
            (time.monotonic() - started) * 1000,
        )
        self.post_reply(job.channel_id, job.message_ts)

    def label_file(self, file: dict, settings: ChannelSettings) -> ImageResult:
        file_id = file["id"]
        try:
            if "url_private_download" not in file and "url_private" not in file:
                file = self.slack.files_info(file=file_id)["file"]
                if not is_candidate_image(file):
                    return ImageResult(file_id, _file_name(file), skipped=True)
            if str(file.get("filetype", "")).lower() in UNSUPPORTED_IMAGE_FILETYPES:
                return ImageResult(
                    file_id,
                    _file_name(file),
                    error=f"I can't label {str(file['filetype']).upper()} files; JPEG, PNG, HEIC, WebP, AVIF, "
                    "GIF, BMP and TIFF work.",
                )
            self.downloader.check_size(int(file.get("size") or 0))
            data = self.downloader.download(file.get("url_private_download") or file["url_private"])
            prepared = prepare_for_rekognition(data)
            labels = self.labeler.detect_labels(prepared.data, settings.threshold, settings.max_labels)
            return ImageResult(file_id, _file_name(file), labels=labels)
        except (DownloadError, ImageError, RekognitionError) as exc:
            return ImageResult(file_id, _file_name(file), error=str(exc))
        except SlackApiError as exc:
            log.warning("files.info for %s failed: %s", file_id, exc.response.get("error"))
            return ImageResult(file_id, _file_name(file), error="I couldn't look this file up on Slack.")

    def post_reply(self, channel_id: str, message_ts: str) -> None:
        """Post the message's one reply once all its files are done; only one caller ever wins the claim."""
        claimed = self.store.claim_reply(channel_id, message_ts)
        if claimed is None:
            return
        thread_ts, results = claimed
        reply = render_reply(results, self.settings_for(channel_id))
        if reply is None:
            self.store.mark_replied(channel_id, message_ts, "")
            return
        try:
            response = self.slack.chat_postMessage(
                channel=channel_id,
                thread_ts=thread_ts,
                text=reply.text,
                blocks=reply.blocks,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "unknown")
            if error in PERMANENT_POST_ERRORS:
                log.error("cannot reply in channel %s: %s; giving up on this message", channel_id, error)
                self.store.mark_replied(channel_id, message_ts, "")
            else:
                log.warning("posting the reply in %s failed: %s; will retry at the next start", channel_id, error)
                self.store.release_reply(channel_id, message_ts)
            return
        except Exception:
            log.exception("posting the reply in %s failed; will retry at the next start", channel_id)
            self.store.release_reply(channel_id, message_ts)
            return
        self.store.mark_replied(channel_id, message_ts, response.get("ts", ""))


def _file_name(file: dict) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "image")
