"""bot/i18n.py and its catalogues: every sentence the code marks has a Japanese translation with the same
placeholders, the compiled catalogues are those of the .po files, the label table is sound, and a reply reads in the
channel's language."""

from __future__ import annotations

import ast
import io
import re
import tomllib
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.emoji_tags import parse_map
from bot.i18n import (
    DOMAIN,
    LANGUAGES,
    LOCALES,
    Sentence,
    choose_language,
    language_of_locale,
    read_label_table,
    words_for,
)
from bot.moderation import TOP_LEVEL_OF_L2
from bot.render import HELD_LINE, ImageResult, Label, render_reply
from bot.screen_text import parse_text_labels
from bot.settings import ChannelSettings

ROOT = Path(__file__).parent.parent
# What scripts/catalogues.sh extracts: tr("..."), tr.plural("...", "...", n), N_("...") and Sentence("...").
KEYWORDS = {"tr": None, "plural": (1, 2), "N_": None, "Sentence": None}
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


# Where English that no user reads is written: SQL and DynamoDB expressions, the command line's help for operators,
# metric descriptions, and log lines (those passed to log calls are recognised anyway).
NOT_FOR_USERS = ("bot/store/", "bot/__main__.py", "bot/metrics.py", "bot/lambda_metrics.py", "bot/logs.py")
# The calls whose string arguments are for users and in the catalogue, or for operators (logs, exceptions).
MARKED_CALLS = {"tr", "plural", "N_", "Sentence"}
LOG_CALLS = {"debug", "info", "warning", "error", "exception", "critical", "log"}
# Exceptions whose message a user reads: raised with a Sentence, never a bare str.
USER_FACING_ERRORS = {
    "ImageError", "UnsupportedImage", "CorruptImage", "ImageTooLarge", "DownloadError", "FileTooLarge",
    "MissingFilesReadScope", "RekognitionError", "RekognitionBusy", "RekognitionUnavailable", "ImageRejected",
}  # fmt: skip
# English written outside the catalogue on purpose, each with whom it is for (a fragment of the string, by file).
FOR_OPERATORS = {
    "bot/aws_lambda.py": ("labelbot is misconfigured", "Not Found"),  # HTTP bodies to Slack's servers, not people
    "bot/config.py": ("the shipped text labels",),  # a ConfigError's where, at start-up
    "bot/conversations.py": ("LABELBOT_MODERATION_CHANNEL is %s",),  # log lines through a variable
    "bot/emoji_tags.py": ("the shipped emoji map", "the shipped map (bot/emoji_map.txt)", "the map in "),  # logs
    "bot/labelling_process.py": ("exit code", "killed by", "labelbot: configuration error"),  # logs, stderr
    "bot/listeners/": ("answer a ", "tell the user about"),  # what failed, for the log
    "bot/moderation.py": ("; did you mean", "Moderation (threshold", "nothing found", "Held for an admin's review",
                          "no labels, no reactions", "Not held: labelled as usual"),  # the CLI's --moderation lines
    "bot/moderation_review.py": ("moderation held file %s",),  # a log line
    "bot/oauth.py": ("<!DOCTYPE html>", "</title></head><body", "<img alt="),  # the pages' HTML around the words
    "bot/pipeline.py": ("posting the reply", "updating the reply", "reading the thread"),  # what failed, for logs
    "bot/pricing.py": ("AWS list price", "Amazon Translate list price"),  # where a price comes from (README, code)
    "bot/reactions.py": ("the emoji map", "the reactions:write scope"),  # logs
    "bot/rekognition.py": ("no AWS credentials were found", "check the credentials and the"),  # the ERROR log
    "bot/services.py": ("waiting stay queued",),  # the ERROR log when the token is refused
    "bot/slack_files.py": ("an unparsable URL",),  # logs
    "bot/upkeep.py": ("cached label answers", "cached step answers", "held images", "Show where records"),  # logs
    "bot/usage_notices.py": ("the channel's limit notice", "the admins' "),  # logs
}  # fmt: skip
ENGLISH_WORDS = re.compile(r"[A-Za-z]{2,} [A-Za-z]{2,}")


def unmarked_english(path: Path) -> list[str]:
    """The string constants (f-strings' parts too) of a module that hold English words and are neither docstrings,
    nor marked for the catalogue, nor log lines or operators' exceptions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str) and ENGLISH_WORDS.search(node.value)):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Expr):  # a docstring, or a string on its own
            continue
        while parent is not None and not isinstance(parent, ast.FunctionDef | ast.ClassDef | ast.Module):
            if isinstance(parent, ast.Call):
                name = parent.func.id if isinstance(parent.func, ast.Name) else getattr(parent.func, "attr", "")
                if name in MARKED_CALLS or name in LOG_CALLS:
                    break
                if name in USER_FACING_ERRORS:
                    found.append(f"{node.value!r} (raise {name} with a Sentence)")
                    break
            if isinstance(parent, ast.Raise):
                break
            parent = parents.get(parent)
        else:
            found.append(repr(node.value))
    return found


def test_every_sentence_a_user_reads_is_in_the_catalogue():
    """Any English in the bot's code outside tr(), N_(), Sentence() (and a log call, an operator's exception or a
    docstring) fails here, unless FOR_OPERATORS says whom else it is for."""
    leftovers = {}
    for path in sorted((ROOT / "bot").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if name.startswith(NOT_FOR_USERS):
            continue
        allowed = [f for prefix, fragments in FOR_OPERATORS.items() if name.startswith(prefix) for f in fragments]
        if name == "bot/moderation.py":  # Rekognition's taxonomy, matched; what is shown is an L1 category's name
            allowed += [repr(category) for pair in TOP_LEVEL_OF_L2.items() for category in pair]
        left = [s for s in unmarked_english(path) if not any(fragment in s for fragment in allowed)]
        if left:
            leftovers[name] = left
    assert leftovers == {}, "mark these for the catalogue (tr, N_, Sentence), or say in FOR_OPERATORS whom they're for"


def test_babel_extracts_every_sentence_the_code_marks():
    """A tr("...") Babel can't see (inside an f-string's braces) would never be translated: every marked call's
    sentence must be one the catalogue script extracts."""
    marked = set()
    for path in (ROOT / "bot").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name in KEYWORDS and isinstance(node.args[0].value, str):
                    marked.add(node.args[0].value)
    assert marked - marked_sentences() == set(), "take these out of f-strings' braces: Babel skips them there"


def test_the_coverage_check_finds_an_unmarked_sentence(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        'def f(tr, log):\n    """A docstring is fine."""\n    log.info("a log line is fine")\n'
        '    raise ImageError("Image too large")\n\n'
        'def g(tr):\n    return tr("Marked words"), "Forgotten words", f"Also {tr} forgotten here"\n'
    )
    assert sorted(unmarked_english(module)) == [
        "' forgotten here'",
        "'Forgotten words'",
        "'Image too large' (raise ImageError with a Sentence)",
    ]


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


# ---- sentences kept to be said later, and the notices said to a channel or a person -------------------------------


def test_a_reason_kept_with_its_result_is_said_again_in_the_readers_language():
    import json

    from bot.images import ImageError, prepare_for_rekognition
    from bot.store.encoding import result_from_dict, result_to_dict

    with pytest.raises(ImageError) as raised:
        prepare_for_rekognition(b"\xff\xd8\xff\xe0 not really a JPEG" * 10)
    reason = Sentence.of(raised.value)
    too_big = Sentence("This file is over %(megabytes)s MB, more than I download.", megabytes=50)
    results = [ImageResult("F1", "a.jpg", error=reason), ImageResult("F2", "b.jpg", error=too_big)]
    stored = [result_from_dict(json.loads(json.dumps(result_to_dict(r)))) for r in results]  # as both stores keep it
    settings = ChannelSettings(threshold=75.0, max_labels=5, language="ja")

    reply = render_reply(stored, settings)

    assert reply.text == (
        "*a.jpg*: この画像は破損しているか不完全なため、読み込めませんでした。\n"
        "*b.jpg*: このファイルは 50 MB を超えているため、ダウンロードしません。"
    )
    assert stored[1].error == "This file is over 50 MB, more than I download."  # its English, for logs and old code
    old = result_from_dict({"file_id": "F3", "file_name": "c.jpg", "error": "Some reason stored as text."})
    assert render_reply([old], settings).text == "Some reason stored as text."  # kept as it was written


def test_the_monthly_limit_notices_are_in_their_readers_language():
    from bot.usage_notices import admin_line, limit_reached_line

    ja = words_for("ja")
    assert limit_reached_line(1000, ja).startswith("labelbot は今月の Rekognition 呼び出し上限（1,000 回）に達したため")
    assert admin_line(80, 800, 1000, "2026-12", ja).startswith(
        "labelbot は 2026年12月（UTC）の Rekognition 呼び出しを 1,000 回中 800 回使いました"
        "（LABELBOT_MONTHLY_CALL_LIMIT の 80%）。"
    )
    assert "December 2026 (UTC), 80% of" in admin_line(80, 800, 1000, "2026-12")


def test_the_secret_warning_names_each_kind_in_the_posters_language():
    from bot.screen_text import secret_warning

    kinds = ("a Slack token", "an AWS access key")
    assert secret_warning(kinds[:1]).startswith(":warning: This screenshot seems to show a Slack token; consider rotat")
    assert "a Slack token and an AWS access key; consider rotating them. I replaced them with [hidden]" in (
        secret_warning(kinds)
    )
    assert secret_warning(kinds, words_for("ja")).startswith(
        ":warning: このスクリーンショットには「Slack のトークン、AWS のアクセスキー」が写っているようです。"
    )
    assert "[非表示]" in secret_warning(kinds, words_for("ja"))


def test_a_japanese_reply_of_many_images_stays_within_block_kit_limits_as_slack_counts_them():
    from tests.fakes.block_kit import check_message

    labels = tuple(Label(name, 99.0 - i) for i, name in enumerate(("Cat", "Kitten", "Whiskers", "Pet", "Document")))
    results = [
        ImageResult(f"F{i}", f"スクリーンショット-{i:03d}-" + "画" * 900 + ".png", labels, text="会議" * 400)
        for i in range(200)
    ]
    settings = ChannelSettings(threshold=75.0, max_labels=5, language="ja")

    reply = render_reply(results, settings, show_where="1700000000.000100")

    assert check_message({"text": reply.text, "blocks": reply.blocks}) == check_message({})  # nothing refused or cut
    shown = "\n".join(b["text"]["text"] for b in reply.blocks if b["type"] == "section")
    assert "猫 99.0%" in shown and "Cat" not in shown
    assert re.search(r"…ほかに \d+ 枚の画像があります。$", shown)  # the images that didn't fit, counted in Japanese
