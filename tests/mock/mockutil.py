"""Helpers for the mock Vapi tests: a runner, a raw HTTP client, a webhook receiver, socket readers."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vapi_fast.audio import AudioFormat
from vapi_fast.mock import MockVapi
from vapi_fast.mock._audio import frame_bytes, synth_speech
from vapi_fast.mock._http import HttpRequest, HttpResponse, HttpServer, json_response
from websockets.asyncio.client import ClientConnection, connect

__all__ = [
    "MULAW",
    "PCM16",
    "TIMEOUT_FACTOR",
    "Frames",
    "Receiver",
    "caller_audio",
    "create_call",
    "http_request",
    "is_msg",
    "open_call",
    "read_response",
    "recv_until",
    "run",
    "scaled",
    "socket_fds",
]

#: Scales every timeout on slow machines (websockets' convention).
TIMEOUT_FACTOR = float(os.environ.get("VAPI_FAST_TIMEOUT_FACTOR", "1"))

MULAW = {"format": "mulaw", "container": "raw", "sampleRate": 8000}
PCM16 = {"format": "pcm_s16le", "container": "raw", "sampleRate": 16000}

T = TypeVar("T")


def scaled(seconds: float) -> float:
    """A timeout bound, scaled by ``VAPI_FAST_TIMEOUT_FACTOR``."""
    return seconds * TIMEOUT_FACTOR


class _ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 4.5) -> T:
    """Run ``coro`` in a new debug-mode loop under a bound; check it left no task behind and that
    nothing (asyncio, websockets, the mock) logged an error meanwhile."""

    async def main() -> T:
        try:
            async with asyncio.timeout(scaled(timeout_s)):
                return await coro
        finally:
            leftover = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            assert not leftover, leftover

    errors = _ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        result = asyncio.run(main(), debug=True)
    finally:
        root.removeHandler(errors)
    assert not errors.records, [record.getMessage() for record in errors.records]
    return result


def socket_fds() -> int | None:
    """How many sockets this process has open (Linux), or ``None`` where /proc is missing."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    count = 0
    for name in names:
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{name}").startswith("socket:")
    return count


async def http_request(
    base_url: str,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a fresh connection; ``raw`` sends those bytes instead of a request.

    Returns the status, the lower-cased headers and the body.
    """
    host, _, port = base_url.removeprefix("http://").partition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        if raw is None:
            lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
            if body is not None:
                lines.append(f"Content-Length: {len(body)}")
                lines.append("Content-Type: application/json")
            lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
            raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(scaled(2)):
            status, response_headers, payload = await read_response(reader)
        return status, response_headers, payload
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response with a Content-Length body."""
    status_line = await reader.readline()
    status = int(status_line.split(b" ")[1])
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        headers[name.strip().lower()] = value.strip()
    payload = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, payload


async def create_call(mock: MockVapi, audio_format: Mapping[str, object] | None = None, **extra: Any) -> dict[str, Any]:
    """POST /call with the mock's key; returns the call object."""
    transport: dict[str, Any] = {"provider": "vapi.websocket"}
    if audio_format is not None:
        transport["audioFormat"] = dict(audio_format)
    body = {"assistantId": "a1f3c9d2-7b44-4c1e-8f2a-6d5e0b9c3a17", "transport": transport, **extra}
    status, _, payload = await http_request(
        mock.base_url, "POST", "/call", json.dumps(body).encode(), {"Authorization": f"Bearer {mock.api_key}"}
    )
    assert status == 201, payload
    call: dict[str, Any] = json.loads(payload)
    return call


@contextlib.asynccontextmanager
async def open_call(
    mock: MockVapi, audio_format: Mapping[str, object] | None = None, *, max_size: int | None = 2**20, **extra: Any
) -> AsyncIterator[tuple[ClientConnection, str]]:
    """Create a call and connect to its socket; yields the connection and the call id."""
    call = await create_call(mock, audio_format, **extra)
    async with connect(call["transport"]["websocketCallUrl"], compression=None, max_size=max_size) as ws:
        yield ws, call["id"]


@dataclass
class Frames:
    """What :func:`recv_until` read: every frame with its arrival time (monotonic seconds)."""

    items: list[tuple[float, str | bytes]] = field(default_factory=list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The JSON text frames, parsed (non-JSON frames skipped)."""
        out = []
        for _, item in self.items:
            if isinstance(item, str):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(item))
        return out

    @property
    def audio(self) -> list[bytes]:
        """The binary frames."""
        return [item for _, item in self.items if isinstance(item, bytes)]

    def types(self) -> list[str]:
        """The ``type`` of each JSON message, in order."""
        return [m.get("type", "?") for m in self.messages]

    def last(self) -> dict[str, Any]:
        """The last JSON message read."""
        return self.messages[-1]


def is_msg(kind: str, **fields: object) -> Callable[[str | bytes], bool]:
    """A predicate matching a JSON message of ``kind`` whose fields equal ``fields``."""

    def match(item: str | bytes) -> bool:
        if not isinstance(item, str):
            return False
        try:
            message = json.loads(item)
        except ValueError:
            return False
        return (
            isinstance(message, dict)
            and message.get("type") == kind
            and all(message.get(k) == v for k, v in fields.items())
        )

    return match


async def recv_until(ws: ClientConnection, predicate: Callable[[str | bytes], bool], timeout_s: float = 3.0) -> Frames:
    """Read frames until one matches ``predicate`` (included); fails after the scaled bound."""
    frames = Frames()
    async with asyncio.timeout(scaled(timeout_s)):
        while True:
            item = await ws.recv()
            frames.items.append((time.monotonic(), item))
            if predicate(item):
                return frames


def caller_audio(fmt: AudioFormat, speech_ms: int, silence_ms: int, seed: int = 11) -> list[bytes]:
    """Speech-like caller audio then digital silence, as 20 ms wire frames."""
    data = synth_speech(fmt, speech_ms, seed, level_dbfs=-18.0) + bytes([fmt.silence_byte]) * (
        fmt.bytes_per_second() * silence_ms // 1000
    )
    size = frame_bytes(fmt)
    return [data[i : i + size] for i in range(0, len(data), size)]


class Receiver:
    """A server URL receiver on 127.0.0.1 port 0 that records events and checks authentication.

    Args:
        token: the bearer token to demand (``None``: accept anything).
        hmac_secret: verify ``x-signature``/``x-timestamp`` with this secret instead.
        tool_result: what a ``tool-calls`` event gets as its result.
    """

    def __init__(
        self, token: str | None = None, *, hmac_secret: str | None = None, tool_result: str = "Sunny, 22 C"
    ) -> None:
        self.token = token
        self.hmac_secret = hmac_secret
        self.tool_result = tool_result
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self._server = HttpServer(self._handle)
        self._arrived = asyncio.Condition()

    @property
    def url(self) -> str:
        """Where to POST."""
        return self._server.url + "/vapi/events"

    async def __aenter__(self) -> Receiver:
        await self._server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    def _authorized(self, request: HttpRequest) -> bool:
        if self.hmac_secret is not None:
            timestamp = request.headers.get("x-timestamp", "")
            expected = hmac.new(self.hmac_secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
            return timestamp.isdigit() and hmac.compare_digest(
                request.headers.get("x-signature", ""), expected.hexdigest()
            )
        if self.token is not None:
            return hmac.compare_digest(request.headers.get("authorization", ""), f"Bearer {self.token}")
        return True

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path != "/vapi/events":
            return json_response(404, {"error": "not found"})
        if not self._authorized(request):
            self.rejected += 1
            return json_response(401, {"error": "unauthorized"})
        message = json.loads(request.body)["message"]
        async with self._arrived:
            self.events.append(message)
            self._arrived.notify_all()
        if message["type"] == "tool-calls":
            call = message["toolCallList"][0]
            return json_response(
                200, {"results": [{"toolCallId": call["id"], "name": "get_weather", "result": self.tool_result}]}
            )
        return json_response(200, {})

    def types(self) -> list[str]:
        """The type of every event received, in order."""
        return [event["type"] for event in self.events]

    async def wait_for(self, kind: str, timeout_s: float = 3.0, **fields: object) -> dict[str, Any]:
        """The first event of ``kind`` with these fields, waiting for it within the scaled bound."""

        def find() -> dict[str, Any] | None:
            for event in self.events:
                if event["type"] == kind and all(event.get(k) == v for k, v in fields.items()):
                    return event
            return None

        async with asyncio.timeout(scaled(timeout_s)), self._arrived:
            await self._arrived.wait_for(lambda: find() is not None)
        found = find()
        assert found is not None
        return found
