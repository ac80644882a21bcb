"""A loopback Socket Mode server: the WebSocket end Slack's apps.connections.open URL points at."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import struct
import threading
import time
import uuid

from tests.fakes import block_kit

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class FakeSocketModeServer:
    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self._listener.getsockname()[1]}/link/?ticket=test"
        self.acks: list[dict] = []
        self._clients: list[socket.socket] = []
        self._changed = threading.Condition()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def send(self, envelope: dict) -> None:
        """Deliver an envelope to every connected client."""
        self.wait_for_client()
        for client in list(self._clients):
            client.sendall(_frame(TEXT, json.dumps(envelope).encode()))

    def send_event(self, event_callback: dict) -> str:
        envelope_id = str(uuid.uuid4())
        self.send(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "payload": event_callback,
                "accepts_response_payload": False,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    def send_command(self, command: dict) -> str:
        envelope_id = str(uuid.uuid4())
        self.send(
            {"envelope_id": envelope_id, "type": "slash_commands", "payload": command, "accepts_response_payload": True}
        )
        return envelope_id

    def wait_for_client(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._clients:
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError("no Socket Mode client connected")

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for ack in self.acks:
                    if ack.get("envelope_id") == envelope_id:
                        return _checked(ack)
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no ack for envelope {envelope_id}; acks: {self.acks}")

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        for client in self._clients:
            client.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                request += client.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in request.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1(key + WEBSOCKET_GUID.encode()).digest()).decode()  # noqa: S324
            client.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            )
            client.sendall(_frame(TEXT, json.dumps({"type": "hello", "num_connections": 1}).encode()))
            with self._changed:
                self._clients.append(client)
                self._changed.notify_all()
            reader = client.makefile("rb")
            while True:
                opcode, payload = _read_frame(reader)
                if opcode == PING:
                    client.sendall(_frame(PONG, payload))
                elif opcode == TEXT:
                    with self._changed:
                        self.acks.append(json.loads(payload))
                        self._changed.notify_all()
                elif opcode == CLOSE:
                    client.sendall(_frame(CLOSE, payload[:2]))
                    break
        except (OSError, StopIteration, EOFError, ValueError):
            pass
        finally:
            with self._changed:
                if client in self._clients:
                    self._clients.remove(client)
            client.close()


def _checked(ack: dict) -> dict:
    """A slash command's ack payload is a message, which Slack checks as it checks chat.postMessage's."""
    if isinstance(ack.get("payload"), dict):
        refused = block_kit.check_message(ack["payload"]).refused
        assert not refused, f"Slack would refuse this Socket Mode ack: {'; '.join(refused)}"
    return ack


def _frame(opcode: int, payload: bytes) -> bytes:
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([len(payload)])
    elif len(payload) < 65536:
        header += bytes([126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([127]) + struct.pack("!Q", len(payload))
    return header + payload


def _read_frame(reader) -> tuple[int, bytes]:
    head = reader.read(2)
    if len(head) < 2:
        raise EOFError
    opcode, length = head[0] & 0x0F, head[1] & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", reader.read(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", reader.read(8))
    mask = reader.read(4) if head[1] & 0x80 else b"\0\0\0\0"
    data = reader.read(length)
    return opcode, bytes(b ^ mask[i % 4] for i, b in enumerate(data))
