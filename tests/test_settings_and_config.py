"""settings (the /labels grammar) and config (the environment -> Config), as plain values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.settings import (
    ChannelOverrides,
    ChannelSettings,
    CommandError,
    SetMaxLabels,
    SetThreshold,
    ShowHelp,
    ShowStatus,
    apply_command,
    parse_command,
)


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("threshold 90", SetThreshold(90.0)),
        ("Threshold 92.5%", SetThreshold(92.5)),
        ("threshold 0", SetThreshold(0.0)),
        ("threshold 100", SetThreshold(100.0)),
        ("max 1", SetMaxLabels(1)),
        ("max 20", SetMaxLabels(20)),
        ("status", ShowStatus()),
        ("  help ", ShowHelp()),
        ("", ShowHelp()),
    ],
)
def test_the_grammar_accepts(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["threshold 100.1", "threshold nan%", "max 21", "max -3", "thresh 9", "max"])
def test_the_grammar_refuses(text):
    assert isinstance(parse_command(text), CommandError)


def test_overrides_change_one_setting_and_keep_the_other():
    overrides = apply_command(ChannelOverrides(max_labels=3), SetThreshold(90.0))
    assert overrides == ChannelOverrides(threshold=90.0, max_labels=3)
    assert overrides.apply_to(ChannelSettings(75.0, 5)) == ChannelSettings(90.0, 3)
    assert ChannelOverrides().apply_to(ChannelSettings(75.0, 5)) == ChannelSettings(75.0, 5)


BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "secret"}


def test_http_mode_defaults():
    config = load_config(BASE)
    assert not config.socket_mode
    assert (config.port, config.slack_api_url, config.db_path) == (
        3000,
        "https://slack.com/api/",
        Path("labelbot.sqlite3"),
    )
    assert (config.min_confidence, config.max_labels, config.max_download_bytes) == (75.0, 5, 50 * 1024 * 1024)


def test_the_app_token_selects_socket_mode_and_http_can_be_forced():
    environ = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}
    assert load_config(environ).socket_mode
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        load_config(environ, mode="http")
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN is not set"):
        load_config(BASE, mode="socket")


def test_the_api_url_gets_its_trailing_slash_and_secrets_are_listed():
    config = load_config({**BASE, "SLACK_API_URL": "http://127.0.0.1:9/api", "LABELBOT_MIN_CONFIDENCE": "90%"})
    assert config.slack_api_url == "http://127.0.0.1:9/api/"
    assert config.min_confidence == 90.0
    assert config.secrets == ("xoxb-1", "secret")
