"""Label one file: fetch -> prepare -> detect -> (filter, render) -> post, the same whichever way it arrived."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.analysis import Analysis, ImageAnalysis, content_hash, content_key
from bot.download_budget import ByteBudget
from bot.emoji_tags import EmojiMap
from bot.i18n import ENGLISH, N_, Sentence, Words
from bot.images import FramedImage, ImageError, moderation_frames, prepare_for_rekognition, reading_copy
from bot.install_context import working_for
from bot.job_log import JobMetrics, job_outcome, log_job, ms_since
from bot.label_translation import LabelTranslator
from bot.metrics import Metrics
from bot.moderation_review import ModerationReview
from bot.opt_out import POSTER_OPTED_OUT
from bot.poster_warning import draw_safe_copy, warn_poster
from bot.rate_limit import ChannelPacer, in_order
from bot.reactions import ReactionQueue
from bot.rekognition import CallLimitReached, RekognitionError
from bot.render import ImageResult, Reply, render_reply
from bot.reply_thread import REPLY_EVENT_TYPE, find_posted_reply
from bot.settings import ChannelSettings
from bot.slack_api import SlackTokenRefused, rate_limited, retry_after_seconds, token_refused
from bot.slack_file_objects import UNSUPPORTED_IMAGE_FILETYPES, is_candidate_image, is_tall_file, thumbnail_url
from bot.slack_files import DownloadError, SlackFileDownloader
from bot.store import IndexedImage, Job, Stores
from bot.store.protocols import ClaimedReply
from bot.usage import usage_month
from bot.usage_notices import CallLimitNotices

log = logging.getLogger(__name__)

# Errors after which posting again can never succeed: drop the reply and say so in the log. (A refused token is
# not one: the reply waits in the store for a restart with a good token; see bot.slack_api.)
PERMANENT_POST_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived"})
MAX_JOB_ATTEMPTS = 3
GAVE_UP = N_("I couldn't label this image: labelling it was interrupted three times.")
# Downloaded images held at once by all workers together, until each is prepared (or answered from the cache): a
# worker about to download waits while the others hold this many bytes, so memory follows this, not the worker count
# (64 workers downloading 4 MB originals at once would hold 250 MB). A file counts as its size from the file object;
# a thumbnail, whose size isn't given, as THUMB_BUDGET_BYTES.
DOWNLOAD_BUDGET_BYTES = 32 * 1024 * 1024
THUMB_BUDGET_BYTES = 256 * 1024
# Replies in one channel go out in message order, at most one a second (Slack's chat.postMessage limit); a
# message whose reply isn't settled blocks later ones only until it was recorded this long ago.
REPLY_ORDER_WAIT_SECONDS = 60.0
# Files that may be animations (GIF, animated WebP, APNG): where moderation is on, the original is downloaded, not
# Slack's thumbnail (a still of the first frame), so every part of it is checked (bot.images.moderation_frames).
ANIMATABLE_FILETYPES = frozenset({"gif", "webp", "png", "apng"})


@dataclass
class Pipeline:
    stores: Stores
    slack: WebClient
    downloader: SlackFileDownloader
    analysis: ImageAnalysis
    defaults: ChannelSettings
    reactions: ReactionQueue  # adds the emoji tags after the replies
    review: ModerationReview  # records the images moderation holds, and tells the admins
    limit_notices: CallLimitNotices  # tells the channel and the admins about the monthly call limit
    metrics: Metrics = field(default_factory=Metrics)  # for operators: jobs by outcome, each stage's duration
    emoji_map: EmojiMap = field(default_factory=EmojiMap.load)
    reply_order_wait_seconds: float = REPLY_ORDER_WAIT_SECONDS
    pacer: ChannelPacer = field(default_factory=ChannelPacer)
    prepare_slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(os.cpu_count() or 1)
    )
    download_budget: ByteBudget = field(default_factory=lambda: ByteBudget(DOWNLOAD_BUDGET_BYTES))
    moderation_frames: int = 1  # LABELBOT_MODERATION_FRAMES: an animation's frames moderation checks, at most
    translator: LabelTranslator | None = None  # label names the channel's table lacks (None: shown in English)
    # The language of what goes to one person (the poster's secret warning): bot.readers.Readers.of_user
    words_for_user: Callable[[str], Words] = lambda user_id: ENGLISH
    # Whether a channel's text may be read by the local reader (bot.analysis.TextStep.reads_locally): a tall
    # screenshot is then downloaded whole and read from a copy of its own (bot.images.reading_copy)
    reads_text_locally: Callable[[ChannelSettings], bool] = lambda settings: False
    # Many workspaces: whether an install still has labelbot (asked of the store before and after each job, so a job in
    # flight during an uninstall keeps nothing of that workspace)
    still_installed: Callable[[str], bool] = lambda workspace: True

    def settings_for(self, channel_id: str, workspace: str | None = None) -> ChannelSettings:
        return self.stores.settings.get_overrides(channel_id, workspace=workspace).apply_to(self.defaults)

    def run_job(self, job: Job) -> None:
        """Label the job's file, record and count it, then post its message's reply if it is the last: all for the
        install the message came through (its token, its settings and caches)."""
        with working_for(job.workspace):
            self._run_job(job)

    def _run_job(self, job: Job) -> None:
        if job.workspace and not self.still_installed(job.workspace):
            self._drop(job)
            return
        started = time.perf_counter()
        metrics = JobMetrics()
        try:
            if job.attempts > MAX_JOB_ATTEMPTS:
                # Claimed this often only if the process died while working on it: don't crash-loop on one file.
                log.error("file %s was interrupted %d times; giving up on it", job.file.get("id"), MAX_JOB_ATTEMPTS)
                result = ImageResult(job.file["id"], _file_name(job.file), error=Sentence(GAVE_UP))
            else:
                settings = self.settings_for(job.channel_id, job.workspace)
                if job.file.get(POSTER_OPTED_OUT):  # moderation only, where it is on
                    settings = replace(settings, poster_opted_out=True)
                with in_order(job.turn, _message_order(job.message_ts)):  # Rekognition's pacers: see Job.turn
                    result = self.label_file(job.file, settings, metrics, workspace=job.workspace)
        except SlackTokenRefused:
            # Left unfinished, not failed: the next process (with a good token) requeues and labels it.
            log.info("job %s left for the next start: Slack refused the token", job.id)
            return
        except Exception:
            log.exception("labelling file %s failed unexpectedly", job.file.get("id"))
            result = ImageResult(
                job.file["id"], _file_name(job.file), error=Sentence("Something went wrong labelling this image.")
            )
        if job.workspace and not self.still_installed(job.workspace):  # uninstalled while it was labelled
            self._drop(job)
            return
        if (result.labels or result.text) and result.error is None and not result.skipped:
            self.index_labels(job, result)  # before finish_job: a crash in between re-runs the job, re-indexing it
        if result.held:
            self.hold_for_review(job, result)  # likewise: the re-run finds it held, and sends a notice still missing
        self.stores.queue.finish_job(job.id, result)  # a limited image too: never labelled later by surprise
        self.count_usage(job, result, metrics)
        self.limit_notices.after_job(job.channel_id, limited=result.limited or metrics.text == "limited")
        if result.secrets:
            # After finish_job: a crash re-runs the job, never warns twice.
            tr = self.words_for_user(job.user_id) if job.user_id else ENGLISH
            warn_poster(self.slack, job, result.secrets, result.safe_copy, _file_name(job.file), tr)
        posting = time.perf_counter()
        try:
            self.post_reply(job.channel_id, job.message_ts)
        finally:
            metrics.post_ms = ms_since(posting)
            log_job(job, result, metrics, ms_since(started), self.metrics)

    def _drop(self, job: Job) -> None:
        """Its workspace uninstalled labelbot: nothing of the image is kept, and the job is done (never claimed
        again); no reply, as the bot's token is gone."""
        log.info("job %s dropped: its workspace uninstalled labelbot", job.id)
        self.stores.queue.finish_job(job.id, ImageResult(job.file["id"], _file_name(job.file), skipped=True))

    def index_labels(self, job: Job, result: ImageResult) -> None:
        """Make the image findable with /labels find; a failure here costs the search entry, not the reply."""
        try:
            self.stores.tags.index_images(
                [
                    IndexedImage(
                        channel_id=job.channel_id,
                        channel_type=job.channel_type,
                        message_ts=job.message_ts,
                        thread_ts=job.thread_ts,
                        file_id=result.file_id,
                        user_id=job.user_id,
                        labels=result.labels,
                        text=result.text,  # secrets hidden already: nothing else of the image's text is kept
                    )
                ]
            )
        except Exception:
            log.exception("indexing file %s failed", result.file_id)

    def count_usage(self, job: Job, result: ImageResult, metrics: JobMetrics) -> None:
        """The image in the month's usage: seen, and labelled, held, failed or limited; a cache hit when no step asked
        Rekognition. After finish_job (a crash before it re-runs the job, which counts it then); a failure here costs
        the count, never the reply."""
        if result.skipped:
            return
        outcome = job_outcome(result)
        counts = {"seen": 1, "failed" if outcome == "error" else outcome: 1}
        if outcome in ("labelled", "held") and metrics.rekognition_calls == 0:
            counts["cache_hits"] = 1
        try:
            self.stores.usage.count_images(usage_month(time.time()), job.channel_id, counts)
        except Exception:
            log.exception("counting file %s in the usage failed", result.file_id)

    def hold_for_review(self, job: Job, result: ImageResult) -> None:
        """Record the image held and tell the admins; a failure here is logged, and the image stays unlabelled."""
        try:
            self.review.hold(job, result)
        except Exception:
            log.exception("holding file %s for review failed", result.file_id)

    def label_file(
        self, file: dict, settings: ChannelSettings, metrics: JobMetrics | None = None, *, workspace: str = ""
    ) -> ImageResult:
        """Label one file; metrics, if given, collects its sizes and stage durations; workspace: the install it came
        through (Job.workspace: the caches' answers are that workspace's)."""
        metrics = JobMetrics() if metrics is None else metrics
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
                    error=Sentence(
                        "I can't label %(filetype)s files; JPEG, PNG, HEIC, WebP, AVIF, GIF, BMP and TIFF work.",
                        filetype=str(file["filetype"]).upper(),
                    ),
                )
            analysis, safe_copy = None, None
            thumbnail = thumbnail_url(file)
            if settings.moderation and str(file.get("filetype", "")).lower() in ANIMATABLE_FILETYPES:
                thumbnail = None  # a thumbnail is a still: moderation checks the animation's frames
            after_original = None  # a tall capture's thumbnail: tried only if the original fails
            if thumbnail is not None and is_tall_file(file) and self.reads_text_locally(settings):
                after_original, thumbnail = thumbnail, None  # a 1080x20000 capture's thumb_1024 is 55 px wide
            if thumbnail is not None:
                try:
                    analysis, safe_copy = self._analyse_download(
                        thumbnail, THUMB_BUDGET_BYTES, settings, metrics, workspace
                    )
                except (DownloadError, ImageError) as exc:
                    log.info("the thumbnail of %s failed (%s); downloading the original", file.get("id"), exc)
            if analysis is None:
                try:
                    analysis, safe_copy = self._analyse_original(file, settings, metrics, workspace)
                except (DownloadError, ImageError) as exc:
                    if after_original is None:
                        raise
                    log.info("the tall original of %s failed (%s); labelling its thumbnail", file.get("id"), exc)
                    analysis, safe_copy = self._analyse_download(
                        after_original, THUMB_BUDGET_BYTES, settings, metrics, workspace
                    )
            metrics.rekognition_calls = analysis.calls
            if analysis.held:
                return ImageResult(file_id, _file_name(file), held=analysis.held, content_key=analysis.content_key)
            if settings.poster_opted_out:  # checked and fine: nothing to say about it
                return ImageResult(file_id, _file_name(file), skipped=True)
            text = analysis.text
            if analysis.text_limited:
                metrics.text = "limited"
            elif text is not None or analysis.text_failed:
                metrics.text = "failed" if text is None else "read" if text.lines else "none"
            return ImageResult(
                file_id,
                _file_name(file),
                labels=analysis.labels,
                text=text.text if text else "",
                secrets=text.secrets if text else (),
                text_boxes=text.boxes if text else (),
                secret_text_boxes=text.secret_boxes if text else (),
                safe_copy=safe_copy,
            )
        except CallLimitReached:
            return ImageResult(file_id, _file_name(file), limited=True)
        except (DownloadError, ImageError, RekognitionError) as exc:
            return ImageResult(file_id, _file_name(file), error=Sentence.of(exc))
        except SlackApiError as exc:
            if token_refused(exc):
                raise SlackTokenRefused(exc.response.get("error")) from None
            log.warning("files.info for %s failed: %s", file_id, exc.response.get("error"))
            return ImageResult(file_id, _file_name(file), error=Sentence("I couldn't look this file up on Slack."))

    def _analyse_original(
        self, file: dict, settings: ChannelSettings, metrics: JobMetrics, workspace: str
    ) -> tuple[Analysis, bytes | None]:
        size = int(file.get("size") or 0)
        self.downloader.check_size(size)
        original = file.get("url_private_download") or file["url_private"]
        return self._analyse_download(original, size or self.downloader.max_bytes, settings, metrics, workspace)

    def _analyse_download(
        self, url: str, size: int, settings: ChannelSettings, metrics: JobMetrics, workspace: str = ""
    ) -> tuple[Analysis, bytes | None]:
        """Download the image (size bytes, expected) and analyse it: each step from its cache when these bytes were
        analysed with these settings, else on the prepared image. A re-posted image costs a download and a hash, not
        a decode. The downloaded bytes count against download_budget until they are let go, once prepared: a worker
        waiting on Rekognition holds the prepared JPEG (~0.5 MB for a photo), not the original too.

        Also returns, when the text read held a secret, the poster's safe copy: the prepared image with those lines
        covered (prepared now if every step came from the caches)."""
        metrics.prepare_ms = metrics.prepared_bytes = metrics.width = metrics.height = None  # a failed thumbnail's
        held = self.download_budget.acquire(size)

        def let_go() -> None:
            nonlocal held
            if held:
                self.download_budget.release(held)
                held = 0

        try:
            stage = time.perf_counter()
            try:
                source = [self.downloader.download(url)]
            finally:
                metrics.download_ms = ms_since(stage)
            metrics.downloaded_bytes = len(source[0])
            if len(source[0]) > held:  # a thumbnail larger than its estimate (a PNG screenshot's can be MBs)
                held += self.download_budget.take_more(len(source[0]) - held)
            content = content_hash(source[0])
            if settings.moderation and self.stores.moderation.released_content(content_key(content, workspace)):
                settings = replace(settings, moderation=False)  # an admin said "Looks fine" to these very bytes
            moderated = settings.moderation
            reading = self.reads_text_locally(settings)

            made: list[bytes] = []  # the prepared image, once prepare() ran

            def prepare() -> bytes:
                try:
                    frames = self.moderation_frames if moderated else 1
                    prepared = self._prepare(source[0], metrics, frames=frames, reading=reading)
                finally:
                    source.clear()
                    let_go()
                metrics.prepared_bytes, metrics.width, metrics.height = (
                    len(prepared.data),
                    prepared.width,
                    prepared.height,
                )
                made.append(prepared.data)
                return prepared.data

            stage = time.perf_counter()
            unprepared = False
            try:
                analysis = self.analysis.analyse(content, prepare, settings, workspace)
            except ImageError:
                unprepared = True  # no Rekognition call: detect_ms stays None
                raise
            finally:
                if not unprepared:  # the steps' caches and calls, without the preparing
                    metrics.detect_ms = round(ms_since(stage) - (metrics.prepare_ms or 0.0), 1)
            if analysis.text is None or not analysis.text.secret_boxes:
                return analysis, None
            safe_copy = draw_safe_copy(made[0] if made else prepare(), analysis.text.secret_boxes, self.prepare_slots)
            return analysis, safe_copy
        finally:
            let_go()

    def _prepare(self, data: bytes, metrics: JobMetrics, *, frames: int = 1, reading: bool = False):
        """prepare_for_rekognition, at most one per core at a time: decoding is CPU-bound and takes up to ~500 MB, so
        more at once would only add memory (and CPU the other workers' downloads and calls are waiting for). With
        frames > 1 (moderation on), an animation's other frames to check come with it (a FramedImage's); with reading
        (the local reader may read its text), a tall screenshot's copy for reading."""
        stage = time.perf_counter()
        try:
            with self.prepare_slots:
                prepared = prepare_for_rekognition(data)
                others = moderation_frames(data, frames) if frames > 1 else ()
                copy = reading_copy(data) if reading else None
            if others or copy:
                return replace(prepared, data=FramedImage(prepared.data, others, copy))
            return prepared
        finally:
            metrics.prepare_ms = ms_since(stage)

    def post_reply(self, channel_id: str, message_ts: str) -> None:
        """Post the message's one reply once all its files are done and every earlier message of the channel has
        its reply (or is stuck, see REPLY_ORDER_WAIT_SECONDS); then the channel's next replies that were waiting for
        it, in message order. Only one caller ever wins a reply's claim."""
        while self._post_one_reply(channel_id, message_ts):
            following = self.stores.replies.next_waiting_reply(channel_id, message_ts)
            if following is None:
                return
            message_ts = following

    def _post_one_reply(self, channel_id: str, message_ts: str) -> bool:
        """Post (or settle) one message's reply; True when it is settled, so the next one in the channel may go."""
        if self.pacer.held_for(channel_id) > self.pacer.interval:
            return False  # a 429's Retry-After holds the channel: the reply sweep posts it once that has passed
        claimed = self.stores.replies.claim_reply(
            channel_id, message_ts, after_earlier_since=time.time() - self.reply_order_wait_seconds
        )
        if claimed is None:
            return False
        with working_for(claimed.workspace):
            return self._post_claimed_reply(channel_id, message_ts, claimed)

    def _post_claimed_reply(self, channel_id: str, message_ts: str, claimed: ClaimedReply) -> bool:
        thread_ts, results, posted_ts = claimed.thread_ts, claimed.results, claimed.posted_ts
        settings = self.settings_for(channel_id, claimed.workspace)
        tr = self.translator.reply_words(results, settings) if self.translator is not None else None
        reply = render_reply(results, settings, show_where=message_ts, tr=tr)
        if reply is None:
            self.stores.replies.mark_replied(channel_id, message_ts, "")
            return True
        if posted_ts:  # a released image's labels: its message's reply is in the thread already
            updated = self._update_reply(channel_id, message_ts, posted_ts, reply, results, settings)
            if updated is not None:
                return updated
        if self.stores.replies.reply_interrupted(channel_id, message_ts):
            # A process died while posting this reply, so the post may have reached Slack: look before posting.
            try:
                posted_ts = find_posted_reply(self.slack, channel_id, thread_ts, message_ts)
            except Exception as exc:
                return self._settle_failed_reply(channel_id, message_ts, exc, "reading the thread", maybe_posted=False)
            if posted_ts is not None:
                log.info("the reply to %s in %s was posted before a restart; not again", message_ts, channel_id)
                self.stores.replies.mark_replied(channel_id, message_ts, posted_ts)
                if settings.tags:
                    self.add_reactions(channel_id, message_ts, results, settings.threshold)
                return True
        self.pacer.wait(channel_id)
        try:
            response = self.slack.chat_postMessage(
                channel=channel_id,
                thread_ts=thread_ts,
                text=reply.text,
                blocks=reply.blocks,
                unfurl_links=False,
                unfurl_media=False,
                # Names the message answered, so a process that died before recording the post can find it.
                metadata={"event_type": REPLY_EVENT_TYPE, "event_payload": {"message_ts": message_ts}},
            )
        except Exception as exc:
            # A dropped connection may come after Slack posted it: then the next try looks in the thread first.
            return self._settle_failed_reply(channel_id, message_ts, exc, "posting the reply", maybe_posted=True)
        finally:
            self.pacer.posted(channel_id)
        self.stores.replies.mark_replied(channel_id, message_ts, response.get("ts", ""))
        if settings.tags:
            self.add_reactions(channel_id, message_ts, results, settings.threshold)
        return True

    def _update_reply(
        self,
        channel_id: str,
        message_ts: str,
        posted_ts: str,
        reply: Reply,
        results: list[ImageResult],
        settings: ChannelSettings,
    ) -> bool | None:
        """Update the message's posted reply in place (chat.update: the same again is harmless, so no thread check).
        True or False as _post_one_reply; None if the reply is gone from the thread: then it is posted anew."""
        self.pacer.wait(channel_id)
        try:
            self.slack.chat_update(
                channel=channel_id,
                ts=posted_ts,
                text=reply.text,
                blocks=reply.blocks,
                metadata={"event_type": REPLY_EVENT_TYPE, "event_payload": {"message_ts": message_ts}},
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in ("message_not_found", "cant_update_message"):
                return self._settle_failed_reply(channel_id, message_ts, exc, "updating the reply", maybe_posted=False)
            log.info("the reply to %s in %s is gone from its thread; posting it again", message_ts, channel_id)
            return None
        except Exception as exc:
            return self._settle_failed_reply(channel_id, message_ts, exc, "updating the reply", maybe_posted=False)
        finally:
            self.pacer.posted(channel_id)
        self.stores.replies.mark_replied(channel_id, message_ts, posted_ts)
        if settings.tags:
            self.add_reactions(channel_id, message_ts, results, settings.threshold)
        return True

    def _settle_failed_reply(
        self, channel_id: str, message_ts: str, exc: Exception, doing: str, *, maybe_posted: bool
    ) -> bool:
        """A claimed reply's post (or the thread check before it) failed: retry later, or give up for good (True)."""
        if not isinstance(exc, SlackApiError):
            log.warning("%s in %s failed: %r; the reply sweep will try again", doing, channel_id, exc)
            self.stores.replies.release_reply(channel_id, message_ts, maybe_posted=maybe_posted)
            return False
        error = exc.response.get("error", "unknown")
        if rate_limited(exc):  # over the client's cap: nothing more to this channel before Retry-After
            self.pacer.hold(channel_id, retry_after_seconds(exc.response.headers) or self.pacer.interval)
        if token_refused(exc):  # logged once by the client; posted after a restart with a good token
            self.stores.replies.release_reply(channel_id, message_ts)
        elif error in PERMANENT_POST_ERRORS:
            log.error("cannot reply in channel %s: %s; giving up on this message", channel_id, error)
            self.stores.replies.mark_replied(channel_id, message_ts, "")
            return True
        else:
            log.warning("%s in %s failed: %s; the reply sweep will try again", doing, channel_id, error)
            self.stores.replies.release_reply(channel_id, message_ts)
        return False

    def add_reactions(self, channel_id: str, message_ts: str, results: list[ImageResult], threshold: float) -> None:
        """Queue the emoji that tag the image message (not the thread) for its images' labels: up to 3 per image,
        their union for the message. The reaction queue adds them (bot.reactions); a reply never waits for them."""
        names: list[str] = []
        for result in results:
            if result.error is None and not result.skipped:
                names += [n for n in self.emoji_map.choose(result.labels, threshold) if n not in names]
        self.reactions.add(channel_id, message_ts, names)


def _message_order(message_ts: str) -> float:
    """A message's place in its channel's order (Slack's ts: seconds since the epoch, microseconds after the dot)."""
    try:
        return float(message_ts)
    except ValueError:
        return float("inf")


def _file_name(file: dict) -> str:
    return str(file.get("name") or file.get("title") or file.get("id") or "image")
