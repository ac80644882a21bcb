"""Fixtures: the loopback fakes, the AWS environment pointed at them, and a running bot behind real HTTP."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.config import DYNAMODB_TABLE_VARIABLES, load_config
from bot.rate_limit import RateLimiter
from bot.rekognition import new_botocore_session
from bot.store import Stores
from bot.store.dynamodb import open_dynamodb_stores
from bot.store.sqlite import open_sqlite_stores
from tests import slack_requests
from tests.bot_processes import BotProcess
from tests.fakes.aws_lambda import FakeLambda
from tests.fakes.dynamodb import LocalDynamoDB
from tests.fakes.rekognition import FakeRekognition
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_rate_limits import SlackRateLimits, early_retries
from tests.fakes.translate import FakeTranslate
from tests.harness import RunningBot, serve_bot, serve_bot_on_lambda

FIXTURES = Path(__file__).parent / "fixtures"
BOT_TOKEN = "xoxb-test-token"


@pytest.fixture
def fake_slack(request) -> Iterator[FakeSlack]:
    """The loopback Slack. Marked @slack_rate_limits(**options) (a test, or a module's pytestmark), it answers calls
    over Slack's rate limits 429 (options go to SlackRateLimits: time_scale, rules), and the test fails if the bot
    retried a 429'd call sooner than its Retry-After."""
    fake = FakeSlack()
    marker = request.node.get_closest_marker("slack_rate_limits")
    if marker is not None:
        fake.rate_limits = SlackRateLimits(**marker.kwargs)
    yield fake
    fake.close()
    # Slack refuses (or cuts) Block Kit that breaks its rules: a test that expects it takes its violations first.
    fake.assert_no_block_kit_violations()
    if marker is not None:
        early = [(was.method, retry.received_at - was.received_at) for was, retry in early_retries(fake.calls)]
        assert not early, f"retried before Retry-After (method, seconds after the 429): {early}"


@pytest.fixture
def fake_rekognition() -> Iterator[FakeRekognition]:
    fake = FakeRekognition()
    yield fake
    fake.close()


@pytest.fixture
def fake_translate() -> Iterator[FakeTranslate]:
    fake = FakeTranslate()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def local_dynamodb() -> Iterator[LocalDynamoDB]:
    """DynamoDB on 127.0.0.1 (moto's server mode), shared by the session; tests make their own tables."""
    server = LocalDynamoDB()
    yield server
    server.close()


# ---- stores: the store-level behaviour tests run against both (see tests/test_store.py) ---------------------------


@pytest.fixture(params=["sqlite", "dynamodb"])
def store_kind(request) -> str:
    return request.param


@pytest.fixture
def make_store(request, store_kind, tmp_path) -> Iterator[Callable[..., Stores]]:
    """make_store(**options) -> a fresh, empty store (every concern, bot.store.Stores) of the parametrised kind: a
    SQLite file, or new tables in the local DynamoDB. options go to open_sqlite_stores/open_dynamodb_stores (both
    take clock=, a function of the current time)."""
    local = request.getfixturevalue("local_dynamodb") if store_kind == "dynamodb" else None
    made: list[Stores] = []

    def make(**options) -> Stores:
        if local is None:
            made.append(open_sqlite_stores(tmp_path / f"store-{len(made)}.sqlite3", **options))
        else:
            made.append(open_dynamodb_stores(local.new_tables(), client=local.client(), **options))
        return made[-1]

    yield make
    for store in made:
        store.close()


class Clock:
    """A store's clock that a test moves (make_store(clock=Clock())): `now`, in epoch seconds."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def aws_env(monkeypatch, fake_rekognition, fake_translate, tmp_path_factory) -> FakeRekognition:
    """boto3's standard chain, pointed at the loopback Rekognition (and Amazon Translate: the fake_translate fixture);
    nothing reaches a real AWS host. The config
    files are the same (absent) ones for every test, so the tests' bots share the process's AWS session as a bot's
    clients do (bot.rekognition.aws_session; the endpoints are read at each client)."""
    tmp_path = tmp_path_factory.getbasetemp()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-aws-secret-key-0123456789")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_REKOGNITION", fake_rekognition.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_TRANSLATE", fake_translate.url)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return fake_rekognition


def bot_environ(fake_slack: FakeSlack, tmp_path: Path, **overrides: str) -> dict[str, str]:
    environ = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": slack_requests.SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "LABELBOT_DB": str(tmp_path / "labelbot.sqlite3"),
        "LABELBOT_WORKERS": "2",
    }
    environ.update(overrides)
    return environ


@pytest.fixture
def start_bot(request, fake_slack, aws_env, tmp_path, monkeypatch) -> Iterator:
    """start_bot(**env overrides) -> RunningBot: the real Bolt app and workers behind a loopback HTTP server.
    `services` (a dict) goes to build_services, e.g. {"rekognition_client": a client with short timeouts}.
    Parametrised indirectly with "lambda" (see `both_runtimes`), the bot runs as on AWS Lambda instead: the
    handler behind API Gateway's event format, lazy listeners through a loopback Lambda, DynamoDB served locally."""
    runtime = getattr(request, "param", "server")
    started: list[RunningBot] = []
    fake_lambda = None
    if runtime == "lambda":
        local_dynamodb = request.getfixturevalue("local_dynamodb")
        fake_lambda = FakeLambda()
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", local_dynamodb.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake_lambda.url)

    tables: dict[str, str] = {}  # on Lambda, a second start is a new instance on the same tables

    def start(*, start_workers: bool = True, services: dict | None = None, **overrides: str) -> RunningBot:
        if runtime == "lambda":
            tables.update(tables or request.getfixturevalue("local_dynamodb").new_tables())
            environ = bot_environ(fake_slack, tmp_path, **{**lambda_environ(tables), **overrides})
            fake_lambda.hold = not start_workers
            config = load_config(environ, mode="lambda")
            started.append(serve_bot_on_lambda(config, fake_lambda, fake_slack=fake_slack, **(services or {})))
        else:
            config = load_config(bot_environ(fake_slack, tmp_path, **overrides), mode="http")
            started.append(serve_bot(config, start_workers=start_workers, fake_slack=fake_slack, **(services or {})))
        return started[-1]

    yield start
    for bot in started:
        bot.close()
    if fake_lambda is not None:
        fake_lambda.close()
        assert not fake_lambda.errors, f"a lazy invocation raised: {fake_lambda.errors[0]!r}"


# Slack's rate limits in the fake (see the fake_slack fixture): @slack_rate_limits(), @slack_rate_limits(time_scale=…).
slack_rate_limits = pytest.mark.slack_rate_limits


# For a test module whose behaviour tests should hold on AWS Lambda too: pytestmark = both_runtimes. Its tests
# that start a bot run twice: as the long-running bot and as on Lambda.
both_runtimes = pytest.mark.both_runtimes


# A test in such a module about what only the long-running bot has (a restart's requeue, /healthz, worker threads,
# the SQLite file): @server_only.
server_only = pytest.mark.server_only


def pytest_collection_finish(session) -> None:
    """Python's cycle collector runs every 700 allocations by default and, in a test process holding every imported
    module (and moto's tables), spent a tenth of the suite's CPU re-scanning them. What collection built is frozen
    out of its scans, and it runs less often; cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 1000)


def pytest_generate_tests(metafunc) -> None:
    marked = metafunc.definition.get_closest_marker("both_runtimes")
    if marked and "start_bot" in metafunc.fixturenames and not metafunc.definition.get_closest_marker("server_only"):
        metafunc.parametrize("start_bot", ["server", "lambda"], indirect=True)


def lambda_environ(tables: dict[str, str]) -> dict[str, str]:
    return {
        "LABELBOT_STORE": "dynamodb",
        **{DYNAMODB_TABLE_VARIABLES[logical]: name for logical, name in tables.items()},
        "LABELBOT_LABEL_FUNCTION": "labelbot-label",
    }


@pytest.fixture
def bot_env(aws_env, fake_slack, tmp_path) -> dict[str, str]:
    """The environment of a real bot process (tests.bot_processes): the fakes', and nothing of the developer's."""
    keep = ("PATH", "HOME", "LANG", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep or k.startswith("AWS_")}
    env.update(
        PYTHONUNBUFFERED="1",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=slack_requests.SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        LABELBOT_DB=str(tmp_path / "labelbot.sqlite3"),
        LABELBOT_WORKERS="4",
        # The metrics' files under the test's folder: a bot the test kills can't remove a directory of its own.
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    return env


@pytest.fixture
def processes(tmp_path):
    """processes(env, name, mode="http") -> a started BotProcess; all killed at the end whatever happened."""
    started: list[BotProcess] = []

    def start(env: dict, name: str, mode: str = "http") -> BotProcess:
        started.append(BotProcess(env, tmp_path, name, mode))
        return started[-1]

    yield start
    for process in started:
        process.close()


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def stub_rekognition_client(monkeypatch, tmp_path):
    """A real us-east-1 rekognition client with dummy credentials, for botocore's Stubber: nothing is sent (were the
    Stubber bypassed, its endpoint is a closed loopback port)."""
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return new_botocore_session().create_client(  # botocore's data read once per process
        "rekognition",
        region_name="us-east-1",
        aws_access_key_id="AKIDSTUBSTUBSTUB",
        aws_secret_access_key="stub-secret",
        endpoint_url="http://127.0.0.1:9",
    )


class CountingLimiter(RateLimiter):
    """A RateLimiter that counts its acquisitions: every paced attempt, retries included."""

    def __init__(self, rate: float) -> None:
        super().__init__(rate)
        self.acquired = 0

    def acquire(self) -> float:
        self.acquired += 1
        return super().acquire()
