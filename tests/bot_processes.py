"""The real bot in its own process group (`python -m bot http|socket`: gunicorn arbiter, web worker, labelling
process), its output in a file; the fixtures bot_env and processes (in conftest) start it."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fakes.socket_mode import FakeSocketModeServer

APP_TOKEN = "xapp-1-A0001-test-app-token"


# Each pytest-xdist process picks the ports of the servers it starts as processes from a range of its own, below the
# kernel's ephemeral ports (32768 up), which the fakes' servers bind: a port probed at 0 and closed could be handed
# to another test's process before this one's bound it (a bench burst once sent its events to another test's bot).
FIRST_PORT, PORTS_PER_PROCESS = 20_000, 500
_ports = itertools.count()


def free_port() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = FIRST_PORT + (int(worker) if worker.isdigit() else 0) * PORTS_PER_PROCESS
    for _ in range(PORTS_PER_PROCESS):
        port = first + next(_ports) % PORTS_PER_PROCESS
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:  # in use (a process of an earlier test still holds it)
                continue
        return port
    raise RuntimeError(f"no free port in {first}-{first + PORTS_PER_PROCESS - 1}")


def living_members(group: int) -> list[int]:
    """Processes of a process group that have not exited (zombies count as exited)."""
    living = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] not in ("Z", "X"):
            living.append(int(entry))
    return living


class BotProcess:
    """`python -m bot MODE` in its own process group, its output in a file."""

    def __init__(self, env: dict, workdir: Path, name: str, mode: str = "http") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.socket_server: FakeSocketModeServer | None = None  # Socket Mode: where Slack's end is
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "bot", mode],
            env={**env, "PORT": str(self.port)},
            cwd=workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def health(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
            return json.loads(response.read())

    def wait_ready(self, timeout: float = 30) -> None:
        """Until /healthz answers and the labelling process's workers run (it no longer says "starting")."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise AssertionError(f"the bot exited:\n{self.output()}")
            try:
                if self.health()["labelling"] != "starting":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"the bot never answered /healthz as ready:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL the whole group (arbiter and worker) and return once none of it can run any more."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()
        deadline = time.monotonic() + 10
        while living_members(self.popen.pid):
            assert time.monotonic() < deadline, "the bot's processes outlived SIGKILL"
            time.sleep(0.005)

    def terminate(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM to the main process, as a platform stopping it does; (exit code, seconds it took)."""
        started = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the bot did not stop within {timeout} s of SIGTERM:\n{self.output()}") from None
        return code, time.monotonic() - started

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text()

    def close(self) -> None:
        if self.popen.poll() is None or living_members(self.popen.pid):
            self.kill()
        self._log.close()
        if self.socket_server is not None:
            self.socket_server.close()

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"never logged {text!r}:\n{self.output()}"
            time.sleep(0.05)

    def labelling_pids(self) -> list[int]:
        """The living labelling processes of the group (one, unless one is stopping while its successor starts)."""
        return [pid for pid in living_members(self.popen.pid) if "bot.labelling_process" in command_line(pid)]

    def wait_for_labelling_process(self, other_than: int | None = None, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = [pid for pid in self.labelling_pids() if pid != other_than]
            if pids:
                return pids[0]
            time.sleep(0.05)
        raise AssertionError(f"no labelling process started:\n{self.output()}")


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
