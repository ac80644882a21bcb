"""The /labels grammar (labels_command), how changes apply and read (settings), the environment -> Config."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.config import ConfigError, load_config
from bot.i18n import words_for
from bot.labels_command import (
    AddFilterLabels,
    CommandError,
    Find,
    IgnoreModerationCategories,
    Reset,
    SetEnabled,
    SetMaxLabels,
    SetMine,
    SetModeration,
    SetModerationThreshold,
    SetTags,
    SetText,
    SetThreshold,
    ShowHelp,
    ShowMine,
    ShowStatus,
    ShowTags,
    parse_command,
)
from bot.labels_help import HELP_TEXT
from bot.services import build_services, text_engine_in_use
from bot.settings import (
    ChannelOverrides,
    ChannelSettings,
    ModerationNotices,
    announce_change,
    apply_change,
    check_change,
    confirm_change,
    describe_status,
)

EN = words_for("en")


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
        (
            'find "connection  refused" in <#C0123|ops> since 7d',
            Find("", "C0123", 7.0, ("connection refused",), '"connection refused"'),
        ),
        ("find invoice “Total due” 2024", Find("invoice 2024", None, None, ("Total due",), 'invoice "Total due" 2024')),
        ('find "since 7d" in', Find("in", None, None, ("since 7d",), '"since 7d" in')),  # quoted: a phrase, no option
        ('find cat" OR "dog', Find("cat dog", None, None, ("OR",), 'cat" OR "dog')),
        ("  help ", ShowHelp()),
        ("", ShowHelp()),
        ("me", ShowMine()),
        ("me OFF", SetMine(labels_off=True)),
        ("Me on", SetMine(labels_off=False)),
    ],
)
def test_the_grammar_accepts(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize(
    "text", ["threshold 100.1", "threshold nan%", "max 21", "max -3", "thresh 9", "max", "me maybe", "me off now"]
)
def test_the_grammar_refuses(text):
    assert isinstance(parse_command(text), CommandError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('find "connection refused', "Close the quote"),
        ("find “connection refused", "Close the quote"),  # a curly quote counts as one
        ('find "a" "b', "Close the quote"),
        ('find "" ', "Search like this"),
    ],
)
def test_a_find_with_an_unclosed_quote_or_nothing_to_look_for_is_a_usage_error(text, message):
    error = parse_command(text)
    assert isinstance(error, CommandError)
    assert error.message.startswith(message)


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


# ---- /labels moderation -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("moderation on", SetModeration(True)),
        ("Moderation OFF", SetModeration(False)),
        ("moderation threshold 80", SetModerationThreshold(80.0)),
        ("moderation threshold 92.55%", SetModerationThreshold(92.5)),
        ("moderation threshold 0", SetModerationThreshold(0.0)),
        ("moderation threshold 100", SetModerationThreshold(100.0)),
        ("moderation ignore Alcohol", IgnoreModerationCategories(("Alcohol",))),
        (
            "moderation ignore swimwear  or underwear, ALCOHOL, alcohol",
            IgnoreModerationCategories(("Swimwear or Underwear", "Alcohol")),  # the taxonomy's order, each once
        ),
        ("moderation ignore drugs and tobacco", IgnoreModerationCategories(("Drugs & Tobacco",))),
        ("moderation ignore None", IgnoreModerationCategories(())),
    ],
)
def test_the_moderation_grammar_accepts(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("moderation", "Use `/labels moderation on`, `/labels moderation off`"),
        ("moderation on please", "`/labels moderation on` takes nothing after it."),
        ("moderation off now", "`/labels moderation off` takes nothing after it."),
        ("moderation of", "I don't know `/labels moderation of`. Did you mean `/labels moderation off`?"),
        ("moderation treshold 80", "Did you mean `/labels moderation threshold`?"),
        ("moderation threshold", "The moderation threshold is a percentage from 0 to 100"),
        ("moderation threshold 101", "The moderation threshold is a percentage from 0 to 100"),
        ("moderation threshold -1", "The moderation threshold is a percentage from 0 to 100"),
        ("moderation threshold lots", "The moderation threshold is a percentage from 0 to 100"),
        ("moderation threshold nan", "The moderation threshold is a percentage from 0 to 100"),
        ("moderation threshold 50 60", "e.g. `/labels moderation threshold 80`."),
        ("moderation ignore", "Name the moderation categories that don't count here"),
        ("moderation ignore ,  ,", "Name the moderation categories that don't count here"),
        (
            "moderation ignore Alcohol, Gamblin",
            "`Gamblin` is not one of Rekognition's moderation categories. Did you mean `Gambling`?",
        ),
        ("moderation ignore Spaceships", "`Spaceships` is not one of Rekognition's moderation categories."),
        ("moderation ignore Spaceships", "`Drugs &amp; Tobacco`"),  # no close name: all ten are listed
        ("moderation ignore <!channel>", "`&lt;!channel&gt;` is not one of"),  # shown literally, never a mention
        ("moderaton on", "Did you mean `/labels moderation`?"),
    ],
)
def test_the_moderation_grammar_refuses_with_a_clear_answer(text, expected):
    parsed = parse_command(text)
    assert isinstance(parsed, CommandError)
    assert expected in parsed.message


MODERATED = ChannelSettings(75.0, 5, moderation=True, moderation_threshold=60.0)


def test_moderation_changes_set_their_own_field_and_ignore_replaces_the_list():
    on = apply_change(ChannelOverrides(threshold=90.0), SetModeration(True), ChannelSettings(75.0, 5))
    assert on == ChannelOverrides(threshold=90.0, moderation=True)
    off = apply_change(ChannelOverrides(), SetModeration(False), MODERATED)
    assert off.apply_to(MODERATED).moderation is False
    assert apply_change(off, SetModerationThreshold(85.0), MODERATED).moderation_threshold == 85.0

    ignored = apply_change(off, IgnoreModerationCategories(("Alcohol", "Gambling")), MODERATED)
    assert ignored.moderation_ignored == ("Alcohol", "Gambling")
    replaced = apply_change(ignored, IgnoreModerationCategories(("Violence",)), MODERATED)
    assert replaced.moderation_ignored == ("Violence",)  # the list named, not added to
    counted = apply_change(replaced, IgnoreModerationCategories(()), MODERATED)
    assert counted.moderation_ignored == ()  # set for this channel: every category counts
    assert counted.changed_fields(replaced) == ("moderation_ignored",)
    assert apply_change(counted, Reset(), MODERATED) == ChannelOverrides()


def test_moderation_on_is_refused_when_no_one_would_review_what_it_holds():
    refusal = check_change(ChannelOverrides(), SetModeration(True), ChannelSettings(75.0, 5), EN, has_reviewers=False)
    assert refusal is not None
    assert "LABELBOT_MODERATION_CHANNEL" in refusal and "LABELBOT_ADMINS" in refusal
    assert "Nothing was changed" in refusal
    assert (
        check_change(ChannelOverrides(), SetModeration(True), ChannelSettings(75.0, 5), EN, has_reviewers=True) is None
    )
    for harmless in (SetModeration(False), SetModerationThreshold(90.0), IgnoreModerationCategories(()), Reset()):
        assert check_change(ChannelOverrides(), harmless, ChannelSettings(75.0, 5), EN, has_reviewers=False) is None


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            SetModeration(True),
            "turned moderation on in this channel: a flagged image waits for an admin's review instead of labels",
        ),
        (SetModeration(False), "turned moderation off in this channel"),
        (SetModerationThreshold(92.5), "set the moderation threshold to 92.5%"),
        (
            IgnoreModerationCategories(("Drugs & Tobacco", "Alcohol")),
            "set moderation to ignore `Drugs &amp; Tobacco`, `Alcohol`",
        ),
        (IgnoreModerationCategories(()), "set moderation to count every category"),
    ],
)
def test_a_moderation_change_is_confirmed_and_announced(change, said):
    settings = apply_change(ChannelOverrides(), change, MODERATED).apply_to(MODERATED)
    assert confirm_change(change, settings, EN) == f"Done: {said}."
    assert announce_change(change, settings, "UANA", EN) == f"<@UANA> {said}."


def status_lines(overrides: ChannelOverrides, notices: ModerationNotices) -> list[str]:
    return describe_status(overrides, MODERATED, notices).splitlines()[10:]  # the moderation part


def test_status_shows_the_channels_moderation_and_where_notices_go():
    overrides = ChannelOverrides(moderation_threshold=80.0, moderation_ignored=("Alcohol", "Gambling"))
    assert status_lines(overrides, ModerationNotices("C0MOD", channel_access="member")) == [
        "• moderation on (default)",
        "• moderation threshold 80% (set for this channel)",
        "• moderation ignores: `Alcohol`, `Gambling` (set for this channel)",
        "• moderation notices go to <#C0MOD>",
    ]
    off = ChannelOverrides(moderation=False, moderation_ignored=())
    assert status_lines(off, ModerationNotices(admins=True)) == [
        "• moderation off (set for this channel)",
        "• moderation threshold 60% (default)",
        "• moderation ignores: none (set for this channel)",
        "• moderation notices go as DMs to the admins (LABELBOT_ADMINS)",
    ]
    # A channel as well as admins: the notices go to the channel (bot.moderation_review), not as DMs.
    assert status_lines(off, ModerationNotices("C0MOD", admins=True))[-1] == "• moderation notices go to <#C0MOD>"
    assert "nowhere yet" in status_lines(off, ModerationNotices())[-1]


@pytest.mark.parametrize(
    ("access", "warning"),
    [
        ("not_member", ":warning: I'm not a member of <#C0MOD> (LABELBOT_MODERATION_CHANNEL)"),
        ("not_found", ":warning: I can't see <#C0MOD> (LABELBOT_MODERATION_CHANNEL)"),
    ],
)
def test_status_warns_when_the_bot_cant_post_in_the_moderation_channel(access, warning):
    *_, where, warned = status_lines(ChannelOverrides(), ModerationNotices("C0MOD", channel_access=access))
    assert where == "• moderation notices go to <#C0MOD>"
    assert warned.startswith(warning) and "`/invite @labelbot`" in warned
    # Slack didn't say (or the bot is in it): no warning
    for unknown in (None, "member"):
        lines = status_lines(ChannelOverrides(), ModerationNotices("C0MOD", channel_access=unknown))
        assert not any(":warning:" in line for line in lines)


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


def test_moderation_on_by_default_adds_threads_for_its_own_quota():
    """A job holds its worker through DetectModerationLabels and DetectLabels: each API's calls need threads."""
    on = {**BASE, "LABELBOT_MODERATION": "on", "LABELBOT_MODERATION_CHANNEL": "C0MOD"}
    assert load_config(on).workers == 17  # ceil((5 + 5) x 1.5 s) + 2
    assert load_config({**on, "LABELBOT_MODERATION_TPS": "20"}).workers == 40
    assert load_config({**on, "LABELBOT_WORKERS": "8"}).workers == 8
    assert load_config({**BASE, "LABELBOT_MODERATION_TPS": "20"}).workers == 10  # off by default: no change


@pytest.mark.parametrize("value", ["0", "0.05", "1001", "fast"])
def test_the_rekognition_tps_must_be_in_range(value):
    with pytest.raises(ConfigError, match="LABELBOT_REKOGNITION_TPS"):
        load_config({**BASE, "LABELBOT_REKOGNITION_TPS": value})


def test_the_drain_time_is_20_s_by_default_and_from_1_to_600():
    assert load_config(BASE).drain_seconds == 20
    assert load_config({**BASE, "LABELBOT_DRAIN_SECONDS": "45"}).drain_seconds == 45
    for value in ("0", "601", "soon"):
        with pytest.raises(ConfigError, match="LABELBOT_DRAIN_SECONDS"):
            load_config({**BASE, "LABELBOT_DRAIN_SECONDS": value})


# Moderation (issue 13): the workspace default, its threshold and pace, and where the notices go.
LAMBDA = {
    **BASE,
    "LABELBOT_SETTINGS_TABLE": "labelbot-settings",
    "LABELBOT_JOBS_TABLE": "labelbot-jobs",
    "LABELBOT_TAGS_TABLE": "labelbot-tags",
}


def test_moderation_defaults():
    config = load_config(BASE)
    assert (config.moderation, config.moderation_min_confidence, config.moderation_tps) == (False, 60.0, 5.0)
    assert config.moderation_channel is None
    assert config.moderation_tps_per_process == 5.0
    assert load_config({**BASE, "LABELBOT_MODERATION": "OFF"}).moderation is False


@pytest.mark.parametrize("value", ["on", "ON"])
def test_moderation_on_needs_someone_to_review_what_it_holds(value):
    with pytest.raises(
        ConfigError, match=r"^LABELBOT_MODERATION=on needs .*LABELBOT_MODERATION_CHANNEL.*LABELBOT_ADMINS"
    ):
        load_config({**BASE, "LABELBOT_MODERATION": value})
    assert load_config({**BASE, "LABELBOT_MODERATION": value, "LABELBOT_ADMINS": "U0ADMIN"}).moderation is True
    on = load_config({**BASE, "LABELBOT_MODERATION": value, "LABELBOT_MODERATION_CHANNEL": "C0MOD"})
    assert (on.moderation, on.moderation_channel) == (True, "C0MOD")


@pytest.mark.parametrize("value", ["yes", "true", "1"])
def test_moderation_is_on_or_off(value):
    with pytest.raises(ConfigError, match=r"^LABELBOT_MODERATION must be on or off"):
        load_config({**BASE, "LABELBOT_MODERATION": value})


def test_moderation_threshold_tps_and_frames_are_read():
    config = load_config({**BASE, "LABELBOT_MODERATION_MIN_CONFIDENCE": "80%", "LABELBOT_MODERATION_TPS": "0.5"})
    assert (config.moderation_min_confidence, config.moderation_tps) == (80.0, 0.5)
    assert config.rekognition_tps == 5.0  # a quota of its own
    assert config.moderation_frames == 10
    assert load_config({**BASE, "LABELBOT_MODERATION_FRAMES": "1"}).moderation_frames == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LABELBOT_MODERATION_MIN_CONFIDENCE", "-1"),
        ("LABELBOT_MODERATION_MIN_CONFIDENCE", "100.1"),
        ("LABELBOT_MODERATION_MIN_CONFIDENCE", "high"),
        ("LABELBOT_MODERATION_TPS", "0"),
        ("LABELBOT_MODERATION_TPS", "0.05"),
        ("LABELBOT_MODERATION_TPS", "1001"),
        ("LABELBOT_MODERATION_TPS", "fast"),
        ("LABELBOT_MODERATION_FRAMES", "0"),
        ("LABELBOT_MODERATION_FRAMES", "51"),
        ("LABELBOT_MODERATION_FRAMES", "2.5"),
    ],
)
def test_moderation_numbers_must_be_in_range(name, value):
    with pytest.raises(ConfigError, match=f"^{name} must be"):
        load_config({**BASE, name: value})


def test_moderation_channel_is_a_channel_id():
    assert load_config({**BASE, "LABELBOT_MODERATION_CHANNEL": "C012AB3CD"}).moderation_channel == "C012AB3CD"
    assert load_config({**BASE, "LABELBOT_MODERATION_CHANNEL": "G0123ABC"}).moderation_channel == "G0123ABC"
    for value in ("#mods", "mods", "U012AB3CD", "c012ab3cd", "C", "C012-AB3"):
        with pytest.raises(ConfigError, match=r"^LABELBOT_MODERATION_CHANNEL must be a Slack channel ID such as"):
            load_config({**BASE, "LABELBOT_MODERATION_CHANNEL": value})


def test_moderation_tps_is_split_on_lambda_like_rekognitions():
    environ = {**LAMBDA, "LABELBOT_MODERATION_TPS": "20", "LABELBOT_LABEL_CONCURRENCY": "4"}
    config = load_config(environ, mode="lambda")
    assert (config.moderation_tps, config.moderation_tps_per_process) == (20.0, 5.0)
    assert config.rekognition_tps_per_process == 1.25
    assert load_config(environ, mode="http").moderation_tps_per_process == 20.0  # one process: all of it


# A Rekognition client the pacing can register on; building the services calls nothing.
UNCALLED_CLIENT = SimpleNamespace(meta=SimpleNamespace(events=SimpleNamespace(register=lambda *args, **kw: None)))


def test_the_services_defaults_carry_the_moderation_settings(tmp_path):
    config = load_config(
        {**BASE, "LABELBOT_DB": str(tmp_path / "labelbot.sqlite3"), "LABELBOT_MODERATION_MIN_CONFIDENCE": "85"}
    )
    services = build_services(config, rekognition_client=UNCALLED_CLIENT)
    try:
        assert services.defaults == ChannelSettings(threshold=75.0, max_labels=5, moderation_threshold=85.0)
        assert services.settings_for("C012AB3CD").moderation_threshold == 85.0
    finally:
        services.stop(timeout=1)
    # A Config with moderation on gives channels moderation by default.
    on = dataclasses.replace(config, moderation=True, db_path=tmp_path / "on.sqlite3")
    services = build_services(on, rekognition_client=UNCALLED_CLIENT)
    try:
        assert (services.defaults.moderation, services.defaults.moderation_threshold) == (True, 85.0)
    finally:
        services.stop(timeout=1)
    # And LABELBOT_TEXT is every channel's text mode until it sets its own.
    text_off = dataclasses.replace(config, text="off", db_path=tmp_path / "text.sqlite3")
    services = build_services(text_off, rekognition_client=UNCALLED_CLIENT)
    try:
        assert services.settings_for("C012AB3CD").text == "off"
        services.stores.settings.save_overrides("C012AB3CD", ChannelOverrides(text="on"))
        assert services.settings_for("C012AB3CD").text == "on"
    finally:
        services.stop(timeout=1)


# Text (issue 14): the workspace default, its floor and pace, and the text-bearing labels.


def test_text_defaults_and_the_shipped_text_labels():
    config = load_config(BASE)
    assert (config.text, config.text_min_confidence, config.text_tps, config.text_tps_per_process) == (
        "auto",
        80.0,
        5.0,
        5.0,
    )
    assert {"text", "screenshot", "document", "receipt", "whiteboard", "menu", "poster", "sign"} <= config.text_labels
    lam = load_config({**LAMBDA, "LABELBOT_TEXT_TPS": "8", "LABELBOT_LABEL_CONCURRENCY": "4"}, mode="lambda")
    assert lam.text_tps_per_process == 2.0


@pytest.mark.parametrize(("value", "mode"), [("ON", "on"), ("off", "off"), ("Auto", "auto")])
def test_text_is_auto_on_or_off(value, mode):
    assert load_config({**BASE, "LABELBOT_TEXT": value}).text == mode


@pytest.mark.parametrize(("value", "language"), [(None, "en"), ("ja", "ja"), ("JA", "ja"), ("en", "en")])
def test_the_workspaces_language_is_english_unless_labelbot_language_says(value, language):
    environ = BASE if value is None else {**BASE, "LABELBOT_LANGUAGE": value}
    assert load_config(environ).language == language


def test_a_language_labelbot_doesnt_speak_stops_start_up_naming_the_variable():
    with pytest.raises(ConfigError, match=r"^LABELBOT_LANGUAGE must be en or ja \(en by default\), got 'fr'"):
        load_config({**BASE, "LABELBOT_LANGUAGE": "fr"})


def test_a_text_setting_out_of_range_names_its_variable():
    with pytest.raises(ConfigError, match=r"^LABELBOT_TEXT must be auto, on or off \(auto by default\), got 'yes'"):
        load_config({**BASE, "LABELBOT_TEXT": "yes"})
    with pytest.raises(ConfigError, match=r"^LABELBOT_TEXT_MIN_CONFIDENCE must be from 0 to 100"):
        load_config({**BASE, "LABELBOT_TEXT_MIN_CONFIDENCE": "101"})
    with pytest.raises(ConfigError, match=r"^LABELBOT_TEXT_TPS must be a number"):
        load_config({**BASE, "LABELBOT_TEXT_TPS": "fast"})


def test_a_workspace_replaces_the_text_labels_with_a_file_of_its_own(tmp_path):
    mine = tmp_path / "text_labels.txt"
    mine.write_text("# ours\nMenu\n  Price   Tag  # shelf labels\n\n", encoding="utf-8")
    assert load_config({**BASE, "LABELBOT_TEXT_LABELS": str(mine)}).text_labels == frozenset({"menu", "price tag"})

    mine.write_text("Menu\n<!channel>\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^LABELBOT_TEXT_LABELS \(.*\) line 2: '<!channel>' is not a label name"):
        load_config({**BASE, "LABELBOT_TEXT_LABELS": str(mine)})
    mine.write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^LABELBOT_TEXT_LABELS \(.*\) lists no label"):
        load_config({**BASE, "LABELBOT_TEXT_LABELS": str(mine)})
    with pytest.raises(ConfigError, match=r"^LABELBOT_TEXT_LABELS is '/nope\.txt', which is not a readable file"):
        load_config({**BASE, "LABELBOT_TEXT_LABELS": "/nope.txt"})


@pytest.mark.parametrize(
    ("text", "command"),
    [("text auto", SetText("auto")), ("text ON", SetText("on")), ("Text off", SetText("off"))],
)
def test_the_text_grammar_accepts_auto_on_and_off(text, command):
    assert parse_command(text) == command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("text", "Use `/labels text auto`"),
        ("text sometimes", "Use `/labels text auto`"),
        ("text on please", "Use `/labels text auto`"),
        ("text aut", "Did you mean `/labels text auto`?"),
        ("txt on", "Did you mean `/labels text`?"),
    ],
)
def test_the_text_grammar_refuses_with_a_clear_answer(text, expected):
    parsed = parse_command(text)
    assert isinstance(parsed, CommandError) and expected in parsed.message


def test_text_changes_are_their_own_field_confirmed_announced_and_shown_in_status_and_help():
    defaults = ChannelSettings(75.0, 5, text="auto")
    off = apply_change(ChannelOverrides(threshold=90.0), SetText("off"), defaults)
    assert off == ChannelOverrides(threshold=90.0, text="off") and off.changed_fields(ChannelOverrides(90.0)) == (
        "text",
    )
    assert off.apply_to(defaults).text == "off"
    assert confirm_change(SetText("off"), off.apply_to(defaults), EN) == (
        "Done: set text reading to off: I don't read text in images."
    )
    assert announce_change(SetText("on"), defaults, "UANA", EN) == (
        "<@UANA> set text reading to on: I read the text in every image."
    )
    status = describe_status(ChannelOverrides(), defaults, ModerationNotices(admins=True)).splitlines()
    assert "• text reading auto (default)" in status
    assert "• text reading off (set for this channel)" in describe_status(off, defaults, ModerationNotices())


def test_status_says_who_reads_a_channels_text_under_labelbot_text_engine():
    japanese = ChannelOverrides(language="ja")

    def reader_line(engine: str, overrides: ChannelOverrides | None = None, tr=EN) -> str:
        status = describe_status(
            overrides or ChannelOverrides(), MODERATED, ModerationNotices(), tr, text_engine=engine
        )
        return status.splitlines()[8]

    rekognition = "• text read by Amazon Rekognition, Latin script only (LABELBOT_TEXT_ENGINE {})"
    local = "• text read by labelbot itself, Japanese included (LABELBOT_TEXT_ENGINE {})"
    assert reader_line("auto") == rekognition.format("auto")
    assert reader_line("auto", japanese) == local.format("auto")
    assert reader_line("local") == local.format("local")
    assert reader_line("rekognition", japanese) == rekognition.format("rekognition")
    assert reader_line("auto", japanese, words_for("ja")) == (
        "• 文字を読み取る仕組み: labelbot 内蔵（日本語にも対応。LABELBOT_TEXT_ENGINE auto）"
    )


def test_labelbot_text_engine_is_checked_at_start_up(monkeypatch):
    assert load_config(BASE).text_engine == "auto"
    assert load_config({**BASE, "LABELBOT_TEXT_ENGINE": "Local"}).text_engine == "local"
    with pytest.raises(ConfigError, match="LABELBOT_TEXT_ENGINE must be auto, rekognition or local"):
        load_config({**BASE, "LABELBOT_TEXT_ENGINE": "tesseract"})
    with pytest.raises(ConfigError, match="LABELBOT_TEXT_READS_AT_ONCE must be from 1 to"):
        load_config({**BASE, "LABELBOT_TEXT_READS_AT_ONCE": "99"})
    with pytest.raises(ConfigError, match="LABELBOT_TEXT_READ_SECONDS must be from 1 to 120"):
        load_config({**BASE, "LABELBOT_TEXT_READ_SECONDS": "0"})
    # Installed without the ocr extra: `local` stops start-up naming the variable; `auto` reads with DetectText
    monkeypatch.setattr("bot.local_text.local_engine_installed", lambda: False)
    with pytest.raises(ConfigError, match=r"LABELBOT_TEXT_ENGINE is local, but the local text reader isn't installed"):
        load_config({**BASE, "LABELBOT_TEXT_ENGINE": "local"})
    assert text_engine_in_use(load_config(BASE)) == "rekognition"
    assert "`/labels text auto`" in HELP_TEXT and "hidden" in HELP_TEXT


def test_the_workspace_text_default_comes_from_labelbot_text_and_text_on_adds_workers():
    assert load_config({**BASE, "LABELBOT_TEXT": "on"}).workers == 17  # ceil((5 + 5) x 1.5 s) + 2
    local = load_config({**BASE, "LABELBOT_TEXT": "on", "LABELBOT_TEXT_ENGINE": "local"})
    assert local.workers == 10  # read here: no DetectText call holds a worker
    assert load_config({**BASE, "LABELBOT_TEXT": "auto"}).workers == 10  # only some images: no threads of its own
    both = {**BASE, "LABELBOT_TEXT": "on", "LABELBOT_MODERATION": "on", "LABELBOT_ADMINS": "U012AB3CD"}
    assert load_config(both).workers == 25


# Usage (issue 16): the price per call.


def test_prices_default_to_the_documented_table_and_labelbot_price_per_call_usd_overrides_them():
    assert load_config(BASE).prices_usd == {"DetectLabels": 0.001, "DetectModerationLabels": 0.001, "DetectText": 0.001}
    every = load_config({**BASE, "LABELBOT_PRICE_PER_CALL_USD": "0.0012"}).prices_usd
    assert set(every.values()) == {0.0012}
    some = load_config({**BASE, "LABELBOT_PRICE_PER_CALL_USD": "DetectText=0.0015, DetectLabels=0.0008"}).prices_usd
    assert some == {"DetectLabels": 0.0008, "DetectModerationLabels": 0.001, "DetectText": 0.0015}


@pytest.mark.parametrize("value", ["cheap", "-1", "2", "DetectFaces=0.001", "DetectText=x"])
def test_a_bad_price_names_its_variable(value):
    with pytest.raises(ConfigError, match=r"^LABELBOT_PRICE_PER_CALL_USD must be a price per call in USD"):
        load_config({**BASE, "LABELBOT_PRICE_PER_CALL_USD": value})
