"""Build the services from a Config: store, Slack client, downloader, Rekognition, pipeline and workers."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.config import Config, ConfigError
from bot.emoji_tags import EmojiMap
from bot.jobs import WorkerPool
from bot.permissions import SettingsPermission
from bot.pipeline import Pipeline
from bot.rekognition import RekognitionLabeler, build_rekognition_client
from bot.settings import ChannelSettings
from bot.slack_files import SlackFileDownloader
from bot.store import Store
from bot.store.sqlite import SqliteStore
from bot.tag_search import TagSearch
from bot.upkeep import Upkeep


@dataclass
class Services:
    config: Config
    store: Store
    slack: WebClient
    pipeline: Pipeline
    pool: WorkerPool
    defaults: ChannelSettings
    permission: SettingsPermission
    emoji_map: EmojiMap
    search: TagSearch

    def start(self) -> None:
        self.pool.start()

    def stop(self) -> None:
        self.pool.stop()
        self.store.close()


def build_slack_client(config: Config) -> WebClient:
    """Slack's Web API, retrying 429s after Retry-After, 5xx and dropped connections (slack_sdk's handlers)."""
    return WebClient(
        token=config.bot_token,
        base_url=config.slack_api_url,
        timeout=30,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def verify_slack_token(config: Config) -> None:
    """Ask Slack (auth.test) whether the token works, so a bad one stops start-up with one line."""
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


def build_services(config: Config, *, rekognition_client=None, store: Store | None = None) -> Services:
    store = store or SqliteStore(config.db_path)
    slack = build_slack_client(config)
    defaults = ChannelSettings(threshold=config.min_confidence, max_labels=config.max_labels)
    emoji_map = EmojiMap.load(config.emoji_map_path)
    pipeline = Pipeline(
        store=store,
        slack=slack,
        downloader=SlackFileDownloader(
            config.bot_token, config.slack_api_url, config.max_download_bytes, pool_size=config.workers
        ),
        labeler=RekognitionLabeler(rekognition_client or build_rekognition_client(config.workers)),
        defaults=defaults,
        emoji_map=emoji_map,
    )
    pool = WorkerPool(
        store,
        pipeline.run_job,
        pipeline.post_reply,
        config.workers,
        upkeep=Upkeep(store, slack, config.retention_days),
    )
    return Services(
        config=config,
        store=store,
        slack=slack,
        pipeline=pipeline,
        pool=pool,
        defaults=defaults,
        permission=SettingsPermission(config.admins, slack),
        emoji_map=emoji_map,
        search=TagSearch(store, slack, retention_days=config.retention_days),
    )
