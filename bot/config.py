"""One frozen Config built from the environment; every problem is a ConfigError naming the variable."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.i18n import LANGUAGES
from bot.pricing import PRICES_USD, parse_prices
from bot.screen_text import TEXT_ENGINES, TEXT_MODES, parse_text_labels

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


# An animation's frames moderation checks by default: first, last and evenly between (README, "Moderation").
DEFAULT_MODERATION_FRAMES = 10


class ConfigError(Exception):
    """A variable is missing or invalid; the message names it and says what is wrong."""


@dataclass(frozen=True)
class Config:
    bot_token: str  # SLACK_BOT_TOKEN: the one workspace's; "" in multi-workspace mode (each install's own)
    app_token: str | None
    signing_secret: str | None
    slack_api_url: str
    port: int
    db_path: Path
    min_confidence: float
    max_labels: int
    workers: int
    max_download_bytes: int
    log_level: str
    admins: frozenset[str] = frozenset()
    log_format: str = "text"  # LOG_FORMAT: "text" (human-readable) or "json" (one object per line)
    retention_days: int = 90
    emoji_map_path: Path | None = None
    max_queue: int = 1000  # images waiting at most; past it a new image message gets a "busy" reply
    rekognition_tps: float = 5.0  # LABELBOT_REKOGNITION_TPS: DetectLabels calls a second, at most (every attempt)
    store: str = "sqlite"  # LABELBOT_STORE: sqlite (one machine) or dynamodb (AWS Lambda; bot/store/dynamodb/)
    dynamodb_tables: Mapping[str, str] | None = None  # {"Settings": name, "Jobs": name, "Tags": name}
    on_lambda: bool = False  # the AWS Lambda entry point: no threads, work runs in Bolt lazy listeners
    label_function: str | None = None  # LABELBOT_LABEL_FUNCTION: the Lambda function lazy listeners invoke
    label_concurrency: int = 1  # LABELBOT_LABEL_CONCURRENCY: Lambda instances sharing the Rekognition quota
    # Moderation: DetectModerationLabels first; a flagged image is held for the admins (bot.moderation_review)
    moderation: bool = False  # LABELBOT_MODERATION: the workspace default for channels
    moderation_min_confidence: float = 60.0  # LABELBOT_MODERATION_MIN_CONFIDENCE: the default moderation threshold
    moderation_tps: float = 5.0  # LABELBOT_MODERATION_TPS: DetectModerationLabels calls a second, at most
    # LABELBOT_MODERATION_FRAMES: an animation's frames checked at most (bot.images.moderation_frames), 1: the first
    moderation_frames: int = DEFAULT_MODERATION_FRAMES
    moderation_channel: str | None = None  # LABELBOT_MODERATION_CHANNEL: a Slack channel ID
    # Text: DetectText after the labels (bot.screen_text): auto (with a text-bearing label), on or off by default
    text: str = "auto"  # LABELBOT_TEXT
    language: str = "en"  # LABELBOT_LANGUAGE: the workspace's language (bot.i18n.LANGUAGES); a channel may change it
    # LABELBOT_TRANSLATE: a label name the language's table lacks is translated with Amazon Translate (once, kept)
    translate: bool = True
    translate_tps: float = 5.0  # LABELBOT_TRANSLATE_TPS: TranslateText calls a second, at most (every attempt)
    text_min_confidence: float = 80.0  # LABELBOT_TEXT_MIN_CONFIDENCE: the lines repeated and indexed
    text_tps: float = 5.0  # LABELBOT_TEXT_TPS: DetectText calls a second, at most
    text_labels: frozenset[str] = frozenset()  # LABELBOT_TEXT_LABELS' (else bot/text_labels.txt's) names, lower-case
    text_engine: str = "auto"  # LABELBOT_TEXT_ENGINE: bot.screen_text.TEXT_ENGINES
    text_reads_at_once: int = 1  # LABELBOT_TEXT_READS_AT_ONCE: the local reader's reads at once, at most the cores
    text_read_seconds: float = 20.0  # LABELBOT_TEXT_READ_SECONDS: a local read's deadline, from its start
    # LABELBOT_PRICE_PER_CALL_USD over bot.pricing.PRICES_USD: USD per Rekognition call, by API
    prices_usd: dict[str, float] = field(default_factory=lambda: dict(PRICES_USD))
    # LABELBOT_MONTHLY_CALL_LIMIT: Rekognition calls a UTC month, all APIs together, at most (None: no cap); with many
    # workspaces, each workspace's
    monthly_call_limit: int | None = None
    # LABELBOT_TOTAL_MONTHLY_CALL_LIMIT (many workspaces only): every workspace's calls together, at most
    total_monthly_call_limit: int | None = None
    # LABELBOT_DRAIN_SECONDS: on SIGTERM, how long images in flight may take to finish (gunicorn waits 5 s more)
    drain_seconds: int = 20
    metrics_port: int | None = None  # LABELBOT_METRICS_PORT: Socket Mode serves GET /metrics on it (HTTP: on PORT)
    # Multi-workspace mode ("Add to Slack", bot.oauth and bot.workspaces): the app's SLACK_CLIENT_ID and
    # SLACK_CLIENT_SECRET instead of a bot token; SLACK_REDIRECT_URI where the app has more than one Redirect URL
    client_id: str | None = None
    client_secret: str | None = None
    redirect_uri: str | None = None

    @property
    def many_workspaces(self) -> bool:
        """Installed with "Add to Slack" in any number of workspaces, each with its own token (SLACK_CLIENT_ID)."""
        return self.client_id is not None

    @property
    def rekognition_tps_per_process(self) -> float:
        """This process's share of LABELBOT_REKOGNITION_TPS: on Lambda, the instances that may run at once split it."""
        return self.rekognition_tps / self.label_concurrency

    @property
    def moderation_tps_per_process(self) -> float:
        """This process's share of LABELBOT_MODERATION_TPS, split like rekognition_tps_per_process."""
        return self.moderation_tps / self.label_concurrency

    @property
    def text_tps_per_process(self) -> float:
        """This process's share of LABELBOT_TEXT_TPS, split like rekognition_tps_per_process."""
        return self.text_tps / self.label_concurrency

    @property
    def translate_tps_per_process(self) -> float:
        """This process's share of LABELBOT_TRANSLATE_TPS, split like rekognition_tps_per_process."""
        return self.translate_tps / self.label_concurrency

    @property
    def socket_mode(self) -> bool:
        return self.app_token is not None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret value, so logging can redact them wherever they appear."""
        return tuple(s for s in (self.bot_token, self.app_token, self.signing_secret, self.client_secret) if s)


def load_config(environ: Mapping[str, str] | None = None, *, mode: str = "auto") -> Config:
    """Validate the environment into a Config.

    mode is "auto" (Socket Mode when SLACK_APP_TOKEN is set), "http", "socket" or "lambda" (HTTP requests
    through AWS Lambda, with the DynamoDB store).
    """
    get = _reader(environ)
    bot_token = get("SLACK_BOT_TOKEN")
    client_id, client_secret = _client_credentials(get, has_bot_token=bot_token is not None)
    if client_id is not None:
        bot_token = ""
        if mode == "socket" or (mode == "auto" and get("SLACK_APP_TOKEN") is not None):
            raise ConfigError(
                "SLACK_APP_TOKEN: Socket Mode serves one workspace; with SLACK_CLIENT_ID (Add to Slack) run over "
                "HTTP, which the install's redirect needs (and Slack lists no Socket Mode app in its Marketplace)"
            )
        for name in ("LABELBOT_ADMINS", "LABELBOT_MODERATION_CHANNEL"):
            if get(name) is not None:
                raise ConfigError(
                    f"{name} names one workspace's people or channel; with SLACK_CLIENT_ID each workspace's admins "
                    "and owners are its admins, and one of them sets its channel with /labels moderation channel"
                )
    elif bot_token is None:
        raise ConfigError(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-…) from the app's "
            "OAuth & Permissions page into .env"
        )
    elif not bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    else:
        _not_placeholder("SLACK_BOT_TOKEN", bot_token)

    app_token = get("SLACK_APP_TOKEN")
    signing_secret = get("SLACK_SIGNING_SECRET")
    if mode in ("http", "lambda"):
        app_token = None
    elif mode == "socket" and app_token is None:
        raise ConfigError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…)")
    if app_token is not None and not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
    if app_token is not None:
        _not_placeholder("SLACK_APP_TOKEN", app_token)
    if app_token is None and signing_secret is None:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode (no SLACK_APP_TOKEN) needs the app's Signing Secret "
            "from its Basic Information page"
        )

    min_confidence, max_labels = load_label_defaults(environ)
    tps = _number(get, "LABELBOT_REKOGNITION_TPS", 5.0, 0.1, 1000.0)
    store = _store_kind(get("LABELBOT_STORE"), on_lambda=mode == "lambda")
    admins = _user_ids(get("LABELBOT_ADMINS"))
    moderation_channel = _channel_id("LABELBOT_MODERATION_CHANNEL", get("LABELBOT_MODERATION_CHANNEL"))
    moderation = _moderation(get("LABELBOT_MODERATION"), has_reviewers=bool(admins or moderation_channel))
    moderation_tps = _number(get, "LABELBOT_MODERATION_TPS", 5.0, 0.1, 1000.0)
    text = _choice("LABELBOT_TEXT", get("LABELBOT_TEXT"), TEXT_MODES)
    language = load_language(environ)
    text_tps = _number(get, "LABELBOT_TEXT_TPS", 5.0, 0.1, 1000.0)
    text_engine = load_text_engine(environ, on_lambda=mode == "lambda")
    # APIs every image calls by default: each quota gets its own threads (auto text: only for some images, so none;
    # the local reader's reads wait aside, holding no worker)
    reads_text_by_call = text == "on" and text_engine != "local"
    busy_tps = [tps, *([moderation_tps] if moderation else []), *([text_tps] if reads_text_by_call else [])]
    return Config(
        bot_token=bot_token,
        app_token=app_token,
        signing_secret=signing_secret,
        slack_api_url=_slack_api_url(get("SLACK_API_URL")),
        port=_int(get, "PORT", 3000, 1, 65535),
        db_path=_db_path(get("LABELBOT_DB")) if store == "sqlite" else Path(get("LABELBOT_DB") or "unused"),
        min_confidence=min_confidence,
        max_labels=max_labels,
        workers=_int(get, "LABELBOT_WORKERS", default_workers(*busy_tps), 1, 64),
        max_download_bytes=_int(get, "LABELBOT_MAX_DOWNLOAD_MB", 50, 1, 1024) * 1024 * 1024,
        log_level=_log_level(get("LOG_LEVEL")),
        log_format=_log_format(get("LOG_FORMAT")),
        admins=admins,
        retention_days=_int(get, "LABELBOT_RETENTION_DAYS", 90, 1, 3650),
        emoji_map_path=_existing_file("LABELBOT_EMOJI_MAP", get("LABELBOT_EMOJI_MAP")),
        max_queue=_int(get, "LABELBOT_MAX_QUEUE", 1000, 1, 1_000_000),
        rekognition_tps=tps,
        store=store,
        dynamodb_tables=_dynamodb_tables(get) if store == "dynamodb" else None,
        on_lambda=mode == "lambda",
        label_function=get("LABELBOT_LABEL_FUNCTION") if mode == "lambda" else None,
        label_concurrency=_int(get, "LABELBOT_LABEL_CONCURRENCY", 1, 1, 10_000) if mode == "lambda" else 1,
        moderation=moderation,
        moderation_min_confidence=load_moderation_threshold(environ),
        moderation_tps=moderation_tps,
        moderation_frames=load_moderation_frames(environ),
        moderation_channel=moderation_channel,
        text=text,
        language=language,
        translate=load_translate(environ),
        translate_tps=_number(get, "LABELBOT_TRANSLATE_TPS", 5.0, 0.1, 1000.0),
        text_min_confidence=load_text_min_confidence(environ),
        text_tps=text_tps,
        text_labels=load_text_labels(_existing_file("LABELBOT_TEXT_LABELS", get("LABELBOT_TEXT_LABELS"))),
        text_engine=text_engine,
        text_reads_at_once=_int(get, "LABELBOT_TEXT_READS_AT_ONCE", 1, 1, os.cpu_count() or 1),
        text_read_seconds=_number(get, "LABELBOT_TEXT_READ_SECONDS", 20.0, 1.0, 120.0),
        prices_usd=_prices(get("LABELBOT_PRICE_PER_CALL_USD")),
        monthly_call_limit=_optional_int(get, "LABELBOT_MONTHLY_CALL_LIMIT", 1, 10**12),
        total_monthly_call_limit=_total_call_limit(get, many_workspaces=client_id is not None),
        metrics_port=_optional_int(get, "LABELBOT_METRICS_PORT", 1, 65535),
        drain_seconds=_int(get, "LABELBOT_DRAIN_SECONDS", 20, 1, 600),
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=_redirect_uri(get("SLACK_REDIRECT_URI")) if client_id is not None else None,
    )


def _total_call_limit(get, *, many_workspaces: bool) -> int | None:
    limit = _optional_int(get, "LABELBOT_TOTAL_MONTHLY_CALL_LIMIT", 1, 10**12)
    if limit is not None and not many_workspaces:
        raise ConfigError(
            "LABELBOT_TOTAL_MONTHLY_CALL_LIMIT caps many workspaces' calls together (SLACK_CLIENT_ID); with one "
            "workspace set LABELBOT_MONTHLY_CALL_LIMIT"
        )
    return limit


def _client_credentials(get, *, has_bot_token: bool) -> tuple[str | None, str | None]:
    """SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (Basic Information, App Credentials): both, or neither."""
    client_id, client_secret = get("SLACK_CLIENT_ID"), get("SLACK_CLIENT_SECRET")
    if client_id is None and client_secret is None:
        return None, None
    if has_bot_token:
        raise ConfigError(
            "SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: keep SLACK_BOT_TOKEN for one workspace, or "
            "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET to install in many with Add to Slack (each install's token is "
            "kept in the store)"
        )
    missing = "SLACK_CLIENT_SECRET" if client_secret is None else "SLACK_CLIENT_ID" if client_id is None else None
    if missing is not None:
        raise ConfigError(
            f"{missing} is not set: Add to Slack needs both the Client ID and the Client Secret from the app's "
            "Basic Information page (App Credentials)"
        )
    if not re.fullmatch(r"[0-9]+\.[0-9]+", client_id):
        raise ConfigError(f"SLACK_CLIENT_ID must be the app's Client ID (digits.digits), got {client_id!r}")
    _not_placeholder("SLACK_CLIENT_SECRET", client_secret)
    return client_id, client_secret


def _redirect_uri(value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.path.endswith("/slack/oauth_redirect"):
        raise ConfigError(
            "SLACK_REDIRECT_URI must be the app's Redirect URL, https://<your host>/slack/oauth_redirect, "
            f"got {value!r}"
        )
    return value


SHIPPED_TEXT_LABELS = Path(__file__).with_name("text_labels.txt")


def load_text_labels(path: Path | None) -> frozenset[str]:
    """The text-bearing labels: the shipped list, or LABELBOT_TEXT_LABELS' file; a bad line is a ConfigError."""
    where = f"LABELBOT_TEXT_LABELS ({path})" if path is not None else f"the shipped text labels ({SHIPPED_TEXT_LABELS})"
    try:
        return parse_text_labels(Path(path or SHIPPED_TEXT_LABELS).read_text(encoding="utf-8"), where)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} cannot be read: {exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _prices(value: str | None) -> dict[str, float]:
    try:
        return parse_prices(value)
    except ValueError as exc:
        raise ConfigError(
            f"LABELBOT_PRICE_PER_CALL_USD must be a price per call in USD (0.001) or API=price pairs "
            f"(DetectLabels=0.001,DetectText=0.0015): {exc}"
        ) from None


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    """One of choices (any case); unset: the first."""
    chosen = (value or choices[0]).lower()
    if chosen not in choices:
        raise ConfigError(
            f"{name} must be {', '.join(choices[:-1])} or {choices[-1]} ({choices[0]} by default), got {value!r}"
        )
    return chosen


def _moderation(value: str | None, *, has_reviewers: bool) -> bool:
    setting = (value or "off").lower()
    if setting not in ("on", "off"):
        raise ConfigError(f"LABELBOT_MODERATION must be on or off (the default), got {value!r}")
    if setting == "on" and not has_reviewers:
        raise ConfigError(
            "LABELBOT_MODERATION=on needs someone to review the images it holds: set LABELBOT_MODERATION_CHANNEL to "
            "a channel ID the bot is in, or LABELBOT_ADMINS to the admins' user IDs (they get a DM)"
        )
    return setting == "on"


def _channel_id(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    if not re.fullmatch(r"[CG][A-Z0-9]{2,}", value):
        raise ConfigError(
            f"{name} must be a Slack channel ID such as C012AB3CD (channel details, at the bottom), "
            f"not a #name, got {value!r}"
        )
    return value


# The DynamoDB store's tables (bot/store/dynamodb/tables.py), each named by its own variable.
DYNAMODB_TABLE_VARIABLES = {
    "Settings": "LABELBOT_SETTINGS_TABLE",
    "Jobs": "LABELBOT_JOBS_TABLE",
    "Tags": "LABELBOT_TAGS_TABLE",
}


def _store_kind(value: str | None, *, on_lambda: bool) -> str:
    store = (value or ("dynamodb" if on_lambda else "sqlite")).lower()
    if store not in ("sqlite", "dynamodb"):
        raise ConfigError(f"LABELBOT_STORE must be sqlite (the default) or dynamodb, got {value!r}")
    if on_lambda and store != "dynamodb":
        raise ConfigError("LABELBOT_STORE must be dynamodb on AWS Lambda: a SQLite file would live in one instance")
    return store


def _dynamodb_tables(get) -> dict[str, str]:
    tables = {}
    for logical, variable in DYNAMODB_TABLE_VARIABLES.items():
        name = get(variable)
        if name is None:
            raise ConfigError(f"{variable} is not set: LABELBOT_STORE=dynamodb needs the {logical} table's name")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", name):
            raise ConfigError(f"{variable} must be a DynamoDB table name (3-255 of A-Z a-z 0-9 _ - .), got {name!r}")
        tables[logical] = name
    return tables


def default_workers(tps: float, *other_tps: float) -> int:
    """LABELBOT_WORKERS' default: enough threads to keep TPS x 1.5 s (a slow DetectLabels answer) calls in flight,
    plus 2 downloading or preparing the next images; at least 4, at most 64 (5 TPS: 10 workers, 20 TPS: 32). With
    moderation or text on by default a job holds its worker through each call, so each such API's quota (other_tps)
    gets its own threads (5 + 5 TPS: 17 workers; the 60-image burst at quota 5 took 1.24 x images/quota with 10,
    1.12 x with 20; 5 + 5 + 5: 25)."""
    return max(4, min(64, math.ceil((tps + sum(other_tps)) * 1.5) + 2))


def load_label_defaults(environ: Mapping[str, str] | None = None) -> tuple[float, int]:
    """LABELBOT_MIN_CONFIDENCE and LABELBOT_MAX_LABELS: the workspace-wide defaults a channel can override."""
    get = _reader(environ)
    return (
        _number(get, "LABELBOT_MIN_CONFIDENCE", 75.0, 0.0, 100.0),
        _int(get, "LABELBOT_MAX_LABELS", 5, 1, 20),
    )


def load_moderation_frames(environ: Mapping[str, str] | None = None) -> int:
    """LABELBOT_MODERATION_FRAMES: how many frames of an animation moderation checks at most (1-50; 1: the first)."""
    return _int(_reader(environ), "LABELBOT_MODERATION_FRAMES", DEFAULT_MODERATION_FRAMES, 1, 50)


def load_moderation_threshold(environ: Mapping[str, str] | None = None) -> float:
    """LABELBOT_MODERATION_MIN_CONFIDENCE: the workspace-wide moderation threshold a channel can override."""
    return _number(_reader(environ), "LABELBOT_MODERATION_MIN_CONFIDENCE", 60.0, 0.0, 100.0)


def load_text_min_confidence(environ: Mapping[str, str] | None = None) -> float:
    """LABELBOT_TEXT_MIN_CONFIDENCE: the confidence a line of text needs to be repeated and indexed."""
    return _number(_reader(environ), "LABELBOT_TEXT_MIN_CONFIDENCE", 80.0, 0.0, 100.0)


def load_text_engine(environ: Mapping[str, str] | None = None, *, on_lambda: bool = False) -> str:
    """LABELBOT_TEXT_ENGINE. `local` needs the local reader installed (the `ocr` extra, which ./run.sh installs);
    checked here except on Lambda, where only LabelFunction's image has it and EventsFunction never reads."""
    engine = _choice("LABELBOT_TEXT_ENGINE", _reader(environ)("LABELBOT_TEXT_ENGINE"), TEXT_ENGINES)
    if engine == "local" and not on_lambda:
        from bot.local_text import local_engine_installed

        if not local_engine_installed():
            raise ConfigError(
                "LABELBOT_TEXT_ENGINE is local, but the local text reader isn't installed: install labelbot with "
                "its ocr extra (pip install '.[ocr]'; ./run.sh does)"
            )
    return engine


def load_language(environ: Mapping[str, str] | None = None) -> str:
    """LABELBOT_LANGUAGE: the workspace's language, what the bot speaks where a channel or person didn't choose."""
    return _choice("LABELBOT_LANGUAGE", _reader(environ)("LABELBOT_LANGUAGE"), tuple(LANGUAGES))


def load_translate(environ: Mapping[str, str] | None = None) -> bool:
    """LABELBOT_TRANSLATE: on (the default) translates a label name the language's label table lacks with Amazon
    Translate, once (bot.label_translation); off shows its English name."""
    return _choice("LABELBOT_TRANSLATE", _reader(environ)("LABELBOT_TRANSLATE"), ("on", "off")) == "on"


def _reader(environ: Mapping[str, str] | None):
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        return env.get(name, "").strip() or None

    return get


def _user_ids(value: str | None) -> frozenset[str]:
    ids = frozenset((value or "").replace(",", " ").split())
    for user_id in ids:
        if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user_id):
            raise ConfigError(f"LABELBOT_ADMINS lists Slack user IDs such as U012AB3CD, got {user_id!r}")
    return ids


def _existing_file(name: str, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        raise ConfigError(f"{name} is {value!r}, which is not a readable file")
    return path


def _not_placeholder(name: str, value: str) -> None:
    if "..." in value or "…" in value or value.endswith("-"):
        raise ConfigError(f"{name} is still the placeholder from .env.example; paste the real token")


def _db_path(value: str | None) -> Path:
    path = Path(value or "./labelbot.sqlite3")
    folder = path.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise ConfigError(f"LABELBOT_DB is {str(path)!r}, but the folder {str(folder)!r} is missing or not writable")
    return path


def _slack_api_url(value: str | None) -> str:
    if value is None:
        return DEFAULT_SLACK_API_URL
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL such as {DEFAULT_SLACK_API_URL}, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _number(get, name: str, default: float, low: float, high: float) -> float:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise ConfigError(f"{name} must be a number from {low:g} to {high:g}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low:g} to {high:g}, got {raw}")
    return value


def _int(get, name: str, default: int, low: int, high: int) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}, got {value}")
    return value


def _optional_int(get, name: str, low: int, high: int) -> int | None:
    """A whole number from low to high, or None when unset."""
    return None if get(name) is None else _int(get, name, low, low, high)


def _log_format(value: str | None) -> str:
    log_format = (value or "text").lower()
    if log_format not in ("text", "json"):
        raise ConfigError(f"LOG_FORMAT must be text (the default) or json, got {value!r}")
    return log_format


def _log_level(value: str | None) -> str:
    level = (value or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
    return level
