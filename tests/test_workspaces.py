"""Many workspaces on one deployment (issue 30), on SQLite and DynamoDB alike: which install each record belongs
to."""

from __future__ import annotations

import time

from bot.install_context import working_for
from bot.render import ImageResult, Label
from bot.settings import ChannelOverrides
from bot.store import HeldImage, IndexedImage
from bot.store.protocols import ALL_INSTALLS


def test_a_job_knows_the_install_its_message_came_through(make_store):
    queue = make_store().queue
    queue.enqueue_message("C1", "1.000001", "1.000001", [{"id": "F1"}], workspace="E0ORG:T0ONE")
    queue.enqueue_message("C2", "1.000002", "1.000002", [{"id": "F2"}, {"id": "F3"}])  # one workspace: ""
    # a retried event through another install changes nothing: the message and its jobs are the first one's
    queue.enqueue_message("C1", "1.000001", "1.000001", [{"id": "F1"}], workspace="-:T0TWO")

    first = queue.claim_job()
    rest = queue.claim_message_jobs("C2", "1.000002")

    assert (first.file["id"], first.workspace) == ("F1", "E0ORG:T0ONE")
    assert [(job.file["id"], job.workspace) for job in rest] == [("F2", ""), ("F3", "")]
    assert queue.claim_job() is None


def test_a_channels_settings_and_a_users_opt_out_are_each_installs_own(make_store):
    """A Slack Connect channel has one ID in both workspaces: each install sets it apart."""
    settings = make_store().settings
    settings.save_overrides("C1", ChannelOverrides(threshold=90.0, language="ja"))  # the one workspace (before)
    settings.save_overrides("C1", ChannelOverrides(threshold=60.0), workspace="-:T0ONE")
    settings.save_overrides("C1", ChannelOverrides(max_labels=2), fields={"max_labels"}, workspace="-:T0TWO")
    settings.set_user_labels_off("U1", True, workspace="-:T0ONE")

    assert settings.get_overrides("C1") == ChannelOverrides(threshold=90.0, language="ja")
    assert settings.get_overrides("C1", workspace="-:T0ONE") == ChannelOverrides(threshold=60.0)
    assert settings.get_overrides("C1", workspace="-:T0TWO") == ChannelOverrides(max_labels=2)
    assert settings.get_overrides("C1", workspace="E0ORG:-") == ChannelOverrides()
    assert settings.user_labels_off("U1", workspace="-:T0ONE") is True
    assert settings.user_labels_off("U1") is False and settings.user_labels_off("U1", workspace="-:T0TWO") is False


def test_usage_is_each_installs_own_and_counted_together_under_the_overall_cap(make_store):
    usage = make_store().usage
    month = "2026-12"
    assert usage.count_call(month, "DetectLabels") == 1  # the one workspace, as before
    assert usage.count_call(month, "DetectLabels", limit=2, total_limit=3, workspace="-:T0ONE") == 1
    assert usage.count_call(month, "DetectText", limit=2, total_limit=3, workspace="-:T0ONE") == 2
    assert usage.count_call(month, "DetectLabels", limit=2, total_limit=3, workspace="-:T0ONE") is None  # its cap
    assert usage.count_call(month, "DetectLabels", limit=2, total_limit=3, workspace="-:T0TWO") == 1
    assert usage.count_call(month, "DetectLabels", limit=2, total_limit=3, workspace="-:T0TWO") is None  # overall
    usage.count_images(month, "C1", {"seen": 1, "labelled": 1}, workspace="-:T0ONE")
    usage.count_images(month, "C1", {"seen": 2}, workspace="-:T0TWO")
    usage.count_translation(month, 40, workspace="-:T0TWO")

    one, two = (usage.month_usage(month, workspace=w) for w in ("-:T0ONE", "-:T0TWO"))
    assert (one.month, one.total_calls, one.images["seen"], one.busiest) == (month, 2, 1, (("C1", 1),))
    assert (two.total_calls, two.images["seen"], two.translate_characters) == (1, 2, 40)
    assert one.translate_calls == 0
    assert usage.month_usage(month, workspace="*").total_calls == 3  # every install's, not the one workspace's
    assert usage.count_call(month, "DetectText", workspace="-:T0THREE") == 1  # no caps: counted in both all the same
    assert usage.month_usage(month, workspace="*").total_calls == 4
    assert usage.month_usage(month).total_calls == 1 and usage.month_usage(month).images["seen"] == 0
    assert usage.claim_notice(month, "admins:80", workspace="-:T0ONE")
    assert usage.claim_notice(month, "admins:80", workspace="-:T0TWO")
    assert not usage.claim_notice(month, "admins:80", workspace="-:T0ONE")


NOW = f"{int(time.time())}.00000"  # + a digit: a message posted now


def indexed(channel: str, ts: str, file_id: str, label: str, channel_type: str = "channel") -> IndexedImage:
    return IndexedImage(
        channel_id=channel,
        channel_type=channel_type,
        message_ts=ts,
        thread_ts=ts,
        file_id=file_id,
        user_id="U1",
        labels=(Label(label, 99.0),),
    )


def test_the_search_index_is_each_installs_own(make_store):
    """A Slack Connect channel (C1) indexed by two installs and by the one workspace; C2 only by install ONE."""
    store = make_store()
    tags, one, two = store.tags, "-:T0ONE", "-:T0TWO"
    tags.index_images([indexed("C1", NOW + "1", "F0", "Cat")])  # the one workspace, as before
    tags.index_images([indexed("C1", NOW + "2", "F1", "Cat"), indexed("C2", NOW + "3", "F2", "Cat")], workspace=one)
    tags.index_images([indexed("C1", NOW + "4", "F4", "Cat", channel_type="group")], workspace=two)

    def found(workspace, channel=None):
        return [
            (i.channel_id, i.file_id) for i in tags.search_images(("cat",), channel_id=channel, workspace=workspace)
        ]

    assert found(one) == [("C2", "F2"), ("C1", "F1")]  # every channel: the install's alone, IDs as Slack's
    assert found(one, "C1") == [("C1", "F1")] and found(two, "C1") == [("C1", "F4")]
    assert found("", "C1") == [("C1", "F0")] and found("") == [("C1", "F0")]
    assert found("E0ORG:-") == []
    assert tags.channel_is_public("C1", workspace=one) and not tags.channel_is_public("C1", workspace=two)
    assert not tags.channel_is_public("C2", workspace=two)

    with working_for(two):  # a deletion heard through install TWO deletes its entry only
        store.deletions.forget_message("C1", NOW + "4")
    with working_for(one):
        store.deletions.forget_message("C1", NOW + "2")
    assert found(two, "C1") == [] and found(one, "C1") == [] and found("", "C1") == [("C1", "F0")]


def held(channel: str, ts: str, file_id: str, workspace: str) -> HeldImage:
    return HeldImage(
        channel_id=channel,
        message_ts=ts,
        file_id=file_id,
        user_id="U1",
        content_key=f"key-{file_id}",
        categories=(("Violence", 91.0),),
        held_at=time.time(),
        workspace=workspace,
    )


def test_held_images_and_the_home_tabs_summary_are_each_installs_own(make_store):
    store = make_store()
    one, two = "-:T0ONE", "-:T0TWO"
    for channel, ts, file_id, workspace in (
        ("C0", "1.1", "F0", ""),
        ("C1", "1.2", "F1", one),
        ("C2", "1.3", "F2", two),
    ):
        store.queue.enqueue_message(channel, ts, ts, [{"id": file_id}], workspace=workspace)
        store.moderation.hold(held(channel, ts, file_id, workspace))
        job = store.queue.claim_message_jobs(channel, ts)[0]
        store.queue.finish_job(job.id, ImageResult(file_id, "a.jpg", labels=(Label(f"Label{file_id}", 99.0),)))

    def held_files(workspace):
        return sorted(image.file_id for image in store.moderation.held_since(0, workspace=workspace))

    assert held_files(one) == ["F1"] and held_files(two) == ["F2"] and held_files("") == ["F0"]
    assert held_files(ALL_INSTALLS) == ["F0", "F1", "F2"]  # the upkeep's missing notices: each sent for its install
    with working_for(two):
        assert held_files(None) == ["F2"]
        summary = store.summary.labelling_summary(0)
    assert [name for name, _ in summary.top_labels] == ["LabelF2"] and summary.images_labelled == 1
    assert [name for name, _ in store.summary.labelling_summary(0, workspace="").top_labels] == ["LabelF0"]
