"""Label one file: fetch -> prepare -> detect -> (filter, render) -> post, the same whichever way it arrived."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.emoji_tags import EmojiMap
from bot.images import ImageError, prepare_for_rekognition
from bot.rekognition import RekognitionError, RekognitionLabeler
from bot.render import ImageResult, render_reply
from bot.settings import ChannelSettings
from bot.slack_files import DownloadError, SlackFileDownloader
from bot.store import IndexedImage, Job, Store

log = logging.getLogger(__name__)

IMAGE_FILETYPES = frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic", "heif", "avif", "bmp", "tiff", "tif", "ico"})
UNSUPPORTED_IMAGE_FILETYPES = frozenset({"svg", "eps", "psd", "ai", "raw", "dng", "cr2", "nef", "arw"})
# Errors after which posting again can never succeed: drop the reply and say so in the log.
PERMANENT_POST_ERRORS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "token_revoked", "account_inactive"}
)
# reactions.add errors that concern one emoji only: the others can still be added.
SKIPPED_REACTION_ERRORS = frozenset({"already_reacted", "invalid_name"})
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
    emoji_map: EmojiMap = field(default_factory=EmojiMap.load)

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
        if result.labels and result.error is None and not result.skipped:
            self.index_labels(job, result)  # before finish_job: a crash in between re-runs the job, re-indexing it
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

    def index_labels(self, job: Job, result: ImageResult) -> None:
        """Make the image findable with /labels find; a failure here costs the search entry, not the reply."""
        try:
            self.store.index_images(
                [
                    IndexedImage(
                        channel_id=job.channel_id,
                        channel_type=job.channel_type,
                        message_ts=job.message_ts,
                        thread_ts=job.thread_ts,
                        file_id=result.file_id,
                        user_id=job.user_id,
                        labels=result.labels,
                    )
                ]
            )
        except Exception:
            log.exception("indexing file %s failed", result.file_id)

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
            labels = self.labeler.detect_labels(
                prepared.data,
                settings.threshold,
                settings.max_labels,
                include=settings.include,
                exclude=settings.exclude,
            )
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
        settings = self.settings_for(channel_id)
        reply = render_reply(results, settings)
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
                log.warning("posting the reply in %s failed: %s; the reply sweep will try again", channel_id, error)
                self.store.release_reply(channel_id, message_ts)
            return
        except Exception:
            log.exception("posting the reply in %s failed; the reply sweep will try again", channel_id)
            self.store.release_reply(channel_id, message_ts)
            return
        self.store.mark_replied(channel_id, message_ts, response.get("ts", ""))
        if settings.tags:
            self.add_reactions(channel_id, message_ts, results, settings.threshold)

    def add_reactions(self, channel_id: str, message_ts: str, results: list[ImageResult], threshold: float) -> None:
        """Tag the image message (not the thread) with emoji for its images' labels; never raises.

        Each image contributes up to 3 emoji; the message gets their union. slack_sdk's retry handler has
        already waited out 429s (reactions.add is Tier 3); what still fails is logged and the rest skipped.
        """
        try:
            names: list[str] = []
            for result in results:
                if result.error is None and not result.skipped:
                    names += [n for n in self.emoji_map.choose(result.labels, threshold) if n not in names]
            for name in names:
                try:
                    self.slack.reactions_add(channel=channel_id, timestamp=message_ts, name=name)
                except SlackApiError as exc:
                    error = exc.response.get("error") or f"HTTP {exc.response.status_code}"
                    if error == "invalid_name":
                        log.warning("Slack has no emoji :%s:; fix or remove it in %s", name, self.emoji_map.origin)
                    if error in SKIPPED_REACTION_ERRORS:
                        continue
                    hint = " (the app needs the reactions:write scope)" if error == "missing_scope" else ""
                    level = logging.INFO if error in ("message_not_found", "too_many_reactions") else logging.WARNING
                    log.log(
                        level,
                        "stopped tagging message %s in %s after %d of %d emoji: %s%s",
                        message_ts,
                        channel_id,
                        names.index(name),
                        len(names),
                        error,
                        hint,
                    )
                    return
        except Exception:
            log.exception("tagging message %s in %s failed; the reply stands", message_ts, channel_id)


def _file_name(file: dict) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "image")
