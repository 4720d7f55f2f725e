"""The webhook router: tool-calls throughput and latency over HTTP, and custom-voice conversion throughput.

HTTP: each server runs in its own process, one uvicorn worker (what ``vapi-fast serve`` runs), and the
load comes from this process through a minimal HTTP/1.1 keep-alive client on raw sockets (a request is
one pre-built write; a response is read by its Content-Length), so the client costs far less than the
server and the figures are the server's. The body is the recorded ``19-tool-calls.json`` with a bearer
token. The comparison is a plain Starlette endpoint doing the same work: check the token, parse with
``vapi_fast.protocol.parse_message``, call the same async tool, serialize the same ``ToolCallsResponse``
(no deadlines, no concurrency between tools, no stats). Times are per round of requests; requests per
second and latency percentiles (ms, per request) are in ``extra_info``.

Voice: ``pcm_stream`` (what the router runs for ``voice-request``) converting 10 s of 24 kHz speech-like
PCM, arriving as 20 ms chunks from an async iterator, to 8 or 16 kHz; the comparison streams the same
chunks through ``soxr.ResampleStream`` (HQ). Over HTTP, one 10 s utterance per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import pytest
from vapi_fast.audio import AudioFormat
from vapi_fast.protocol import ProtocolError, ToolCallResult, ToolCallsMessage, ToolCallsResponse, parse_message
from vapi_fast.webhooks import BearerAuth, Router, VoiceAudio, pcm_stream

from .conftest import Benchmark, speech_like

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
BODY = json.dumps(json.loads((ROOT / "tests" / "fixtures" / "19-tool-calls.json").read_bytes()), separators=(",", ":"))
EXPECTED_RESULT = "Order A-1042 shipped on Aug 18."
#: Requests per timed round, and concurrent connections, for the throughput group.
THROUGHPUT_REQUESTS = 2000
THROUGHPUT_CONNECTIONS = 16
#: Requests per timed round for the latency group (one connection, one request at a time).
LATENCY_REQUESTS = 500
VOICE_SECONDS = 10
VOICE_CHUNK_MS = 20


async def lookup_order(orderId: str) -> str:
    """The tool both servers call."""
    return EXPECTED_RESULT


def _voice_chunks() -> list[bytes]:
    pcm = speech_like(24000, VOICE_SECONDS).tobytes()
    size = 24000 * 2 * VOICE_CHUNK_MS // 1000
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def router_app() -> Router:
    """The router under test: the same tool, bearer authentication, and a streaming voice."""
    router = Router(auth=BearerAuth(TOKEN))
    router.add_tool("lookupOrder", lookup_order)
    chunks = _voice_chunks()

    @router.voice(format=AudioFormat("pcm_s16le", 24000))
    async def tts(message: Any) -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    return router


def starlette_app() -> Any:
    """The baseline: a plain Starlette endpoint doing the same JSON work."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    expected = f"Bearer {TOKEN}".encode()
    tools = {"lookupOrder": lookup_order}

    async def endpoint(request: Request) -> Response:
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), expected):
            return JSONResponse({"error": "unauthorized"}, 401)
        body = await request.body()
        try:
            message = parse_message(body)
        except ProtocolError:
            return JSONResponse({"error": "bad request"}, 400)
        if not isinstance(message, ToolCallsMessage):
            return JSONResponse({})
        results = [
            ToolCallResult.for_call(call, result=await tools[call.name](**call.arguments))
            for call in message.tool_calls
        ]
        return Response(ToolCallsResponse(results).serialize(), media_type="application/json")

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


def serve_child(kind: str) -> None:
    """Entry point of a server process: bind 127.0.0.1 port 0, print the port, serve until killed."""
    import uvicorn

    app = router_app() if kind == "router" else starlette_app()
    # IPPROTO_TCP so that asyncio turns Nagle off on the connections, as it does for sockets it binds.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, lifespan="on", ws="none", log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


@contextlib.contextmanager
def server_process(kind: str) -> Iterator[int]:
    """A server process for ``kind`` (``router`` or ``starlette``); yields its port. Skips without uvicorn."""
    pytest.importorskip("uvicorn")
    code = f"from benches.test_bench_webhooks import serve_child; serve_child({kind!r})"
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip().isdigit(), f"the {kind} server did not start"
        yield int(line)
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        if child.stdout is not None:
            child.stdout.close()


class Load:
    """Keep-alive connections sending one pre-built request after another and timing each response."""

    def __init__(self, port: int, connections: int) -> None:
        self.port = port
        self.connections = connections
        head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        head += f"Content-Type: application/json\r\nContent-Length: {len(BODY.encode())}\r\n\r\n"
        self.request = head.encode() + BODY.encode()
        self.streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.latencies_s: list[float] = []

    async def open(self) -> None:
        self.streams = [await asyncio.open_connection("127.0.0.1", self.port) for _ in range(self.connections)]
        # Check the answer once: the benchmark must measure correct replies.
        reply = await self._one(*self.streams[0])
        assert json.loads(reply)["results"][0]["result"] == EXPECTED_RESULT

    async def close(self) -> None:
        for _, writer in self.streams:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise AssertionError(head[:40])
        start = head.lower().index(b"content-length:") + 15
        length = int(head[start : head.index(b"\r\n", start)])
        return await reader.readexactly(length)

    async def round(self, requests: int) -> None:
        per_connection = requests // self.connections

        async def worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            for _ in range(per_connection):
                started = time.perf_counter()
                await self._one(reader, writer)
                self.latencies_s.append(time.perf_counter() - started)

        await asyncio.gather(*(worker(r, w) for r, w in self.streams))


def run_load(benchmark: Benchmark, kind: str, connections: int, requests: int, rounds: int) -> None:
    loop = asyncio.new_event_loop()
    try:
        with server_process(kind) as port:
            load = Load(port, connections)
            loop.run_until_complete(load.open())
            round_s: list[float] = []

            def timed_round() -> None:
                started = time.perf_counter()
                loop.run_until_complete(load.round(requests))
                round_s.append(time.perf_counter() - started)

            try:
                loop.run_until_complete(load.round(requests))  # warm-up, untimed
                load.latencies_s.clear()
                benchmark.pedantic(timed_round, rounds=rounds)
            finally:
                loop.run_until_complete(load.close())
    finally:
        loop.close()
    latencies_ms = np.array(load.latencies_s) * 1000
    benchmark.extra_info.update(
        {
            "requests_per_round": requests,
            "connections": connections,
            "requests_per_s": round(requests / float(np.median(round_s))),
            "latency_ms_p50": round(float(np.percentile(latencies_ms, 50)), 3),
            "latency_ms_p99": round(float(np.percentile(latencies_ms, 99)), 3),
        }
    )


THROUGHPUT = pytest.mark.benchmark(
    group=f"webhook tool-calls throughput: uvicorn 1 worker, {THROUGHPUT_CONNECTIONS} connections, "
    f"{THROUGHPUT_REQUESTS} requests per round"
)
LATENCY = pytest.mark.benchmark(
    group=f"webhook tool-calls latency: uvicorn 1 worker, 1 connection, {LATENCY_REQUESTS} requests per round"
)


@THROUGHPUT
def test_vapi_fast(benchmark: Benchmark) -> None:
    run_load(benchmark, "router", THROUGHPUT_CONNECTIONS, THROUGHPUT_REQUESTS, rounds=10)


@THROUGHPUT
def test_starlette(benchmark: Benchmark) -> None:
    pytest.importorskip("starlette")
    run_load(benchmark, "starlette", THROUGHPUT_CONNECTIONS, THROUGHPUT_REQUESTS, rounds=10)


@LATENCY
def test_vapi_fast_latency(benchmark: Benchmark) -> None:
    run_load(benchmark, "router", 1, LATENCY_REQUESTS, rounds=10)


@LATENCY
def test_starlette_latency(benchmark: Benchmark) -> None:
    pytest.importorskip("starlette")
    run_load(benchmark, "starlette", 1, LATENCY_REQUESTS, rounds=10)


# ---------------------------------------------------------------------------------------------
# Custom voice


def _params(*rates: int) -> list[Any]:
    return [
        pytest.param(
            rate,
            id=f"{rate // 1000}k",
            marks=pytest.mark.benchmark(
                group=f"voice-request conversion: {VOICE_SECONDS} s of 24 kHz TTS in {VOICE_CHUNK_MS} ms chunks "
                f"-> {rate // 1000} kHz"
            ),
        )
        for rate in rates
    ]


def _time_conversion(benchmark: Benchmark, convert: Any) -> None:
    loop = asyncio.new_event_loop()
    try:
        produced = benchmark.pedantic(lambda: loop.run_until_complete(convert()), rounds=30, warmup_rounds=2)
    finally:
        loop.close()
    benchmark.extra_info["audio_seconds"] = VOICE_SECONDS
    benchmark.extra_info["pcm_bytes"] = VOICE_SECONDS * 24000 * 2
    benchmark.extra_info["output_bytes"] = produced


@pytest.mark.parametrize("rate", _params(8000, 16000))
def test_vapi_fast_voice(benchmark: Benchmark, rate: int) -> None:
    chunks = _voice_chunks()

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def convert() -> int:
        produced = 0
        async for out in pcm_stream(VoiceAudio(source(), AudioFormat("pcm_s16le", 24000)), rate):
            produced += len(out)
        return produced

    _time_conversion(benchmark, convert)
    assert benchmark.extra_info["output_bytes"] == VOICE_SECONDS * rate * 2


@pytest.mark.parametrize("rate", _params(8000, 16000))
def test_soxr_hq_voice(benchmark: Benchmark, soxr: ModuleType, rate: int) -> None:
    chunks = _voice_chunks()

    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def convert() -> int:
        stream = soxr.ResampleStream(24000, rate, 1, dtype="int16", quality="HQ")
        produced = 0
        async for chunk in source():
            produced += len(stream.resample_chunk(np.frombuffer(chunk, np.int16)).tobytes())
        produced += len(stream.resample_chunk(np.zeros(0, np.int16), last=True).tobytes())
        return produced

    _time_conversion(benchmark, convert)


@pytest.mark.benchmark(group=f"voice-request over HTTP: {VOICE_SECONDS} s of 24 kHz TTS -> 16 kHz, one request")
def test_vapi_fast_voice_http(benchmark: Benchmark) -> None:
    body = json.dumps({"message": {"type": "voice-request", "text": "Hello.", "sampleRate": 16000}})
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with server_process("router") as port, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:

        def one() -> int:
            with http.stream("POST", "/", content=body, headers=headers) as response:
                return sum(len(chunk) for chunk in response.iter_bytes())

        produced = benchmark.pedantic(one, rounds=20, warmup_rounds=1)
    assert produced == VOICE_SECONDS * 16000 * 2
    benchmark.extra_info["audio_seconds"] = VOICE_SECONDS
