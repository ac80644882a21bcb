"""bot/screen_text.py, pure: reading order, the confidence floor, each credential kind hidden, the clip, and text
that Slack shows literally."""

from __future__ import annotations

import pytest
from slack_sdk.models.blocks import ContextBlock

from bot.screen_text import (
    HIDDEN,
    INDEX_GAP,
    TextDetection,
    clip_text,
    code_span,
    index_words,
    indexed_text,
    read_text,
    reading_order,
    redact,
    secret_warning,
    text_block,
    text_for_index,
    wants_text,
)


def line(text: str, left: float, top: float, *, confidence: float = 99.0, width: float = 0.3, height: float = 0.04):
    return TextDetection("LINE", text, confidence, left, top, width, height)


def test_lines_are_read_top_to_bottom_then_left_to_right():
    detections = [
        line("Total", 0.6, 0.52),  # same row as "Invoice 42", a little lower and to the right
        line("footer", 0.1, 0.9),
        line("Invoice 42", 0.1, 0.5),
        line("ACME Ltd", 0.1, 0.1),
        line("page 1", 0.7, 0.095),
    ]

    assert [d.text for d in reading_order(detections)] == ["ACME Ltd", "page 1", "Invoice 42", "Total", "footer"]


def test_only_lines_at_or_above_the_floor_are_kept_and_words_are_not_repeated():
    detections = [
        line("connection refused", 0.1, 0.1, confidence=80.0),
        TextDetection("WORD", "connection", 99.0, 0.1, 0.1, 0.1, 0.04, id=2, parent_id=1),
        line("smudge", 0.1, 0.3, confidence=79.9),
        line("  retry   in 5s ", 0.1, 0.5),
    ]

    found = read_text(detections, 80.0)

    assert found.lines == ("connection refused", "retry in 5s")
    assert found.text == "connection refused · retry in 5s"
    assert found.secrets == ()


@pytest.mark.parametrize(
    ("text", "kind", "kept"),
    [
        ("SLACK_BOT_TOKEN xoxb-1234567890-abcdefghijkl", "a Slack token", "SLACK_BOT_TOKEN "),
        ("user token xoxp-12345-67890-abcdef now", "a Slack token", "user token "),
        ("app xapp-1-A0123-456-abcdef", "a Slack token", "app "),
        ("key AKIAIOSFODNN7EXAMPLE here", "an AWS access key", "key "),
        ("ASIAY34FZKBOKMUTVV7A", "an AWS access key", ""),
        ("-----BEGIN RSA PRIVATE KEY-----", "a private key", ""),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "a private key", ""),
        ("auth eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "a JSON Web Token", "auth "),
        ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "a GitHub token", ""),
        ("gho_16C7e42F292c6912E7710c838347Ae178B4a", "a GitHub token", ""),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "a GitHub token", ""),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "a Stripe key", ""),
        ("https://hooks.slack.com/services/T000/B000/XXXXXXXX", "a Slack webhook URL", ""),
        ("postgres://admin:hunter22@db.internal/app", "a password in a URL", "postgres://"),
    ],
)
def test_each_credential_kind_is_hidden_and_named(text, kind, kept):
    redacted, kinds = redact(text)

    assert kinds == (kind,)
    assert HIDDEN in redacted
    assert redacted.startswith(kept)
    assert text not in redacted


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password=hunter22", f"password={HIDDEN}"),
        ("Password: correct-horse", f"Password: {HIDDEN}"),
        ('db_password = "s3cr3t!!"', f'db_password = "{HIDDEN}"'),
        ("API_KEY=abcd1234efgh", f"API_KEY={HIDDEN}"),
        # Japanese cues, with a full-width colon or は; full-width letters and digits are the ASCII ones
        ("パスワード：ｈｕｎｔｅｒ２２です", f"パスワード：{HIDDEN}です"),
        ("暗証番号は 4821 です", f"暗証番号は {HIDDEN} です"),
        ("パスコード=884422", f"パスコード={HIDDEN}"),
        ("トークン: abcd-efgh-1234", f"トークン: {HIDDEN}"),
        ("APIキー：a1b2c3d4", f"APIキー：{HIDDEN}"),
        ("シークレットは「s3cr3t!!」", f"シークレットは「{HIDDEN}」"),
        ("秘密鍵 = MIIEvQIBADAN", f"秘密鍵 = {HIDDEN}"),
    ],
)
def test_a_password_value_is_hidden_and_its_name_kept(text, expected):
    assert redact(text) == (expected, ("a password or secret",))


def test_ordinary_text_is_left_alone():
    text = "Error: connection refused on port 5432 · Total due: $42.00 · password reset link sent"
    assert redact(text) == (text, ())
    japanese = "パスワードは変更してください · 暗証番号を入力 · トークンの有効期限: 30日"
    assert redact(japanese) == (japanese, ())


def test_a_full_width_key_is_hidden_where_it_is_written():
    full_width_key = "キー ＡＫＩＡＩＯＳＦＯＤＮＮ７ＥＸＡＭＰＬＥ です"
    assert redact(full_width_key) == (f"キー {HIDDEN} です", ("an AWS access key",))
    assert redact("ｘｏｘｂ－１２３４５６７８９０－ａｂｃｄｅｆｇｈｉｊｋｌ") == (HIDDEN, ("a Slack token",))


def test_a_secret_split_over_two_lines_is_hidden_and_every_kind_named_once():
    detections = [
        line("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", 0.1, 0.1),
        line("password:", 0.1, 0.2),
        line("hunter22", 0.1, 0.3),
        line("also AKIAI44QH8DHBEXAMPLE", 0.1, 0.4),
    ]

    found = read_text(detections, 80.0)

    assert "AKIA" not in found.text and "hunter22" not in found.text
    assert found.secrets == ("an AWS access key", "a password or secret")
    assert secret_warning(found.secrets) == (
        ":warning: This screenshot seems to show an AWS access key and a password or secret; consider rotating "
        f"them. I replaced them with {HIDDEN} in my reply and the search index, and kept no copy."
    )


def test_the_lines_that_held_a_secret_are_told_apart_for_covering_even_one_split_over_two_lines():
    detections = [
        line("Deploy failed", 0.1, 0.1),
        line("password:", 0.1, 0.2),
        line("hunter22", 0.1, 0.3),  # the value OCR read as a line of its own: found in the joined text
        line("key AKIAIOSFODNN7EXAMPLE", 0.1, 0.4),
        line("see the runbook", 0.1, 0.5),
    ]

    found = read_text(detections, 80.0)

    assert found.boxes == tuple((0.1, top, 0.3, 0.04) for top in (0.1, 0.2, 0.3, 0.4, 0.5))
    assert found.secret_boxes == ((0.1, 0.3, 0.3, 0.04), (0.1, 0.4, 0.3, 0.04))
    assert read_text([line("nothing to hide", 0.1, 0.1)], 80.0).secret_boxes == ()


def test_the_warning_names_one_kind_and_never_a_value():
    warning = secret_warning(("a Slack token",))
    assert "a Slack token; consider rotating it." in warning
    assert "xox" not in warning


def test_the_text_is_clipped_at_a_word_with_an_ellipsis():
    text = " ".join(f"word{n}" for n in range(200))

    clipped = clip_text(text)

    assert len(clipped) <= 300
    assert clipped.endswith("…")
    assert clipped[:-1] in text and text.startswith(clipped[:-1])
    assert clipped[-2].isdigit()  # cut after a whole word
    assert clip_text("short") == "short"


@pytest.mark.parametrize(
    "shown",
    [
        "<!channel> deploy now",
        "<!here|here> and <@U0123ABCD> and <#C0123|general>",
        "@here @channel @everyone",
        "see <https://evil.example|your bank>",
        "https://evil.example/login",
        "*bold* _italic_ ~strike~ `code` :smile:",
    ],
)
def test_the_text_line_is_literal(shown):
    block = text_block(shown)

    element = block["elements"][0]
    assert element["verbatim"] is True  # Slack auto-links no URL, channel name or mention
    assert "<" not in element["text"] and ">" not in element["text"]  # no <!channel>, <@U…> or <url|label> token
    assert element["text"].startswith(":memo: `") and element["text"].endswith("`")
    assert element["text"].count("`") == 2  # the whole text inside one code span: no bold, link or emoji
    ContextBlock(**block).validate_json()


def test_an_empty_text_gives_no_span():
    assert code_span("   ") == ""


def test_the_index_takes_the_first_hundred_distinct_words_and_not_the_hidden_marker():
    text = f"Invoice invoice INVOICE {HIDDEN} total " + " ".join(f"w{n}" for n in range(150))

    words = index_words(text)

    assert words[:3] == ("invoice", "total", "w0")
    assert len(words) == 100
    assert "hidden" not in words


def test_auto_reads_text_when_a_label_or_its_parent_or_alias_is_text_bearing():
    text_labels = frozenset({"text", "screenshot", "receipt"})

    assert wants_text("auto", ["Electronics", "Screenshot"], text_labels)
    assert wants_text("auto", ["TEXT"], text_labels)  # any case
    assert not wants_text("auto", ["Cat", "Animal"], text_labels)
    assert wants_text("on", ["Cat"], text_labels)
    assert not wants_text("off", ["Text"], text_labels)


def test_the_indexed_text_is_the_prefix_holding_the_first_hundred_distinct_words():
    text = "Invoice INVOICE · " + " ".join(f"w{n}" for n in range(99)) + " invoice w0 · w99 w100 invoice"

    prefix = indexed_text(text)

    assert text.startswith(prefix) and prefix.endswith("invoice w0 ·")  # repeats of its words stay in it
    assert index_words(prefix) == index_words(text) and len(index_words(prefix)) == 100
    assert "w99" not in prefix
    assert indexed_text("a b c") == "a b c"


def test_hidden_is_no_word_of_the_indexed_text_and_breaks_phrases():
    text = f"password: {HIDDEN} " + " ".join(f"w{n}" for n in range(99)) + " w99"

    assert indexed_text(text).endswith("w98")  # password and w0-w98: [hidden] counts as no word
    assert HIDDEN not in text_for_index(text) and "hidden" not in text_for_index(text)
    assert INDEX_GAP in text_for_index(text)
