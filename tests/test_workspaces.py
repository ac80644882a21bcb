"""Many workspaces on one deployment (issue 30), on SQLite and DynamoDB alike: which install each record belongs
to."""

from __future__ import annotations


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
