"""render: labels and settings in, Block Kit and text out."""

from __future__ import annotations

from dataclasses import replace

from bot.render import SHOW_WHERE_ACTION, ImageResult, Instance, Label, labels_to_request, render_reply
from bot.settings import ChannelSettings
from tests.fakes.block_kit import Verdict, check_message

DEFAULTS = ChannelSettings(threshold=75.0, max_labels=5)
CAT = (Label("Kitten", 96.43), Label("Cat", 99.21), Label("Carpet", 61.7), Label("Pet", 95.0))


def test_labels_are_sorted_by_confidence_with_one_decimal_and_cut_at_the_threshold_and_max():
    reply = render_reply([ImageResult("F1", "cat.jpg", labels=CAT)], ChannelSettings(75.0, 2))
    assert reply.text == "Cat 99.2% · Kitten 96.4%"
    assert reply.blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "Cat 99.2% · Kitten 96.4%"}}
    assert reply.blocks[-1]["type"] == "context"


def test_no_label_over_the_threshold_says_so_and_names_it():
    reply = render_reply([ImageResult("F1", "x.png", labels=(Label("Blur", 60.0),))], ChannelSettings(92.5, 5))
    assert reply.text == "No label reached this channel's 92.5% threshold."


def test_several_images_get_a_line_each_in_posted_order_and_skipped_files_none():
    results = [
        ImageResult("F1", "a.jpg", labels=CAT),
        ImageResult("F2", "notes.txt", skipped=True),
        ImageResult("F3", "b.gif", error="This image looks damaged or incomplete, so I couldn't read it."),
    ]
    reply = render_reply(results, DEFAULTS)
    assert reply.text.split("\n") == [
        "*a.jpg*: Cat 99.2% · Kitten 96.4% · Pet 95.0%",
        "*b.gif*: This image looks damaged or incomplete, so I couldn't read it.",
    ]
    assert [b["type"] for b in reply.blocks] == ["section", "section", "context"]


def test_nothing_to_say_when_no_file_was_an_image():
    assert render_reply([ImageResult("F1", "notes.txt", skipped=True)], DEFAULTS) is None


def test_names_from_outside_cannot_become_mentions_or_links():
    results = [ImageResult("F1", "<!channel>.jpg", labels=CAT), ImageResult("F2", "<@U1|x>.png", labels=CAT)]
    text = render_reply(results, DEFAULTS).text
    assert "<!channel>" not in text and "<@U1" not in text
    assert "&lt;!channel&gt;.jpg" in text


def test_block_text_stays_within_block_kit_limits():
    many = tuple(Label("L" * 200 + str(i), 99.0 - i / 10) for i in range(20))
    reply = render_reply([ImageResult("F1", "a.jpg", labels=many)], ChannelSettings(0.0, 20))
    assert all(len(b["text"]["text"]) <= 3000 for b in reply.blocks if b["type"] == "section")
    assert slack_verdict(reply) == Verdict()


def slack_verdict(reply) -> Verdict:
    """What Slack would make of the reply as chat.postMessage's text and blocks (tests/fakes/block_kit.py)."""
    return check_message({"text": reply.text, "blocks": reply.blocks})


def test_more_images_than_a_message_has_blocks_for_share_sections_and_every_line_is_shown():
    results = [ImageResult(f"F{i}", f"photo-{i}.jpg", labels=CAT) for i in range(120)]

    reply = render_reply(results, DEFAULTS)

    assert slack_verdict(reply) == Verdict()
    assert len(reply.blocks) < 50
    sections = [b["text"]["text"] for b in reply.blocks if b["type"] == "section"]
    assert "\n".join(sections) == reply.text  # every image's line, in the order posted
    assert reply.text.split("\n")[119] == "*photo-119.jpg*: Cat 99.2% · Kitten 96.4% · Pet 95.0%"


def test_images_past_what_50_blocks_hold_are_counted_and_the_text_fallback_is_cut_at_40000_characters():
    results = [ImageResult(f"F{i}", "n" * 2900 + f"{i}.jpg", labels=CAT) for i in range(60)]

    reply = render_reply(results, DEFAULTS)

    assert slack_verdict(reply) == Verdict()
    assert len(reply.blocks) == 50
    assert reply.blocks[-2]["text"]["text"] == "…and 12 more images."  # 48 lines fit, one per section
    assert len(reply.text) == 40_000 and reply.text.endswith("…")


# ---- the text read in an image ------------------------------------------------------------------------------------

SAYS = "Error: connection refused · Retry <!channel> *now* <@U0123> <https://evil.example|click>"


def test_the_text_read_goes_under_the_images_line_literally_and_never_into_the_notification_text():
    reply = render_reply([ImageResult("F1", "shot.png", labels=CAT, text=SAYS)], DEFAULTS)

    assert [b["type"] for b in reply.blocks] == ["section", "context", "context"]
    element = reply.blocks[1]["elements"][0]
    assert element["verbatim"] is True  # Slack links no URL or channel name of the screenshot's itself
    assert element["text"] == (
        ":memo: `Error: connection refused · Retry &lt;!channel&gt; *now* &lt;@U0123&gt; "
        "&lt;https://evil.example|click&gt;`"
    )
    assert "connection" not in reply.text and "<!channel>" not in reply.text  # the fallback pings no one either
    assert slack_verdict(reply) == Verdict()


def test_each_images_text_follows_its_own_line_and_an_image_without_text_has_none():
    results = [
        ImageResult("F1", "a.png", labels=CAT, text="INVOICE 42"),
        ImageResult("F2", "b.jpg", labels=CAT),
        ImageResult("F3", "c.png", labels=CAT, text="Total $12"),
    ]

    blocks = render_reply(results, DEFAULTS).blocks

    shown = [b["text"]["text"][:7] if b["type"] == "section" else b["elements"][0]["text"] for b in blocks[:-1]]
    assert shown == ["*a.png*", ":memo: `INVOICE 42`", "*b.jpg*", "*c.png*", ":memo: `Total $12`"]


def test_a_long_text_is_clipped_to_about_300_characters_and_many_images_drop_their_text_before_their_lines():
    long_text = " ".join(f"word{i}" for i in range(200))
    single = render_reply([ImageResult("F1", "a.png", labels=CAT, text=long_text)], DEFAULTS)
    shown = single.blocks[1]["elements"][0]["text"]
    assert shown.endswith("…`") and len(shown) <= len(":memo: ``") + 300

    many = [ImageResult(f"F{i}", f"p{i}.png", labels=CAT, text="hello") for i in range(30)]
    reply = render_reply(many, DEFAULTS)
    assert slack_verdict(reply) == Verdict() and len(reply.blocks) <= 50
    assert "*p29.png*" in reply.text  # every image's line is still there, without the text lines


# ---- the Show where button ----------------------------------------------------------------------------------------

DOG = Label("Dog", 97.0, instances=(Instance(0.1, 0.2, 0.3, 0.4, 96.0),))


def test_a_reply_whose_shown_labels_have_boxes_carries_a_show_where_button_naming_the_message():
    reply = render_reply([ImageResult("F1", "dog.jpg", labels=(DOG, Label("Grass", 90.0)))], DEFAULTS, show_where="1.5")

    [actions] = [b for b in reply.blocks if b["type"] == "actions"]
    assert actions["elements"] == [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": "Show where"},
            "action_id": SHOW_WHERE_ACTION,
            "value": "1.5",
        }
    ]
    assert reply.blocks[-1]["type"] == "context" and slack_verdict(reply) == Verdict()


def test_no_button_without_a_box_among_the_labels_shown():
    boxed_but_hidden = replace(DOG, confidence=60.0)  # under the 75% threshold: not shown, so nothing to point at
    for results in (
        [ImageResult("F1", "cat.jpg", labels=CAT)],
        [ImageResult("F1", "dog.jpg", labels=(boxed_but_hidden, Label("Grass", 90.0)))],
        [ImageResult("F1", "dog.jpg", error="I couldn't label this image right now.")],
        [ImageResult("F1", "dog.jpg", held=(("Violence", 90.0),))],
    ):
        assert not [b for b in render_reply(results, DEFAULTS, show_where="1.5").blocks if b["type"] == "actions"]
    without_ts = render_reply([ImageResult("F1", "dog.jpg", labels=(DOG,))], DEFAULTS)
    assert not [b for b in without_ts.blocks if b["type"] == "actions"]


def test_with_the_button_a_reply_of_many_images_still_fits_50_blocks():
    results = [ImageResult(f"F{i}", "n" * 2900 + f"{i}.jpg", labels=(DOG,)) for i in range(60)]
    reply = render_reply(results, DEFAULTS, show_where="1.5")
    assert slack_verdict(reply) == Verdict() and len(reply.blocks) == 50
    assert [b["type"] for b in reply.blocks[-2:]] == ["actions", "context"]


def test_a_label_only_an_ancestor_of_one_shown_at_no_higher_confidence_is_folded_into_it():
    cat = (
        Label("Pet", 99.2, parents=("Animal",)),
        Label("Cat", 99.2, parents=("Pet", "Mammal", "Animal")),
        Label("Mammal", 99.2, parents=("Animal",)),
        Label("Animal", 99.2),
        Label("Kitten", 96.4, parents=("Cat",)),  # Cat's own parents are its ancestors too
        Label("Whiskers", 88.1, parents=("Cat",)),
        Label("Sofa", 80.0, parents=("Furniture",)),
        Label("Furniture", 85.0),  # more confident than Sofa: shown
    )
    image = ImageResult("F1", "cat.jpg", labels=cat)

    assert (
        render_reply([image], DEFAULTS).text
        == "Cat 99.2% · Kitten 96.4% · Whiskers 88.1% · Furniture 85.0% · Sofa 80.0%"
    )
    assert render_reply([image], ChannelSettings(75.0, 3)).text == "Cat 99.2% · Kitten 96.4% · Whiskers 88.1%"
    japanese = render_reply([image], ChannelSettings(75.0, 2, language="ja"))
    assert japanese.text == "猫 99.2% · 子猫 96.4%"
    # Every label is still the image's: what the index and emoji tags read is untouched.
    assert [label.name for label in image.labels] == [label.name for label in cat]


def test_more_labels_are_asked_of_rekognition_than_shown_so_folding_leaves_max_labels():
    assert [labels_to_request(n) for n in (1, 3, 5, 20)] == [10, 10, 15, 60]
