"""Emoji tags end to end: with tags on, the image message gets reactions; their failures never cost the reply."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.emoji_tags import EmojiMap
from bot.pipeline import Pipeline
from bot.reactions import ReactionQueue
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides
from tests.conftest import both_runtimes, fixture_bytes, slack_rate_limits
from tests.slack_requests import file_share_event, next_ts

# Each behaviour below also holds on AWS Lambda, and within Slack's rate limits (tests/conftest.py).
pytestmark = [both_runtimes, slack_rate_limits()]

# Rekognition's shape for a Labrador next to a pizza on a laptop: the breed is tagged through its parent Dog.
DOG_PIZZA_LAPTOP = [
    {"Name": "Labrador Retriever", "Confidence": 98.1, "Parents": [{"Name": n} for n in ("Animal", "Dog", "Pet")]},
    {"Name": "Dog", "Confidence": 97.5, "Parents": [{"Name": "Animal"}, {"Name": "Pet"}]},
    {"Name": "Pizza", "Confidence": 95.2, "Parents": [{"Name": "Food"}]},
    {"Name": "Food", "Confidence": 94.0, "Parents": []},
    {"Name": "Laptop", "Confidence": 90.3, "Parents": [{"Name": "Computer"}, {"Name": "Electronics"}]},
]


def photo(fake_slack, file_id="F_CAT") -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), f"{file_id}.jpg", "image/jpeg", "jpg")


def start_tagging(start_bot, channel="C0001", **env):
    bot = start_bot(**env)
    bot.services.stores.settings.save_overrides(channel, ChannelOverrides(tags=True))
    return bot


def reaction_attempts(fake_slack) -> list[dict]:
    """Every reactions.add the bot sent, failed ones included."""
    return [c.args for c in fake_slack.calls if c.method == "reactions.add"]


def wait_for_attempts(fake_slack, count: int, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(reaction_attempts(fake_slack)) < count:
        assert time.monotonic() < deadline, f"expected {count} reactions.add, got {reaction_attempts(fake_slack)}"
        time.sleep(0.01)
    return reaction_attempts(fake_slack)


def test_with_tags_on_the_image_message_gets_the_emoji_of_its_labels(start_bot, fake_slack, aws_env):
    bot = start_tagging(start_bot)
    event = file_share_event("C0001", [photo(fake_slack)], thread_ts=next_ts())  # posted inside a thread

    bot.post_event(event)

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Cat 99.2%")
    [reaction] = fake_slack.wait_for_calls("reactions.add", 1)
    # The fake's labels are Cat, Kitten, Pet, Animal, Whiskers: Kitten and Whiskers tag through Cat, Pet and
    # Animal are too broad to be in the map, so one emoji; on the image message itself, not the thread.
    assert (reaction["channel"], reaction["timestamp"], reaction["name"]) == ("C0001", event["ts"], "cat")
    assert fake_slack.reactions("C0001", event["ts"]) == ["cat"]
    assert reaction["timestamp"] != event["thread_ts"]


def test_at_most_three_emoji_most_confident_first_parents_counting(start_bot, fake_slack, aws_env):
    aws_env.labels = list(DOG_PIZZA_LAPTOP)
    bot = start_tagging(start_bot)
    event = file_share_event("C0001", [photo(fake_slack)])

    bot.post_event(event)

    fake_slack.wait_for_posts(1)
    fake_slack.wait_for_calls("reactions.add", 3)
    assert fake_slack.reactions("C0001", event["ts"]) == ["dog", "pizza", "fork_and_knife"]


def test_a_message_with_several_images_gets_the_union_of_their_emoji_once(start_bot, fake_slack, aws_env):
    aws_env.labels = list(DOG_PIZZA_LAPTOP)
    bot = start_tagging(start_bot)
    event = file_share_event("C0001", [photo(fake_slack, "F1"), photo(fake_slack, "F2")])

    bot.post_event(event)

    fake_slack.wait_for_posts(1)
    fake_slack.wait_for_calls("reactions.add", 3)
    assert fake_slack.reactions("C0001", event["ts"]) == ["dog", "pizza", "fork_and_knife"]
    assert len(reaction_attempts(fake_slack)) == 3  # the second image's identical emoji were not sent again


def test_no_reactions_when_tags_are_off(start_bot, fake_slack, aws_env):
    # One worker: the first message is done (reactions included) before the second one starts.
    bot = start_bot(LABELBOT_WORKERS="1")
    bot.services.stores.settings.save_overrides("C0002", ChannelOverrides(tags=True))
    untagged = file_share_event("C0001", [photo(fake_slack, "F1")])
    tagged = file_share_event("C0002", [photo(fake_slack, "F2")])

    bot.post_event(untagged)
    fake_slack.wait_for_posts(1)
    bot.post_event(tagged)
    fake_slack.wait_for_posts(2)
    fake_slack.wait_for_calls("reactions.add", 1)

    assert [(c["channel"], c["timestamp"]) for c in reaction_attempts(fake_slack)] == [("C0002", tagged["ts"])]


def test_images_that_could_not_be_labelled_get_no_reactions(start_bot, fake_slack, aws_env):
    bot = start_tagging(start_bot, LABELBOT_WORKERS="1")
    broken = fake_slack.add_file("F_BROKEN", fixture_bytes("cat.jpg")[:4000], "broken.jpg", "image/jpeg", "jpg")
    first = file_share_event("C0001", [broken])
    second = file_share_event("C0001", [photo(fake_slack)])

    bot.post_event(first)
    [explanation] = fake_slack.wait_for_posts(1)
    bot.post_event(second)
    fake_slack.wait_for_calls("reactions.add", 1)

    assert "damaged" in explanation["text"]
    assert [c["timestamp"] for c in reaction_attempts(fake_slack)] == [second["ts"]]


def test_already_reacted_and_invalid_name_skip_one_emoji_and_the_rest_go_on(start_bot, fake_slack, aws_env, caplog):
    aws_env.labels = list(DOG_PIZZA_LAPTOP)
    fake_slack.fail_next("reactions.add", error="already_reacted")
    fake_slack.fail_next("reactions.add", error="invalid_name")
    bot = start_tagging(start_bot)
    event = file_share_event("C0001", [photo(fake_slack)])

    bot.post_event(event)

    [post] = fake_slack.wait_for_posts(1)
    assert post["text"].startswith("Labrador Retriever 98.1%")
    fake_slack.wait_for_calls("reactions.add", 1)
    assert [c["name"] for c in reaction_attempts(fake_slack)] == ["dog", "pizza", "fork_and_knife"]
    assert fake_slack.reactions("C0001", event["ts"]) == ["fork_and_knife"]
    [warning] = [r for r in caplog.records if "no emoji" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert ":pizza:" in warning.getMessage() and "shipped map" in warning.getMessage()
    assert bot.services.stores.queue.queue_stats().depth == 0


def test_an_invalid_name_from_an_override_map_names_the_variable(start_bot, fake_slack, aws_env, caplog, tmp_path):
    custom = tmp_path / "emoji.txt"
    custom.write_text("Cat: our_cat\n")
    fake_slack.fail_next("reactions.add", error="invalid_name")
    bot = start_tagging(start_bot, LABELBOT_EMOJI_MAP=str(custom))

    bot.post_event(file_share_event("C0001", [photo(fake_slack)]))

    fake_slack.wait_for_posts(1)
    wait_for_attempts(fake_slack, 1)
    deadline = time.monotonic() + 5
    while not (warnings := [r for r in caplog.records if "no emoji" in r.getMessage()]):  # logged after the answer
        assert time.monotonic() < deadline
        time.sleep(0.01)
    [warning] = warnings
    assert ":our_cat:" in warning.getMessage() and "LABELBOT_EMOJI_MAP" in warning.getMessage()


def test_a_rate_limited_reaction_is_retried_after_retry_after(start_bot, fake_slack, aws_env):
    fake_slack.fail_next("reactions.add", status=429, error="ratelimited", headers={"Retry-After": "0"})
    bot = start_tagging(start_bot)
    event = file_share_event("C0001", [photo(fake_slack)])

    bot.post_event(event)

    fake_slack.wait_for_posts(1)
    fake_slack.wait_for_calls("reactions.add", 1)
    assert len(reaction_attempts(fake_slack)) == 2
    assert fake_slack.reactions("C0001", event["ts"]) == ["cat"]


def test_reactions_still_rate_limited_after_the_clients_retries_are_waited_out_not_dropped(
    start_bot, fake_slack, aws_env, caplog
):
    caplog.set_level(logging.INFO, logger="bot.reactions")
    aws_env.labels = list(DOG_PIZZA_LAPTOP)
    for _ in range(4):  # the first try and slack_sdk's three retries
        fake_slack.fail_next("reactions.add", status=429, error="ratelimited", headers={"Retry-After": "0"})
    bot = start_tagging(start_bot, LABELBOT_WORKERS="1")
    event = file_share_event("C0001", [photo(fake_slack, "F1")])
    later = file_share_event("C0001", [photo(fake_slack, "F2")])

    bot.post_event(event)
    bot.post_event(later)
    fake_slack.wait_for_posts(2)
    fake_slack.wait_for_calls("reactions.add", 6)

    assert fake_slack.reactions("C0001", event["ts"]) == ["dog", "pizza", "fork_and_knife"]  # the fifth try of :dog:
    assert fake_slack.reactions("C0001", later["ts"]) == ["dog", "pizza", "fork_and_knife"]
    assert [c["name"] for c in reaction_attempts(fake_slack) if c["timestamp"] == event["ts"]][:5] == ["dog"] * 5
    assert not [r for r in caplog.records if "stopped tagging" in r.getMessage()]
    assert [r for r in caplog.records if "reactions.add is rate limited" in r.getMessage()]


def test_errors_about_the_message_stop_its_tagging_quietly(start_bot, fake_slack, aws_env, caplog):
    caplog.set_level(logging.INFO, logger="bot.reactions")
    aws_env.labels = list(DOG_PIZZA_LAPTOP)
    bot = start_tagging(start_bot, LABELBOT_WORKERS="1")
    events = []
    for number, error in enumerate(["message_not_found", "too_many_reactions", "not_in_channel", "missing_scope"]):
        fake_slack.fail_next("reactions.add", error=error)
        events.append(file_share_event("C0001", [photo(fake_slack, f"F{number}")]))
        bot.post_event(events[-1])
        fake_slack.wait_for_posts(number + 1)
    bot.post_event(file_share_event("C0001", [photo(fake_slack, "F_LAST")]))
    fake_slack.wait_for_posts(5)
    fake_slack.wait_for_calls("reactions.add", 3)

    # One attempt for each message whose first reaction failed so, and the next message is tagged as usual.
    assert [c["timestamp"] for c in reaction_attempts(fake_slack)][:4] == [e["ts"] for e in events]
    stopped = {r.getMessage().rsplit(": ", 1)[1]: r.levelname for r in caplog.records if "stopped tagging" in r.msg}
    assert stopped == {
        "message_not_found": "INFO",
        "too_many_reactions": "INFO",
        "not_in_channel": "WARNING",
        "missing_scope (the app needs the reactions:write scope)": "WARNING",
    }


# ---- the pipeline step alone, for images with different labels ---------------------------------------------


class RecordingSlack:
    def __init__(self, fail: Exception | None = None) -> None:
        self.reactions: list[tuple[str, str, str]] = []
        self.fail = fail

    def reactions_add(self, *, channel: str, timestamp: str, name: str) -> dict:
        if self.fail is not None:
            raise self.fail
        self.reactions.append((channel, timestamp, name))
        return {"ok": True}


def tag_now(slack, channel: str, message_ts: str, results: list[ImageResult], threshold: float) -> None:
    """Pipeline.add_reactions (which needs only the Slack client and the map), then its queue's emoji added here."""
    reactions = ReactionQueue(slack, background=False)
    pipeline = Pipeline(
        stores=None,
        slack=slack,
        downloader=None,
        analysis=None,
        defaults=None,
        emoji_map=EmojiMap.load(),
        reactions=reactions,
        review=None,
        limit_notices=None,
    )
    pipeline.add_reactions(channel, message_ts, results, threshold)
    reactions.drain()


def test_each_image_adds_up_to_three_emoji_to_the_message():
    slack = RecordingSlack()
    results = [
        ImageResult("F1", "a.jpg", labels=(Label("Dog", 99), Label("Pizza", 98), Label("Car", 97), Label("Tree", 96))),
        ImageResult("F2", "b.jpg", labels=(Label("Car", 99), Label("Beach", 98), Label("Bicycle", 80))),
        ImageResult("F3", "c.jpg", error="I couldn't read this image."),
        ImageResult("F4", "d.pdf", skipped=True),
        ImageResult("F5", "e.jpg", labels=(Label("Cat", 70),)),  # under the threshold
    ]

    tag_now(slack, "C1", "1.000100", results, threshold=75)

    assert [name for _, _, name in slack.reactions] == ["dog", "pizza", "car", "beach_with_umbrella", "bike"]
    assert {(channel, ts) for channel, ts, _ in slack.reactions} == {("C1", "1.000100")}


def test_an_unexpected_failure_while_tagging_is_logged_not_raised(caplog):
    slack = RecordingSlack(fail=ConnectionResetError("connection reset"))

    with caplog.at_level(logging.ERROR):
        tag_now(slack, "C1", "1.2", [ImageResult("F1", "a.jpg", (Label("Dog", 99),))], 75)

    assert any("tagging message 1.2 in C1 failed" in r.getMessage() for r in caplog.records)


def rate_limited_error(retry_after: str) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="reactions.add",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": retry_after},
        status_code=429,
    )
    return SlackApiError("ratelimited", response)


def test_stopping_in_a_long_retry_after_gives_up_within_its_time_and_says_what_was_left(caplog):
    slack = RecordingSlack(fail=rate_limited_error("600"))  # as past the client's own retries
    queue = ReactionQueue(slack)
    queue.add("C1", "1.1", ["dog", "pizza"])
    queue.add("C1", "1.2", ["cat"])
    deadline = time.monotonic() + 5
    while queue.waiting != 1:  # the thread took the first message and waits out its 429
        assert time.monotonic() < deadline
        time.sleep(0.01)

    started = time.monotonic()
    queue.stop(0.2)

    assert time.monotonic() - started < 1.5
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "stopped before tagging message 1.1 in C1" in messages
    assert "stopping with 1 emoji reaction(s) not added" in messages
    assert slack.reactions == []
