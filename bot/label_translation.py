"""The only code that talks to Amazon Translate: label names a language's label table lacks (bot/locales/<lang>/
labels.tsv), translated once with TranslateText (English -> the language) and kept in the store (LabelTranslations,
no expiry), so each costs one call ever per language.

Just before a reply is posted (bot.pipeline), the names it shows (render.shown_labels) are looked up in one pass: the
table; then the names this process has met already; then the store (one read for all of them); then Amazon Translate
for the rest, one TranslateText per name. Names are not joined into one request: splitting the answer would rely on
Translate keeping a separator and the order, which it does not promise, and a missing name is rare and costs one
call ever. Every attempt, retries included, is paced to LABELBOT_TRANSLATE_TPS (its own RateLimiter), counted in the
month's usage with the characters it sent (never toward the Rekognition call limit) and in the metrics.

The reply never waits long and always goes out: each call has short timeouts and one retry (MAX_ATTEMPTS, botocore's
standard mode), a pass starts no attempt later than PASS_SECONDS after it began, and after a failure no call is made
for QUIET_SECONDS (those replies show the English at once). A failure (throttled past the retry, a 5xx, a timeout,
no credentials, AccessDenied...) shows the English name, is not kept (the name is tried again after the quiet), and
logs one WARNING per failure burst: the first failure since start or since a call last succeeded; the next ones,
until a call succeeds, are DEBUG lines.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from bot.i18n import DEFAULT_LANGUAGE, Words, words_for
from bot.metrics import Metrics
from bot.pricing import translate_cost
from bot.rate_limit import RateLimiter
from bot.rekognition import ACCESS_ERRORS, THROTTLING_ERRORS, attempt_outcome, retrying_client
from bot.render import ImageResult, shown_labels
from bot.settings import ChannelSettings
from bot.store import LabelTranslations, UsageCounters
from bot.usage import usage_month

log = logging.getLogger(__name__)

OPERATION = "TranslateText"
SOURCE_LANGUAGE = DEFAULT_LANGUAGE  # Rekognition names labels in English
MAX_ATTEMPTS = 2  # the first and one retry (a throttle, a 5xx, a dropped connection), botocore's backoff between
CONNECT_TIMEOUT_SECONDS = 1.0
READ_TIMEOUT_SECONDS = 2.0  # a name is a word or two: Translate answers in well under a second
# Worst case for one name: 2 x (1 + 2 s) + a backoff under 1 s. A pass stops at its first failure.
DEFAULT_TPS = 5.0  # LABELBOT_TRANSLATE_TPS (TranslateText has no fixed documented quota; its old one was 20 per pair)
PASS_SECONDS = 3.0  # no attempt starts later than this after a reply's pass began: the rest wait for a later reply
QUIET_SECONDS = 30.0  # after a failure, no call for this long: the replies meanwhile don't each wait for it to fail
MAX_TEXT_BYTES = 10_000  # TranslateText's Text, in UTF-8
THROTTLING = THROTTLING_ERRORS | {"TooManyRequestsException"}  # Translate's own throttling error (HTTP 429)


def build_translate_client(
    max_pool_connections: int = 10,
    *,
    connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
    read_timeout: float = READ_TIMEOUT_SECONDS,
):
    """Amazon Translate's client, as Rekognition's is made (bot.rekognition.aws_client): credentials and region from
    the SDKs' standard chain, the endpoint from AWS_ENDPOINT_URL_TRANSLATE if set, botocore's standard retry mode."""
    return retrying_client("translate", MAX_ATTEMPTS, max_pool_connections, connect_timeout, read_timeout)


class _PassOver(Exception):
    """Raised before an attempt is signed once its pass is out of time: nothing is sent."""


class LabelTranslator:
    """The label names of a reply in its channel's language, translating those its table lacks (see the module)."""

    def __init__(
        self,
        store: LabelTranslations,
        *,
        usage: UsageCounters | None = None,
        metrics: Metrics | None = None,
        enabled: bool = True,
        tps: float = DEFAULT_TPS,
        client=None,
        client_factory: Callable[[], object] = build_translate_client,
        clock: Callable[[], float] = time.monotonic,
        pass_seconds: float = PASS_SECONDS,
        quiet_seconds: float = QUIET_SECONDS,
    ) -> None:
        """enabled: LABELBOT_TRANSLATE (off: nothing is looked up and no call made; the English names are shown).
        client: a Translate client (tests); else client_factory() makes one at the first call. clock: monotonic
        seconds, for the pass's time and the quiet after a failure."""
        self._store = store
        self._usage = usage
        self._metrics = metrics or Metrics()
        self.enabled = enabled
        self.limiter = RateLimiter(tps)
        self._client = client
        self._client_factory = client_factory
        self._clock = clock
        self.pass_seconds = pass_seconds
        self.quiet_seconds = quiet_seconds
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], str] = {}  # (language, name) -> translation, as kept in the store
        self._failing = False  # since the last failure, no call has succeeded
        self._quiet_until = -float("inf")
        self._attempt = threading.local()  # the calling thread's attempt: its text and its pass's deadline
        if client is not None:
            self._register(client)

    def reply_words(self, results: Iterable[ImageResult], settings: ChannelSettings) -> Words:
        """The channel's Words (settings.language's) with the names of the labels the reply shows that its table
        lacks, where kept or translated now. English: nothing is looked up. Never raises: the reply goes out."""
        tr = words_for(settings.language)
        if tr.language == DEFAULT_LANGUAGE or not self.enabled:
            return tr
        try:
            return self.words_with(tr, [label.name for r in results for label in shown_labels(r, settings)])
        except Exception:
            log.exception("translating label names failed; the reply shows them in English")
            return tr

    def words_with(self, tr: Words, names: Iterable[str]) -> Words:
        """tr with those of `names` its table lacks: kept ones, and the rest translated now (in time, and while
        Amazon Translate works; those that aren't stay English, not kept, and are tried again next time)."""
        language = tr.language
        missing = [name for name in dict.fromkeys(names) if not tr.has_label(name)]
        if language == DEFAULT_LANGUAGE or not self.enabled or not missing:
            return tr
        with self._lock:
            found = {name: self._known[language, name] for name in missing if (language, name) in self._known}
        unknown = [name for name in missing if name not in found]
        if unknown:
            try:
                kept = self._store.translations(language, unknown)
            except Exception:
                log.warning("reading the kept label translations failed; the names are shown in English", exc_info=True)
                return tr.with_labels(found)
            self._remember(language, kept)
            found.update(kept)
        deadline = self._clock() + self.pass_seconds
        for name in missing:
            if name in found or not name.strip() or len(name.encode("utf-8")) > MAX_TEXT_BYTES:
                continue
            if self._clock() >= deadline or self._quiet():
                break
            text = self._translate(name, language, deadline)
            if text is None:
                break  # the others would wait for the same failure: English this time
            found[name] = text
            self._remember(language, {name: text})
            try:
                self._store.keep_translation(language, name, text)
            except Exception:  # shown now, and known to this process; another translates it again
                log.exception("keeping the translation of %r failed", name)
        return tr.with_labels(found)

    def _translate(self, name: str, language: str, deadline: float) -> str | None:
        """The name in the language, or None (failed, or out of time; nothing kept)."""
        from botocore.exceptions import ClientError, NoCredentialsError

        self._attempt.text, self._attempt.deadline = name, deadline
        started = time.perf_counter()
        try:
            client = self._get_client()
            answer = client.translate_text(Text=name, SourceLanguageCode=SOURCE_LANGUAGE, TargetLanguageCode=language)
        except _PassOver:
            log.debug("no time left to translate %r this time", name)
            return None
        except NoCredentialsError:
            self._failed("NoCredentials", access=True)
            return None
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "Unknown")
            self._failed(code, access=code in ACCESS_ERRORS)
            return None
        except Exception as exc:  # a timeout, no connection (BotoCoreError), no region: the reply goes out anyway
            self._failed(type(exc).__name__)
            return None
        finally:
            self._attempt.text = None
            self._metrics.observe("stage_seconds", time.perf_counter() - started, stage=OPERATION)
        text = str(answer.get("TranslatedText") or "").strip()
        if not text:
            self._failed("EmptyTranslation")
            return None
        self._succeeded()
        return text

    def _get_client(self):
        with self._lock:
            if self._client is None:
                self._client = self._client_factory()
                self._register(self._client)
            return self._client

    def _register(self, client) -> None:
        events = client.meta.events
        events.register(f"before-sign.translate.{OPERATION}", self._pace)
        events.register(f"before-send.translate.{OPERATION}", self._sending)
        events.register(f"needs-retry.translate.{OPERATION}", self._attempted)

    def _pace(self, **_kwargs) -> None:
        """Before each attempt is signed (retries too): wait for the pace, unless the pass is out of time."""
        self.limiter.acquire()
        if self._clock() > getattr(self._attempt, "deadline", float("inf")):
            raise _PassOver  # through botocore (which catches no exception a before-sign handler raises): not sent

    def _sending(self, **_kwargs) -> None:
        """The attempt leaves now: the pacer counts it from now, the usage and metrics count it and its characters."""
        self.limiter.sent()
        characters = len(getattr(self._attempt, "text", None) or "")
        self._metrics.count("translate_characters", characters)
        self._metrics.count("translate_cost_usd", translate_cost(characters))
        if self._usage is not None:
            try:
                self._usage.count_translation(usage_month(time.time()), characters)
            except Exception:
                log.exception("counting a %s call in the usage failed", OPERATION)

    def _attempted(self, response=None, caught_exception=None, **_kwargs) -> None:
        self._metrics.count("translate_calls", outcome=attempt_outcome(response, caught_exception, THROTTLING))

    def _quiet(self) -> bool:
        with self._lock:
            return self._clock() < self._quiet_until

    def _failed(self, code: str, *, access: bool = False) -> None:
        """One WARNING per failure burst (see the module); the calls pause for QUIET_SECONDS. access: the credentials
        or the permission are wrong (the line says what to check)."""
        with self._lock:
            first, self._failing = not self._failing, True
            self._quiet_until = self._clock() + self.quiet_seconds
        log.log(
            logging.WARNING if first else logging.DEBUG,
            "Amazon Translate failed (%s): label names missing from the label table are shown in English, and no "
            "%s call is made for %g s%s",
            code,
            OPERATION,
            self.quiet_seconds,
            "; check the AWS credentials and the translate:TranslateText permission" if access else "",
        )

    def _succeeded(self) -> None:
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.info("Amazon Translate answers again: missing label names are translated")

    def _remember(self, language: str, translations: dict[str, str]) -> None:
        with self._lock:
            self._known.update(((language, name), text) for name, text in translations.items())


class InMemoryLabelTranslations:
    """LabelTranslations kept in this process only: for `python -m bot label`, which has no store."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, str], str] = {}

    def translations(self, language: str, names) -> dict[str, str]:
        return {name: self._kept[language, name] for name in names if (language, name) in self._kept}

    def keep_translation(self, language: str, name: str, text: str) -> None:
        self._kept[language, name] = text
