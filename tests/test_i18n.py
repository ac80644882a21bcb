"""bot/i18n.py and its catalogues: every sentence the code marks has a Japanese translation with the same
placeholders, the compiled catalogues are those of the .po files, the label table is sound, and a reply reads in the
channel's language."""

from __future__ import annotations

import io
import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.emoji_tags import parse_map
from bot.i18n import DOMAIN, LANGUAGES, LOCALES, choose_language, language_of_locale, read_label_table, words_for
from bot.render import HELD_LINE, ImageResult, Label, render_reply
from bot.screen_text import parse_text_labels
from bot.settings import ChannelSettings

ROOT = Path(__file__).parent.parent
# What scripts/catalogues.sh extracts: tr("..."), tr.plural("...", "...", n) and N_("...").
KEYWORDS = {"tr": None, "plural": (1, 2), "N_": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
LONE_PERCENT = re.compile(r"(?<!%)%(?![(%])")  # every sentence is filled in: a percent sign is written %%
JAPANESE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")  # kana, kanji, CJK punctuation
TRANSLATED = [code for code in LANGUAGES if code != "en"]


def catalogue(language: str):
    with open(LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po", "rb") as po:
        return read_po(po)


def marked_sentences() -> set[str]:
    """Every message id the code marks, as Babel extracts them."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        ROOT / "bot", method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_marked_sentence_is_translated_with_the_same_placeholders(language):
    messages = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalogue(language) if m.id}
    marked = marked_sentences()
    assert len(marked) >= 5
    assert marked - set(messages) == set(), "run scripts/catalogues.sh, then translate what it added"
    for sentence in marked:
        message = messages[sentence]
        assert "fuzzy" not in message.flags, f"check the changed sentence {sentence!r}"
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {sentence!r}"
        assert not any(LONE_PERCENT.search(i) for i in ids), f"write a percent sign %% in {sentence!r}"
        wanted = set().union(*(set(PLACEHOLDER.findall(i)) for i in ids))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == wanted, f"{sentence!r} -> {string!r}"
            assert not LONE_PERCENT.search(string), string
            if language == "ja":
                assert JAPANESE.search(string), f"not Japanese: {string!r}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_shipped_mo_is_the_po_compiled(language):
    compiled = io.BytesIO()
    write_mo(compiled, catalogue(language))
    shipped = (LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo").read_bytes()
    assert shipped == compiled.getvalue(), "run scripts/catalogues.sh compile"


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_label_table_has_each_label_once_and_a_name_for_each(language):
    path = LOCALES / language / "labels.tsv"
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and line[0] != "#"]
    english = [row.split("\t")[0] for row in rows]
    assert len(english) == len(set(english)), [name for name in english if english.count(name) > 1]
    assert all(row.count("\t") == 1 and row.split("\t")[1].strip() for row in rows)
    table = read_label_table(path)
    assert table["Cat"] == "猫" and table["Screenshot"] == "スクリーンショット"


# Labels Rekognition itself treats as one (an alias, or a name its older models used): the only ones sharing a name.
SYNONYMS = [
    {"Person", "Human"},
    {"Sea", "Ocean"},
    {"Clothes Iron", "Iron"},
    {"Lightbulb", "Light Bulb"},
    {"White Board", "Whiteboard"},
    {"Mobile Phone", "Cell Phone"},
    {"TV", "Television"},
    {"Webpage", "Web Page"},
    {"Necktie", "Tie"},
    {"Sport", "Sports"},
]


def test_the_japanese_label_table_covers_the_bots_own_lists_and_the_common_labels_each_with_its_own_name():
    table = read_label_table(LOCALES / "ja" / "labels.tsv")
    assert len(table) >= 1000
    known = {name.lower() for name in table}
    emoji_map = parse_map((ROOT / "bot" / "emoji_map.txt").read_text(encoding="utf-8"), "emoji_map.txt")
    text_labels = parse_text_labels((ROOT / "bot" / "text_labels.txt").read_text(encoding="utf-8"), "text_labels")
    assert {name.lower() for name in emoji_map} - known == set() and set(text_labels) - known == set()
    categories = ("Animals and Pets", "Food and Beverage", "Technology and Computing", "Text and Documents")
    assert all(category in table for category in categories)  # Rekognition's label categories too
    shared: dict[str, set[str]] = {}
    for english, japanese in table.items():
        shared.setdefault(japanese, set()).add(english)
    assert [names for names in shared.values() if len(names) > 1 and names not in SYNONYMS] == []
    # Homonyms as Rekognition means them (by their category in its label list).
    assert (table["Crane Bird"], table["Construction Crane"], table["Seal"], table["Glasses"]) == (
        "ツル",
        "クレーン",
        "アザラシ",
        "メガネ",
    )


def test_the_catalogues_and_label_tables_are_package_data():
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bot"]
    for language in TRANSLATED:
        for path in (LOCALES / language / "labels.tsv", LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.mo"):
            assert any(path.relative_to(ROOT / "bot").match(pattern) for pattern in shipped), path


def test_words_write_numbers_dates_and_lists_as_each_language_does():
    en, ja = words_for("en"), words_for("ja")
    december_7 = 1_796_601_600  # 2026-12-07 00:00 UTC
    assert (en.date(december_7), ja.date(december_7)) == ("7 Dec 2026", "2026年12月7日")
    assert (en.percent(99.25), en.percent(90.0), ja.percent(99.2)) == ("99.2%", "90%", "99.2%")
    assert (en.join(["a", "b"]), ja.join(["猫", "犬"])) == ("a, b", "猫、犬")
    more = ("…and %(count)s more image.", "…and %(count)s more images.")
    assert (en.plural(*more, 1), en.plural(*more, 1200)) == ("…and 1 more image.", "…and 1,200 more images.")
    assert ja.plural(*more, 1200) == "…ほかに 1,200 枚の画像があります。"
    assert (en.label("Cat"), ja.label("Cat"), ja.label("Not A Label")) == ("Cat", "猫", "Not A Label")
    assert words_for("fr") is words_for("en") is words_for(None)


@pytest.mark.parametrize(
    ("typed", "language"),
    [
        ("ja", "ja"),
        ("JA", "ja"),
        ("ja-JP", "ja"),
        ("ja_JP", "ja"),
        ("日本語", "ja"),
        ("English", "en"),
        ("en-GB", "en"),
    ],
)
def test_a_typed_language_or_a_slack_locale_names_one_labelbot_speaks(typed, language):
    assert choose_language(typed) == language


def test_a_language_labelbot_doesnt_speak_is_none():
    assert [choose_language(t) for t in ("fr", "fr-FR", "", "klingon")] == [None] * 4
    assert [language_of_locale(x) for x in ("ja-JP", "en-US", "de-DE", None, 42)] == ["ja", "en", None, None, None]


def test_a_reply_in_japanese_names_its_labels_in_japanese_and_nothing_in_english():
    cat = ImageResult("F1", "cat.jpg", labels=(Label("Cat", 99.2), Label("Kitten", 96.4), Label("Animal", 94.8)))
    settings = ChannelSettings(75.0, 5, language="ja")

    reply = render_reply([cat], settings)

    assert reply.text == "猫 99.2% · 子猫 96.4% · 動物 94.8%"
    assert reply.blocks[-1]["elements"][0]["text"] == (
        "Amazon Rekognition · しきい値 75% · 設定の変更は `/labels help` をご覧ください"
    )
    for english in ("Cat", "Kitten", "Animal", "threshold"):
        assert english not in str(reply.blocks)
    too_sure = render_reply([cat], ChannelSettings(99.5, 5, language="ja"))
    assert too_sure.text == "このチャンネルのしきい値（99.5%）に達したラベルはありませんでした。"
    held = render_reply([ImageResult("F2", "x.jpg", held=(("Violence", 90.0),))], settings)
    assert held.text == words_for("ja")(HELD_LINE) == "この画像は管理者の確認待ちです。"


def test_a_reply_in_english_is_as_before():
    reply = render_reply([ImageResult("F1", "cat.jpg", labels=(Label("Cat", 99.2),))], ChannelSettings(75.0, 5))
    assert reply.text == "Cat 99.2%"
    assert reply.blocks[-1]["elements"][0]["text"] == "Amazon Rekognition · threshold 75% · `/labels help` to change"
