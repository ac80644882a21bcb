"""settings (the /labels grammar) and config (the environment -> Config), as plain values."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.settings import (
    AddFilterLabels,
    ChannelOverrides,
    ChannelSettings,
    CommandError,
    Find,
    Reset,
    SetEnabled,
    SetMaxLabels,
    SetTags,
    SetThreshold,
    ShowHelp,
    ShowStatus,
    ShowTags,
    apply_change,
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
        ("on", SetEnabled(True)),
        ("OFF", SetEnabled(False)),
        ("tags on", SetTags(True)),
        ("tags", ShowTags()),
        ("reset", Reset()),
        ("include Dog, Golden  Retriever,dog", AddFilterLabels("include", ("Dog", "Golden Retriever"))),
        ("exclude clear", AddFilterLabels("exclude", ())),
        ("find white board", Find("white board")),
        ("find cat in <#C0123|random> since 2w", Find("cat", "C0123", 14.0)),
        ("find cat since 36h", Find("cat", None, 1.5)),
        ("  help ", ShowHelp()),
        ("", ShowHelp()),
    ],
)
def test_the_grammar_accepts(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize("text", ["threshold 100.1", "threshold nan%", "max 21", "max -3", "thresh 9", "max"])
def test_the_grammar_refuses(text):
    assert isinstance(parse_command(text), CommandError)


def test_overrides_change_one_setting_and_keep_the_others():
    defaults = ChannelSettings(75.0, 5)
    overrides = apply_change(ChannelOverrides(max_labels=3, tags=True), SetThreshold(90.0), defaults)
    assert overrides == ChannelOverrides(threshold=90.0, max_labels=3, tags=True)
    assert overrides.apply_to(defaults) == ChannelSettings(90.0, 3, enabled=True, tags=True)
    assert ChannelOverrides().apply_to(defaults) == defaults
    assert apply_change(overrides, Reset(), defaults) == ChannelOverrides()


def test_filter_labels_add_up_without_repeats_and_clear():
    defaults = ChannelSettings(75.0, 5)
    first = apply_change(ChannelOverrides(), AddFilterLabels("include", ("Dog",)), defaults)
    second = apply_change(first, AddFilterLabels("include", ("dog", "Cat")), defaults)
    assert second.include == ("Dog", "Cat")
    assert apply_change(second, AddFilterLabels("include", ()), defaults).include == ()


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


def test_admins_must_be_user_ids():
    assert load_config({**BASE, "LABELBOT_ADMINS": "U012AB3CD, W0456"}).admins == frozenset({"U012AB3CD", "W0456"})
    with pytest.raises(ConfigError, match="LABELBOT_ADMINS lists Slack user IDs"):
        load_config({**BASE, "LABELBOT_ADMINS": "@ana"})


def test_an_emoji_map_override_must_exist():
    with pytest.raises(ConfigError, match="LABELBOT_EMOJI_MAP is '/nope/map\\.txt', which is not a readable file"):
        load_config({**BASE, "LABELBOT_EMOJI_MAP": "/nope/map.txt"})


def test_the_rekognition_tps_sets_the_default_worker_count():
    config = load_config(BASE)
    assert (config.rekognition_tps, config.workers) == (5.0, 10)  # ceil(5 x 1.5 s) + 2
    assert load_config({**BASE, "LABELBOT_REKOGNITION_TPS": "20"}).workers == 32
    assert load_config({**BASE, "LABELBOT_REKOGNITION_TPS": "0.5"}).workers == 4
    assert load_config({**BASE, "LABELBOT_REKOGNITION_TPS": "1000"}).workers == 64
    assert load_config({**BASE, "LABELBOT_REKOGNITION_TPS": "50", "LABELBOT_WORKERS": "6"}).workers == 6


@pytest.mark.parametrize("value", ["0", "0.05", "1001", "fast"])
def test_the_rekognition_tps_must_be_in_range(value):
    with pytest.raises(ConfigError, match="LABELBOT_REKOGNITION_TPS"):
        load_config({**BASE, "LABELBOT_REKOGNITION_TPS": value})
