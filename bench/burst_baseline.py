"""The straightforward design, for the burst benchmark's ratios: a minimal Bolt app that downloads, prepares,
calls DetectLabels and posts inside the listener, on Bolt's default listener threads (process_before_response
False: Bolt acks at once and runs the listener in its thread pool). No store, queue, dedup or rate limiting; it
uses the bot's own seams (bot.slack_files, bot.images, bot.rekognition, bot.render) so only the design differs."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot.config import Config
from bot.images import ImageError, prepare_for_rekognition
from bot.rekognition import RekognitionError, RekognitionLabeler, build_rekognition_client
from bot.render import ImageResult, render_reply
from bot.settings import ChannelSettings
from bot.slack_files import DownloadError, SlackFileDownloader

log = logging.getLogger(__name__)


def build_baseline_app(config: Config) -> App:
    client = WebClient(token=config.bot_token, base_url=config.slack_api_url)  # slack_sdk's default retries
    app = App(client=client, signing_secret=config.signing_secret or "", process_before_response=False)
    downloader = SlackFileDownloader(config.bot_token, config.slack_api_url, config.max_download_bytes, pool_size=10)
    labeler = RekognitionLabeler(build_rekognition_client(10))
    settings = ChannelSettings(threshold=config.min_confidence, max_labels=config.max_labels)

    @app.event("message")
    def label_images(event: dict, client: WebClient) -> None:
        if event.get("subtype") != "file_share":
            return
        results = []
        for file in event.get("files", ()):
            try:
                prepared = prepare_for_rekognition(downloader.download(file["url_private_download"]))
                labels = labeler.detect_labels(prepared.data, settings.threshold, 20)
                results.append(ImageResult(file["id"], file.get("name", ""), labels))
            except (DownloadError, ImageError, RekognitionError) as exc:
                results.append(ImageResult(file["id"], file.get("name", ""), error=str(exc)))
        reply = render_reply(results, settings)
        if reply is not None:
            client.chat_postMessage(
                channel=event["channel"], thread_ts=event["ts"], text=reply.text, blocks=reply.blocks
            )

    return app
