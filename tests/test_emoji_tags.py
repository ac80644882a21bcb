"""The label -> emoji map: the shipped file, overrides, which emoji tag an image, and the /labels tags text."""

from __future__ import annotations

import re
import tomllib

import pytest

from bot.config import ConfigError
from bot.emoji_tags import MAX_DESCRIBE, SHIPPED_MAP, EmojiMap
from bot.render import Label

SLACK_EMOJI_NAME = re.compile(r"[a-z0-9_+-]+")


@pytest.fixture(scope="module")
def shipped() -> EmojiMap:
    return EmojiMap.load()


def test_the_shipped_map_has_at_least_100_labels_with_valid_slack_emoji_names(shipped):
    assert len(shipped) >= 100
    for label, emoji in shipped.by_label.items():
        assert SLACK_EMOJI_NAME.fullmatch(emoji), (label, emoji)
        assert label == label.strip() and label[0].isupper(), label  # Rekognition's Title Case names
    assert shipped.source is None
    assert "shipped" in shipped.origin


def test_the_shipped_map_covers_the_common_labels(shipped):
    expected = {
        "Dog": "dog",
        "Cat": "cat",
        "Food": "fork_and_knife",
        "Car": "car",
        "Person": "bust_in_silhouette",
        "Document": "page_facing_up",
        "Whiteboard": "memo",
        "Pizza": "pizza",
        "Tree": "deciduous_tree",
        "Flower": "blossom",
        "Beach": "beach_with_umbrella",
        "Mountain": "mountain",
        "Computer": "computer",
        "Laptop": "computer",
        "Mobile Phone": "iphone",
        "Coffee Cup": "coffee",
        "Bicycle": "bike",
        "Text": "memo",
    }
    assert {label: shipped.emoji_for(label) for label in expected} == expected


def test_the_shipped_file_is_package_data():
    assert SHIPPED_MAP.name == "emoji_map.txt" and SHIPPED_MAP.is_file()
    pyproject = tomllib.loads((SHIPPED_MAP.parent.parent / "pyproject.toml").read_text())
    assert "emoji_map.txt" in pyproject["tool"]["setuptools"]["package-data"]["bot"]


def test_an_override_file_with_comments_blank_lines_and_colons_loads(tmp_path):
    path = tmp_path / "emoji.txt"
    path.write_text("# our map\n\nDog: dog\n  golden retriever :  :dog2:  # the breed\nWhiteboard:memo\n")

    emoji_map = EmojiMap.load(path)

    assert emoji_map.by_label == {"Dog": "dog", "golden retriever": "dog2", "Whiteboard": "memo"}
    assert emoji_map.emoji_for("Golden Retriever") == "dog2"
    assert "LABELBOT_EMOJI_MAP" in emoji_map.origin and str(path) in emoji_map.origin


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("Dog dog", "expected `Label: emoji_name`"),
        ("Dog:", "expected `Label: emoji_name`"),
        (": dog", "expected `Label: emoji_name`"),
        ("Dog: Dog Face", "is not a Slack emoji name"),
        ("Dog: 🐶", "is not a Slack emoji name"),
        ("cat: cat2", "already mapped on line 2"),
        ("X" * 101 + ": x", "longer than 100"),
    ],
)
def test_a_bad_line_in_the_override_file_names_the_variable_and_the_line(tmp_path, line, reason):
    path = tmp_path / "emoji.txt"
    path.write_text(f"# mine\nCat: cat\n{line}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as error:
        EmojiMap.load(path)

    message = str(error.value)
    assert message.startswith(f"LABELBOT_EMOJI_MAP ({path}) line 3:")
    assert reason in message


def test_an_unreadable_override_file_is_a_config_error(tmp_path):
    path = tmp_path / "emoji.txt"
    path.write_bytes(b"Dog: dog\n\xff\xfe")

    with pytest.raises(ConfigError, match="LABELBOT_EMOJI_MAP"):
        EmojiMap.load(path)


# ---- choose ----------------------------------------------------------------------------------------------


def test_the_most_confident_mapped_labels_win_deduplicated_and_at_most_three(shipped):
    labels = [
        Label("Laptop", 91.0),
        Label("Cat", 99.0),
        Label("Kitten", 97.0, parents=("Cat",)),  # through Cat: :cat: again, so skipped
        Label("Carpet", 96.0),  # not mapped, no parent: nothing
        Label("Pizza", 95.0),
        Label("Dog", 92.0),
    ]

    assert shipped.choose(labels, threshold=75) == ["cat", "pizza", "dog"]
    assert shipped.choose(labels, threshold=75, limit=2) == ["cat", "pizza"]
    assert shipped.choose(labels, threshold=75, limit=5) == ["cat", "pizza", "dog", "computer"]
    assert shipped.choose(labels, threshold=75, limit=0) == []


def test_only_labels_at_or_over_the_threshold_count(shipped):
    labels = [Label("Cat", 90.0), Label("Dog", 89.9), Label("Pizza", 95.5)]

    assert shipped.choose(labels, threshold=90) == ["pizza", "cat"]
    assert shipped.choose(labels, threshold=96) == []
    assert shipped.choose([], threshold=0) == []


def test_an_unmapped_label_is_tagged_through_its_nearest_mapped_parent():
    emoji_map = EmojiMap({"Dog": "dog", "Pet": "feet", "Animal": "paw_prints"})
    # Rekognition lists every ancestor, here alphabetically; its own entries tell which parent is nearest.
    labrador = Label("Labrador Retriever", 98.0, parents=("Animal", "Canine", "Dog", "Mammal", "Pet"))
    response = [
        labrador,
        Label("Dog", 60.0, parents=("Animal", "Canine", "Mammal", "Pet")),
        Label("Pet", 60.0, parents=("Animal",)),
        Label("Animal", 60.0),
    ]

    assert emoji_map.choose(response, threshold=75) == ["dog"]
    # Without the parents' own entries, Rekognition's order decides.
    assert emoji_map.choose([labrador], threshold=75) == ["paw_prints"]
    assert emoji_map.choose([Label("Lemur", 90.0, parents=("Primate", "Mammal"))], threshold=75) == []


def test_names_and_aliases_match_whatever_their_case(shipped):
    labels = [
        Label("DOG", 99.0),
        Label("Cellphone", 98.0, aliases=("Mobile Phone",)),
        Label("coffee cup", 97.0),
    ]

    assert shipped.choose(labels, threshold=50) == ["dog", "iphone", "coffee"]


def test_a_label_s_own_emoji_beats_its_parents():
    emoji_map = EmojiMap({"Pizza": "pizza", "Food": "fork_and_knife"})

    assert emoji_map.choose([Label("Pizza", 90.0, parents=("Food",))], threshold=50) == ["pizza"]
    assert emoji_map.choose([Label("Calzone", 90.0, parents=("Food",))], threshold=50) == ["fork_and_knife"]


# ---- describe --------------------------------------------------------------------------------------------


def test_describe_shows_the_whole_shipped_map_compactly_and_how_to_change_it(shipped):
    text = shipped.describe()

    assert len(text) <= MAX_DESCRIBE
    assert ":dog: Dog" in text
    assert ":computer: Computer, Laptop" in text  # grouped by emoji
    assert "more label" not in text  # every label fits
    assert all(name in text for name in shipped.by_label)
    assert "LABELBOT_EMOJI_MAP" in text
    assert "`/labels tags on`" in text


def test_describe_stays_within_slacks_limit_for_a_large_map():
    emoji_map = EmojiMap({f"Label number {i}": f"emoji_{i}" for i in range(1000)})

    text = emoji_map.describe()

    assert len(text) <= MAX_DESCRIBE
    shown = text.count(":emoji_")
    assert f"… and {1000 - shown} more labels" in text
    assert text.endswith("restart me.")


def test_describe_escapes_label_names_and_handles_an_empty_map():
    assert "a &lt;b&gt;" in EmojiMap({"a <b>": "x"}).describe()
    assert "empty" in EmojiMap({}).describe()
