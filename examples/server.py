"""A complete Vapi server URL app with ``vapi_fast.webhooks``: tools, assistant-request, call reports, custom voice.

Serve it (``pip install "vapi-fast[server]"``), with the credential you configured in Vapi::

    export VAPI_WEBHOOK_TOKEN=...          # a bearer credential (or VAPI_HMAC_SECRET for an HMAC one)
    vapi-fast serve examples/server.py:router --host 0.0.0.0 --port 8000

and point the server URL of your assistant or phone number at it. Or watch it work without an
account: ``python examples/server.py --demo`` runs a call against the built-in mock Vapi, which
sends its events here over real HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from vapi_fast.audio import AudioFormat
from vapi_fast.protocol import (
    AssistantRequestMessage,
    AssistantRequestResponse,
    EndOfCallReportMessage,
    Message,
    NumberDestination,
    StatusUpdateMessage,
    ToolCall,
    VoiceRequestMessage,
)
from vapi_fast.webhooks import (
    Authenticator,
    BearerAuth,
    HmacAuth,
    Router,
    ToolError,
    WebhookAuthError,
    WebhookRequest,
)

logger = logging.getLogger("example.server")

#: Where the app keeps end-of-call reports (a real app writes them to its database).
REPORTS: list[dict[str, Any]] = []
#: The audio format the example TTS produces; the router converts it to what Vapi asks for.
TTS_FORMAT = AudioFormat("pcm_s16le", 24000)

ORDERS = {"A-1042": "shipped on Aug 18 via UPS, arriving Aug 21", "A-1077": "being packed, ships tomorrow"}
BLOCKED_CALLERS = {"+15005550000"}


class RefuseAll:
    """The authenticator when no credential is configured: every request is a 401, and the log says why."""

    def verify(self, request: WebhookRequest) -> None:
        raise WebhookAuthError("no credential configured: set VAPI_WEBHOOK_TOKEN or VAPI_HMAC_SECRET")


def auth_from_environment() -> Authenticator:
    """The credential Vapi uses for this server: ``VAPI_HMAC_SECRET`` or ``VAPI_WEBHOOK_TOKEN``."""
    if secret := os.environ.get("VAPI_HMAC_SECRET"):
        return HmacAuth(secret)
    if token := os.environ.get("VAPI_WEBHOOK_TOKEN"):
        return BearerAuth(token)
    return RefuseAll()


def build_router(auth: Authenticator) -> Router:
    """The app: every handler below, on one router."""
    router = Router(
        auth=auth,
        # If choosing an assistant fails or takes too long, Vapi still gets an answer within 6 s.
        assistant_request_fallback=AssistantRequestResponse(error="Sorry, we cannot take your call right now."),
        tool_timeout_s=5.0,
    )

    @router.assistant_request
    async def choose_assistant(message: AssistantRequestMessage) -> AssistantRequestResponse | str:
        """An inbound call with no assistant on its number: decide who answers."""
        caller = (message.customer or {}).get("number")
        if caller in BLOCKED_CALLERS:
            return AssistantRequestResponse(error="This number cannot be served. Goodbye.")
        if os.environ.get("FORWARD_ALL_CALLS_TO"):
            return AssistantRequestResponse(destination=NumberDestination(os.environ["FORWARD_ALL_CALLS_TO"]))
        if assistant_id := os.environ.get("VAPI_ASSISTANT_ID"):
            return assistant_id  # a saved assistant
        return AssistantRequestResponse(
            assistant={
                "name": "vapi_fast example",
                "firstMessage": "Hi! Ask me about the weather or an order.",
                "model": {"provider": "openai", "model": "gpt-4o-mini"},
                "serverMessages": ["tool-calls", "status-update", "end-of-call-report"],
            }
        )

    @router.tool("get_weather")
    async def get_weather(city: str) -> str:
        """Tools get their arguments as keyword arguments; an async tool runs on the event loop."""
        await asyncio.sleep(0)  # a real tool awaits an HTTP API here (httpx.AsyncClient)
        return f"Sunny, 22 C in {city}"

    @router.tool("lookup_order")
    def lookup_order(order_id: str, call: ToolCall) -> dict[str, str]:
        """A plain ``def`` runs in a worker thread (a blocking database client is fine); a dict becomes JSON."""
        status = ORDERS.get(order_id.strip().upper())
        if status is None:
            raise ToolError(f"No order {order_id} was found.")  # the model gets this text as the error
        return {"order": order_id, "status": status, "toolCallId": call.id}

    @router.on("status-update")
    def call_status(message: StatusUpdateMessage) -> None:
        logger.info("call %s is %s", message.call_id, message.status)

    @router.on(EndOfCallReportMessage)
    async def end_of_call(message: EndOfCallReportMessage) -> None:
        """Runs after Vapi got its 200: slow work here never holds Vapi's request."""
        REPORTS.append(
            {
                "call_id": message.call_id,
                "ended_reason": message.ended_reason,
                "duration_s": message.duration_seconds,
                "summary": message.summary,
            }
        )
        logger.info("call %s ended: %s", message.call_id, message.ended_reason)

    @router.voice(format=TTS_FORMAT)
    async def speak(message: VoiceRequestMessage) -> AsyncIterator[bytes]:
        """Custom voice: yield audio as the TTS produces it, in its own format (24 kHz here); the router
        converts each chunk natively to the mono PCM at ``message.sample_rate`` Vapi asked for."""
        async for chunk in toy_tts(message.text):
            yield chunk

    return router


async def toy_tts(text: str) -> AsyncIterator[bytes]:
    """A stand-in for a streaming TTS (ElevenLabs, Cartesia, ...): one soft tone per word, 20 ms chunks."""
    rate = TTS_FORMAT.sample_rate
    for i, _word in enumerate(text.split()):
        t = np.arange(rate * 18 // 100) / rate  # 180 ms per word
        tone = 6000 * np.sin(2 * np.pi * (220 + 40 * (i % 5)) * t) * np.hanning(len(t))
        pcm = np.round(tone).astype(np.int16).tobytes() + bytes(rate * 2 // 50)  # then 20 ms of silence
        for start in range(0, len(pcm), rate * 2 // 50):
            yield pcm[start : start + rate * 2 // 50]
            await asyncio.sleep(0)  # a real TTS client awaits its network here


#: What ``vapi-fast serve examples/server.py:router`` serves.
router = build_router(auth_from_environment())


# ---------------------------------------------------------------------------------------------
# The demo: a call on the mock Vapi, whose server URL events reach this app through real HTTP.


def _speech(sample_rate: int, seconds: float) -> bytes:
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    voiced = sum(np.sin(2 * np.pi * 150 * h * t) / h for h in range(1, 12))
    return np.asarray(np.round(5000 * voiced * np.hanning(len(t)) ** 0.3), dtype=np.int16).tobytes()


async def demo() -> None:
    """Run the app on 127.0.0.1, then a mock call that speaks, calls a tool and hangs up."""
    import httpx
    from vapi_fast.mock import MockBehaviour, MockVapi
    from vapi_fast.protocol import VoiceInputMessage
    from vapi_fast.session import Session
    from vapi_fast.webhooks import build_server

    secret = secrets.token_hex(16)
    app = build_router(HmacAuth(secret))
    server = build_server(app, log_level="warning", log_config=None)
    # Bound here so the port is known at once; IPPROTO_TCP so that asyncio turns Nagle off.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    serving: asyncio.Task[None] | None = None
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        print(f"webhook router listening on {url} (HMAC-signed requests only)")
        behaviour = MockBehaviour(
            pacing="fast", tool_call_every_n_turns=1, first_message="", setup_spike_ms=(0, 0), reply_ms=400
        )
        server_auth = {"type": "hmac", "secret": secret, "algorithm": "sha256"}
        async with MockVapi("demo-key", server_url=url, server_auth=server_auth, behaviour=behaviour) as mock:
            session = await Session.create("demo-key", assistant_id="demo-assistant", base_url=mock.base_url)
            async with session:
                spoken: asyncio.Future[str] = asyncio.get_running_loop().create_future()

                def on_voice(message: Message) -> None:
                    if isinstance(message, VoiceInputMessage) and "weather" in message.input and not spoken.done():
                        spoken.set_result(message.input)

                session.on("voice-input", on_voice)
                print("caller: (speaks for 0.6 s)")
                await session.send_audio(_speech(16000, 0.6))
                print(f"assistant: {await asyncio.wait_for(spoken, 10)!r}  <- the tool's result, via the router")
            await mock.flush_webhooks()
            deliveries = mock.calls[session.call_id or ""].webhooks
            print("server URL deliveries:", ", ".join(f"{d.type} {d.status}" for d in deliveries))

        # The two request-style events the mock does not send, signed the way Vapi signs them.
        async with httpx.AsyncClient(base_url=url) as http:

            async def post(message: dict[str, Any]) -> httpx.Response:
                body = json.dumps({"message": message}).encode()
                stamp = str(int(time.time() * 1000))
                signature = HmacAuth(secret).sign(body, timestamp=stamp)
                return await http.post("/", content=body, headers={"x-signature": signature, "x-timestamp": stamp})

            answer = await post({"type": "assistant-request", "customer": {"number": "+14155550142"}})
            print("assistant-request ->", answer.json())
            started = time.perf_counter()
            audio = await post({"type": "voice-request", "text": "Your order shipped yesterday.", "sampleRate": 16000})
            seconds = len(audio.content) / 32000
            print(
                f"voice-request -> {len(audio.content)} bytes of 16 kHz PCM ({seconds:.2f} s of audio) "
                f"in {(time.perf_counter() - started) * 1000:.0f} ms, {audio.headers['content-type']}"
            )
        await app.aclose()
        print("end-of-call reports stored:", REPORTS)
        print("router.stats() per type:")
        stats = app.stats()
        for kind, figures in stats["types"].items():
            latency = figures["latency_ms"]
            print(f"  {kind:36} {figures['count']:2} x, p50 {latency['p50']:.2f} ms, max {latency['max']:.2f} ms")
    finally:
        server.should_exit = True
        if serving is not None:
            await serving
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo", action="store_true", help="run a call against the built-in mock Vapi")
    parser.add_argument("--port", type=int, default=8000, help="port to serve on (without --demo)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    if args.demo:
        asyncio.run(demo())
    else:
        from vapi_fast.webhooks import serve

        serve(router, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
