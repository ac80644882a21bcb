"""The tag index and `/labels find`: the store's search, deletions and retention, the answer's text, and the whole
path end to end (signed events in, labelled images, signed `/labels find` commands, deletions from Slack)."""

from __future__ import annotations

import re
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.render import Label
from bot.settings import Find, parse_command
from bot.store import IndexedImage
from bot.store.sqlite import SqliteStore
from bot.tag_search import MAX_ANSWER, TagSearch
from bot.upkeep import Upkeep
from tests.conftest import fixture_bytes
from tests.slack_requests import file_share_event, next_ts

DAY = 86400
NOW = time.time()
CAT = (Label("Cat", 99.2, ("Animal", "Pet")), Label("Kitten", 96.4, ("Cat",)), Label("Animal", 94.8))
TABLE = (Label("Dining Table", 98.0, ("Furniture", "Table")), Label("Chair", 90.0, ("Furniture",)))
LABRADOR = (Label("Labrador Retriever", 97.0, ("Dog", "Animal"), ("Lab",)), Label("Grass", 80.0))


def ts_at(seconds: float, n: int = 0) -> str:
    return f"{int(seconds)}.{n:06d}"


def image(labels=CAT, *, channel="C1", ts=None, file_id="F1", channel_type="channel", thread_ts=None, user="U1"):
    ts = ts or ts_at(NOW)
    return IndexedImage(channel, channel_type, ts, thread_ts or ts, file_id, user, labels)


@pytest.fixture
def store(tmp_path):
    store = SqliteStore(tmp_path / "db")
    yield store
    store.close()


def found(store, *words, channel="C1", since=None, limit=10) -> list[tuple[str, str]]:
    return [(m.message_ts, m.file_id) for m in store.search_images(words, channel_id=channel, since=since, limit=limit)]


# ---- the store ---------------------------------------------------------------------------------------------


def test_an_indexed_image_is_found_by_its_labels_parents_and_aliases_in_any_case(store):
    store.index_images([image(CAT, file_id="F_CAT"), image(TABLE, file_id="F_TABLE"), image(LABRADOR, file_id="F_LAB")])

    assert found(store, "cat") == [(ts_at(NOW), "F_CAT")]
    assert found(store, "table") == [(ts_at(NOW), "F_TABLE")]  # a word of "Dining Table"
    assert found(store, "dog") == [(ts_at(NOW), "F_LAB")]  # a parent
    assert found(store, "lab") == [(ts_at(NOW), "F_LAB")]  # an alias
    assert found(store, "cats") == found(store, "CAT") == found(store, "Kitten")  # plural and case
    assert [f for _, f in found(store, "animal")] == ["F_LAB", "F_CAT"]  # same message ts: later slot first
    assert found(store, "dining", "table") == [(ts_at(NOW), "F_TABLE")]  # every word must match
    assert found(store, "dining", "cat") == []
    assert found(store, "whiteboard") == []


def test_an_image_keeps_what_it_was_indexed_with(store):
    store.index_images([image(LABRADOR, channel_type="group", thread_ts="1.5", user="UBOB")])

    [match] = store.search_images(("dog",), channel_id="C1")

    assert match == image(LABRADOR, channel_type="group", thread_ts="1.5", user="UBOB")
    assert match.posted_at == float(ts_at(NOW))


def test_search_is_limited_to_a_channel_and_a_time_newest_first(store):
    store.index_images(
        [
            image(ts=ts_at(NOW - 10 * DAY), file_id="OLD"),
            image(ts=ts_at(NOW - 1 * DAY), file_id="NEW"),
            image(ts=ts_at(NOW - 5 * DAY), file_id="MID"),
            image(ts=ts_at(NOW - 1 * DAY), file_id="ELSEWHERE", channel="C2"),
        ]
    )

    assert [f for _, f in found(store, "cat")] == ["NEW", "MID", "OLD"]
    assert [f for _, f in found(store, "cat", since=NOW - 7 * DAY)] == ["NEW", "MID"]
    assert [f for _, f in found(store, "cat", channel="C2")] == ["ELSEWHERE"]
    assert len(found(store, "cat", channel=None)) == 4


def test_at_most_the_limit_is_returned_the_newest(store):
    store.index_images([image(ts=ts_at(NOW - n * 60), file_id=f"F{n:02d}") for n in range(25)])

    assert [f for _, f in found(store, "cat")] == [f"F{n:02d}" for n in range(10)]


def test_the_files_of_one_message_and_a_reindexed_file_are_separate_and_single(store):
    ts = ts_at(NOW, 42)
    store.index_images([image(ts=ts, file_id="F1"), image(ts=ts, file_id="F2")])
    store.index_images([image(TABLE, ts=ts, file_id="F1")])  # the same file labelled again: replaced

    assert found(store, "cat") == [(ts, "F2")]
    assert found(store, "table") == [(ts, "F1")]


def test_deleting_the_message_or_the_file_removes_its_entries(store):
    store.index_images(
        [image(ts="1.000001", file_id="F1"), image(ts="1.000001", file_id="F2"), image(ts="2.000001", file_id="F3")]
    )
    store.index_images([image(ts="3.000001", file_id="F3", channel="C2")])  # the same file shared again

    assert store.forget_message("C1", "1.000001") == 2
    assert found(store, "cat", channel=None) == [("3.000001", "F3"), ("2.000001", "F3")]
    assert store.forget_file("F3") == 2
    assert found(store, "cat", channel=None) == []
    assert store.forget_message("C1", "9.000001") == 0


def test_a_message_deleted_while_it_was_labelled_is_not_indexed_and_its_reply_goes(store):
    store.enqueue_message("C1", "1.000001", "1.000001", [{"id": "F1"}])
    store.mark_replied("C1", "1.000001", "1.000002")
    store.enqueue_message("C1", "2.000001", "2.000001", [{"id": "F2"}])  # no reply yet
    assert store.replies_to_delete() == []

    store.forget_message("C1", "1.000001")
    store.forget_message("C1", "2.000001")

    assert store.index_images([image(ts="1.000001")]) == 0
    assert found(store, "cat") == []
    assert store.replies_to_delete() == [("C1", "1.000001", "1.000002")]
    store.mark_reply_deleted("C1", "1.000001")
    assert store.replies_to_delete() == []


def test_the_retention_purge_drops_entries_posted_before_the_cutoff(store):
    store.index_images([image(ts=ts_at(NOW - days * DAY), file_id=f"F{days}") for days in (1, 89, 91, 400)])

    assert store.purge_index(NOW - 90 * DAY, batch=1) == 2

    assert [f for _, f in found(store, "cat")] == ["F1", "F89"]
    assert store.purge_index(NOW - 90 * DAY) == 0


def test_a_channel_is_public_only_if_every_image_of_it_was_posted_public(store):
    store.index_images(
        [
            image(channel="CPUB"),
            image(channel="GPRIV", channel_type="group"),
            image(channel="DIM", channel_type="im"),
            image(channel="CUNKNOWN", channel_type=""),
            image(channel="CTURNED", ts="1.000001"),
            image(channel="CTURNED", ts="2.000001", channel_type="group"),
        ]
    )

    assert store.channel_is_public("CPUB")
    for channel in ("GPRIV", "DIM", "CUNKNOWN", "CTURNED", "CNEVERSEEN"):
        assert not store.channel_is_public(channel), channel


def test_the_poster_and_channel_type_travel_with_the_job(store):
    store.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}], user_id="UALICE", channel_type="group")
    store.enqueue_message("C1", "2.0", "2.0", [{"id": "F2"}])

    first, second = store.claim_job(), store.claim_job()

    assert (first.user_id, first.channel_type) == ("UALICE", "group")
    assert (second.user_id, second.channel_type) == ("", "")


# ---- upkeep: deleted messages' replies and retention ----------------------------------------------------------


class RecordingSlack:
    def __init__(self, errors=()):
        self.deleted: list[tuple[str, str]] = []
        self.errors = list(errors)
        self.auth_tests = 0

    def chat_delete(self, channel: str, ts: str):
        if self.errors:
            raise SlackApiError("failed", {"ok": False, "error": self.errors.pop(0)})
        self.deleted.append((channel, ts))
        return {"ok": True}

    def auth_test(self):
        self.auth_tests += 1
        if self.errors:
            raise SlackApiError("failed", {"ok": False, "error": self.errors.pop(0)})
        return {"ok": True, "url": "https://acme.slack.com/"}


def test_upkeep_deletes_replies_to_deleted_messages_and_retries_only_transient_errors(store):
    for ts in ("1.000001", "2.000001"):
        store.enqueue_message("C1", ts, ts, [{"id": "F" + ts}])
        store.mark_replied("C1", ts, ts.replace("000001", "000009"))
        store.forget_message("C1", ts)
    slack = RecordingSlack(errors=["ratelimited", "message_not_found"])
    upkeep = Upkeep(store, slack, 90)

    upkeep()  # the first: rate limited, kept; the second: already gone, given up
    assert slack.deleted == [] and store.replies_to_delete() == [("C1", "1.000001", "1.000009")]
    upkeep()
    assert slack.deleted == [("C1", "1.000009")]
    assert store.replies_to_delete() == []


def test_upkeep_purges_at_start_then_hourly(store):
    clock = [NOW]
    upkeep = Upkeep(store, RecordingSlack(), 30, clock=lambda: clock[0])
    store.index_images([image(ts=ts_at(NOW - 31 * DAY), file_id="OLD")])

    upkeep()
    assert found(store, "cat") == []

    store.index_images([image(ts=ts_at(NOW - 29.99 * DAY), file_id="SOON")])
    clock[0] += 1800
    upkeep()
    assert [f for _, f in found(store, "cat")] == ["SOON"]  # half an hour on: not purged yet, though expired
    clock[0] += 1800
    upkeep()
    assert found(store, "cat") == []


# ---- the answer -------------------------------------------------------------------------------------------


def search_answer(store, text: str, *, channel="C1", slack=None) -> str:
    find = parse_command("find " + text)
    assert isinstance(find, Find), find
    return TagSearch(store, slack or RecordingSlack(), retention_days=90).answer(find, channel_id=channel, user_id="U")


def test_the_answer_lists_matches_with_date_permalink_poster_and_the_matching_label(store):
    ts, thread_reply_ts = ts_at(NOW - 60, 7), ts_at(NOW, 8)
    store.index_images(
        [
            image(LABRADOR, ts=ts, user="UBOB"),
            image(LABRADOR, ts=thread_reply_ts, thread_ts=ts, user="UCAROL", file_id="F2"),
        ]
    )

    text = search_answer(store, "dog")

    header, newest, older = text.split("\n")
    assert header == "2 images matching “dog” in <#C1>, newest first:"
    link = f"https://acme.slack.com/archives/C1/p{thread_reply_ts.replace('.', '')}?thread_ts={ts}&cid=C1"
    assert newest.startswith(f"• <!date^{int(NOW)}^{{date_short_pretty}} {{time}}^{link}|")
    assert "<@UCAROL>" in newest
    assert "*Labrador Retriever* (Dog) 97%" in newest  # matched through its parent, shown in bold
    assert "Grass 80%" in newest
    assert f"^https://acme.slack.com/archives/C1/p{ts.replace('.', '')}|" in older  # not in a thread: plain link


def test_a_matched_label_is_shown_even_when_it_is_not_among_the_top_few(store):
    labels = (*(Label(f"Thing{n}", 99.0 - n) for n in range(6)), Label("Whiteboard", 70.0))
    store.index_images([image(labels)])

    [_, line] = search_answer(store, "whiteboard").split("\n")

    assert line.endswith("Thing0 99% · Thing1 98% · Thing2 97% · *Whiteboard* 70%")


def test_no_match_names_the_word_and_the_scope(store):
    assert search_answer(store, "whiteboard since 7d") == (
        "No labelled images match “whiteboard” in <#C1> in the last 7 days. "
        "A label's broader names count too (`dog` finds a Labrador). I keep labels for 90 days."
    )
    assert "in the last 24 hours" not in search_answer(store, "cat since 24h")
    assert "in the last day." in search_answer(store, "cat since 24h")
    assert "in the last 12 hours." in search_answer(store, "cat since 12h")
    assert "in this conversation" in search_answer(store, "cat", channel="D123")


def test_user_text_is_escaped(store):
    text = search_answer(store, "<!channel> & <@U1>")
    assert "“&lt;!channel&gt; &amp; &lt;@U1&gt;”" in text
    assert "<!channel>" not in text and "<@U1>" not in text


def test_private_channels_and_conversations_are_never_searched_from_elsewhere(store):
    store.index_images(
        [
            image(channel="CPUB", file_id="F_PUB"),
            image(channel="GPRIV", channel_type="group", file_id="F_PRIV"),
            image(channel="DIM", channel_type="im", file_id="F_IM"),
        ]
    )

    assert "1 image matching “cat” in <#CPUB>" in search_answer(store, "cat in <#CPUB|pub>", channel="C1")
    for channel in ("GPRIV", "DIM", "CNEVERSEEN"):
        refused = search_answer(store, f"cat in <#{channel}>", channel="C1")
        assert refused.startswith(f"I can't search <#{channel}> from here:"), refused
        assert "archives" not in refused
    # From inside the private channel itself, it is searched.
    assert "archives/GPRIV/" in search_answer(store, "cat in <#GPRIV>", channel="GPRIV")
    assert "archives/GPRIV/" in search_answer(store, "cat", channel="GPRIV")


def test_ten_matches_at_most_and_the_answer_stays_under_slacks_limit(store):
    long_labels = tuple(
        Label(f"Extremely Long Label Name Number {n:02d} For Testing", 99.0 - n, ("Cat",), ("Alias",) * 3)
        for n in range(20)
    )
    store.index_images(
        [image(long_labels, ts=ts_at(NOW - n, n), thread_ts=ts_at(NOW - 999), user="U" + "X" * 20) for n in range(30)]
    )

    text = search_answer(store, "cat " * 20)

    assert len(text) <= MAX_ANSWER
    assert text.startswith("The 10 newest images matching")
    assert 1 <= text.count("archives/") < 10
    assert text.endswith(f"…and {10 - text.count('archives/')} older")


def test_the_workspace_url_is_asked_once_and_links_wait_when_slack_does_not_answer(store):
    store.index_images([image()])
    slack = RecordingSlack(errors=["ratelimited"])
    search = TagSearch(store, slack)
    find = Find("cat")

    without_link = search.answer(find, channel_id="C1", user_id="U")
    with_link = search.answer(find, channel_id="C1", user_id="U")
    search.answer(find, channel_id="C1", user_id="U")

    assert "1 image matching" in without_link and "archives" not in without_link
    assert "https://acme.slack.com/archives/C1/" in with_link
    assert slack.auth_tests == 2


# ---- end to end -------------------------------------------------------------------------------------------


def find(bot, text: str, channel: str = "C0001") -> str:
    response = bot.command("find " + text, channel=channel)
    assert response.status == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    return body["text"]


def post_image(bot, fake_slack, channel: str, file_id: str, *, channel_type="channel", labels=None, aws=None, **kw):
    """Post one image and wait until its reply is out (so it is indexed); returns the event."""
    if labels is not None:
        aws.labels = labels
    photo = fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), f"{file_id}.jpg", "image/jpeg", "jpg")
    event = file_share_event(channel, [photo], channel_type=channel_type, **kw)
    before = len(fake_slack.posts())
    assert bot.post_event(event).status == 200
    fake_slack.wait_for_posts(before + 1)
    return event


def permalinks(text: str) -> list[str]:
    return re.findall(r"\^(https://fake\.slack\.com/archives/[^|>]+)\|", text)


def link(channel: str, ts: str) -> str:
    return f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"


def test_find_answers_with_the_labels_date_and_permalink_of_each_image(start_bot, fake_slack, aws_env):
    bot = start_bot()
    cat = post_image(bot, fake_slack, "C0001", "F_CAT", user="UALICE")
    dog = post_image(
        bot,
        fake_slack,
        "C0001",
        "F_DOG",
        user="UBOB",
        aws=aws_env,
        labels=[{"Name": "Labrador Retriever", "Confidence": 97.5, "Parents": [{"Name": "Dog"}], "Aliases": []}],
    )
    in_thread = post_image(bot, fake_slack, "C0001", "F_DOG2", thread_ts=cat["ts"])

    answer = find(bot, "dog")

    assert answer.startswith("2 images matching “dog” in <#C0001>, newest first:")
    assert permalinks(answer) == [
        link("C0001", in_thread["ts"]) + f"?thread_ts={cat['ts']}&cid=C0001",
        link("C0001", dog["ts"]),
    ]
    assert f"<!date^{int(float(dog['ts']))}^{{date_short_pretty}} {{time}}^" in answer
    assert "<@UBOB>" in answer
    assert "*Labrador Retriever* (Dog) 98%" in answer
    cat_answer = find(bot, "KITTEN")
    assert permalinks(cat_answer) == [link("C0001", cat["ts"])]
    assert "Cat 99% · *Kitten* 96% · Pet 95% · Animal 95%" in cat_answer
    assert "<@UALICE>" in cat_answer


def test_find_filters_by_since_and_says_so_when_nothing_matches(start_bot, fake_slack, aws_env):
    bot = start_bot()
    old = post_image(bot, fake_slack, "C0001", "F_OLD", ts=ts_at(time.time() - 10 * DAY, 1))
    new = post_image(bot, fake_slack, "C0001", "F_NEW")
    post_image(bot, fake_slack, "C0002", "F_ELSEWHERE")

    assert permalinks(find(bot, "cat")) == [link("C0001", new["ts"]), link("C0001", old["ts"])]
    assert permalinks(find(bot, "cat since 7d")) == [link("C0001", new["ts"])]
    assert find(bot, "whiteboard since 2w").startswith(
        "No labelled images match “whiteboard” in <#C0001> in the last 14 days."
    )
    assert find(bot, "find").startswith("No labelled images match “find”")


def test_images_that_got_no_labels_or_errors_are_not_indexed(start_bot, fake_slack, aws_env):
    bot = start_bot()
    post_image(bot, fake_slack, "C0001", "F_BLUR", aws=aws_env, labels=[{"Name": "Cat", "Confidence": 50.0}])
    aws_env.fail_next("InvalidImageFormatException")
    post_image(bot, fake_slack, "C0001", "F_BROKEN", aws=aws_env, labels=[{"Name": "Cat", "Confidence": 90.0}])

    assert find(bot, "cat").startswith("No labelled images match")


def test_deleting_the_message_in_slack_removes_it_and_the_bots_reply(start_bot, fake_slack, aws_env):
    bot = start_bot()
    kept = post_image(bot, fake_slack, "C0001", "F_KEPT")
    deleted = post_image(bot, fake_slack, "C0001", "F_GONE")
    tombstoned = post_image(bot, fake_slack, "C0001", "F_TOMB")

    gone = {"type": "message", "subtype": "message_deleted", "channel": "C0001", "hidden": True}
    gone.update(deleted_ts=deleted["ts"], previous_message={"ts": deleted["ts"], "user": "UALICE"})
    tomb = {"type": "message", "subtype": "message_changed", "channel": "C0001", "hidden": True}
    tomb.update(message={"type": "message", "subtype": "tombstone", "ts": tombstoned["ts"], "text": "deleted."})
    assert bot.post_event(gone).status == 200
    assert bot.post_event(tomb).status == 200

    assert permalinks(find(bot, "cat")) == [link("C0001", kept["ts"])]
    deletes = fake_slack.wait_for_calls("chat.delete", 2)
    assert sorted(d["channel"] for d in deletes) == ["C0001", "C0001"]
    assert {d["ts"] for d in deletes}.isdisjoint({kept["ts"], deleted["ts"], tombstoned["ts"]})
    time.sleep(0.3)
    assert len(fake_slack.calls_to("chat.delete")) == 2


def test_deleting_a_file_removes_it_from_every_message_it_was_in(start_bot, fake_slack, aws_env):
    bot = start_bot()
    first = post_image(bot, fake_slack, "C0001", "F_SHARED")
    second = post_image(bot, fake_slack, "C0001", "F_OTHER")
    post_image(bot, fake_slack, "C0001", "F_SHARED")  # shared again, in a new message

    assert bot.post_event({"type": "file_deleted", "file_id": "F_SHARED", "event_ts": next_ts()}).status == 200

    assert permalinks(find(bot, "cat")) == [link("C0001", second["ts"])]
    assert first["ts"] not in find(bot, "cat").replace(".", "")


def test_private_images_are_not_revealed_to_find_in_another_channel(start_bot, fake_slack, aws_env):
    bot = start_bot()
    public = post_image(bot, fake_slack, "C0PUB", "F_PUB", channel_type="channel")
    private = post_image(bot, fake_slack, "G0PRIV", "F_PRIV", channel_type="group")
    post_image(bot, fake_slack, "D0DM", "F_DM", channel_type="im")

    assert permalinks(find(bot, "cat in <#C0PUB|public>", channel="C0001")) == [link("C0PUB", public["ts"])]
    for channel in ("G0PRIV", "D0DM"):
        refused = find(bot, f"cat in <#{channel}>", channel="C0001")
        assert refused.startswith(f"I can't search <#{channel}> from here"), refused
        assert permalinks(refused) == []
    assert permalinks(find(bot, "cat", channel="G0PRIV")) == [link("G0PRIV", private["ts"])]
    assert permalinks(find(bot, "cat in <#G0PRIV>", channel="G0PRIV")) == [link("G0PRIV", private["ts"])]


def test_entries_older_than_the_retention_are_purged_at_start(start_bot, fake_slack, aws_env):
    bot = start_bot(LABELBOT_RETENTION_DAYS="2")
    post_image(bot, fake_slack, "C0001", "F_OLD", ts=ts_at(time.time() - 3 * DAY, 1))  # indexed after the purge
    recent = post_image(bot, fake_slack, "C0001", "F_NEW")
    assert len(permalinks(find(bot, "cat"))) == 2
    bot.services.stop()

    restarted = start_bot(LABELBOT_RETENTION_DAYS="2")  # the same database; its first sweep purges

    deadline = time.monotonic() + 10
    while len(permalinks(find(restarted, "cat"))) != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert permalinks(find(restarted, "cat")) == [link("C0001", recent["ts"])]


def test_the_workspace_url_comes_from_one_auth_test(start_bot, fake_slack, aws_env):
    bot = start_bot()
    post_image(bot, fake_slack, "C0001", "F_CAT")
    find(bot, "cat")
    asked = len(fake_slack.calls_to("auth.test"))

    find(bot, "cat")
    find(bot, "animal")

    assert len(fake_slack.calls_to("auth.test")) == asked
