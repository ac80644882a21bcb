"""Fixtures: the loopback fakes, the AWS environment pointed at them, and a running bot behind real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config
from tests import slack_requests
from tests.fakes.rekognition import FakeRekognition
from tests.fakes.slack import FakeSlack
from tests.harness import RunningBot, serve_bot

FIXTURES = Path(__file__).parent / "fixtures"
BOT_TOKEN = "xoxb-test-token"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture
def fake_rekognition() -> Iterator[FakeRekognition]:
    fake = FakeRekognition()
    yield fake
    fake.close()


@pytest.fixture
def aws_env(monkeypatch, fake_rekognition, tmp_path) -> FakeRekognition:
    """boto3's standard chain, pointed at the loopback Rekognition; nothing reaches a real AWS host."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-aws-secret-key-0123456789")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", fake_rekognition.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return fake_rekognition


def bot_environ(fake_slack: FakeSlack, tmp_path: Path, **overrides: str) -> dict[str, str]:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": slack_requests.SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "LABELBOT_DB": str(tmp_path / "labelbot.sqlite3"),
        "LABELBOT_WORKERS": "2",
    }
    environ.update(overrides)
    return environ


@pytest.fixture
def start_bot(fake_slack, aws_env, tmp_path) -> Iterator:
    """start_bot(**env overrides) -> RunningBot: the real Bolt app and workers behind a loopback HTTP server.
    `services` (a dict) goes to build_services, e.g. {"rekognition_client": a client with short timeouts}."""
    started: list[RunningBot] = []

    def start(*, start_workers: bool = True, services: dict | None = None, **overrides: str) -> RunningBot:
        config = load_config(bot_environ(fake_slack, tmp_path, **overrides), mode="http")
        started.append(serve_bot(config, start_workers=start_workers, **(services or {})))
        return started[-1]

    yield start
    for bot in started:
        bot.close()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
