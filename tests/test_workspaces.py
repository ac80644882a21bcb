"""Many workspaces on one deployment (issue 30), on SQLite and DynamoDB alike: which install each record belongs
to."""

from __future__ import annotations

from bot.settings import ChannelOverrides


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
