"""Show where: a press of a reply's button posts, in its thread, one picture of the boxes Rekognition gave the
message's images (labels' instances, and the text lines read), drawn on the image as Rekognition saw it.

Everything drawn was stored when the images were labelled (WherePictures.labelled_images: each job's file and
result), so a press costs no Rekognition call; each image is downloaded again from Slack (the token only to Slack
hosts, bot.slack_files), prepared as for labelling, drawn (bot.where_picture) and let go once uploaded. The first
press claims the message's picture (WherePictures.claim_picture); a press meanwhile, or after, is told where it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import N_, Sentence, Words, words_for
from bot.mrkdwn import escape, literal
from bot.render import ImageResult, shown_labels
from bot.settings import ChannelSettings
from bot.slack_api import token_refused
from bot.slack_file_objects import thumbnail_url
from bot.slack_files import DownloadError, SlackFileDownloader
from bot.store import LabelledImage, WherePictures

log = logging.getLogger(__name__)

# A claim older than this is a press whose process died while drawing: the next press draws it again.
CLAIM_STALE_SECONDS = 120.0
NOTHING_TO_SHOW = N_("There is nothing to show where any more: the labelled image or its message is gone.")
ON_ITS_WAY = N_("Someone just pressed *Show where*: the picture is on its way to this thread.")
UPLOAD_REFUSALS = {
    "missing_scope": N_(
        "I couldn't post the picture: the app lacks the `files:write` permission. An admin can add it to the app "
        "(its manifest's bot scopes) and reinstall it."
    ),
    "file_upload_size_restricted": N_(
        "I couldn't post the picture: Slack says it is larger than this workspace allows."
    ),
    "not_in_channel": N_("I couldn't post the picture: I'm not in this channel any more. Invite me with `/invite`."),
    "channel_not_found": N_("I couldn't post the picture: I can't see this channel any more."),
    "is_archived": N_("I couldn't post the picture: this channel is archived."),
}


@dataclass(frozen=True)
class Press:
    """What the listener reads from the block_actions payload."""

    channel_id: str
    message_ts: str  # the labelled message (the button's value)
    thread_ts: str  # where the reply is, so where the picture goes
    user_id: str


class ShowWhere:
    def __init__(
        self,
        pictures: WherePictures,
        slack: WebClient,
        downloader: SlackFileDownloader,
        settings_for: Callable[[str], ChannelSettings],
        words_for_user: Callable[[str], Words],
        label_words: Callable[[list[ImageResult], ChannelSettings], Words] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pictures = pictures
        self._slack = slack
        self._downloader = downloader
        self._settings_for = settings_for
        self._words_for_user = words_for_user
        # The channel's Words with the names its table lacks (bot.label_translation), as the reply named them
        self._label_words = label_words or (lambda results, settings: words_for(settings.language))
        self._clock = clock

    def press(self, press: Press) -> str | None:
        """Post the picture, or say (the presser's ephemeral answer, in their language) where it is or why it can't
        be. The picture's captions and title are in the channel's language."""
        tr = self._words_for_user(press.user_id)
        answer = self._press(press)
        return None if answer is None else tr.said(answer)

    def _press(self, press: Press) -> Sentence | None:
        settings = self._settings_for(press.channel_id)
        images = [
            image
            for image in self._pictures.labelled_images(press.channel_id, press.message_ts)
            if any(label.instances for label in shown_labels(image.result, settings))
        ]
        if not images:
            return Sentence(NOTHING_TO_SHOW)
        state, permalink = self._pictures.claim_picture(
            press.channel_id, press.message_ts, stale_before=self._clock() - CLAIM_STALE_SECONDS
        )
        if state == "posted":
            if not permalink:  # one of its images was deleted, and its part of the picture with it
                return Sentence("The picture is already in this thread.")
            return Sentence("The picture is already in this thread: <%(link)s|where everything is>.", link=permalink)
        if state == "drawing":
            return Sentence(ON_ITS_WAY)
        try:
            permalink, uploads, failure = self._post(press, images, settings)
        except BaseException:
            self._pictures.release_picture(press.channel_id, press.message_ts)
            raise
        if failure is not None:
            self._pictures.release_picture(press.channel_id, press.message_ts)
            return failure
        self._pictures.picture_posted(press.channel_id, press.message_ts, permalink, uploads)
        return None

    def _post(
        self, press: Press, images: list[LabelledImage], settings: ChannelSettings
    ) -> tuple[str, dict[str, str], Sentence | None]:
        """Draw and upload the pictures (one per image with boxes, in one message): (their permalink, {each image's
        file id: its picture's}, None), or ("", {}, why not, for the presser)."""
        uploads = []
        tr = self._label_words([image.result for image in images], settings)  # the channel's: what is posted in it
        for image in images:
            try:
                picture = self._draw(image, settings, tr)
            except DownloadError as exc:
                log.info("Show where could not download %s again: %s", image.file.get("id"), exc)
                return "", {}, Sentence(_NOT_AGAIN, file=escape(_name(image)), reason=Sentence.of(exc))
            stem = PurePosixPath(_name(image)).stem or "image"
            title = tr("Where: %(file)s", file=_name(image))
            uploads.append({"file": picture, "filename": f"{stem}-where.jpg", "title": title})
        try:
            response = self._slack.files_upload_v2(
                file_uploads=uploads, channel=press.channel_id, thread_ts=press.thread_ts
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            if not token_refused(exc):
                log.warning("Show where's upload in %s failed: %s", press.channel_id, error)
            if error in UPLOAD_REFUSALS:
                return "", {}, Sentence(UPLOAD_REFUSALS[error])
            return "", {}, Sentence("I couldn't post the picture: Slack said `%(error)s`.", error=literal(error))
        files = response.get("files") or [{}]
        uploaded = {
            str(image.file.get("id")): str(file.get("id"))
            for image, file in zip(images, files, strict=False)
            if image.file.get("id") and file.get("id")
        }
        return str(files[0].get("permalink") or ""), uploaded, None

    def _draw(self, image: LabelledImage, settings: ChannelSettings, tr: Words) -> bytes:
        """The image as labelling downloaded it (Slack's large thumbnail where there is one, else the original),
        prepared as it was for Rekognition, with the boxes of the labels the reply shows and of the text read (the
        lines that held a secret covered)."""
        file = image.file
        url = thumbnail_url(file) or file.get("url_private_download") or file.get("url_private")
        if not url:
            raise DownloadError(Sentence("Slack gave no link to it"))
        # Pillow loads at the first press, not in every web process at start.
        from bot.images import ImageError, prepare_for_rekognition
        from bot.where_picture import draw_where

        try:
            prepared = prepare_for_rekognition(self._downloader.download(url)).data
        except ImageError as exc:  # what it downloaded no longer decodes: as good as gone
            raise DownloadError(Sentence.of(exc)) from None
        result = image.result
        return draw_where(prepared, shown_labels(result, settings), result.text_boxes, result.secret_text_boxes, tr=tr)


_NOT_AGAIN = N_(
    "I couldn't get *%(file)s* from Slack again (%(reason)s), so there is no picture. If the file was deleted, there "
    "is nothing left to draw on."
)


def _name(image: LabelledImage) -> str:
    return image.result.file_name or str(image.file.get("name") or "image")
