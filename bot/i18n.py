"""Pure: one place for words. Each language labelbot speaks: its sentences, its label names, and how it writes
numbers, percentages, dates and lists.

A sentence's English text is its message id (gettext's convention). `bot/locales/<lang>/LC_MESSAGES/labelbot.po`
holds a language's translations, compiled beside it to `labelbot.mo` (read with the standard library's gettext;
`scripts/catalogues.sh` extracts, merges and compiles them with Babel). Label names come from
`bot/locales/<lang>/labels.tsv`. Code takes a `Words` (by convention `tr`) as an argument, chosen per request: the
channel's language for what goes to a channel, the reader's for what goes to one person; nothing here is global
but the loaded catalogues. Placeholders are named (`%(name)s`) so a translation may put them in any order.
"""

from __future__ import annotations

import calendar
import functools
import gettext
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

LOCALES = Path(__file__).parent / "locales"
DOMAIN = "labelbot"
DEFAULT_LANGUAGE = "en"
# The languages labelbot speaks, each named in itself (as /labels status and the help show them).
LANGUAGES: Mapping[str, str] = {"en": "English", "ja": "日本語"}
LABEL_TABLE = "labels.tsv"


def N_(message: str) -> str:
    """Marks a sentence kept in a constant for the catalogue; it is translated where it is shown: `tr(CONSTANT)`."""
    return message


class Sentence(str):
    """A sentence said now in English and kept to be said again in a reader's language: it is the English text (a
    str: logs, comparisons and old records need nothing else), and keeps its message id and placeholder values.
    `Sentence("This image has no pixels.")`, `Sentence("Slack answered HTTP %(status)s.", status=404)`; marked for the
    catalogue like tr()."""

    message: str
    params: dict[str, object]

    def __new__(cls, message: str, /, **params: object) -> Sentence:
        said = super().__new__(cls, message % params)
        said.message, said.params = message, params
        return said

    @staticmethod
    def of(exc: BaseException) -> str:
        """The reason an exception gives (raised with a Sentence, it is that Sentence; else its English str)."""
        return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], Sentence) else str(exc)

    def __reduce__(self):  # pickled (to and from the labelling process) with its id and values, not its English
        return _sentence, (self.message, self.params)


def _sentence(message: str, params: dict[str, object]) -> Sentence:
    return Sentence(message, **params)


class Words:
    """One language's sentences, label names and formats."""

    def __init__(self, language: str, translations: gettext.NullTranslations, labels: Mapping[str, str]) -> None:
        self.language = language
        self._translations = translations
        self._labels = labels

    def __call__(self, message: str, /, **params: object) -> str:
        """The sentence in this language, its %(name)s placeholders filled (a literal percent sign is written %%)."""
        return self._translations.gettext(message) % params

    def stored(self, text: str) -> str:
        """A sentence kept as its English text (a stored result's reason): the catalogue's translation of it if it
        has one, else as it is. Nothing is filled in."""
        return self._translations.gettext(text)

    def said(self, text: str) -> str:
        """A reason kept from earlier (an image's error, stored with its result) in this language: a Sentence with
        its values filled in again (a value that is a Sentence said too); a plain str (stored before sentences were
        kept) as stored() says it."""
        if isinstance(text, Sentence):
            return self(
                text.message, **{k: self.said(v) if isinstance(v, Sentence) else v for k, v in text.params.items()}
            )
        return self.stored(text)

    def with_labels(self, names: Mapping[str, str]) -> Words:
        """These Words with more label names (those the table lacks, translated since): the table's still win."""
        if not names:
            return self
        return Words(self.language, self._translations, {**names, **self._labels})

    def plural(self, singular: str, plural: str, count: int, /, **params: object) -> str:
        """The sentence for `count` things (its %(count)s filled with the number as this language writes it)."""
        text = self._translations.ngettext(singular, plural, count)
        return text % {"count": self.number(count), **params}

    def label(self, name: str) -> str:
        """A Rekognition label's name in this language (its English name where the table has none)."""
        return self._labels.get(name, name)

    def has_label(self, name: str) -> bool:
        """Whether this language names the label (its table, or with_labels' names): else label() is the English."""
        return name in self._labels

    def number(self, value: int) -> str:
        return f"{value:,}"

    def percent(self, value: float) -> str:
        """99.2%, 90% (a whole number without its .0)."""
        return f"{value:.1f}%" if value % 1 else f"{value:.0f}%"

    def date(self, epoch: float) -> str:
        """A day, UTC: 7 Dec 2026, 2026年12月7日."""
        day = time.gmtime(epoch)
        if self.language == "ja":
            return f"{day.tm_year}年{day.tm_mon}月{day.tm_mday}日"
        return f"{day.tm_mday} {time.strftime('%b', day)} {day.tm_year}"

    def month(self, year: int, month: int) -> str:
        """A calendar month: December 2026, 2026年12月."""
        if self.language == "ja":
            return f"{year}年{month}月"
        return f"{calendar.month_name[month]} {year}"

    def join(self, items: Iterable[str]) -> str:
        """Items of a sentence's list: a, b, c; a、b、c."""
        return ("、" if self.language == "ja" else ", ").join(items)

    def and_join(self, items: Iterable[str]) -> str:
        """Things a sentence names together: a, b and c; a、b、c."""
        items = list(items)
        if self.language == "ja" or len(items) < 2:
            return self.join(items)
        return ", ".join(items[:-1]) + " and " + items[-1]

    def __repr__(self) -> str:
        return f"Words({self.language!r})"


def words_for(language: str | None) -> Words:
    """The Words of a language labelbot speaks (an unknown or missing one: English), loaded once per process."""
    return _load(language if language in LANGUAGES else DEFAULT_LANGUAGE)


@functools.cache
def _load(language: str) -> Words:
    if language == DEFAULT_LANGUAGE:  # the message ids are the English sentences
        return Words(DEFAULT_LANGUAGE, gettext.NullTranslations(), {})
    with open(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as catalogue:
        translations = gettext.GNUTranslations(catalogue)
    return Words(language, translations, read_label_table(LOCALES / language / LABEL_TABLE))


ENGLISH = words_for(DEFAULT_LANGUAGE)


def label_translations(name: str) -> tuple[str, ...]:
    """A label's name in every other language labelbot speaks (those its tables have): what the tag index keeps
    beside the English, so `/labels find 猫` finds a cat in any channel."""
    return tuple(
        dict.fromkeys(
            translated
            for language in LANGUAGES
            if language != DEFAULT_LANGUAGE and (translated := words_for(language).label(name)) != name
        )
    )


def read_label_table(path: Path) -> dict[str, str]:
    """A label table: `English<TAB>translation` a line; blank lines and lines starting with # are skipped."""
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        english, _, translated = line.partition("\t")
        table[english.strip()] = translated.strip()
    return table


def language_of_locale(locale: object) -> str | None:
    """The language labelbot speaks for a Slack user's locale (users.info's `locale`, e.g. ja-JP), else None."""
    if not isinstance(locale, str):
        return None
    language = locale.replace("_", "-").split("-", 1)[0].lower()
    return language if language in LANGUAGES else None


def choose_language(value: str | None) -> str | None:
    """A language code typed by someone (ja, JA, ja-JP, 日本語, english), or None if labelbot doesn't speak it."""
    if value is None:
        return None
    typed = value.strip()
    for code, name in LANGUAGES.items():
        if typed.lower() in (code, name.lower()):
            return code
    return language_of_locale(typed)
