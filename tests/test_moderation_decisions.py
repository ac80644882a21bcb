"""The moderation decisions (Stores.moderation) on SQLite and on DynamoDB alike (the make_store fixture): images held
for an admin, the first decision winning, releases by content, deletions in Slack and the purge."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from bot.store import HeldImage
from bot.store.dynamodb.moderation import file_pointer_key, held_key
from bot.upkeep import Upkeep
from tests.conftest import Clock

DAY = 86400
NOW = time.time()  # held now: on DynamoDB a record held longer ago than the retention has expired


def held_image(
    ts: str = "1.0", file_id: str = "F1", *, channel: str = "C1", content: str = "K1", **fields
) -> HeldImage:
    defaults = {"user_id": "U1", "categories": (("Explicit", 97.5), ("Violence", 61.25)), "held_at": NOW}
    return HeldImage(channel, ts, file_id, content_key=content, **{**defaults, **fields})


@pytest.fixture
def moderation(make_store):
    return make_store().moderation


def test_a_held_image_reads_back_as_it_was_held_without_a_decision(moderation):
    image = held_image(notice_channel="CADMIN", notice_ts="5.5")

    assert moderation.hold(image) is True

    assert moderation.held("C1", "1.0", "F1") == image
    assert moderation.held("C1", "1.0", "F2") is None
    assert moderation.held("C2", "1.0", "F1") is None
    assert moderation.held("C1", "2.0", "F1") is None


def test_holding_ignores_a_decision_the_image_carries(moderation):
    moderation.hold(held_image(decision="kept", decided_by="UA", decided_at=5.0))

    image = moderation.held("C1", "1.0", "F1")
    assert (image.decision, image.decided_by, image.decided_at) == (None, "", None)


def test_holding_again_changes_nothing_so_a_rerun_job_keeps_the_decision(moderation):
    first = held_image()
    moderation.hold(first)
    moderation.set_notice("C1", "1.0", "F1", "CADMIN", "9.9")
    decided = moderation.decide("C1", "1.0", "F1", "kept", "UA")

    assert moderation.hold(held_image(user_id="U2", content="K2", categories=(), held_at=2000.0)) is False

    assert moderation.held("C1", "1.0", "F1") == decided
    assert decided.decision == "kept"
    assert (decided.user_id, decided.content_key, decided.categories) == ("U1", "K1", first.categories)


def test_the_same_file_in_another_message_is_held_on_its_own(moderation):
    assert moderation.hold(held_image("1.0")) is True
    assert moderation.hold(held_image("2.0")) is True
    assert moderation.hold(held_image("1.0", channel="C2")) is True

    moderation.decide("C1", "1.0", "F1", "kept", "UA")

    assert moderation.held("C1", "2.0", "F1").decision is None
    assert moderation.held("C2", "1.0", "F1").decision is None


def test_set_notice_records_where_the_admin_notice_went(moderation):
    moderation.hold(held_image())

    moderation.set_notice("C1", "1.0", "F1", "CADMIN", "12.34")
    moderation.set_notice("C1", "1.0", "F9", "CADMIN", "56.78")  # not held: nothing happens

    image = moderation.held("C1", "1.0", "F1")
    assert (image.notice_channel, image.notice_ts) == ("CADMIN", "12.34")
    assert moderation.held("C1", "1.0", "F9") is None


def test_the_first_decision_wins_and_later_ones_get_none(make_store):
    clock = Clock(5000.0)
    moderation = make_store(clock=clock).moderation
    moderation.hold(held_image())
    clock.now = 5060.0

    decided = moderation.decide("C1", "1.0", "F1", "released", "UA")

    assert decided == dataclasses.replace(held_image(), decision="released", decided_by="UA", decided_at=5060.0)
    clock.now = 5120.0
    assert moderation.decide("C1", "1.0", "F1", "kept", "UB") is None
    assert moderation.decide("C1", "1.0", "F1", "released", "UA") is None  # Slack retrying the action
    assert moderation.held("C1", "1.0", "F1") == decided


def test_deciding_on_an_image_not_held_gets_none(moderation):
    assert moderation.decide("C1", "1.0", "F1", "released", "UA") is None
    assert moderation.held("C1", "1.0", "F1") is None
    assert moderation.released_content("K1") is False


def test_an_unknown_decision_is_refused(moderation):
    moderation.hold(held_image())

    with pytest.raises(ValueError, match="maybe"):
        moderation.decide("C1", "1.0", "F1", "maybe", "UA")

    assert moderation.held("C1", "1.0", "F1").decision is None


@pytest.mark.parametrize("decision", ["released", "kept"])
def test_of_admins_deciding_at_once_exactly_one_gets_the_record(moderation, decision):
    moderation.hold(held_image())
    barrier = threading.Barrier(8)
    answers: list[HeldImage | None] = [None] * 8

    def press(n: int) -> None:
        barrier.wait()
        answers[n] = moderation.decide("C1", "1.0", "F1", decision, f"U{n}")

    threads = [threading.Thread(target=press, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [winner] = [answer for answer in answers if answer is not None]
    assert winner.decision == decision
    assert moderation.held("C1", "1.0", "F1") == winner


def test_content_counts_as_released_only_after_a_release_and_only_that_content(moderation):
    moderation.hold(held_image("1.0", "F1", content="K1"))
    moderation.hold(held_image("2.0", "F2", content="K2"))
    moderation.hold(held_image("3.0", "F3", content="K3"))
    assert moderation.released_content("K1") is False  # undecided

    moderation.decide("C1", "2.0", "F2", "kept", "UA")
    assert moderation.released_content("K2") is False

    moderation.decide("C1", "1.0", "F1", "released", "UA")
    assert moderation.released_content("K1") is True
    assert moderation.released_content("K2") is False
    assert moderation.released_content("K3") is False
    assert moderation.released_content("K4") is False


def test_forget_message_drops_that_message_records_only(moderation):
    moderation.hold(held_image("1.0", "F1"))
    moderation.hold(held_image("1.0", "F2"))
    moderation.hold(held_image("2.0", "F3"))
    moderation.hold(held_image("1.0", "F1", channel="C2"))

    assert moderation.forget_message("C1", "1.0") == 2

    assert moderation.held("C1", "1.0", "F1") is None
    assert moderation.held("C1", "1.0", "F2") is None
    assert moderation.held("C1", "2.0", "F3") is not None
    assert moderation.held("C2", "1.0", "F1") is not None
    assert moderation.forget_message("C1", "1.0") == 0
    assert moderation.hold(held_image("1.0", "F1")) is True  # a message posted again is held afresh


def test_forget_file_drops_its_records_in_every_message(moderation):
    moderation.hold(held_image("1.0", "F1"))
    moderation.hold(held_image("2.0", "F1", channel="C2"))
    moderation.hold(held_image("1.0", "F2"))

    assert moderation.forget_file("F1") == 2

    assert moderation.held("C1", "1.0", "F1") is None
    assert moderation.held("C2", "2.0", "F1") is None
    assert moderation.held("C1", "1.0", "F2") is not None
    assert moderation.forget_file("F1") == 0
    assert moderation.forget_message("C1", "1.0") == 1  # F2's; F1's went with its file


def test_a_deletion_in_slack_drops_held_records_but_keeps_the_release(make_store):
    store = make_store()
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}, {"id": "F2"}])
    store.queue.enqueue_message("C1", "2.0", "2.0", [{"id": "F3"}])
    for ts, file_id, content in (("1.0", "F1", "K1"), ("1.0", "F2", "K2"), ("2.0", "F3", "K3")):
        store.moderation.hold(held_image(ts, file_id, content=content))
    store.moderation.decide("C1", "1.0", "F1", "released", "UA")

    store.deletions.forget_message("C1", "1.0")
    store.deletions.forget_file("F3")

    assert store.moderation.held("C1", "1.0", "F1") is None
    assert store.moderation.held("C1", "1.0", "F2") is None
    assert store.moderation.held("C1", "2.0", "F3") is None
    assert store.moderation.released_content("K1") is True  # it says nothing about the deleted message


def test_a_file_deleted_in_slack_goes_from_every_message_that_held_it(make_store):
    store = make_store()
    store.moderation.hold(held_image("1.0", "F1"))  # no job recorded: the records go all the same
    store.moderation.hold(held_image("2.0", "F1", channel="C2"))
    store.moderation.hold(held_image("1.0", "F2"))

    store.deletions.forget_file("F1")

    assert store.moderation.held("C1", "1.0", "F1") is None
    assert store.moderation.held("C2", "2.0", "F1") is None
    assert store.moderation.held("C1", "1.0", "F2") is not None


def test_an_image_whose_message_or_file_was_deleted_meanwhile_is_not_held(make_store):
    store = make_store()
    store.queue.enqueue_message("C1", "1.0", "1.0", [{"id": "F1"}])
    store.deletions.forget_message("C1", "1.0")  # while its moderation check ran
    store.deletions.forget_file("F2")

    assert store.moderation.hold(held_image("1.0", "F1")) is False
    assert store.moderation.hold(held_image("2.0", "F2")) is False

    assert store.moderation.held("C1", "1.0", "F1") is None
    assert store.moderation.held("C1", "2.0", "F2") is None
    assert store.moderation.forget_file("F2") == 0  # no file pointer left behind (DynamoDB)
    assert store.moderation.hold(held_image("3.0", "F3")) is True


def test_held_since_lists_the_weeks_held_images_newest_first_decided_or_waiting(moderation):
    moderation.hold(held_image("1.0", "F1", held_at=NOW - 9 * DAY))  # before the week
    moderation.hold(held_image("2.0", "F2", held_at=NOW - 3 * DAY))
    moderation.hold(held_image("3.0", "F3", held_at=NOW - 2 * DAY, channel="C2"))
    moderation.hold(held_image("4.0", "F4", held_at=NOW - 1 * DAY))
    moderation.decide("C1", "2.0", "F2", "kept", "UA")

    week = moderation.held_since(NOW - 7 * DAY)

    assert [(image.channel_id, image.file_id) for image in week] == [("C1", "F4"), ("C2", "F3"), ("C1", "F2")]
    assert (week[2].decision, week[2].decided_by) == ("kept", "UA")  # decided shows with the decision
    assert week[0].decision is None
    assert [i.file_id for i in moderation.held_since(NOW - 7 * DAY, channel_ids={"C1"})] == ["F4", "F2"]
    assert moderation.held_since(NOW - 7 * DAY, channel_ids=set()) == []
    assert [i.file_id for i in moderation.held_since(NOW - 7 * DAY, limit=1)] == ["F4"]
    moderation.forget_message("C1", "4.0")  # deleted in Slack: gone from the list too
    assert [i.file_id for i in moderation.held_since(NOW - 7 * DAY)] == ["F3", "F2"]


def test_the_purge_drops_records_held_before_the_cutoff_decided_or_not(make_store):
    clock = Clock(10 * DAY)
    moderation = make_store(clock=clock).moderation
    moderation.hold(held_image("1.0", "F1", held_at=1 * DAY, content="K1"))
    moderation.hold(held_image("2.0", "F2", held_at=2 * DAY, content="K2"))
    moderation.hold(held_image("3.0", "F3", held_at=9 * DAY, content="K3"))
    clock.now = 3 * DAY
    moderation.decide("C1", "1.0", "F1", "released", "UA")
    clock.now = 9.5 * DAY
    moderation.decide("C1", "3.0", "F3", "released", "UA")
    clock.now = 10 * DAY

    assert moderation.purge(5 * DAY) == 2

    assert moderation.held("C1", "1.0", "F1") is None
    assert moderation.held("C1", "2.0", "F2") is None
    assert moderation.held("C1", "3.0", "F3") is not None
    assert moderation.released_content("K1") is False  # released before the cutoff
    assert moderation.released_content("K3") is True
    assert moderation.purge(5 * DAY) == 0
    assert moderation.forget_file("F1") == 0  # its file's pointer (DynamoDB) went too
    assert moderation.purge(float("inf")) == 1
    assert moderation.released_content("K3") is False


def test_the_hourly_upkeep_purges_held_images_past_the_retention_even_when_another_purge_fails(make_store, caplog):
    class Failing:
        def purge_answers(self, older_than: float) -> int:
            raise RuntimeError("the answer cache is down")

    store = make_store(clock=Clock(NOW))
    store.moderation.hold(held_image("1.0", "F1", held_at=NOW))
    store.moderation.hold(held_image("2.0", "F2", held_at=NOW + 80 * DAY))

    Upkeep(dataclasses.replace(store, answers=Failing()), slack=None, retention_days=90).purge(NOW + 91 * DAY)

    assert store.moderation.held("C1", "1.0", "F1") is None
    assert store.moderation.held("C1", "2.0", "F2") is not None
    assert "purging the cached step answers failed" in caplog.text


def test_dynamodb_items_expire_with_the_retention_and_expired_ones_read_as_gone(make_store, store_kind):
    if store_kind != "dynamodb":
        pytest.skip("DynamoDB's TTL attribute")
    clock = Clock(1000.0)
    store = make_store(clock=clock, retention_days=7)
    tables = store.backend
    store.moderation.hold(held_image(held_at=1000.0))
    store.moderation.decide("C1", "1.0", "F1", "released", "UA")

    held = tables.get(tables.jobs_table, held_key("C1", "1.0", "F1"))
    pointer = tables.get(tables.jobs_table, file_pointer_key("C1", "1.0", "F1"))
    release = tables.get(tables.jobs_table, {"pk": "released#K1", "sk": "content"})
    assert held["expires_at"] == pointer["expires_at"] == release["expires_at"] == 1000 + 7 * DAY
    assert "file_id" not in held  # in no by_file: deletions reads those hits as the file's jobs

    clock.now = 1000.0 + 7 * DAY  # expired, not yet deleted by TTL
    assert store.moderation.held("C1", "1.0", "F1") is None
    assert store.moderation.released_content("K1") is False
    assert store.moderation.decide("C1", "1.0", "F1", "kept", "UB") is None
    assert store.moderation.hold(held_image(held_at=clock.now)) is True  # held afresh
    assert store.moderation.held("C1", "1.0", "F1").decision is None
