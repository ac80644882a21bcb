"""The Slack text helpers every message shares (bot/mrkdwn.py)."""

from __future__ import annotations

from bot.labels_command import CommandError, parse_command
from bot.mrkdwn import clip, escape, literal, pack_lines, slack_date


def test_escape_and_clip():
    assert escape("<@U1> & <!here>") == "&lt;@U1&gt; &amp; &lt;!here&gt;"
    assert clip("abcdef", 6) == "abcdef"
    assert clip("abcdefg", 6) == "abcde…"


def test_a_literal_is_clipped_before_it_is_escaped_so_no_entity_is_cut_in_half():
    word = "x" * 58 + "&&&"

    shown = literal(word)

    assert shown == "x" * 58 + "&amp;…"
    assert literal("`rm -rf`") == "'rm -rf'"  # no way out of the inline code


def test_the_command_grammar_echoes_words_through_the_same_literal():
    parsed = parse_command("y" * 80)

    assert isinstance(parsed, CommandError)
    assert f"`{'y' * 59}…`" in parsed.message


def test_a_date_reads_in_each_readers_time_zone_optionally_linked():
    assert slack_date(1_700_000_000.9) == "<!date^1700000000^{date_short_pretty} {time}|2023-11-14 22:13 UTC>"
    assert slack_date(1_700_000_000, "https://x.slack.com/archives/C1/p1") == (
        "<!date^1700000000^{date_short_pretty} {time}^https://x.slack.com/archives/C1/p1|2023-11-14 22:13 UTC>"
    )


def test_lines_are_packed_into_as_few_texts_as_hold_them_and_the_rest_counted():
    assert pack_lines(["a" * 4, "b" * 4, "c" * 4], 9, 5) == (["aaaa\nbbbb", "cccc"], 0)
    assert pack_lines(["a" * 20, "b"], 9, 5) == (["a" * 8 + "…", "b"], 0)  # a longer line is clipped
    assert pack_lines(["x" * 8] * 5, 9, 2) == (["x" * 8, "x" * 8], 3)
