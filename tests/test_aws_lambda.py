"""The AWS Lambda path: API Gateway's events into bot.aws_lambda, Bolt's lazy listeners as asynchronous invocations
through a loopback Lambda Invoke API, the scheduled sweep, DynamoDB served locally (moto), fake Slack and
Rekognition. (The behaviour tests of test_labelling_http and others run on this path too: see both_runtimes.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bot.aws_lambda import LambdaRuntime
from bot.config import ConfigError, load_config
from bot.services import verify_store
from tests import slack_requests
from tests.conftest import fixture_bytes, lambda_environ
from tests.slack_requests import file_share_event

on_lambda = pytest.mark.parametrize("start_bot", ["lambda"], indirect=True)


def cat_file(fake_slack, file_id="F_CAT") -> dict:
    return fake_slack.add_file(file_id, fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")


def settle(bot) -> None:
    """Wait for the lazy invocations started so far to end."""
    bot.fake_lambda.wait_idle()


@on_lambda
def test_the_ack_records_the_image_and_a_lazy_invocation_of_the_label_function_answers_it(
    start_bot, fake_slack, aws_env
):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])

    answer = bot.post_event(event)

    assert answer.status == 200
    [post] = fake_slack.wait_for_posts(1)
    assert (post["channel"], post["thread_ts"]) == ("C0001", event["ts"])
    assert post["text"].startswith("Cat 99.2% · Kitten 96.4%")
    [invocation] = bot.fake_lambda.lazy_invocations()
    assert invocation.function_name == "labelbot-label"
    assert invocation.payload["headers"]["x-slack-bolt-lazy-function-name"] == "label_recorded_images"
    # The payload is Slack's signed request as API Gateway gave it, so the label function verifies it again.
    assert invocation.payload["headers"]["x-slack-signature"].startswith("v0=")
    assert len(aws_env.calls) == 1
    settle(bot)
    assert bot.services.stores.queue.queue_stats().depth == 0


@on_lambda
def test_slack_retrying_the_event_adds_no_job_no_call_and_no_second_reply(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])

    first = bot.post_event(event, event_id="Ev1")
    fake_slack.wait_for_posts(1)
    retries = [bot.post_event(event, event_id="Ev1", retry_num=n) for n in (1, 2)]
    settle(bot)

    assert [a.status for a in (first, *retries)] == [200, 200, 200]
    assert len(fake_slack.posts()) == 1
    assert len(aws_env.calls) == 1


@on_lambda
def test_a_forged_request_is_refused_and_starts_nothing(start_bot, fake_slack, aws_env):
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])

    forged = bot.post_event(event, secret="not-the-signing-secret")
    stale = bot.post_event(event, timestamp=int(time.time()) - 600)
    garbled = slack_requests.post(bot.events_url, "{}", {"X-Slack-Request-Timestamp": "soon"}, "application/json")

    assert [forged.status, stale.status, garbled.status] == [401, 401, 401]
    assert bot.fake_lambda.invocations == []
    assert bot.services.stores.queue.queue_stats().depth == 0


@on_lambda
def test_lazy_listener_headers_sent_from_the_internet_are_ignored(start_bot, fake_slack, aws_env):
    """Otherwise a replayed request could run a lazy listener in the events function and skip the ack's checks."""
    bot = start_bot()
    event = file_share_event("C0001", [cat_file(fake_slack)])
    body = json.dumps(slack_requests.envelope(event))
    headers = {
        **slack_requests.signed_headers(body),
        "X-Slack-Bolt-Lazy-Only": "1",
        "X-Slack-Bolt-Lazy-Function-Name": "label_recorded_images",
    }

    answer = slack_requests.post(bot.events_url, body, headers, "application/json")

    assert answer.status == 200
    fake_slack.wait_for_posts(1)
    # Handled as the request it is: the ack recorded the image and the work went to an invocation.
    [invocation] = bot.fake_lambda.lazy_invocations()
    assert invocation.payload["labelbot_lazy"] == {}


@on_lambda
def test_a_settings_change_is_saved_in_the_ack_and_announced_by_the_lazy_invocation(start_bot, fake_slack):
    bot = start_bot()

    answer = bot.command("threshold 90")
    [line] = fake_slack.wait_for_posts(1)
    bot.command("max 3")
    fake_slack.wait_for_posts(2)
    status = bot.command("status")

    assert answer.status == 200
    assert "90%" in answer.json()["text"]
    assert line["channel"] == "C0001"
    assert "threshold to 90%" in line["text"]
    # API Gateway base64-encodes the form body; the second save kept the first one's threshold.
    assert bot.fake_lambda.lazy_invocations()[0].payload["isBase64Encoded"] is True
    assert "90%" in status.json()["text"] and "3" in status.json()["text"]


@on_lambda
def test_a_lost_lazy_invocation_is_answered_once_by_the_scheduled_sweep(start_bot, fake_slack, aws_env):
    bot = start_bot(start_workers=False)  # Lambda records the invocations but runs none
    event = file_share_event("C0001", [cat_file(fake_slack)])

    bot.post_event(event)
    assert bot.services.stores.queue.queue_stats().depth == 1
    assert fake_slack.posts() == []
    swept = bot.sweep()
    again = bot.sweep()

    assert swept == {"jobs": 1} and again == {"jobs": 0}
    [post] = fake_slack.posts()
    assert post["thread_ts"] == event["ts"]
    assert len(aws_env.calls) == 1


@on_lambda
def test_a_job_an_invocation_left_running_is_requeued_by_the_sweep_and_answered(start_bot, fake_slack, aws_env):
    bot = start_bot(start_workers=False)
    event = file_share_event("C0001", [cat_file(fake_slack)])
    bot.post_event(event)
    assert (
        len(bot.services.stores.queue.claim_message_jobs("C0001", event["ts"])) == 1
    )  # an invocation took it, then died

    assert bot.sweep() == {"jobs": 0}  # running for less than the function may run: left alone
    ran = bot.services.pool.sweep_queue(stalled_after_seconds=0.0, time_left=lambda: 60.0, job_budget=1.0)

    assert ran == 1
    [post] = fake_slack.posts()
    assert post["thread_ts"] == event["ts"]


@on_lambda
def test_without_a_label_function_the_lazy_listeners_invoke_the_function_itself(start_bot, fake_slack, aws_env):
    bot = start_bot(LABELBOT_LABEL_FUNCTION="")

    bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    fake_slack.wait_for_posts(1)
    [invocation] = bot.fake_lambda.lazy_invocations()
    assert invocation.function_name == "labelbot-events"


@on_lambda
def test_when_the_invoke_fails_the_ack_stands_and_the_sweep_answers(start_bot, fake_slack, aws_env):
    bot = start_bot()
    bot.fake_lambda.functions.clear()  # Invoke answers ResourceNotFoundException

    answer = bot.post_event(file_share_event("C0001", [cat_file(fake_slack)]))

    assert answer.status == 200
    assert bot.services.stores.queue.queue_stats().depth == 1
    bot.sweep()
    assert len(fake_slack.wait_for_posts(1)) == 1


def test_a_misconfigured_function_answers_500_and_logs_one_line_naming_the_variable(tmp_path):
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": slack_requests.SIGNING_SECRET,
        "LABELBOT_STORE": "dynamodb",
        "LABELBOT_SETTINGS_TABLE": "labelbot-settings",
        "LABELBOT_TAGS_TABLE": "labelbot-tags",
        "AWS_REGION": "us-east-1",
    }
    script = (
        "import json; from bot.aws_lambda import handler; "
        "print(json.dumps([handler({'version': '2.0'}, None), handler({'version': '2.0'}, None)]))"
    )

    done = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert [a["statusCode"] for a in answers] == [500, 500]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2  # one per invocation, no traceback
    assert all("LABELBOT_JOBS_TABLE is not set" in json.loads(line)["message"] for line in lines)
    assert "xoxb-test-token" not in done.stderr


def lambda_tables_environ(local_dynamodb, monkeypatch, **overrides: str) -> tuple[dict, dict]:
    """A new set of tables in the local DynamoDB, and a Lambda function's environment naming them (overrides on top)."""
    tables = local_dynamodb.new_tables()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", local_dynamodb.url)
    environ = {
        "SLACK_BOT_TOKEN": "xoxb-test-token",
        "SLACK_SIGNING_SECRET": slack_requests.SIGNING_SECRET,
        **lambda_environ(tables),
        **overrides,
    }
    return tables, environ


def test_a_table_name_that_names_no_table_stops_start_up_naming_its_variable(local_dynamodb, aws_env, monkeypatch):
    tables, environ = lambda_tables_environ(local_dynamodb, monkeypatch, LABELBOT_TAGS_TABLE="labelbot-tags-typo")
    verify_store(load_config({**environ, "LABELBOT_TAGS_TABLE": tables["Tags"]}, mode="lambda"))  # all there: fine

    with pytest.raises(ConfigError) as refused:
        verify_store(load_config(environ, mode="lambda"))

    assert str(refused.value) == (
        "LABELBOT_TAGS_TABLE is 'labelbot-tags-typo', but no DynamoDB table has that name in us-east-1"
    )
    # The cold start checks through the runtime's own store, before anything reaches Slack.
    with pytest.raises(ConfigError, match="LABELBOT_TAGS_TABLE is 'labelbot-tags-typo'"):
        LambdaRuntime(load_config(environ, mode="lambda"))


def test_a_table_name_that_names_another_table_stops_start_up_naming_its_variable(local_dynamodb, aws_env, monkeypatch):
    tables, environ = lambda_tables_environ(local_dynamodb, monkeypatch)
    environ["LABELBOT_SETTINGS_TABLE"] = tables["Jobs"]  # pasted into the wrong variable

    with pytest.raises(ConfigError) as refused:
        verify_store(load_config(environ, mode="lambda"))

    assert str(refused.value) == (
        f"LABELBOT_SETTINGS_TABLE is {tables['Jobs']!r}, but that table's key is not labelbot's (channel_id)"
    )
    # The check reads a key no item has: the tables are as they were.
    client = local_dynamodb.client()
    assert all(client.scan(TableName=name)["Count"] == 0 for name in tables.values())
