"""Images moderation held, and the admins' review of them: the held record and the notice (from the pipeline, as the
job finishes), and the decision on a notice's button (from bot.listeners.moderation, after the ack).

A decision is the store's: ModerationDecisions.decide lets the first press win, atomically, so two admins at once,
one pressing twice or Slack retrying the action come to one decision. "Looks fine" then puts the image's job back in
the queue (JobQueue.relabel, which also lets only one through): the workers (or, on Lambda, the invocation that took
the press) label it as any image, and its message's reply, the held line, is updated in place with the labels. A
press on a decided image updates that notice (another admin's DM still showing buttons) and, for a released image
whose labelling a crash interrupted, puts it back in the queue once more."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.i18n import N_, Words
from bot.install_context import ONE_WORKSPACE, current_or_one, working_for
from bot.metrics import Metrics
from bot.moderation_notice import (
    KEEP_ACTION,
    RELEASE_ACTION,
    VERDICTS,
    image_of_button,
    render_decided_notice,
    render_notice,
)
from bot.permissions import UNCHECKED, SettingsPermission
from bot.rate_limit import ChannelPacer
from bot.readers import Readers
from bot.render import ImageResult, Reply
from bot.store import HeldImage, Job, Stores
from bot.store.protocols import ALL_INSTALLS

log = logging.getLogger(__name__)

DECISION_OF_ACTION = {RELEASE_ACTION: "released", KEEP_ACTION: "kept"}
ONLY_ADMINS = N_("Only labelbot's admins (LABELBOT_ADMINS) and workspace admins or owners can decide on a held image.")
NO_LONGER_HELD = N_("That image isn't held any more: its message or file was deleted in Slack.")
NO_DESTINATION = (
    "moderation held file %s in %s, but no admin can be told: set LABELBOT_MODERATION_CHANNEL to a channel ID the "
    "bot is in, or LABELBOT_ADMINS to the admins' user IDs"
)


# The upkeep re-sends a notice that could not be posted: for images held in the last week, once over this old.
MISSING_NOTICE_DAYS = 7
NOTICE_GRACE = 300.0  # seconds: a notice still being posted (a burst's wait a second each) is no missing one
MAX_MISSING_NOTICES = 200


@dataclass(frozen=True)
class Decision:
    """What a press came to: an ephemeral answer for the presser (None: nothing to say), and the message whose
    released image went back in the queue (None: nothing to label)."""

    answer: str | None = None
    relabel: tuple[str, str] | None = None  # (channel, message ts)


class ModerationReview:
    def __init__(
        self,
        stores: Stores,
        slack: WebClient,
        permission: SettingsPermission,
        readers: Readers,
        *,
        notice_channel: str | None,
        admins: Collection[str],
        clock: Callable[[], float] = time.time,
        pacer: ChannelPacer | None = None,
        metrics: Metrics | None = None,
        per_install: bool = False,
    ) -> None:
        """per_install (many workspaces): each install's notices go to its own moderation channel (set with
        /labels moderation channel), not to notice_channel or admins."""
        self._stores = stores
        self._per_install = per_install
        self._metrics = metrics or Metrics()
        self._slack = slack
        self._permission = permission
        self._readers = readers
        # The moderation channel, else a DM to each admin (chat.postMessage to a user ID opens the app's DM).
        self._configured = (notice_channel,) if notice_channel else tuple(sorted(admins))
        self._clock = clock
        # A burst of held images sends its notices to one channel: one at a time, each a second after the last one's
        # answer (the pacer spaces the starts of posts already waiting only from their reservations)
        self._pacer = pacer or ChannelPacer()
        self._posting = threading.Lock()

    @property
    def destinations(self) -> tuple[str, ...]:
        """Where the current install's notices go: LABELBOT_MODERATION_CHANNEL, else each of LABELBOT_ADMINS; with
        many workspaces the install's moderation channel, if one of its admins set it."""
        if not self._per_install:
            return self._configured
        channel = self._stores.settings.moderation_channel()
        return (channel,) if channel else ()

    # ---- holding (the pipeline) ---------------------------------------------------------------------------------

    def hold(self, job: Job, result: ImageResult) -> None:
        """Record the image held and send its notice, unless one was sent already (a job run again after a crash
        finds the record and sends only what is missing). Raises what the store raises."""
        image = HeldImage(
            channel_id=job.channel_id,
            message_ts=job.message_ts,
            file_id=result.file_id,
            user_id=job.user_id,
            content_key=result.content_key,
            categories=result.held,
            held_at=self._clock(),
            workspace=job.workspace,
        )
        if self._stores.moderation.hold(image):
            self._metrics.count("moderation_holds")
        recorded = self._stores.moderation.held(job.channel_id, job.message_ts, result.file_id)
        if recorded is None or recorded.notice_ts or recorded.decision is not None:
            return  # deleted in Slack meanwhile, or told already
        self.send_notice(recorded, result.file_name)

    def send_notice(self, image: HeldImage, file_name: str) -> bool:
        """Post the notice to each destination; the first one posted is recorded. False if none was."""
        if not self.destinations:
            log.error(NO_DESTINATION, image.file_id, image.channel_id)
            return False
        permalink = self._permalink(image)
        with self._posting:
            first = self._post_notice(image, lambda tr: render_notice(image, file_name, permalink, tr))
        if first is None:
            return False
        self._stores.moderation.set_notice(image.channel_id, image.message_ts, image.file_id, *first)
        return True

    def _post_notice(self, image: HeldImage, render: Callable[[Words], Reply]) -> tuple[str, str] | None:
        """Post the notice to each destination, paced, in its reader's language (the moderation channel's, or each
        admin's): the (channel, ts) of the first one posted, None if none was."""
        first: tuple[str, str] | None = None
        for destination in self.destinations:
            notice = render(self._readers.of_destination(destination))
            self._pacer.wait(destination)
            try:
                response = self._slack.chat_postMessage(
                    channel=destination, text=notice.text, blocks=notice.blocks, unfurl_links=False, unfurl_media=False
                )
            except SlackApiError as exc:
                log.error(
                    "the moderation notice about file %s could not be posted to %s: %s",
                    image.file_id,
                    destination,
                    exc.response.get("error"),
                )
                continue
            except OSError as exc:
                log.error("the moderation notice about file %s to %s failed: %r", image.file_id, destination, exc)
                continue
            finally:
                self._pacer.posted(destination)
            first = first or (str(response.get("channel", destination)), str(response.get("ts", "")))
        return first

    def send_missing_notices(self, now: float) -> int:
        """The upkeep's second chance: a notice for each image held this week, still waiting, whose notice could not
        be posted (Slack refused or failed) and was held over NOTICE_GRACE_SECONDS ago (not one being sent now).
        Returns how many were sent."""
        if not self._per_install and not self.destinations:
            return 0
        waiting = self._stores.moderation.held_since(
            now - MISSING_NOTICE_DAYS * 86400,
            limit=MAX_MISSING_NOTICES,
            workspace=ALL_INSTALLS if self._per_install else ONE_WORKSPACE,
        )
        missing = [i for i in waiting if not i.notice_ts and i.decision is None and i.held_at <= now - NOTICE_GRACE]
        sent = 0
        for image in reversed(missing):  # oldest first, each for its install
            with working_for(image.workspace):
                sent += bool(self.destinations) and self.send_notice(image, "")
        return sent

    def _permalink(self, image: HeldImage) -> str | None:
        try:
            return self._slack.chat_getPermalink(channel=image.channel_id, message_ts=image.message_ts)["permalink"]
        except (SlackApiError, OSError, KeyError) as exc:
            log.info("no permalink for %s in %s: %s", image.message_ts, image.channel_id, type(exc).__name__)
            return None

    # ---- deciding (a notice's button) ---------------------------------------------------------------------------

    def decide(self, body: dict) -> Decision:
        """A press of a notice's button, Slack's block_actions payload."""
        action = (body.get("actions") or [{}])[0]
        decision = DECISION_OF_ACTION.get(action.get("action_id"))
        named = image_of_button(action.get("value"))
        user_id = str((body.get("user") or {}).get("id", ""))
        if decision is None or named is None or not user_id:
            log.warning("ignoring a moderation button press the bot didn't make")
            return Decision()
        allowed = self._permission.may_review(user_id)
        tr = self._readers.of_user(user_id)  # users.info was asked for may_review: its answer is kept
        if not allowed:
            return Decision(tr(UNCHECKED if allowed is None else ONLY_ADMINS))
        channel_id, message_ts, file_id = named
        earlier = self._stores.moderation.held(channel_id, message_ts, file_id)
        if earlier is not None and earlier.workspace != current_or_one():  # another install's (a shared channel)
            log.warning("ignoring a moderation button of an image another install held")
            return Decision(tr(NO_LONGER_HELD))
        decided = self._stores.moderation.decide(channel_id, message_ts, file_id, decision, user_id)
        if decided is not None:
            self._metrics.count("moderation_decisions", decision=decision)
        image = decided or self._stores.moderation.held(channel_id, message_ts, file_id)
        if image is None:
            self._update_notice(body, None, user_id)
            return Decision(tr(NO_LONGER_HELD))
        self._update_notice(body, image, user_id)
        relabel = None
        if image.decision == "released" and self._stores.queue.relabel(channel_id, message_ts, file_id):
            relabel = (channel_id, message_ts)
        if decided is None and (image.decided_by != user_id or image.decision != decision):
            # A later press: someone else's, or the decider's own other button. A retried press is answered by none.
            verdict = tr(VERDICTS[image.decision])
            if image.decided_by == user_id:
                return Decision(tr("You decided on this image already: *%(verdict)s*.", verdict=verdict), relabel)
            return Decision(
                tr(
                    "%(admin)s decided on this image already: *%(verdict)s*.",
                    admin=f"<@{image.decided_by}>",
                    verdict=verdict,
                ),
                relabel,
            )
        return Decision(None, relabel)

    def _update_notice(self, body: dict, image: HeldImage | None, user_id: str) -> None:
        """The pressed notice without its buttons, saying who decided what and when (or that the image is gone); in
        the language it was sent in: the moderation channel's, or (a DM) the presser's."""
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if not channel or not ts:
            return
        tr = self._readers.of_user(user_id) if str(channel).startswith("D") else self._readers.of_channel(channel)
        notice = render_decided_notice(image, (body.get("message") or {}).get("blocks"), tr)
        try:
            self._slack.chat_update(channel=channel, ts=ts, text=notice.text, blocks=notice.blocks)
        except (SlackApiError, OSError) as exc:
            log.warning("updating the moderation notice in %s failed: %s", channel, type(exc).__name__)
