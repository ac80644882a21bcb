"""The tag index and `/labels find`: the store's search, deletions and retention, the answer's text, and the whole
path end to end (signed events in, labelled images, signed `/labels find` commands, deletions from Slack)."""

from __future__ import annotations

import re
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.labels_command import Find, parse_command
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides
from bot.store import IndexedImage
from bot.store.stemmer import index_stems
from bot.tag_search import MAX_ANSWER, TagSearch, text_snippet
from bot.upkeep import Upkeep
from tests.conftest import Clock, both_runtimes, fixture_bytes, server_only
from tests.slack_requests import file_share_event, next_ts

pytestmark = both_runtimes  # each behaviour test that starts a bot also runs on AWS Lambda (tests/conftest.py)

DAY = 86400
NOW = time.time()
CAT = (Label("Cat", 99.2, ("Animal", "Pet")), Label("Kitten", 96.4, ("Cat",)), Label("Animal", 94.8))
TABLE = (Label("Dining Table", 98.0, ("Furniture", "Table")), Label("Chair", 90.0, ("Furniture",)))
SHOT = (Label("Screenshot", 99.0),)  # スクリーンショット
LABRADOR = (Label("Labrador Retriever", 97.0, ("Dog", "Animal"), ("Lab",)), Label("Grass", 80.0))


def ts_at(seconds: float, n: int = 0) -> str:
    return f"{int(seconds)}.{n:06d}"


# Messages posted a minute ago, in this order (index entries expire with the retention: they must be recent).
T1, T2, T3, T9 = (ts_at(NOW - 60 + n, 1) for n in (1, 2, 3, 9))


def image(
    labels=CAT, *, channel="C1", ts=None, file_id="F1", channel_type="channel", thread_ts=None, user="U1", text=""
):
    ts = ts or ts_at(NOW)
    return IndexedImage(channel, channel_type, ts, thread_ts or ts, file_id, user, labels, text)


@pytest.fixture
def store(make_store):
    """A fresh store of each kind (SQLite, DynamoDB)."""
    return make_store()


def found(store, *words, channel="C1", since=None, limit=10, phrases=()) -> list[tuple[str, str]]:
    """The matches' (ts, file): words as arguments, phrases as their texts ("connection refused")."""
    split = tuple(tuple(phrase.split()) for phrase in phrases)
    matches = store.tags.search_images(words, channel_id=channel, since=since, limit=limit, phrases=split)
    return [(m.message_ts, m.file_id) for m in matches]


# ---- the store ---------------------------------------------------------------------------------------------


def test_an_indexed_image_is_found_by_its_labels_parents_and_aliases_in_any_case(store):
    store.tags.index_images(
        [image(CAT, file_id="F_CAT"), image(TABLE, file_id="F_TABLE"), image(LABRADOR, file_id="F_LAB")]
    )

    assert found(store, "cat") == [(ts_at(NOW), "F_CAT")]
    assert found(store, "table") == [(ts_at(NOW), "F_TABLE")]  # a word of "Dining Table"
    assert found(store, "dog") == [(ts_at(NOW), "F_LAB")]  # a parent
    assert found(store, "lab") == [(ts_at(NOW), "F_LAB")]  # an alias
    assert found(store, "cats") == found(store, "CAT") == found(store, "Kitten")  # plural and case
    # The same message ts: SQLite puts the one indexed later first, DynamoDB the greater file id.
    assert [f for _, f in found(store, "animal")] == ["F_LAB", "F_CAT"]
    assert found(store, "dining", "table") == [(ts_at(NOW), "F_TABLE")]  # every word must match
    assert found(store, "dining", "cat") == []
    assert found(store, "whiteboard") == []


def test_an_image_is_found_by_its_labels_japanese_names_as_written(store):
    store.tags.index_images(
        [image(CAT, file_id="F_CAT"), image(TABLE, file_id="F_TABLE"), image(LABRADOR, file_id="F_LAB")]
    )

    assert found(store, "猫") == found(store, "cat") == [(ts_at(NOW), "F_CAT")]
    assert found(store, "子猫") == [(ts_at(NOW), "F_CAT")]  # Kitten's name
    assert found(store, "犬") == [(ts_at(NOW), "F_LAB")]  # a parent's (Dog)
    assert found(store, "ラブラドールレトリバー") == found(store, "lab")
    assert found(store, "テーブル") == [(ts_at(NOW), "F_TABLE")] and found(store, "猫", "テーブル") == []
    assert found(store, "ネコ") == [] and found(store, "猫た") == []  # as written: no stemming, no reading
    assert found(store, "レトリバー") == found(store, "lab")  # a part of a name, as Japanese search finds words


def test_japanese_text_is_found_by_any_word_in_it_a_quoted_phrase_only_in_order(store):
    store.tags.index_images(
        [
            image(SHOT, file_id="F_MEETING", ts=T1, text="明日の会議は午後三時からです"),
            image(SHOT, file_id="F_CAT", ts=T2, text="うちの黒猫　ＡＰＩキー：[hidden]"),
            image(SHOT, file_id="F_KANA", ts=T3, text="ｶﾀｶﾅのメニュー、Ｅｒｒｏｒ ＃1023"),
        ]
    )

    assert found(store, "会議") == [(T1, "F_MEETING")]  # no spaces between words: its pairs are indexed
    assert found(store, phrases=["午後三時"]) == found(store, "午後三時") == [(T1, "F_MEETING")]
    assert found(store, phrases=["三時午後"]) == [] and found(store, "三時午後") == []  # in its order only
    assert found(store, "猫") == [(T2, "F_CAT")]  # one kanji finds text that has it
    assert found(store, "黒猫", "api") == [(T2, "F_CAT")]  # full-width letters are the ASCII ones
    assert found(store, "apiキー") == [(T2, "F_CAT")] and found(store, "キーapi") == []
    assert found(store, "カタカナ") == [(T3, "F_KANA")]  # half-width katakana is the full-width one
    assert found(store, "error", "1023") == [(T3, "F_KANA")]
    assert found(store, "会議", "猫") == [] and found(store, "会談") == []


def test_japanese_text_costs_a_bounded_number_of_index_terms():
    from bot.screen_text import MAX_INDEXED_WORDS, index_words, text_for_index

    text = "".join(chr(0x4E00 + n) for n in range(400))  # 400 different kanji, no space
    assert len(index_words(text)) == MAX_INDEXED_WORDS  # its first 100 pairs
    terms = set(text_for_index(text).split())
    assert len(terms) <= 2 * MAX_INDEXED_WORDS + 2  # and their characters, once each (and the gap)


def test_an_image_keeps_what_it_was_indexed_with(store):
    kept = image(LABRADOR, channel_type="group", thread_ts="1.5", user="UBOB", text="Good dog · [hidden] · Rex")
    store.tags.index_images([kept])

    [match] = store.tags.search_images(("dog",), channel_id="C1")

    assert match == kept
    assert match.posted_at == float(ts_at(NOW))


def test_search_is_limited_to_a_channel_and_a_time_newest_first(store):
    store.tags.index_images(
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
    store.tags.index_images([image(ts=ts_at(NOW - n * 60), file_id=f"F{n:02d}") for n in range(25)])

    assert [f for _, f in found(store, "cat")] == [f"F{n:02d}" for n in range(10)]


def test_the_files_of_one_message_and_a_reindexed_file_are_separate_and_single(store):
    ts = ts_at(NOW, 42)
    store.tags.index_images([image(ts=ts, file_id="F1"), image(ts=ts, file_id="F2")])
    store.tags.index_images([image(TABLE, ts=ts, file_id="F1")])  # the same file labelled again: replaced

    assert found(store, "cat") == [(ts, "F2")]
    assert found(store, "table") == [(ts, "F1")]


def test_deleting_the_message_or_the_file_removes_its_entries(store):
    store.tags.index_images([image(ts=T1, file_id="F1"), image(ts=T1, file_id="F2"), image(ts=T2, file_id="F3")])
    store.tags.index_images([image(ts=T3, file_id="F3", channel="C2")])  # the same file shared again

    assert store.deletions.forget_message("C1", T1) == 2
    assert found(store, "cat", channel=None) == [(T3, "F3"), (T2, "F3")]
    assert store.deletions.forget_file("F3") == 2
    assert found(store, "cat", channel=None) == []
    assert store.deletions.forget_message("C1", T9) == 0


def test_a_message_deleted_while_it_was_labelled_is_not_indexed_and_its_reply_goes(store):
    store.queue.enqueue_message("C1", T1, T1, [{"id": "F1"}])
    store.replies.mark_replied("C1", T1, T9)
    store.queue.enqueue_message("C1", T2, T2, [{"id": "F2"}])  # no reply yet
    assert store.replies.replies_to_delete() == []

    store.deletions.forget_message("C1", T1)
    store.deletions.forget_message("C1", T2)

    assert store.tags.index_images([image(ts=T1)]) == 0
    assert store.tags.index_images([image(ts=T2, file_id="F2")]) == 0
    assert found(store, "cat") == []
    assert store.replies.replies_to_delete() == [("C1", T1, T9, "")]
    store.replies.mark_reply_deleted("C1", T1)
    assert store.replies.replies_to_delete() == []


def test_the_retention_purge_drops_entries_posted_before_the_cutoff(store):
    store.tags.index_images([image(ts=ts_at(NOW - days * DAY), file_id=f"F{days}") for days in (1, 89, 91, 400)])

    assert store.tags.purge_index(NOW - 90 * DAY, batch=1) == 2

    assert [f for _, f in found(store, "cat")] == ["F1", "F89"]
    assert store.tags.purge_index(NOW - 90 * DAY) == 0


def test_a_channel_is_public_only_if_no_image_of_it_was_posted_private(store):
    store.tags.index_images(
        [
            image(channel="CPUB"),
            image(channel="GPRIV", channel_type="group"),
            image(channel="DIM", channel_type="im"),
            image(channel="GMPIM", channel_type="mpim"),
            image(channel="CUNKNOWN", channel_type=""),  # Slack didn't say: TagSearch asks Slack live
            image(channel="CTURNED", ts=T1),
            image(channel="CTURNED", ts=T2, channel_type="group"),
        ]
    )

    assert store.tags.channel_is_public("CPUB")
    assert store.tags.channel_is_public("CUNKNOWN")
    for channel in ("GPRIV", "DIM", "GMPIM", "CTURNED", "CNEVERSEEN"):
        assert not store.tags.channel_is_public(channel), channel


def test_a_channel_id_the_stemmer_folds_into_another_finds_only_its_own_images(store):
    # Porter stems both ids to c0abcdei: the full-text channel term alone would match either channel.
    store.tags.index_images(
        [
            image(channel="C0ABCDEY", file_id="F_Y", ts=T1),
            image(channel="C0ABCDEI", file_id="F_I", ts=T2),
        ]
    )

    assert found(store, "cat", channel="C0ABCDEY") == [(T1, "F_Y")]
    assert found(store, "cat", channel="C0ABCDEI") == [(T2, "F_I")]


def test_a_busy_colliding_channel_does_not_crowd_out_the_searched_one(store):
    store.tags.index_images([image(channel="C0ABCDEI", file_id=f"F{n:02d}", ts=ts_at(NOW - n)) for n in range(15)])
    store.tags.index_images([image(channel="C0ABCDEY", file_id="F_OLD", ts=ts_at(NOW - 3600))])

    assert found(store, "cat", channel="C0ABCDEY") == [(ts_at(NOW - 3600), "F_OLD")]


def test_a_search_says_which_names_its_words_matched_stemmed_as_the_index_stems(store):
    running = (Label("Running Shoe", 90.0, ("Footwear", "Clothing")), Label("Run", 80.0), Label("Grass", 70.0))
    store.tags.index_images([image(running)])

    [match] = store.tags.search_images(("running",), channel_id="C1")
    assert match.matched == {"Running Shoe", "Run"}
    [match] = store.tags.search_images(("clothes",), channel_id="C1")  # porter: clothes -> cloth, clothing -> cloth
    assert match.matched == {"Clothing"}


# ---- text in images -------------------------------------------------------------------------------------------

INVOICE = "ACME Corp · Invoice #2024-17 · Total due: $1,200 · Connection refused by host"


def test_a_word_of_an_images_text_finds_it_stemmed_and_together_with_a_label_word(store):
    store.tags.index_images([image(CAT, file_id="F_TEXT", text=INVOICE), image(TABLE, file_id="F_TABLE")])

    assert found(store, "invoice") == [(ts_at(NOW), "F_TEXT")]
    assert found(store, "INVOICES") == found(store, "acme") == found(store, "2024") == [(ts_at(NOW), "F_TEXT")]
    assert found(store, "kitten", "invoice") == [(ts_at(NOW), "F_TEXT")]  # one word in its labels, one in its text
    assert found(store, "table", "invoice") == []  # every word must match the same image
    [match] = store.tags.search_images(("kitten", "invoice"), channel_id="C1")
    assert match.matched == {"Kitten"}  # what matched among the labels, as before
    assert match.text == INVOICE


def test_a_phrase_finds_only_images_with_its_words_adjacent_and_in_order(store):
    store.tags.index_images(
        [
            image(file_id="F_EXACT", ts=T1, text="ssh: connect to host: Connection refused"),
            image(file_id="F_REVERSED", ts=T2, text="refused connection"),
            image(file_id="F_APART", ts=T3, text="connection was refused"),
            image(TABLE, file_id="F_PLURAL", ts=T9, text="Connections refused: 3"),
        ]
    )

    assert found(store, phrases=["connection refused"]) == [(T9, "F_PLURAL"), (T1, "F_EXACT")]  # stemmed
    assert found(store, "connection", "refused") == [
        (T9, "F_PLURAL"),
        (T3, "F_APART"),
        (T2, "F_REVERSED"),
        (T1, "F_EXACT"),
    ]
    assert found(store, "cat", phrases=["connection refused"]) == [(T1, "F_EXACT")]  # a label word and a phrase
    assert found(store, phrases=["connection refused", "ssh connect"]) == [(T1, "F_EXACT")]  # every phrase
    assert found(store, phrases=["refused connection"]) == [(T2, "F_REVERSED")]
    assert found(store, phrases=["cat kitten"]) == []  # phrases are of the text, not the labels


def test_text_matches_keep_to_the_channel_and_the_time(store):
    store.tags.index_images(
        [
            image(file_id="OLD", ts=ts_at(NOW - 10 * DAY), text="invoice overdue"),
            image(file_id="NEW", ts=ts_at(NOW - DAY), text="invoice overdue"),
            image(file_id="ELSEWHERE", channel="C2", text="invoice overdue"),
        ]
    )

    assert [f for _, f in found(store, "invoice", since=NOW - 7 * DAY)] == ["NEW"]
    assert [f for _, f in found(store, phrases=["invoice overdue"], since=NOW - 7 * DAY)] == ["NEW"]
    assert [f for _, f in found(store, phrases=["invoice overdue"], channel="C2")] == ["ELSEWHERE"]
    assert [f for _, f in found(store, phrases=["invoice overdue"], channel=None)] == ["ELSEWHERE", "NEW", "OLD"]


def word_entries(store, channel: str, word: str) -> int:
    """How many index entries the word's stem still has in the channel (the backend's own records)."""
    [stem] = index_stems(word)
    backend = store.backend
    if hasattr(backend, "tags_table"):
        answer = backend.client.query(
            TableName=backend.tags_table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"word#{channel}#{stem}"}},
            Select="COUNT",
        )
        return answer["Count"]
    with backend.reading() as db:
        return db.execute("SELECT COUNT(*) FROM tag_words WHERE tag_words MATCH ?", (f'text : "{word}"',)).fetchone()[0]


def test_deleting_the_message_or_the_file_removes_its_text_from_the_index(store):
    store.tags.index_images(
        [
            image(ts=T1, file_id="F1", text="invoice one"),
            image(ts=T2, file_id="F2", text="invoice two"),
            image(ts=T3, file_id="F3", text="invoice three"),
        ]
    )

    store.deletions.forget_message("C1", T1)
    store.deletions.forget_file("F2")

    assert found(store, "invoice") == [(T3, "F3")]
    assert found(store, "one") == found(store, "two") == found(store, phrases=["invoice two"]) == []
    assert word_entries(store, "C1", "invoice") == 1 and word_entries(store, "C1", "two") == 0


def test_retention_purges_text_as_labels(store):
    store.tags.index_images([image(ts=ts_at(NOW - d * DAY), file_id=f"F{d}", text=f"invoice {d}") for d in (1, 91)])

    assert store.tags.purge_index(NOW - 90 * DAY) == 1

    assert [f for _, f in found(store, "invoice")] == ["F1"]
    assert found(store, "91") == []
    assert word_entries(store, "C1", "invoice") == 1


def test_reindexing_an_image_with_other_text_forgets_the_old_words(store):
    store.tags.index_images([image(text="invoice overdue")])
    store.tags.index_images([image(text="receipt paid")])

    assert found(store, "invoice") == [] and found(store, "receipt") == [(ts_at(NOW), "F1")]
    assert word_entries(store, "C1", "overdue") == 0


def test_only_the_first_hundred_distinct_words_of_a_text_are_indexed(store):
    words = [f"word{n}" for n in range(1, 121)]
    text = " ".join(words[:50]) + " · word1 word2 · " + " ".join(words[50:])
    store.tags.index_images([image(text=text)])

    assert found(store, "word100") == [(ts_at(NOW), "F1")]
    assert found(store, "word101") == found(store, "word120") == []
    assert found(store, phrases=["word99 word100"]) == [(ts_at(NOW), "F1")]
    assert found(store, phrases=["word100 word101"]) == []
    [match] = store.tags.search_images(("word1",), channel_id="C1")
    assert match.text == text  # kept whole


def test_a_hidden_secret_is_not_searchable_and_no_phrase_spans_it(store):
    store.tags.index_images([image(text="password: [hidden] login · token=[hidden]")])

    assert found(store, "hidden") == [] and found(store, phrases=["hidden"]) == []
    assert found(store, phrases=["password login"]) == []
    assert found(store, "password", "login") == [(ts_at(NOW), "F1")]


def labelled(store, channel: str, ts: str, *files: str, reply_ts: str | None = None) -> None:
    """Record a message's files, label them all (the one named SKIP turns out not to be an image), reply."""
    store.queue.enqueue_message(channel, ts, ts, [{"id": f} for f in files])
    while (job := store.queue.claim_job()) is not None:
        file_id = job.file["id"]
        skipped = file_id.startswith("SKIP")
        store.queue.finish_job(
            job.id, ImageResult(file_id, f"{file_id}.jpg", labels=() if skipped else CAT, skipped=skipped)
        )
    if reply_ts is not None:
        assert store.replies.claim_reply(channel, ts) is not None
        store.replies.mark_replied(channel, ts, reply_ts)


def test_a_file_deleted_while_its_job_runs_is_not_indexed_when_the_job_ends(store):
    store.queue.enqueue_message("C1", T1, T1, [{"id": "F1"}, {"id": "F2"}])
    running = store.queue.claim_job()

    store.deletions.forget_file(running.file["id"])

    assert store.tags.index_images([image(ts=T1, file_id="F1")]) == 0
    assert store.tags.index_images([image(ts=T1, file_id="F2")]) == 1  # the message's other image
    assert [f for _, f in found(store, "cat")] == ["F2"]


def test_a_message_deleted_while_its_job_runs_gets_no_reply(store):
    store.queue.enqueue_message("C1", "1.000001", "1.000001", [{"id": "F1"}])
    running = store.queue.claim_job()

    store.deletions.forget_message("C1", "1.000001")
    store.queue.finish_job(running.id, ImageResult("F1", "F1.jpg", labels=CAT))

    assert store.replies.claim_reply("C1", "1.000001") is None
    assert store.replies.messages_ready_to_reply() == []
    assert store.queue.queue_stats().depth == 0


def test_deletions_take_the_jobs_labels_and_file_names_with_them(store):
    labelled(store, "C1", "1.000001", "F1")
    labelled(store, "C1", "2.000001", "F2", "F3")
    store.queue.enqueue_message("C1", "3.000001", "3.000001", [{"id": "F4"}])
    store.queue.finish_job(store.queue.claim_job().id, ImageResult("F4", "secret-plans.png", error="damaged"))
    before = store.summary.labelling_summary(0)
    assert (before.images_labelled, before.images_failed) == (3, 1)

    store.deletions.forget_message("C1", "1.000001")
    store.deletions.forget_file("F2")
    store.deletions.forget_file("F4")

    after = store.summary.labelling_summary(0)
    assert (after.images_labelled, after.images_failed, after.recent_errors) == (1, 0, ())
    assert after.top_labels[0] == ("Animal", 1)
    # Their jobs are gone (recorded again, they are new), F3's is kept.
    assert store.queue.enqueue_message("C1", "1.000001", "1.000001", [{"id": "F1"}]) == 1
    assert store.queue.enqueue_message("C1", "2.000001", "2.000001", [{"id": "F2"}, {"id": "F3"}]) == 1
    assert store.queue.enqueue_message("C1", "3.000001", "3.000001", [{"id": "F4"}]) == 1


def test_a_reply_goes_once_every_image_of_its_message_is_deleted(store):
    labelled(store, "C1", "1.000001", "F1", "F2", reply_ts="1.000009")
    labelled(store, "C1", "2.000001", "F3", "SKIP_PDF", reply_ts="2.000009")

    store.deletions.forget_file("F1")
    assert store.replies.replies_to_delete() == []  # F2 is still there: the reply stays
    store.deletions.forget_file("F2")
    store.deletions.forget_file("F3")  # the PDF that turned out not to be an image was never in the reply

    assert sorted(store.replies.replies_to_delete()) == [
        ("C1", "1.000001", "1.000009", ""),
        ("C1", "2.000001", "2.000009", ""),
    ]


def test_retention_purges_finished_jobs_and_settled_messages_too(make_store):
    clock = Clock(NOW - 91 * DAY)
    store = make_store(clock=clock)
    labelled(store, "C1", "1.000001", "F_OLD", reply_ts="1.000009")
    clock.now = NOW
    labelled(store, "C1", "2.000001", "F_NEW", reply_ts="2.000009")
    clock.now = NOW - 91 * DAY
    store.queue.enqueue_message("C1", "3.000001", "3.000001", [{"id": "F_QUEUED"}])
    clock.now = NOW

    assert store.queue.purge_finished_jobs(NOW - 90 * DAY, batch=1) == 1

    assert store.summary.labelling_summary(0).images_labelled == 1
    assert store.queue.enqueue_message("C1", "2.000001", "2.000001", [{"id": "F_NEW"}]) == 0  # kept
    queued = store.queue.claim_job()  # the queued message and its job stay, however old
    assert (queued.file["id"], queued.thread_ts) == ("F_QUEUED", "3.000001")
    # The old message went with its job: asked again, it is labelled and answered afresh.
    labelled(store, "C1", "1.000001", "F_OLD", reply_ts="1.000019")


def test_the_poster_and_channel_type_travel_with_the_job(store):
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}], user_id="UALICE", channel_type="group")
    store.queue.enqueue_message("C1", "2.0", "2.0", [{"id": "F2"}])

    first, second = store.queue.claim_job(), store.queue.claim_job()

    assert (first.user_id, first.channel_type) == ("UALICE", "group")
    assert (second.user_id, second.channel_type) == ("", "")


# ---- upkeep: deleted messages' replies and retention ----------------------------------------------------------


class RecordingSlack:
    def __init__(self, errors=(), conversations=None):
        self.deleted: list[tuple[str, str]] = []
        self.errors = list(errors)
        self.auth_tests = 0
        self.conversations = conversations or {}  # channel id -> conversations.info's channel, or an Exception
        self.infos: list[str] = []

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

    def conversations_info(self, channel: str):
        self.infos.append(channel)
        answer = self.conversations.get(channel, {"is_channel": True, "is_private": False, "is_member": True})
        if isinstance(answer, Exception):
            raise answer
        return {"ok": True, "channel": {"id": channel, **answer}}


def test_upkeep_deletes_replies_to_deleted_messages_and_retries_only_transient_errors(store):
    for ts in ("1.000001", "2.000001"):
        store.queue.enqueue_message("C1", ts, ts, [{"id": "F" + ts}])
        store.replies.mark_replied("C1", ts, ts.replace("000001", "000009"))
        store.deletions.forget_message("C1", ts)
    slack = RecordingSlack(errors=["ratelimited", "message_not_found"])
    upkeep = Upkeep(store, slack, 90)

    upkeep()  # the first: rate limited, kept; the second: already gone, given up
    assert slack.deleted == [] and store.replies.replies_to_delete() == [("C1", "1.000001", "1.000009", "")]
    upkeep()
    assert slack.deleted == [("C1", "1.000009")]
    assert store.replies.replies_to_delete() == []


def test_upkeep_purges_at_start_then_hourly(make_store):
    store_clock = Clock(NOW - 31 * DAY)
    store = make_store(clock=store_clock)
    labelled(store, "C1", "1.000001", "F_OLD_JOB")
    store_clock.now = NOW
    clock = [NOW]
    upkeep = Upkeep(store, RecordingSlack(), 30, clock=lambda: clock[0])
    store.tags.index_images([image(ts=ts_at(NOW - 31 * DAY), file_id="OLD")])

    upkeep()
    assert found(store, "cat") == []
    assert store.summary.labelling_summary(0).images_labelled == 0  # the finished job went too

    store.tags.index_images([image(ts=ts_at(NOW - 29.99 * DAY), file_id="SOON")])
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
    search = TagSearch(store.tags, slack or RecordingSlack(), retention_days=90)
    search.load_workspace_url(RecordingSlack())
    return search.answer(find, channel_id=channel, user_id="U")


def test_the_answer_lists_matches_with_date_permalink_poster_and_the_matching_label(store):
    ts, thread_reply_ts = ts_at(NOW - 60, 7), ts_at(NOW, 8)
    store.tags.index_images(
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
    store.tags.index_images([image(labels)])

    [_, line] = search_answer(store, "whiteboard").split("\n")

    assert line.endswith("Thing0 99% · Thing1 98% · Thing2 97% · *Whiteboard* 70%")


def test_no_match_names_the_word_and_the_scope(store):
    assert search_answer(store, "whiteboard since 7d") == (
        "No labelled images match “whiteboard” in <#C1> in the last 7 days. "
        "A label's broader names count too (`dog` finds a Labrador), and so does the text in images "
        '(`"connection refused"` in quotes finds the exact phrase). I keep labels and text for 90 days.'
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
    store.tags.index_images(
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
    store.tags.index_images(
        [image(long_labels, ts=ts_at(NOW - n, n), thread_ts=ts_at(NOW - 999), user="U" + "X" * 20) for n in range(30)]
    )

    text = search_answer(store, "cat " * 20)

    assert len(text) <= MAX_ANSWER
    assert text.startswith("The 10 newest images matching")
    assert 1 <= text.count("archives/") < 10
    assert text.endswith(f"…and {10 - text.count('archives/')} older")


def test_answers_never_call_auth_test_and_the_sweep_learns_the_workspace_url_start_up_missed(store):
    store.tags.index_images([image()])
    slack = RecordingSlack(errors=["ratelimited"])
    search = TagSearch(store.tags, RecordingSlack())
    upkeep = Upkeep(store, slack, 90, search=search)
    find = Find("cat")

    assert search.load_workspace_url(slack) is None  # start-up: Slack didn't answer
    without_link = search.answer(find, channel_id="C1", user_id="U")
    upkeep()  # the next sweep asks again
    with_link = search.answer(find, channel_id="C1", user_id="U")
    upkeep()

    assert "1 image matching" in without_link and "archives" not in without_link
    assert "https://acme.slack.com/archives/C1/" in with_link
    assert slack.auth_tests == 2  # once failed, once learnt; never from an answer, never again


def test_another_channel_is_searched_only_while_slack_says_it_is_public(store):
    store.tags.index_images(
        [image(channel="CPUB"), image(channel="CNOWPRIV"), image(channel="CUNKNOWN", channel_type="")]
    )
    slack = RecordingSlack(conversations={"CNOWPRIV": {"is_channel": True, "is_private": True}})

    assert "1 image matching" in search_answer(store, "cat in <#CPUB>", slack=slack)
    assert "1 image matching" in search_answer(store, "cat in <#CUNKNOWN>", slack=slack)  # a shortcut's image
    refused = search_answer(store, "cat in <#CNOWPRIV>", slack=slack)
    assert refused.startswith("I can't search <#CNOWPRIV> from here:")
    assert "archives" not in refused
    assert slack.infos == ["CPUB", "CUNKNOWN", "CNOWPRIV"]
    assert "archives/CNOWPRIV/" in search_answer(store, "cat", channel="CNOWPRIV", slack=slack)  # from inside


def test_the_public_check_is_remembered_briefly_and_a_failed_one_is_neither_trusted_nor_remembered(store):
    store.tags.index_images([image(channel="CPUB")])
    slack = RecordingSlack(conversations={"CPUB": TimeoutError("timed out")})
    search = TagSearch(store.tags, slack, public_cache_seconds=60)
    find = Find("cat", channel_id="CPUB")

    unchecked = search.answer(find, channel_id="C1", user_id="U")
    slack.conversations = {}
    first, second = search.answer(find, channel_id="C1", user_id="U"), search.answer(find, channel_id="C1", user_id="U")

    assert unchecked == "I couldn't check with Slack whether <#CPUB> is public just now; try again in a moment."
    assert "1 image matching" in first and "1 image matching" in second
    assert slack.infos == ["CPUB", "CPUB"]  # the failure wasn't remembered; the answer was, for a minute
    assert "1 image matching" in search.answer(Find("cat"), channel_id="CPUB", user_id="U")
    assert slack.infos == ["CPUB", "CPUB"]  # a search in the channel itself asks nothing


def test_a_word_stemmed_to_a_label_is_shown_in_bold(store):
    store.tags.index_images(
        [image((Label("Person", 99.0), Label("Running", 95.0, ("Sport",)), Label("Jogging", 90.0)))]
    )

    [_, line] = search_answer(store, "run").split("\n")

    assert line.endswith("Person 99% · *Running* 95% · Jogging 90%")


def test_a_text_match_shows_a_snippet_with_the_match_in_bold_beside_the_permalink_and_labels(store):
    store.tags.index_images([image(text=INVOICE, user="UBOB"), image(TABLE, file_id="F2", ts=T1, text="no match")])

    header, line = search_answer(store, 'kitten "connection refused"').split("\n")

    assert header == '1 image matching “kitten "connection refused"” in <#C1>, newest first:'
    assert line.startswith(f"• <!date^{int(NOW)}^{{date_short_pretty}} {{time}}^https://acme.slack.com/archives/C1/")
    assert "<@UBOB> · Cat 99% · *Kitten* 96%" in line
    assert line.endswith(" · :memo: ACME Corp · Invoice #2024-17 · Total due∶ $1,200 · *Connection refused* by host")
    # A match in its labels only: no snippet.
    [_, line] = search_answer(store, "table").split("\n")
    assert ":memo:" not in line


def test_the_snippet_bolds_each_match_stemmed_as_the_index_stems_and_cuts_around_the_first():
    text = " ".join(f"w{n}" for n in range(40)) + " Invoices overdue · invoice " + " ".join(f"v{n}" for n in range(40))

    snippet = text_snippet(text, ("invoice",))

    assert snippet.startswith("…") and snippet.endswith("…")
    assert "*Invoices* overdue · *invoice*" in snippet
    assert 70 <= len(snippet) <= 90
    assert text_snippet(text, ("whiteboard",)) == ""  # its text didn't match: no snippet
    meeting = "明日の会議は午後三時からです"
    assert text_snippet(meeting, ("会議",)) == "明日の*会議*は午後三時からです"
    assert text_snippet(meeting, ("三",)) == "明日の会議は午後*三*時からです"
    assert text_snippet(meeting, (), (("午後三時",),)) == "明日の会議は*午後三時*からです"
    assert text_snippet(meeting, ("三時午後",)) == ""
    assert text_snippet("ＡＰＩキーです", ("apiキー",)) == "*ＡＰＩキー*です"  # bold as written
    assert text_snippet("Connection refused, connection reset", (), (("connections", "refused"),)) == (
        "*Connection refused*, connection reset"
    )
    assert (
        text_snippet("password: [hidden] · hidden", ("hidden",)) == "password∶ [hidden] · *hidden*"
    )  # the marker: never


def test_the_snippet_is_literal_no_mention_link_or_formatting_of_the_screenshots():
    text = "<!channel> <@U123> <https://evil.example|click> https://evil.example *bold* _it_ ~no~ `code` :tada: invoice"

    snippet = text_snippet(text, ("invoice",), width=200)

    assert snippet.endswith(" *invoice*") and snippet.count("*") == 2  # the one bold is the match's
    for markup in ("<!channel>", "<@U123>", "<https", "https://", "evil.example", "_", "~", "`", ":tada:"):
        assert markup not in snippet, markup
    assert "&lt;!channel&gt; &lt;@U123&gt;" in snippet


def test_text_of_a_private_channel_is_not_searched_from_elsewhere(store):
    store.tags.index_images([image(channel="GPRIV", channel_type="group", text="salary review")])

    refused = search_answer(store, '"salary review" in <#GPRIV>', channel="C1")

    assert refused.startswith("I can't search <#GPRIV> from here:") and "salary" not in refused.split("Run")[0]
    assert 'Run `/labels find "salary review"` in that channel instead.' in refused
    assert "*salary review*" in search_answer(store, '"salary review"', channel="GPRIV")


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
        bot.services.stores.label_cache.purge_label_cache(float("inf"))  # the same photo now means these labels
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


def test_find_in_japanese_finds_what_the_english_finds(start_bot, fake_slack, aws_env):
    bot = start_bot()
    cat = post_image(bot, fake_slack, "C0001", "F_CAT")

    answer = find(bot, "猫")

    assert permalinks(answer) == permalinks(find(bot, "cat")) == [link("C0001", cat["ts"])]
    assert "*Cat* (猫) 99%" in answer  # the label whose Japanese name matched, in bold
    assert permalinks(find(bot, "子猫")) == [link("C0001", cat["ts"])]
    assert find(bot, "犬").startswith("No labelled images match “犬”")


def test_find_answers_a_person_whose_slack_is_japanese_in_japanese(start_bot, fake_slack, aws_env):
    fake_slack.users["UALICE"] = {"locale": "ja-JP"}
    bot = start_bot()
    cat = post_image(bot, fake_slack, "C0001", "F_CAT")

    answer = find(bot, "cat since 7d")

    assert answer.startswith("<#C0001> で “cat” に一致する画像（過去 7 日間、1 件、新しい順）:")
    assert permalinks(answer) == [link("C0001", cat["ts"])]
    assert "*猫* 99% · *子猫* (猫) 96%" in answer  # label names in Japanese, the matched ones in bold
    assert find(bot, "whiteboard").startswith(
        "<#C0001> には、“whiteboard” に一致するラベル付け済みの画像がありません。"
    )


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
    # Each reply recorded first: a deletion between a reply's post and its record is left to the next sweep (30 s)
    recorded_replies(bot, fake_slack)

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


def recorded_replies(bot, fake_slack) -> dict[str, str]:
    """{message ts: the ts of the bot's reply to it}, once every posted reply is recorded in the store."""
    if getattr(bot, "fake_lambda", None) is not None:
        bot.fake_lambda.wait_idle()  # the invocations that posted and recorded them have ended
        return {m["thread_ts"]: m["ts"] for m in fake_slack.thread_messages if m.get("thread_ts")}
    deadline = time.monotonic() + 5
    while (
        None
        in (
            replies := dict(bot.services.stores.backend._db.execute("SELECT message_ts, reply_ts FROM messages"))
        ).values()
    ):
        assert time.monotonic() < deadline, replies
        time.sleep(0.01)
    return replies


def test_deleting_a_file_removes_it_from_every_message_it_was_in_and_the_replies_about_it(
    start_bot, fake_slack, aws_env
):
    bot = start_bot()
    first = post_image(bot, fake_slack, "C0001", "F_SHARED")
    second = post_image(bot, fake_slack, "C0001", "F_OTHER")
    third = post_image(bot, fake_slack, "C0001", "F_SHARED")  # shared again, in a new message
    replies = recorded_replies(bot, fake_slack)  # the last reply is posted, but maybe not yet recorded
    first_reply, second_reply, third_reply = (replies[e["ts"]] for e in (first, second, third))

    assert bot.post_event({"type": "file_deleted", "file_id": "F_SHARED", "event_ts": next_ts()}).status == 200

    assert permalinks(find(bot, "cat")) == [link("C0001", second["ts"])]
    assert first["ts"] not in find(bot, "cat").replace(".", "")
    deletes = fake_slack.wait_for_calls("chat.delete", 2)
    assert sorted(d["ts"] for d in deletes) == sorted([first_reply, third_reply])
    time.sleep(0.3)
    assert second_reply not in [d["ts"] for d in fake_slack.calls_to("chat.delete")]


def test_a_message_deleted_while_its_image_is_labelled_gets_no_reply_and_no_tags(start_bot, fake_slack, aws_env):
    bot = start_bot()
    bot.services.stores.settings.save_overrides("C0001", ChannelOverrides(tags=True))
    slow = fake_slack.add_file("F_SLOW", fixture_bytes("cat.jpg"), "slow.jpg", "image/jpeg", "jpg", delay_seconds=0.5)
    event = file_share_event("C0001", [slow])
    assert bot.post_event(event).status == 200
    while not fake_slack.downloads():  # the job is running
        time.sleep(0.01)

    gone = {"type": "message", "subtype": "message_deleted", "channel": "C0001", "deleted_ts": event["ts"]}
    assert bot.post_event(gone).status == 200

    deadline = time.monotonic() + 5
    while not aws_env.calls:  # the job goes on (it was deleted in the store, not stopped) and labels it, but
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.5)
    assert fake_slack.posts() == []
    assert fake_slack.calls_to("reactions.add") == []
    assert find(bot, "cat").startswith("No labelled images match")


def test_a_public_channel_made_private_is_no_longer_searched_from_elsewhere(start_bot, fake_slack, aws_env):
    bot = start_bot()
    post_image(bot, fake_slack, "C0TURNED", "F_TURNED", channel_type="channel")
    fake_slack.conversations["C0TURNED"] = {"is_private": True}  # made private since

    refused = find(bot, "cat in <#C0TURNED>", channel="C0001")

    assert refused.startswith("I can't search <#C0TURNED> from here"), refused
    assert permalinks(refused) == []
    assert fake_slack.calls_to("conversations.info")[-1]["channel"] == "C0TURNED"
    assert len(permalinks(find(bot, "cat", channel="C0TURNED"))) == 1  # members still find it there


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


@server_only  # DynamoDB reads skip expired entries at once (tests/test_store.py), so there is no purge to wait for
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


def test_the_workspace_url_comes_from_the_auth_test_at_start_not_from_a_find(start_bot, fake_slack, aws_env):
    bot = start_bot()
    post_image(bot, fake_slack, "C0001", "F_CAT")
    asked = len(fake_slack.calls_to("auth.test"))

    answers = [find(bot, "cat"), find(bot, "cat"), find(bot, "animal")]

    assert all(len(permalinks(answer)) == 1 for answer in answers)
    assert len(fake_slack.calls_to("auth.test")) == asked
