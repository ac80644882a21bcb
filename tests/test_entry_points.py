"""The real processes: `python -m bot` in HTTP (gunicorn) and Socket Mode, `label`, and start-up errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from tests.bot_processes import APP_TOKEN, free_port
from tests.conftest import BOT_TOKEN, FIXTURES, fixture_bytes
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.socket_mode import FakeSocketModeServer
from tests.pictures import rendered_screenshot
from tests.slack_requests import SIGNING_SECRET, envelope, file_share_event, post_event
from tests.test_many_workspaces import ONE, TWO, install, token_of


@pytest.fixture
def process_env(aws_env, tmp_path) -> dict[str, str]:
    """A clean environment for a bot process: the AWS variables aws_env set, and nothing of the developer's."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_bot(args: list[str], env: dict, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


def start_bot_process(args: list[str], env: dict, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=25)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"the bot did not stop within 25 s after SIGTERM:\n{output}") from None
    return process.returncode, output


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({}, "SLACK_BOT_TOKEN is not set"),
        ({"SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN must be a bot token"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_SIGNING_SECRET is not set"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN must be"),
        ({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s", "PORT": "http"}, "PORT must be a whole number"),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s", "LABELBOT_MIN_CONFIDENCE": "150"},
            "LABELBOT_MIN_CONFIDENCE must be from 0 to 100",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s", "LABELBOT_MAX_LABELS": "0"},
            "LABELBOT_MAX_LABELS must be from 1 to 20",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "slack.com"},
            "SLACK_API_URL must be an http(s) URL",
        ),
        (
            {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": "s", "AWS_REGION": "", "AWS_DEFAULT_REGION": ""},
            "AWS_REGION is not set",
        ),
    ],
)
def test_a_misconfiguration_stops_start_up_with_one_line_naming_the_variable(process_env, tmp_path, settings, variable):
    result = run_bot([], {**process_env, **settings}, tmp_path)

    assert result.returncode == 2
    assert result.stderr.startswith("labelbot: configuration error: ")
    assert variable in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


MANY = {"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-revoked-token"}, "SLACK_BOT_TOKEN was refused by Slack (invalid_auth)"),
        ({"SLACK_API_URL": "http://127.0.0.1:9/api/"}, "cannot reach Slack at SLACK_API_URL http://127.0.0.1:9/api/"),
        ({"SLACK_BOT_TOKEN": "xoxb-..."}, "SLACK_BOT_TOKEN is still the placeholder from .env.example"),
        ({"SLACK_APP_TOKEN": "xapp-..."}, "SLACK_APP_TOKEN is still the placeholder"),
        ({"LABELBOT_DB": "/nonexistent/folder/labelbot.sqlite3"}, "LABELBOT_DB is '/nonexistent/folder"),
        # Many workspaces: Slack checks the app's credentials (oauth.v2.access with a code no install has)
        (
            {**MANY, "SLACK_CLIENT_SECRET": "not-the-secret"},
            "SLACK_CLIENT_SECRET was refused by Slack (bad_client_secret)",
        ),
        ({**MANY, "SLACK_CLIENT_ID": "1.2"}, "SLACK_CLIENT_ID was refused by Slack (invalid_client_id)"),
        ({**MANY, "SLACK_APP_TOKEN": "xapp-1-A1-1-abc"}, "SLACK_APP_TOKEN: Socket Mode serves one workspace"),
    ],
)
def test_a_token_slack_refuses_or_an_unusable_setting_stops_start_up(
    process_env, fake_slack, tmp_path, settings, message
):
    env = {
        **process_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        **settings,
    }

    result = run_bot([], env, tmp_path)

    assert result.returncode == 2
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_settings_are_read_from_dot_env_in_the_working_directory(process_env, tmp_path):
    (tmp_path / ".env").write_text(f"SLACK_BOT_TOKEN={BOT_TOKEN}\nSLACK_SIGNING_SECRET=s\nLABELBOT_WORKERS=lots\n")

    result = run_bot([], process_env, tmp_path)

    assert result.returncode == 2
    assert "LABELBOT_WORKERS must be a whole number" in result.stderr


def test_label_tries_the_aws_side_on_a_local_file(process_env, aws_env, fake_translate, tmp_path):
    result = run_bot(["label", str(FIXTURES / "cat.jpg")], process_env, tmp_path)
    assert (result.returncode, result.stdout) == (
        0,
        "Cat 99.2% · Kitten 96.4% · Whiskers 80.1%\n",
    )

    narrow = run_bot(["label", str(FIXTURES / "cat.jpg"), "--threshold", "96", "--max", "3"], process_env, tmp_path)
    assert narrow.stdout == "Cat 99.2% · Kitten 96.4%\n"

    aws_env.labels = [*aws_env.labels, {"Name": "Widget", "Confidence": 85.0, "Parents": []}]  # in no label table
    japanese = run_bot(["label", str(FIXTURES / "cat.jpg"), "--language", "ja"], process_env, tmp_path)
    assert japanese.stdout == "猫 99.2% · 子猫 96.4% · ウィジェット 85.0% · ひげ 80.1%\n"
    assert fake_translate.texts() == ["Widget"]  # Amazon Translate, for the name the table lacks


def test_label_with_moderation_prints_what_the_bot_would_act_on(process_env, aws_env, tmp_path):
    aws_env.moderation_labels = [
        {"Name": "Violence", "Confidence": 71.25, "ParentName": "", "TaxonomyLevel": 1},
        {"Name": "Weapons", "Confidence": 71.25, "ParentName": "Violence", "TaxonomyLevel": 2},
        {"Name": "Alcohol", "Confidence": 55.0, "ParentName": "", "TaxonomyLevel": 1},
    ]
    cat = str(FIXTURES / "cat.jpg")

    held = run_bot(["label", cat, "--moderation"], process_env, tmp_path)

    assert (held.returncode, held.stdout.splitlines()) == (
        0,
        [
            "Moderation (threshold 60%):",
            "  Violence 71.2%: counts",
            "  Weapons 71.2% (Violence): counts",
            "  Alcohol 55.0%: below 60%",
            "Held for an admin's review (Violence 71.2%): no labels, no reactions, no DetectLabels call.",
            "This image is waiting for an admin's review.",
        ],
    )
    assert [call.operation for call in aws_env.calls] == ["DetectModerationLabels"]
    assert aws_env.calls[0].min_confidence == 50.0  # asked from Rekognition's floor, as the bot asks

    process_env["LABELBOT_MODERATION_MIN_CONFIDENCE"] = "50"
    stricter = run_bot(["label", cat, "--moderation"], process_env, tmp_path)
    assert "Held for an admin's review (Violence 71.2%, Alcohol 55.0%)" in stricter.stdout

    fine = run_bot(["label", cat, "--moderation-threshold", "80"], process_env, tmp_path)
    assert fine.stdout.splitlines()[-2:] == [
        "Not held: labelled as usual.",
        "Cat 99.2% · Kitten 96.4% · Whiskers 80.1%",
    ]
    assert [call.operation for call in aws_env.calls][-2:] == ["DetectModerationLabels", "DetectLabels"]


def test_label_with_text_prints_the_text_line_as_the_bot_posts_it(process_env, aws_env, tmp_path):
    aws_env.text_lines = [
        ("password: hunter22 <!here>", 97.0, (0.1, 0.4, 0.6, 0.05)),
        ("Sign in", 99.0, (0.1, 0.1, 0.3, 0.05)),
    ]
    cat = str(FIXTURES / "cat.jpg")

    result = run_bot(["label", cat, "--text"], process_env, tmp_path)

    assert (result.returncode, result.stdout.splitlines()) == (
        0,
        [
            "Cat 99.2% · Kitten 96.4% · Whiskers 80.1%",
            ":memo: `Sign in · password: [hidden] &lt;!here&gt;`",
            "The poster is told (ephemerally): :warning: This screenshot seems to show a password or secret; "
            "consider rotating it. I replaced it with [hidden] in my reply and the search index, and kept no copy.",
        ],
    )
    assert [call.operation for call in aws_env.calls] == ["DetectLabels", "DetectText"]
    aws_env.text_lines = []
    nothing = run_bot(["label", cat, "--text"], process_env, tmp_path)
    assert nothing.stdout.splitlines()[-1] == "No text line: no text read at or above 80% confidence."


def test_label_with_text_prints_what_the_local_reader_read_when_it_reads(process_env, aws_env, tmp_path):
    aws_env.text_lines = [("Latin fragments only", 99.0, (0.1, 0.1, 0.3, 0.05))]  # DetectText: must not be asked
    shot = tmp_path / "shot.jpg"
    shot.write_bytes(rendered_screenshot("明日の会議は午後三時からです", "パスワード: hunter22"))

    env = {**process_env, "LABELBOT_TEXT_ENGINE": "local"}
    result = run_bot(["label", str(shot), "--text", "--language", "ja"], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].replace(" ", "") == ":memo:`明日の会議は午後三時からです·パスワード:[非表示]`"
    assert "hunter22" not in result.stdout
    assert [call.operation for call in aws_env.calls] == ["DetectLabels"]


def test_label_with_boxes_writes_the_show_where_picture(process_env, aws_env, tmp_path):
    aws_env.labels = [
        {
            "Name": "Cat",
            "Confidence": 99.0,
            "Parents": [],
            "Instances": [
                {"BoundingBox": {"Left": 0.2, "Top": 0.1, "Width": 0.5, "Height": 0.8}, "Confidence": 98.0},
                {"BoundingBox": {"Left": 0.0, "Top": 0.0, "Width": 0.1, "Height": 0.1}, "Confidence": 90.0},
            ],
        },
        {"Name": "Animal", "Confidence": 99.0, "Parents": [], "Instances": []},
    ]
    out = tmp_path / "where.jpg"

    result = run_bot(["label", str(FIXTURES / "cat.jpg"), "--boxes", str(out)], process_env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"Wrote {out}: 2 boxes (Cat)"
    with Image.open(out) as picture:
        assert picture.format == "JPEG" and picture.size == Image.open(FIXTURES / "cat.jpg").size
    aws_env.labels = [{"Name": "Animal", "Confidence": 99.0, "Parents": [], "Instances": []}]
    nothing = run_bot(["label", str(FIXTURES / "cat.jpg"), "--boxes", str(tmp_path / "no.jpg")], process_env, tmp_path)
    assert nothing.stdout.splitlines()[-1] == "No label here has a box; nothing written."
    assert not (tmp_path / "no.jpg").exists()


def test_label_explains_a_file_it_cannot_read(process_env, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(fixture_bytes("cat.jpg")[:3000])

    result = run_bot(["label", str(broken)], process_env, tmp_path)

    assert result.returncode == 1
    assert result.stdout == "This image looks damaged or incomplete, so I couldn't read it.\n"
    assert "Traceback" not in result.stderr


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the bot exited: {process.communicate()[0]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the bot never answered /healthz")


def test_http_mode_under_gunicorn_labels_an_image_and_stops_on_sigterm(process_env, fake_slack, aws_env, tmp_path):
    port = free_port()
    env = {
        **process_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "PORT": str(port),
    }
    process = start_bot_process(["http"], env, tmp_path)
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        assert health["queue_depth"] == 0
        photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
        event = file_share_event("C0001", [photo])

        answer = post_event(f"http://127.0.0.1:{port}/slack/events", event)

        assert answer.status == 200
        [post] = fake_slack.wait_for_posts(1, timeout=30)
        assert (post["thread_ts"], post["text"][:9]) == (event["ts"], "Cat 99.2%")
    finally:
        code, output = stop(process)
    assert code == 0
    assert "Traceback" not in output
    assert BOT_TOKEN not in output and SIGNING_SECRET not in output


def test_http_mode_under_gunicorn_installs_two_workspaces_and_answers_each_with_its_token(
    process_env, fake_slack, aws_env, tmp_path
):
    """Many workspaces as a user runs it: the web process serves the install page and redirect, the labelling
    process (a process of its own) labels each image with its install's token, read from the SQLite file."""
    port = free_port()
    env = {**process_env, **MANY, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": fake_slack.api_url}
    process = start_bot_process(["http"], {**env, "PORT": str(port)}, tmp_path)
    fake_slack.channel_teams.update(C0ONE="T0ONE", C0TWO="T0TWO")
    try:
        wait_for_health(f"http://127.0.0.1:{port}/healthz", process)
        running = SimpleNamespace(url=f"http://127.0.0.1:{port}")
        for workspace in (ONE, TWO):
            assert install(running, fake_slack, workspace).status == 200
        for team, channel in (("T0ONE", "C0ONE"), ("T0TWO", "C0TWO")):
            photo = fake_slack.add_file(f"F{team}", fixture_bytes("cat.jpg"), "c.jpg", "image/jpeg", "jpg", team=team)
            answer = post_event(f"{running.url}/slack/events", file_share_event(channel, [photo]), team=team)
            assert answer.status == 200
        posts = fake_slack.wait_for_posts(2, timeout=30)
        assert sorted(post["channel"] for post in posts) == ["C0ONE", "C0TWO"]
        sent = {
            c.args["channel"]: c.headers["authorization"] for c in fake_slack.calls if c.method == "chat.postMessage"
        }
        assert sent == {
            channel: f"Bearer {token_of(fake_slack, team)}"
            for team, channel in (("T0ONE", "C0ONE"), ("T0TWO", "C0TWO"))
        }
        # Slack revokes ONE's token (its uninstall event not heard yet): the labelling process sees it refused on
        # ONE's next image, and goes on labelling TWO's
        revoked, seen = fake_slack.oauth.uninstall("T0ONE"), len(fake_slack.calls)
        late = fake_slack.add_file("F3", fixture_bytes("cat.jpg"), "c.jpg", "image/jpeg", "jpg", team="T0ONE")
        assert post_event(f"{running.url}/slack/events", file_share_event("C0ONE", [late]), team="T0ONE").status == 200
        deadline = time.monotonic() + 30
        while not any(c.headers.get("authorization") == f"Bearer {revoked[0]}" for c in fake_slack.calls[seen:]):
            assert time.monotonic() < deadline, "ONE's revoked token was never used"
            time.sleep(0.05)
        again = fake_slack.add_file("F4", fixture_bytes("cat.jpg"), "c.jpg", "image/jpeg", "jpg", team="T0TWO")
        assert post_event(f"{running.url}/slack/events", file_share_event("C0TWO", [again]), team="T0TWO").status == 200
        assert [p["channel"] for p in fake_slack.wait_for_posts(3, timeout=30)][2] == "C0TWO"
    finally:
        code, output = stop(process)
    assert code == 0 and "Traceback" not in output
    tokens = [*fake_slack.oauth.issued, *fake_slack.oauth.revoked]
    assert CLIENT_SECRET not in output and not any(token in output for token in tokens)


def socket_mode_env(process_env: dict, fake_slack, socket_server: FakeSocketModeServer) -> dict:
    """A Socket Mode bot process's environment: apps.connections.open answers with the fake server's URL."""
    fake_slack.socket_mode_url = socket_server.url
    return {
        **process_env,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "SLACK_API_URL": fake_slack.api_url,
    }


def test_socket_mode_labels_an_image_and_answers_the_command(process_env, fake_slack, aws_env, tmp_path):
    socket_server = FakeSocketModeServer()
    env = socket_mode_env(process_env, fake_slack, socket_server)
    process = start_bot_process([], env, tmp_path)
    try:
        socket_server.wait_for_client(timeout=30)
        photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
        event = file_share_event("D0001", [photo], channel_type="im")

        event_ack = socket_server.wait_for_ack(socket_server.send_event(envelope(event)))
        command_ack = socket_server.wait_for_ack(
            socket_server.send_command(
                {"command": "/labels", "text": "max 9", "channel_id": "D0001", "user_id": "UALICE", "team_id": "T0001"}
            )
        )

        assert "payload" not in event_ack
        assert command_ack["payload"]["text"].startswith("Done: set the number of labels per image to at most 9")
        posts = fake_slack.wait_for_posts(2, timeout=30)  # the reply in the thread, and the change announced in the DM
        [reply] = [p for p in posts if "thread_ts" in p]
        [announcement] = [p for p in posts if "thread_ts" not in p]
        assert (reply["channel"], reply["thread_ts"]) == ("D0001", event["ts"])
        assert reply["text"].startswith("Cat 99.2%")
        assert announcement["text"] == "<@UALICE> set the number of labels per image to at most 9."
    finally:
        code, output = stop(process)
        socket_server.close()
    assert code == 0
    assert "Traceback" not in output
    assert APP_TOKEN not in output and BOT_TOKEN not in output


def test_socket_mode_warns_once_of_a_moderation_channel_it_isnt_in_and_takes_moderation_commands(
    process_env, fake_slack, aws_env, tmp_path
):
    """The process Slack talks to checks LABELBOT_MODERATION_CHANNEL as it starts; its labelling process doesn't
    (one warning, one conversations.info). Start-up goes on, and /labels answers with the channel's moderation."""
    fake_slack.conversations["C0MOD"] = {"is_member": False}
    socket_server = FakeSocketModeServer()
    env = {**socket_mode_env(process_env, fake_slack, socket_server), "LABELBOT_MODERATION_CHANNEL": "C0MOD"}
    process = start_bot_process([], env, tmp_path)

    def command(text: str) -> str:
        ack = socket_server.wait_for_ack(
            socket_server.send_command(
                {"command": "/labels", "text": text, "channel_id": "C0001", "user_id": "UALICE", "team_id": "T0001"}
            )
        )
        return ack["payload"]["text"]

    try:
        socket_server.wait_for_client(timeout=30)
        assert command("moderation on").startswith("Done: turned moderation on in this channel")
        status = command("status")
        photo = fake_slack.add_file("F1", fixture_bytes("cat.jpg"), "cat.jpg", "image/jpeg", "jpg")
        socket_server.wait_for_ack(socket_server.send_event(envelope(file_share_event("D0001", [photo]))))
        # the labelling process is up once the reply is there
        [reply] = [p for p in fake_slack.wait_for_posts(2, timeout=30) if "thread_ts" in p]
        assert reply["text"].startswith("Cat 99.2%")
    finally:
        code, output = stop(process)
        socket_server.close()
    assert code == 0
    assert "• moderation on (set for this channel)" in status
    assert ":warning: I'm not a member of <#C0MOD> (LABELBOT_MODERATION_CHANNEL)" in status
    assert output.count("LABELBOT_MODERATION_CHANNEL is C0MOD, but the bot is not a member") == 1, output
    assert len([c for c in fake_slack.calls if c.method == "conversations.info"]) == 1  # status used the answer
    assert "Traceback" not in output
