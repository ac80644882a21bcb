"""The sweep thread's upkeep: delete the bot's replies to images deleted in Slack, and its Show where pictures of
them; send again the moderation notices
Slack refused; expire old tag index entries, finished jobs, held images, cached labels and the other steps' cached
answers; learn the workspace URL for `/labels find` if start-up couldn't."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.analysis import ANALYSIS_CACHE_DAYS
from bot.install_context import working_for
from bot.moderation_review import ModerationReview
from bot.slack_api import token_refused
from bot.store import Stores
from bot.tag_search import TagSearch

log = logging.getLogger(__name__)

# chat.delete errors worth another try at the next sweep; any other error means the reply can't (or needn't) go.
TRANSIENT_DELETE_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "request_timeout"})
# files.delete's answers for a file that is gone already: its deletion is done.
GONE_FILE_ERRORS = frozenset({"file_not_found", "file_deleted"})
SECONDS_PER_DAY = 86400.0


class Upkeep:
    """Called by the worker pool's sweep (every 30 s): replies and missing notices every time, the retention purge
    once an hour."""

    def __init__(
        self,
        stores: Stores,
        slack: WebClient,
        retention_days: int,
        *,
        purge_every_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
        search: TagSearch | None = None,
        review: ModerationReview | None = None,
    ) -> None:
        self._stores = stores
        self._review = review
        self._slack = slack
        self._retention_days = retention_days
        self._purge_every_seconds = purge_every_seconds
        self._clock = clock
        self._search = search
        self._next_purge = 0.0  # the first sweep, at start-up, purges

    def __call__(self) -> None:
        self.delete_replies_to_deleted_messages()
        self.delete_pictures_of_deleted_images()
        if self._search is not None and self._search.workspace_url() is None:
            self._search.load_workspace_url(self._slack)
        now = self._clock()
        if self._review is not None:  # one store read of the week's held images (DynamoDB: one Query)
            self.send_missing_notices(now)
        if now >= self._next_purge:
            self._next_purge = now + self._purge_every_seconds
            self.purge(now)

    def purge(self, now: float) -> int:
        """The tag index and the finished jobs (whose results hold labels, file names and errors) alike."""
        cutoff = now - self._retention_days * SECONDS_PER_DAY
        purged = self._stores.tags.purge_index(cutoff)
        jobs = self._stores.queue.purge_finished_jobs(cutoff)
        cache_cutoff = now - ANALYSIS_CACHE_DAYS * SECONDS_PER_DAY
        _expire(
            "cached label answers",
            ANALYSIS_CACHE_DAYS,
            lambda: self._stores.label_cache.purge_label_cache(cache_cutoff),
        )
        _expire("cached step answers", ANALYSIS_CACHE_DAYS, lambda: self._stores.answers.purge_answers(cache_cutoff))
        # A held image's record (who posted it, its categories, the decision) goes with the retention, as its labels
        _expire("held images", self._retention_days, lambda: self._stores.moderation.purge(cutoff))
        _expire("Show where records", self._retention_days, lambda: self._stores.pictures.purge_pictures(cutoff))
        if purged or jobs:
            log.info(
                "expired %d tag index entries and %d finished jobs older than %d days",
                purged,
                jobs,
                self._retention_days,
            )
        return purged

    def send_missing_notices(self, now: float) -> None:
        """Held images whose notice Slack refused get it again (ModerationReview.send_missing_notices)."""
        try:
            sent = self._review.send_missing_notices(now)
            if sent:
                log.info("sent %d moderation notices that could not be posted before", sent)
        except Exception:
            log.exception("re-sending missing moderation notices failed")

    def delete_replies_to_deleted_messages(self) -> None:
        for channel_id, message_ts, reply_ts, workspace in self._stores.replies.replies_to_delete():
            if not self._stores.replies.claim_reply_deletion(channel_id, message_ts):
                continue  # another sweep is deleting it (on Lambda, the invocation of another deletion's event)
            try:
                with working_for(workspace):
                    self._slack.chat_delete(channel=channel_id, ts=reply_ts)
            except SlackApiError as exc:
                error = exc.response.get("error", "unknown")
                if error in TRANSIENT_DELETE_ERRORS:
                    log.warning("deleting the reply in %s failed: %s; will retry", channel_id, error)
                    self._stores.replies.release_reply_deletion(channel_id, message_ts)
                    continue
                log.info("could not delete the reply in %s (%s); leaving it", channel_id, error)
            except Exception as exc:  # the connection: try again at the next sweep
                log.warning("deleting the reply in %s failed: %s; will retry", channel_id, type(exc).__name__)
                self._stores.replies.release_reply_deletion(channel_id, message_ts)
                continue
            self._stores.replies.mark_reply_deleted(channel_id, message_ts)

    def delete_pictures_of_deleted_images(self) -> None:
        """The Show where pictures of images deleted in Slack (WherePictures.picture_files_to_delete) go with
        files.delete; one already gone is done. A transient failure, or a missing files:write, leaves it for the next
        sweep; Slack refusing it for good (the bot's own file, so rarely) is logged and the file forgotten."""
        for picture in self._stores.pictures.picture_files_to_delete():
            file_id = picture.file_id
            try:
                with working_for(picture.workspace):
                    self._slack.files_delete(file=file_id)
            except SlackApiError as exc:
                error = str(exc.response.get("error", "unknown"))
                if error in TRANSIENT_DELETE_ERRORS or error == "missing_scope" or token_refused(exc):
                    log.warning("deleting the Show where picture %s failed: %s; will retry", file_id, error)
                    continue
                if error not in GONE_FILE_ERRORS:
                    log.warning("could not delete the Show where picture %s (%s); leaving it", file_id, error)
            except Exception as exc:  # the connection: try again at the next sweep
                log.warning("deleting the Show where picture %s failed: %s; will retry", file_id, type(exc).__name__)
                continue
            else:
                log.info("deleted the Show where picture %s in %s: its image was deleted", file_id, picture.channel_id)
            self._stores.pictures.picture_file_deleted(file_id)


def _expire(what: str, days: int, purge: Callable[[], int]) -> None:
    """One purge: a failure is logged and costs the others nothing."""
    try:
        expired = purge()
        if expired:
            log.info("expired %d %s older than %d days", expired, what, days)
    except Exception:
        log.exception("purging the %s failed", what)
