"""One small protocol per concern of the store, and the values they speak. Both backends implement each one: SQLite
in bot/store/sqlite/<concern>.py, DynamoDB in bot/store/dynamodb/<concern>.py (see bot/store/__init__.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides

# ---- the values -------------------------------------------------------------------------------------------------


# Job.turn counts the channel's messages of this many seconds before the message (Slack's ts are seconds).
TURN_SECONDS = 60.0


# A sweep's claim on deleting a reply (ReplyState.claim_reply_deletion) lapses after this long: one whose sweep died on
# the way is tried again by a later sweep (a failure it saw, it releases).
REPLY_DELETION_CLAIM_SECONDS = 60.0


@dataclass(frozen=True)
class Job:
    """Label one file of one message."""

    id: int | str  # SQLite: a row id; DynamoDB: "<pk>|<sk>"
    channel_id: str
    message_ts: str
    thread_ts: str
    file: dict
    attempts: int
    user_id: str = ""  # who posted the message
    channel_type: str = ""  # the event's channel_type: channel (public) | group (private) | im | mpim
    # Which install the message came through (bot.store.installations.workspace_key): "" with one workspace
    # (SLACK_BOT_TOKEN); with "Add to Slack" (issue 30, in progress), its workspace's or org's. Its analysis's cached
    # answers are that install's (bot.analysis.ImageAnalysis.analyse).
    workspace: str = ""
    # Its turn in its channel: how many of the channel's messages came in the TURN_SECONDS before it (a burst's k-th
    # message in a channel has turn k - 1, however late it is claimed: its reply goes out after theirs, a post a
    # second). 0 where the store doesn't say.
    turn: int = 0


class ClaimedReply(NamedTuple):
    """A message's reply, claimed to be posted: where, what, and the reply already in the thread to update in place
    ("" for a first post; set when a released image was labelled after its reply went out, JobQueue.relabel)."""

    thread_ts: str
    results: list[ImageResult]  # in post order
    posted_ts: str = ""
    workspace: str = ""  # the install the message came through (Job.workspace)


@dataclass(frozen=True)
class QueueStats:
    depth: int
    oldest_age_seconds: float


@dataclass(frozen=True)
class LabellingError:
    """One file that could not be labelled: when, where, which, and the short reason its reply gave."""

    finished_at: float
    channel_id: str
    file_name: str
    reason: str


@dataclass(frozen=True)
class LabellingSummary:
    """Files finished in a period: how many were labelled, how many failed, the top labels, the latest errors."""

    images_labelled: int
    images_failed: int
    top_labels: tuple[tuple[str, int], ...]  # (label, images with it), most frequent first
    recent_errors: tuple[LabellingError, ...]  # newest first


@dataclass(frozen=True)
class IndexedImage:
    """One labelled image in the tag index."""

    channel_id: str
    channel_type: str  # channel (public) | group (private) | im | mpim | "" (unknown: find asks Slack)
    message_ts: str
    thread_ts: str
    file_id: str
    user_id: str
    labels: tuple[Label, ...]  # most confident first; parents and aliases are searchable too
    # The text read in it (bot.screen_text.ScreenText.text, secrets already [hidden]), kept whole; the index holds
    # its first MAX_INDEXED_WORDS distinct words (bot.screen_text.indexed_text).
    text: str = ""
    # From a search: the label names, parents and aliases its words matched (the index's own stemming decides).
    matched: frozenset[str] = field(default=frozenset(), compare=False)

    @property
    def posted_at(self) -> float:
        return float(self.message_ts)


@dataclass(frozen=True)
class HeldImage:
    """An image DetectModerationLabels flagged, held for an admin: "Looks fine" releases it, "Keep flagged" keeps
    it. One per (channel, message, file); the notice is the admin's message with the buttons."""

    channel_id: str
    message_ts: str
    file_id: str
    user_id: str  # who posted it
    content_key: str  # a hash of the image's content: a release applies to its re-posts too
    categories: tuple[tuple[str, float], ...]  # (moderation category, confidence), as Rekognition answered
    held_at: float  # epoch seconds
    notice_channel: str = ""
    notice_ts: str = ""
    decision: str | None = None  # "released" | "kept"; None while it waits for an admin
    decided_by: str = ""  # the admin's user id
    decided_at: float | None = None
    workspace: str = ""  # the install whose job held it (Job.workspace)


DECISIONS = frozenset({"released", "kept"})


# ---- the concerns -----------------------------------------------------------------------------------------------


class ChannelSettingsStore(Protocol):
    """Each channel's /labels overrides of the workspace defaults, and each user's own choice (/labels me); each
    install's apart (workspace: bot.store.installations.workspace_key; "" for the one workspace)."""

    def get_overrides(self, channel_id: str, *, workspace: str | None = None) -> ChannelOverrides: ...

    def save_overrides(
        self,
        channel_id: str,
        overrides: ChannelOverrides,
        *,
        fields: Collection[str] | None = None,
        workspace: str | None = None,
    ) -> None:
        """Write the channel's overrides: only the named fields (the others as they are in the store, whoever
        changed them meanwhile), or all of them."""

    def user_labels_off(self, user_id: str, *, workspace: str | None = None) -> bool:
        """Whether the user opted out (/labels me off): their images get no labels, text, index entry or tags."""

    def set_user_labels_off(self, user_id: str, off: bool, *, workspace: str | None = None) -> None: ...

    def moderation_channel(self, *, workspace: str | None = None) -> str | None:
        """Where the install's held images' notices go (many workspaces: /labels moderation channel), or None."""

    def set_moderation_channel(self, channel_id: str | None, *, workspace: str | None = None) -> None: ...


class JobQueue(Protocol):
    """The durable queue: each image message recorded with one job per file, before Slack gets its ack."""

    def enqueue_message(
        self,
        channel_id: str,
        message_ts: str,
        thread_ts: str,
        files: list[dict],
        *,
        user_id: str = "",
        channel_type: str = "",
        refused: str | None = None,
        workspace: str | None = None,
    ) -> int:
        """Record one job per file (ignoring any already recorded); returns how many are new. With `refused` (the
        queue is full), the new files are recorded as done with that reason as their error, so the message's reply
        says it once and the Home tab counts them."""

    def claim_job(self) -> Job | None:
        """Take a queued job, marking it running, or None when the queue is empty. SQLite takes, of its oldest
        queued jobs (a few hundred), the oldest of those with the smallest turn in their channel (Job.turn): a burst
        is labelled a turn of every channel at a time, so that no channel's replies, a post a second, trail behind
        the others'. DynamoDB takes the oldest (on Lambda each message is labelled in the invocation after its ack;
        only the scheduled sweep claims)."""

    def claim_message_jobs(self, channel_id: str, message_ts: str) -> list[Job]:
        """Take this message's queued jobs (in post order), marking them running: on AWS Lambda the invocation after
        the ack works on the message it recorded."""

    def finish_job(self, job_id: int | str, result: ImageResult) -> None: ...

    def relabel(self, channel_id: str, message_ts: str, file_id: str) -> bool:
        """An admin released the file's held image: its job, done with a held result, goes back to the queue (its
        attempts from 0), and its message's reply waits again, to be updated in place once the job is done (its
        posted ts kept; see ClaimedReply). True if requeued; False, changing nothing, when the job's result is not
        held (labelled already, or requeued by an earlier press: of two at once exactly one gets True), or the job
        or its message is gone (purged, deleted in Slack)."""

    def requeue_interrupted(self) -> int:
        """At start-up: jobs a stopped process left running go back to the queue; returns how many. (Its replies
        being posted: ReplyState.requeue_interrupted.)"""

    def requeue_stalled(self, older_than: float) -> int:
        """Like requeue_interrupted, for jobs taken before older_than (epoch seconds) only. On AWS Lambda no process
        starts, so a scheduled sweep calls this with now minus the function's timeout."""

    def queue_stats(self) -> QueueStats: ...

    def waiting_at_least(self, count: int) -> bool:
        """Whether at least `count` jobs are queued or running, reading no more of them than that (the bounded
        queue's check on every image message)."""
        ...

    def purge_finished_jobs(self, older_than: float) -> int:
        """Drop finished jobs (their labels, file names and errors) done before `older_than`; returns how many. A
        message left with no job and a settled reply goes as well."""


class ReplyState(Protocol):
    """Each message's one reply: who posts it, in message order per channel, and what became of it."""

    def claim_reply(
        self, channel_id: str, message_ts: str, *, after_earlier_since: float | None = None
    ) -> ClaimedReply | None:
        """When every job of the message is done and no reply is under way: its thread, results and posted reply.
        With after_earlier_since (epoch seconds): also only once no earlier message of the channel recorded since
        then is waiting for its reply or being answered (replies go out in message order; older ones block no one)."""

    def mark_replied(self, channel_id: str, message_ts: str, reply_ts: str) -> None: ...

    def release_reply(self, channel_id: str, message_ts: str, *, maybe_posted: bool = False) -> None:
        """A claimed reply could not be posted; the sweep tries again. maybe_posted: the post's outcome is unknown
        (the connection failed), so the next try looks in the thread first."""

    def requeue_interrupted(self) -> None:
        """At start-up: replies a stopped process was posting wait again, marked interrupted (see
        reply_interrupted). (Its running jobs: JobQueue.requeue_interrupted.)"""

    def requeue_stalled(self, older_than: float) -> None:
        """Like requeue_interrupted, for replies claimed before older_than (epoch seconds) only."""

    def reply_interrupted(self, channel_id: str, message_ts: str) -> bool:
        """Whether a process died while posting this message's reply: it may be in the thread already."""

    def messages_ready_to_reply(self) -> list[tuple[str, str]]:
        """(channel, message ts) of messages whose files are all done and whose reply is not posted or under way,
        in message order per channel."""

    def next_waiting_reply(self, channel_id: str, after_ts: str) -> str | None:
        """The ts of the channel's first message after after_ts whose reply is waiting (done or not), if any."""

    def replies_to_delete(self) -> list[tuple[str, str, str, str]]:
        """(channel, message ts, reply ts, workspace) of the bot's posted replies to messages deleted since."""

    def claim_reply_deletion(self, channel_id: str, message_ts: str) -> bool:
        """Whether this caller deletes the reply now: False while another sweep claimed it in the last
        REPLY_DELETION_CLAIM_SECONDS (two sweeps at once, on Lambda two invocations, delete it once), or once it is
        deleted."""

    def release_reply_deletion(self, channel_id: str, message_ts: str) -> None:
        """The claimed deletion failed for now (rate limited, a dropped connection): the next sweep tries again."""

    def mark_reply_deleted(self, channel_id: str, message_ts: str) -> None: ...


class LabelCache(Protocol):
    """Rekognition's answers by content (see bot.pipeline.label_cache_key), so a re-posted image costs no call."""

    def cached_labels(self, cache_key: str, *, newer_than: float) -> tuple[Label, ...] | None:
        """Labels cached under this key at or after newer_than, else None."""

    def cache_labels(self, cache_key: str, labels: tuple[Label, ...]) -> None: ...

    def purge_label_cache(self, older_than: float) -> int:
        """Drop cached labels stored before older_than (epoch seconds); returns how many."""


class StepAnswerCache(Protocol):
    """Rekognition's answers for the analysis steps other than labels (moderation, later text), by (step name, cache
    key; see bot.analysis.cache_key) -> a JSON-able value, kept as JSON text so floats come back exactly."""

    def cached_answer(self, step: str, key: str, *, newer_than: float) -> Any | None:
        """The step's answer cached under this key at or after newer_than (epoch seconds), else None."""

    def cache_answer(self, step: str, key: str, answer: Any) -> None:
        """Keep (or replace) the step's answer: lists, dicts, str, float, int, bool and None."""

    def purge_answers(self, older_than: float) -> int:
        """Drop answers (of every step) cached before older_than (epoch seconds); returns how many."""


class TagIndex(Protocol):
    """The search index of labelled images (/labels find)."""

    def index_images(self, images: list[IndexedImage], *, workspace: str | None = None) -> int:
        """Add (or replace) labelled images, skipping those whose message or file was deleted meanwhile; returns
        how many. Each install's images are its own: searched, checked and deleted by it alone (workspace None: the
        current install, bot.install_context)."""

    def search_images(
        self,
        words: tuple[str, ...],
        *,
        channel_id: str | None,
        since: float | None = None,
        limit: int = 10,
        phrases: tuple[tuple[str, ...], ...] = (),
        workspace: str | None = None,
    ) -> list[IndexedImage]:
        """The install's images with every word among their labels, parents, aliases or indexed text, and every
        phrase (its words) in their indexed text, in order and adjacent, newest first. Words and phrases are stemmed
        as the index stems (so "connections refused" finds "connection refused"); no word and no phrase finds
        nothing."""

    def channel_is_public(self, channel_id: str, *, workspace: str | None = None) -> bool:
        """Whether the index has images of this channel and none was posted while it was private (a channel type
        Slack didn't give counts as neither: the caller asks Slack whether the channel is public now)."""

    def purge_index(self, older_than: float) -> int:
        """Drop index entries of images posted before `older_than` (epoch seconds); returns how many."""


PictureState = Literal["claimed", "drawing", "posted"]


@dataclass(frozen=True)
class LabelledImage:
    """One finished image of a message, as its job recorded it: the file object (to download it again) and the
    result (labels with their instances, the text read)."""

    file: dict
    result: ImageResult


@dataclass(frozen=True, order=True)
class PictureFile:
    """A file labelbot uploaded into a channel (a Show where picture) that must go: the image it shows was deleted
    in Slack. Deleted by the sweep with files.delete, then dropped (picture_file_deleted)."""

    file_id: str  # the uploaded file's
    channel_id: str
    workspace: str = ""  # the install that uploaded it (its token deletes it)


class WherePictures(Protocol):
    """ "Show where": a message's labelled images as their jobs recorded them, and the one picture of their boxes
    per message (claimed by the first press; later presses are told where it is). Which file was uploaded for which
    image is kept until that image is deleted in Slack (ids only, no content): then the Deletions concern queues those
    files, and the sweep deletes them."""

    def labelled_images(self, channel_id: str, message_ts: str) -> list[LabelledImage]:
        """The message's finished images in post order (none if the message was deleted)."""

    def claim_picture(self, channel_id: str, message_ts: str, *, stale_before: float) -> tuple[PictureState, str]:
        """("claimed", ""): this caller draws and posts it; ("drawing", ""): another press is doing so (a claim
        taken before stale_before counts as abandoned and is taken over); ("posted", permalink): it is there."""

    def picture_posted(self, channel_id: str, message_ts: str, permalink: str, uploads: dict[str, str]) -> None:
        """The picture is in the thread; uploads: {the image's file id: the uploaded file's id}. If the message or
        one of the images was deleted meanwhile, those uploads are queued for deletion at once."""

    def picture_files_to_delete(self) -> list[PictureFile]:
        """The uploaded files whose images were deleted in Slack, oldest first."""

    def picture_file_deleted(self, file_id: str) -> None:
        """files.delete took it (or it was gone already): forget it."""

    def release_picture(self, channel_id: str, message_ts: str) -> None:
        """Drawing or posting it failed: the next press tries again."""

    def purge_pictures(self, older_than: float) -> int:
        """Drop the claims of pictures never posted, made before older_than (epoch seconds); returns how many. A
        posted picture's record stays: it is what deletes the picture when its image is deleted."""


REKOGNITION_APIS = ("DetectLabels", "DetectModerationLabels", "DetectText")
# limited: not sent to Rekognition, the month's call limit (LABELBOT_MONTHLY_CALL_LIMIT) reached
IMAGE_OUTCOMES = ("seen", "labelled", "held", "failed", "limited", "cache_hits")


@dataclass(frozen=True)
class MonthUsage:
    """What one calendar month (UTC, "2026-12") cost: Rekognition calls by API, images by outcome, and the busiest
    channels by images seen; for the workspace, or one channel (then calls are the workspace's)."""

    month: str
    calls: dict[str, int]  # every API in REKOGNITION_APIS, 0 if none
    images: dict[str, int]  # every outcome in IMAGE_OUTCOMES, 0 if none
    busiest: tuple[tuple[str, int], ...] = ()  # (channel, images seen), most first
    # Amazon Translate's TranslateText (label names the label table lacks): calls, and the characters they sent. The
    # workspace's, like calls; never part of total_calls, so never of the monthly Rekognition cap.
    translate_calls: int = 0
    translate_characters: int = 0

    @property
    def total_calls(self) -> int:
        """The month's Rekognition calls, all APIs together (what LABELBOT_MONTHLY_CALL_LIMIT caps)."""
        return sum(self.calls.values())


ALL_INSTALLS = "*"  # the usage key of every install's calls together (no install's key is "*")


class UsageCounters(Protocol):
    """Usage (the cost issue): counted as it happens, kept across restarts, one set of counters per month and install
    (workspace: bot.install_context; None, the default, is the current install's). ALL_INSTALLS is the installs'
    calls together, counted beside each install's where there are many."""

    def count_call(
        self,
        month: str,
        api: str,
        *,
        limit: int | None = None,
        total_limit: int | None = None,
        workspace: str | None = None,
    ) -> int | None:
        """Count one Rekognition call of `api` in `month` and return the install's month's calls (all APIs together)
        with it; with a limit, only while they are under it, atomically across processes: None, and nothing counted,
        once it is reached. Another install's calls (not the one workspace's) are also counted in ALL_INSTALLS, and
        with a total_limit refused once that is at it."""

    def count_translation(self, month: str, characters: int, *, workspace: str | None = None) -> None:
        """Count one Amazon Translate TranslateText call in `month` and the characters it sent. Never capped, and
        never in count_call's total: the monthly limit is on Rekognition calls."""

    def claim_notice(self, month: str, notice: str, *, workspace: str | None = None) -> bool:
        """True the first time `notice` (a name such as "limit:C123:2026-12-07") is claimed in `month`, atomically
        across processes; False ever after: a notice due once is sent once."""

    def count_images(
        self, month: str, channel_id: str, counts: dict[str, int], *, workspace: str | None = None
    ) -> None:
        """Add these images (outcome in IMAGE_OUTCOMES: how many) in the channel, in one write."""

    def month_usage(
        self, month: str, *, channel_id: str | None = None, busiest: int = 5, workspace: str | None = None
    ) -> MonthUsage: ...


class LabelTranslations(Protocol):
    """Label names the language's label table lacks, translated once (Amazon Translate, bot.label_translation) and
    kept for good: no expiry, no purge, so each costs one call ever per language."""

    def translations(self, language: str, names: Collection[str]) -> dict[str, str]:
        """{name: its translation} of those names kept for the language (the others are left out)."""

    def keep_translation(self, language: str, name: str, text: str) -> None:
        """Keep (or replace) a name's translation into the language."""


class Deletions(Protocol):
    """What was deleted in Slack goes from every concern that holds it: the tag index, the queue's jobs (their
    results hold labels and file names), the images held for moderation (a release of their content stays) and the
    reply (the sweep deletes one already posted). The one operation that spans concerns, so it is a concern of its
    own that coordinates them: on SQLite in one transaction, on DynamoDB marked first, so that an index_images or
    claim_reply running meanwhile sees the deletion."""

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        """The message was deleted in Slack: drop its index entries and jobs, and note it so its reply goes too;
        returns how many index entries went."""

    def forget_file(self, file_id: str) -> int:
        """The file was deleted in Slack: drop its index entries and jobs, and never index it again; a message left
        without images counts as deleted (its reply goes too). Returns how many index entries went."""


class LabellingSummaries(Protocol):
    """What the App Home tab shows of the finished jobs."""

    def labelling_summary(
        self,
        since: float,
        *,
        top_labels: int = 10,
        recent_errors: int = 10,
        channel_ids: Collection[str] | None = None,
        workspace: str | None = None,
    ) -> LabellingSummary:
        """The install's jobs finished at or after `since` (epoch seconds); only those channels' if given."""


class ModerationDecisions(Protocol):
    """Images held for an admin's decision (the moderation feature), and which content an admin released."""

    def hold(self, image: HeldImage) -> bool:
        """Record the image held, without a decision (image.decision is ignored); True if new, False if its
        (channel, message, file) is recorded already: then nothing changes (a re-run job resets no decision). Also
        False, recording nothing, when the message or the file was deleted in Slack meanwhile (no notice is due)."""

    def held(self, channel_id: str, message_ts: str, file_id: str) -> HeldImage | None: ...

    def set_notice(self, channel_id: str, message_ts: str, file_id: str, notice_channel: str, notice_ts: str) -> None:
        """Where the admin's notice about it was posted (nothing happens if it is not recorded)."""

    def decide(
        self, channel_id: str, message_ts: str, file_id: str, decision: str, decided_by: str
    ) -> HeldImage | None:
        """The first decision wins, atomically: records `decision` ("released" | "kept"), who and when (the store's
        clock), and returns the updated record, only if it is held without a decision; else None (not recorded, or
        decided already: of two admins pressing at once, or Slack retrying the action, exactly one gets a record)."""

    def released_content(self, content_key: str) -> bool:
        """Whether an image with this content was released ("Looks fine" holds for its re-posts too). The release
        outlives the deletion of the message it was decided on; only the purge drops it."""

    def held_since(
        self,
        since: float,
        *,
        channel_ids: Collection[str] | None = None,
        limit: int = 50,
        workspace: str | None = None,
    ) -> list[HeldImage]:
        """The install's images held at or after `since` (epoch seconds), decided or waiting, newest first, at most
        `limit`; only those channels' if given (the Home tab's). workspace: None the current install's, ALL_INSTALLS
        every install's (the upkeep's)."""

    def forget_message(self, channel_id: str, message_ts: str) -> int:
        """The message was deleted in Slack: drop its held records; returns how many."""

    def forget_file(self, file_id: str) -> int:
        """The file was deleted in Slack: drop its held records (in any message); returns how many."""

    def purge(self, older_than: float) -> int:
        """Drop records held before older_than (epoch seconds), decided or not, and releases decided before it;
        returns how many held records went."""


class Uninstalls(Protocol):
    """Many workspaces: an uninstalled install's records, all of them, deleted (bot.listeners.installs)."""

    def forget_install(self, workspace: str) -> dict[str, int]:
        """Delete every record kept for the install `workspace` (never the one workspace's, ""), but its
        installation (deleted before: KeptInstallations.delete_install); returns how many of each kind went."""


class StoreBackend(Protocol):
    """What a backend's concerns share (SQLite's connection and process lock, DynamoDB's client and tables)."""

    def check(self) -> None:
        """At start-up: raise ConfigError, naming the variable to fix, if the store can't be used."""

    def close(self) -> None: ...
