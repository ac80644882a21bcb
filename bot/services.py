"""Build the services from a Config: the stores, Slack client, downloader, Rekognition, Amazon Translate (label
names), pipeline and workers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.token_rotation import TokenRotator

from bot.config import Config, ConfigError
from bot.conversations import ModerationChannelCheck
from bot.emoji_tags import EmojiMap
from bot.install_context import ONE_WORKSPACE, current
from bot.jobs import InvocationWork, Work, WorkerPool
from bot.metrics import Metrics, PrometheusMetrics, StoreGauges
from bot.moderation_review import ModerationReview
from bot.overload import QueueGate
from bot.people import People
from bot.permissions import SettingsPermission
from bot.readers import Readers
from bot.settings import ChannelSettings
from bot.show_where import ShowWhere
from bot.slack_api import BoundedRateLimitRetryHandler, GuardedWebClient, build_web_client
from bot.slack_files import SlackFileDownloader
from bot.store import JobQueue, Stores, open_stores
from bot.store.protocols import ALL_INSTALLS
from bot.tag_search import TagSearch
from bot.upkeep import Upkeep
from bot.usage import CallCounter, usage_month
from bot.usage_notices import CallLimitNotices
from bot.workspaces import Workspaces

if TYPE_CHECKING:  # the labelling's modules (Pillow, botocore) load where the labelling runs, not in the web process
    from bot.analysis import AnalysisStep
    from bot.label_translation import LabelTranslator
    from bot.pipeline import Pipeline

log = logging.getLogger(__name__)

QUICK_TIMEOUT_SECONDS = 2
REACTIONS_STOP_SECONDS = 0.5
WORKSPACE_URL_RETRY_SECONDS = 30.0
START_UP_CODE = "labelbot-start-up-check"  # a code no install has: oauth.v2.access then checks only the credentials


@dataclass
class Services:
    config: Config
    stores: Stores
    slack: WebClient
    pipeline: Pipeline | None  # None where the labelling runs in a process of its own
    pool: Work  # threads over the queue, the labelling process, or the work of one Lambda invocation
    defaults: ChannelSettings
    permission: SettingsPermission
    people: People  # what Slack says of a user: admin or not, their language
    readers: Readers  # which language a message is in: its channel's, or its one reader's
    review: ModerationReview  # held images: their record, the admins' notices, the decisions on them
    emoji_map: EmojiMap
    search: TagSearch
    moderation_channel: ModerationChannelCheck  # whether the bot is in LABELBOT_MODERATION_CHANNEL
    show_where: ShowWhere  # the reply's Show where button: the picture of the boxes
    metrics: Metrics  # for operators: PrometheusMetrics (GET /metrics), or CloudWatch's on Lambda
    text_engine: str = "rekognition"  # LABELBOT_TEXT_ENGINE as it works here (text_engine_in_use)
    workspaces: Workspaces | None = None  # many workspaces (SLACK_CLIENT_ID): each install's token; else None
    queue_gate: QueueGate | None = field(default=None)  # None: no bound (LABELBOT_MAX_QUEUE builds one)
    stopped: threading.Event = field(default_factory=threading.Event, repr=False)

    def start(self, *, check_moderation_channel: bool = True) -> None:
        """check_moderation_channel: whether the bot is in LABELBOT_MODERATION_CHANNEL, asked of Slack now (one call
        with a 2 s timeout; a problem is one WARNING and never stops start-up). For the process Slack talks to, which
        answers /labels status; not on Lambda, where an instance starts inside an ack (bot.aws_lambda asks after
        the first invocation that isn't one)."""
        if check_moderation_channel and not self.config.on_lambda:
            self.moderation_channel.check_at_start()
        if self.workspaces is None and self.search.load_workspace_url(self.slack) is None and self.pipeline is None:
            # Now, not in a /labels find ack. The upkeep sweep retries where the pipeline runs; in the process whose
            # labelling runs in a child, which has no upkeep, a thread does.
            threading.Thread(target=self._load_workspace_url, name="labelbot-workspace-url", daemon=True).start()
        self.pool.start()

    def _load_workspace_url(self) -> None:
        while not self.stopped.wait(WORKSPACE_URL_RETRY_SECONDS) and self.search.load_workspace_url(self.slack) is None:
            pass

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the work (up to timeout for jobs in flight), then the emoji queue (what is left of timeout, at least
        REACTIONS_STOP_SECONDS), then the store."""
        deadline = time.monotonic() + timeout
        self.stopped.set()
        self.pool.stop(timeout)
        if self.pipeline is not None:
            self.pipeline.analysis.close()
            self.pipeline.reactions.stop(max(REACTIONS_STOP_SECONDS, deadline - time.monotonic()))
        self.stores.close()

    def settings_for(self, channel_id: str) -> ChannelSettings:
        """The channel's overrides over the workspace defaults."""
        return self.stores.settings.get_overrides(channel_id).apply_to(self.defaults)


def build_slack_client(
    config: Config, metrics: Metrics | None = None, workspaces: Workspaces | None = None
) -> GuardedWebClient:
    """Slack's Web API, retrying 429s after Retry-After, 5xx and dropped connections; see bot.slack_api. With
    workspaces (many installs), each call sends the current install's token."""
    return build_web_client(bot_token(config, workspaces), config.slack_api_url, metrics=metrics)


def bot_token(config: Config, workspaces: Workspaces | None) -> str | Callable[[], str]:
    """SLACK_BOT_TOKEN, or where there are many installs what gives the current one's (bot.workspaces)."""
    return config.bot_token if workspaces is None else workspaces.token


def build_workspaces(config: Config, stores: Stores) -> Workspaces | None:
    """Many workspaces: each install's token from the store, refreshed with the app's credentials where the app
    has token rotation on (oauth.v2.access, a 10 s timeout). None with one workspace."""
    if not config.many_workspaces:
        return None
    assert config.client_id and config.client_secret
    rotator = TokenRotator(
        client_id=config.client_id,
        client_secret=config.client_secret,
        client=WebClient(base_url=config.slack_api_url, timeout=10),
    )
    return Workspaces(stores.installations, rotator=rotator)


def forget_refused_tokens(slack: GuardedWebClient, workspaces: Workspaces) -> None:
    """Many installs: a token Slack refuses is one install's (uninstalled, revoked, or replaced by a reinstall):
    read again from the store next time; the other installs go on."""

    def refused(api_method: str, error: str) -> None:
        key = current()
        if key:
            workspaces.forget(key)
        log.warning("Slack refused the bot token of the install %s (%s on %s)", key or "-", error, api_method)

    slack.on_token_refused(refused)


def stop_when_token_refused(slack: GuardedWebClient, pool: Work, queue: JobQueue) -> None:
    """Once Slack refuses the bot token (revoked, app uninstalled), every call would fail: the pool stops claiming
    and posting, one ERROR line says so, and the queue waits in the store for a restart with a good token."""

    def refused(api_method: str, error: str) -> None:
        pool.suspend()
        try:
            waiting = f"{queue.queue_stats().depth} image(s) waiting stay queued"
        except Exception:
            waiting = "images waiting stay queued"
        log.error(
            "Slack refused the bot token (%s on %s): labelbot has stopped working on this workspace; %s. "
            "Reinstall the app (or copy its current Bot User OAuth Token into SLACK_BOT_TOKEN), then restart the bot.",
            error,
            api_method,
            waiting,
        )

    slack.on_token_refused(refused)


def build_quick_slack_client(
    config: Config, metrics: Metrics | None = None, workspaces: Workspaces | None = None
) -> WebClient:
    """For the few calls made inside a 3-second ack (users.info, conversations.info): a short timeout, no retries
    (a 429 is only counted); a caller that gets no answer says so instead of waiting."""
    return GuardedWebClient(
        token=bot_token(config, workspaces),
        base_url=config.slack_api_url,
        timeout=QUICK_TIMEOUT_SECONDS,
        metrics=metrics,
        retry_handlers=[BoundedRateLimitRetryHandler(max_retry_count=0, metrics=metrics)],
    )


def verify_slack_token(config: Config) -> None:
    """Ask Slack (auth.test) whether the token works, so a bad one stops start-up with one line. With many
    workspaces there is no token: the app's credentials are checked instead (verify_client_credentials)."""
    if config.many_workspaces:
        verify_client_credentials(config)
        return
    try:
        build_slack_client(config).auth_test()
    except SlackApiError as exc:
        raise ConfigError(
            f"SLACK_BOT_TOKEN was refused by Slack ({exc.response.get('error', 'unknown error')}); "
            "copy it again from the app's OAuth & Permissions page"
        ) from None
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach Slack at SLACK_API_URL {config.slack_api_url}: {reason}") from None


def verify_client_credentials(config: Config) -> None:
    """Many workspaces: oauth.v2.access with a code no install has. Slack checks the client ID and secret before
    the code, so invalid_code means both are right; a wrong one stops start-up naming its variable."""
    client = WebClient(base_url=config.slack_api_url, timeout=10)
    try:
        client.oauth_v2_access(client_id=config.client_id, client_secret=config.client_secret, code=START_UP_CODE)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error in ("invalid_client_id", "invalid_client"):
            raise ConfigError(
                f"SLACK_CLIENT_ID was refused by Slack ({error}); copy the Client ID again from the app's Basic "
                "Information page"
            ) from None
        if error == "bad_client_secret":
            raise ConfigError(
                "SLACK_CLIENT_SECRET was refused by Slack (bad_client_secret); copy the Client Secret again from the "
                "app's Basic Information page"
            ) from None
        if error != "invalid_code":
            log.warning("checking SLACK_CLIENT_ID and SLACK_CLIENT_SECRET with Slack: %s", error)
    except OSError as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach Slack at SLACK_API_URL {config.slack_api_url}: {reason}") from None


def verify_store(config: Config, stores: Stores | None = None) -> None:
    """At start-up: the SQLite file opens (its schema made or brought up to date before two processes share it) and
    no other labelbot works on it; the DynamoDB store's tables exist. Through `stores` when the services are built
    already, else stores opened for the check alone."""
    checked = stores or open_stores(config)
    try:
        checked.check()
    finally:
        if checked is not stores:
            checked.close()


def build_services(
    config: Config, *, rekognition_client=None, stores: Stores | None = None, labelling: Work | None = None
) -> Services:
    """Everything the listeners and the work on the queue use. labelling: who does that work when it is not this
    process (bot.labelling_process); then no pipeline is built here."""
    stores = stores or open_stores(config, exclusive=labelling is None)
    metrics = build_metrics(config, stores)
    workspaces = build_workspaces(config, stores)
    slack = build_slack_client(config, metrics, workspaces)
    quick_slack = build_quick_slack_client(config, metrics, workspaces)
    search = TagSearch(
        stores.tags,
        quick_slack,
        retention_days=config.retention_days,
        install_url=workspaces.url if workspaces is not None else None,
    )
    defaults = ChannelSettings(
        threshold=config.min_confidence,
        max_labels=config.max_labels,
        moderation=config.moderation,
        moderation_threshold=config.moderation_min_confidence,
        text=config.text,
        language=config.language,
    )
    emoji_map = EmojiMap.load(config.emoji_map_path)
    people = People(quick_slack)
    readers = Readers(
        people,
        lambda channel_id: stores.settings.get_overrides(channel_id).apply_to(defaults).language,
        config.language,
    )
    permission = SettingsPermission(config.admins, people)
    review = ModerationReview(
        stores,
        slack,
        permission,
        readers,
        notice_channel=config.moderation_channel,
        admins=config.admins,
        metrics=metrics,
        per_install=config.many_workspaces,
    )
    # Label names a channel's table lacks: for its replies (the pipeline) and its Show where pictures
    from bot.label_translation import LabelTranslator, build_translate_client

    translator = LabelTranslator(
        stores.translations,
        usage=stores.usage,
        metrics=metrics,
        enabled=config.translate,
        tps=config.translate_tps_per_process,
        client_factory=lambda: build_translate_client(config.workers),
    )
    pipeline: Pipeline | None = None
    pool: Work
    if labelling is not None:
        pool = labelling
    else:
        pipeline, pool = _build_labelling(
            config,
            stores,
            slack,
            search,
            defaults,
            emoji_map,
            review,
            readers,
            translator,
            rekognition_client,
            metrics,
            bot_token(config, workspaces),
        )
    if workspaces is None:
        stop_when_token_refused(slack, pool, stores.queue)
    else:
        forget_refused_tokens(slack, workspaces)
        forget_refused_tokens(quick_slack, workspaces)
    return Services(
        config=config,
        stores=stores,
        slack=slack,
        pipeline=pipeline,
        pool=pool,
        defaults=defaults,
        permission=permission,
        people=people,
        readers=readers,
        review=review,
        emoji_map=emoji_map,
        search=search,
        moderation_channel=ModerationChannelCheck(quick_slack, config.moderation_channel),
        show_where=ShowWhere(
            stores.pictures,
            slack,
            SlackFileDownloader(
                bot_token(config, workspaces), config.slack_api_url, config.max_download_bytes, pool_size=2
            ),
            lambda channel_id: stores.settings.get_overrides(channel_id).apply_to(defaults),
            readers.of_user,
            translator.reply_words,
        ),
        queue_gate=QueueGate(stores.queue, config.max_queue),
        metrics=metrics,
        text_engine=text_engine_in_use(config),
        workspaces=workspaces,
    )


def build_metrics(config: Config, stores: Stores) -> Metrics:
    """CloudWatch's embedded metric format on Lambda; elsewhere prometheus_client, with the store's gauges."""
    if config.on_lambda:
        from bot.lambda_metrics import CloudWatchMetrics  # Powertools: imported where it is used

        return CloudWatchMetrics()
    metrics = PrometheusMetrics()
    # With many installs: every install's calls together, against the overall cap
    every = ALL_INSTALLS if config.many_workspaces else ONE_WORKSPACE
    month = lambda: stores.usage.month_usage(usage_month(time.time()), busiest=0, workspace=every)  # noqa: E731
    limit = config.total_monthly_call_limit if config.many_workspaces else config.monthly_call_limit
    metrics.add_collector(StoreGauges(stores.queue.queue_stats, lambda: month().total_calls, limit))
    return metrics


def analysis_steps(
    config: Config, stores: Stores, rekognition_client, count: CallCounter, metrics: Metrics | None = None
) -> list[AnalysisStep]:
    """The image's analysis, in order: each step with its Rekognition API, paced at its own share of the quota, every
    attempt counted (and past the monthly limit refused) by `count`. Moderation and text are always steps (a channel
    may turn them on); each costs nothing where it is off."""
    from bot.analysis import LabelsStep, ModerationStep, StepCache, TextStep
    from bot.rekognition import (
        RekognitionLabeler,
        RekognitionModerator,
        RekognitionTextReader,
        build_rekognition_client,
    )

    client = rekognition_client or build_rekognition_client(config.workers)
    return [
        ModerationStep(
            RekognitionModerator(client, tps=config.moderation_tps_per_process, count=count, metrics=metrics),
            StepCache(stores.answers, "moderation"),
            frames=config.moderation_frames,
        ),
        LabelsStep(
            RekognitionLabeler(client, tps=config.rekognition_tps_per_process, count=count, metrics=metrics),
            stores.label_cache,
        ),
        TextStep(
            RekognitionTextReader(client, tps=config.text_tps_per_process, count=count, metrics=metrics),
            StepCache(stores.answers, "text"),
            config.text_labels,
            config.text_min_confidence,
            engine=text_engine_in_use(config),
            local_reader=local_text_reader(config, metrics),
        ),
    ]


def text_engine_in_use(config: Config) -> str:
    """LABELBOT_TEXT_ENGINE as it works in this process (bot.local_text.engine_in_use)."""
    from bot.local_text import engine_in_use

    return engine_in_use(config.text_engine, on_lambda=config.on_lambda)


def local_text_reader(config: Config, metrics: Metrics | None = None):
    """The local reader (bot.local_text), where some channel may use it: its engine loads at the first read."""
    if config.text_engine == "rekognition":
        return None
    from bot.local_text import TURN_WAIT_SECONDS, LocalTextReader

    return LocalTextReader(
        reads_at_once=config.text_reads_at_once,
        deadline_seconds=config.text_read_seconds,
        # On Lambda no worker steps aside, and an invocation has 120 s: a turn is waited for no longer than a read
        turn_wait_seconds=config.text_read_seconds if config.on_lambda else TURN_WAIT_SECONDS,
        metrics=metrics,
    )


def _build_labelling(
    config: Config,
    stores: Stores,
    slack: WebClient,
    search: TagSearch,
    defaults: ChannelSettings,
    emoji_map: EmojiMap,
    review: ModerationReview,
    readers: Readers,
    translator: LabelTranslator,
    rekognition_client,
    metrics: Metrics,
    token: str | Callable[[], str],
) -> tuple[Pipeline, Work]:
    """The pipeline, and who runs it: worker threads, or on AWS Lambda the invocation after each ack."""
    from bot.analysis import ImageAnalysis, TextStep
    from bot.pipeline import Pipeline
    from bot.reactions import ReactionQueue

    count = CallCounter(stores.usage, limit=config.monthly_call_limit, total_limit=config.total_monthly_call_limit)
    steps = analysis_steps(config, stores, rekognition_client, count, metrics)
    pipeline = Pipeline(
        stores=stores,
        slack=slack,
        downloader=SlackFileDownloader(
            token, config.slack_api_url, config.max_download_bytes, pool_size=config.workers
        ),
        analysis=ImageAnalysis(steps, metrics=metrics),
        reads_text_locally=next(step for step in steps if isinstance(step, TextStep)).reads_locally,
        defaults=defaults,
        emoji_map=emoji_map,
        # On Lambda no thread outlives an invocation: the invocation adds the emoji once its replies are out.
        reactions=ReactionQueue(slack, emoji_map_origin=emoji_map.origin, background=not config.on_lambda),
        review=review,
        limit_notices=CallLimitNotices(
            stores.usage,
            slack,
            count,
            config.admins,
            fallback_channel=config.moderation_channel,
            words_for=readers.of_destination,
            destinations=(lambda: review.destinations) if config.many_workspaces else None,
        ),
        metrics=metrics,
        moderation_frames=config.moderation_frames,
        translator=translator,
        words_for_user=readers.of_user,
        still_installed=lambda key: stores.installations.find_bot_by_key(key) is not None,
    )
    upkeep = Upkeep(stores, slack, config.retention_days, search=search, review=review)
    if config.on_lambda:
        finish = pipeline.reactions.drain
        return pipeline, InvocationWork(
            stores.queue, stores.replies, pipeline.run_job, pipeline.post_reply, upkeep=upkeep, finish=finish
        )
    return pipeline, WorkerPool(
        stores.queue, stores.replies, pipeline.run_job, pipeline.post_reply, config.workers, upkeep=upkeep
    )
