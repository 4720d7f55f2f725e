"""Session against the mock Vapi: real HTTP and WebSocket on 127.0.0.1, port 0.

Every wait is on an event or a message, bounded by a timeout scaled by VAPI_FAST_TIMEOUT_FACTOR; no
sleep is used to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import numpy as np
import pytest
from conftest import TIMEOUT_FACTOR, speech_like
from vapi_fast import CallEnded, CallError, ConnectionLost, Session, SessionOptions
from vapi_fast.audio import AudioFormat
from vapi_fast.mock import MockBehaviour, MockFaults, MockVapi
from vapi_fast.protocol import Message, NumberDestination, UnknownMessage

T = TypeVar("T")
KEY = "test-key"
MULAW = AudioFormat("mulaw", 8000)
PCM16 = AudioFormat("pcm_s16le", 16000)


def run(coro: Coroutine[Any, Any, T], timeout_s: float = 8.0) -> T:
    """Run ``coro`` in a fresh loop under a bound and check that no task is left behind."""

    async def main() -> T:
        try:
            async with asyncio.timeout(timeout_s * TIMEOUT_FACTOR):
                return await coro
        finally:
            leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            assert not leftover, leftover

    return asyncio.run(main())


async def until(session: Session, predicate: Callable[[Message], bool]) -> Message:
    """The first message matching ``predicate`` (registered before anything can be missed)."""
    found: asyncio.Future[Message] = asyncio.get_running_loop().create_future()

    def check(message: Message) -> None:
        if not found.done() and predicate(message):
            found.set_result(message)

    remove = session.on("*", check)
    try:
        return await found
    finally:
        remove()


def is_type(kind: str, **fields: object) -> Callable[[Message], bool]:
    return lambda m: m.type == kind and all(m.raw.get(k) == v for k, v in fields.items())


async def create(mock: MockVapi, wire: AudioFormat = MULAW, local: AudioFormat = PCM16, **kw: Any) -> Session:
    return await Session.create(KEY, assistant_id="assistant", base_url=mock.base_url, wire=wire, local=local, **kw)


def test_a_call_carries_typed_messages_and_paced_audio_both_ways() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=MockBehaviour(pacing="fast")) as mock, await create(mock) as session:
            assert session.call_id in mock.calls and session.wire == MULAW and session.local == PCM16
            frames: list[bytes] = []

            async def listen() -> None:
                async for frame in session.audio():
                    frames.append(frame)

            listener = asyncio.ensure_future(listen())
            greeting_done = await until(session, is_type("speech-update", role="assistant", status="stopped"))
            assert greeting_done.is_barge_in is False
            await session.send_audio(speech_like(16000, 0.5).tobytes())
            await until(session, is_type("speech-update", role="user", status="started"))
            await session.close()
            await listener
            call = mock.calls[session.call_id or ""]
            stats = session.stats()
            # Every frame on the wire is exactly 20 ms of mu-law; every local frame 20 ms of PCM.
            assert call.caller_frames and all(size == 160 for size in call.caller_frames)
            assert all(len(f) == 640 for f in frames) and any(any(f) for f in frames)
            # 0.5 s of caller audio: 25 frames, less the resampler's look-ahead still inside it.
            assert stats["frames_sent"] >= 25 and 23 <= stats["audio_frames_queued"] <= 25
            assert stats["messages_received"] >= 4 and stats["messages_skipped"] == 0
            assert stats["lateness_ms_p99"] is not None and stats["jitter"]["frames_pushed"] > 0
            assert isinstance(session.ended, CallEnded)

    run(scenario())


def test_barge_in_flushes_the_playout_buffer_at_once() -> None:
    behaviour = MockBehaviour(pacing="fast", reply_ms=4000, first_message_interruptions_enabled=True)

    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=behaviour) as mock, await create(mock) as session:
            frames: list[bytes] = []
            marks: list[int] = []

            async def listen() -> None:
                async for frame in session.audio():
                    frames.append(frame)

            listener = asyncio.ensure_future(listen())
            session.on("user-interrupted", lambda m: marks.append(len(frames)))
            await until(session, is_type("speech-update", role="assistant", status="started"))
            # The whole 4 s greeting arrives at once ("fast"): most of it waits in the buffer.
            while session.jitter_buffer.stats()["current_buffer_size_ms"] < 1000:
                await asyncio.sleep(0.02)
            await session.send_audio(speech_like(16000, 0.6).tobytes())
            await until(session, is_type("user-interrupted"))
            stats = session.stats()
            assert stats["barge_ins"] >= 1 and stats["flushed_ms"] >= 1000
            assert session.jitter_buffer.stats()["frames_pending"] == 0
            assert stats["flush_latency_us_max"] is not None and stats["flush_latency_us_max"] < 50_000
            # After the flush nothing stale plays: the following frames are silence.
            await until(session, is_type("speech-update", role="user", status="stopped"))
            after = frames[marks[0] :]
            assert len(after) >= 10 and not any(any(f) for f in after[:10])
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    run(scenario())


def test_every_control_message_reaches_vapi_in_order() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=MockBehaviour(pacing="fast")) as mock:
            session = await create(mock)
            await session.say("hello", interrupt_assistant_enabled=True)
            await session.add_message("system", "be brief", trigger_response_enabled=False)
            await session.mute_assistant()
            await session.unmute_assistant()
            await session.mute_customer()
            await session.unmute_customer()
            await session.say_first_message()
            await session.append_context("instructions", "speak slowly")
            await until(session, is_type("conversation-update"))
            await session.transfer(NumberDestination("+14155550123"), content="transferring you")
            ended = await session.wait_closed()
            await session.close()
            call = mock.calls[session.call_id or ""]
            kinds = [c.get("type") if c.get("type") != "control" else c.get("control") for c in call.controls]
            assert kinds[:9] == ["say", "add-message", "mute-assistant", "unmute-assistant", "mute-customer",
                                 "unmute-customer", "say-first-message", "append-context", "transfer"]  # fmt: skip
            assert isinstance(ended, CallEnded) and ended.ended_reason == "assistant-forwarded-call"

    run(scenario())


def test_end_call_and_hangup_end_the_call_cleanly() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY) as mock:
            first = await create(mock)
            await first.end_call()
            await first.end_call()  # idempotent
            assert isinstance(first.ended, CallEnded)
            call = mock.calls[first.call_id or ""]
            await asyncio.wait_for(call.ended.wait(), 2 * TIMEOUT_FACTOR)
            assert call.ended_reason == "customer-ended-call"
            with pytest.raises(CallEnded):
                await first.say("too late")
            second = await create(mock)
            await second.hangup()
            assert isinstance(second.ended, CallEnded)
            async for _ in second.messages():  # ends at once: the call is over
                pass

    run(scenario())


def test_vapi_ending_the_call_is_a_call_ended_with_the_reason() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY) as mock, await create(mock) as session:
            await until(session, is_type("status-update", status="in-progress"))
            await mock.calls[session.call_id or ""].end("assistant-ended-call")
            received: list[str] = []
            async for message in session.messages():
                received.append(message.type)
            ended = await session.wait_closed()
            assert isinstance(ended, CallEnded) and ended.ended_reason == "assistant-ended-call"
            assert ended.code == 1000

    run(scenario())


def test_a_dropped_connection_is_connection_lost_not_a_hang() -> None:
    async def scenario() -> None:
        faults = MockFaults(drop_after_ms=300)
        async with MockVapi(KEY, faults=faults) as mock, await create(mock) as session:
            with pytest.raises(ConnectionLost):
                async for _ in session.messages():
                    pass
            lost = await session.wait_closed()
            assert isinstance(lost, ConnectionLost) and lost.code == 1006
            with pytest.raises(ConnectionLost):
                await session.send_audio(b"\x00\x00")

    run(scenario())


def test_a_silent_peer_is_detected_by_keepalive_within_a_bound() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY) as mock:
            frozen = asyncio.Event()
            relays: list[asyncio.StreamWriter] = []
            handlers: list[asyncio.Task[Any]] = []

            async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                task = asyncio.current_task()
                assert task is not None
                handlers.append(task)
                host, _, rest = mock.ws_url.removeprefix("ws://").partition(":")
                up_r, up_w = await asyncio.open_connection(host, int(rest.split("/")[0]))
                relays.extend([writer, up_w])

                async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
                    while (data := await src.read(65536)) and not frozen.is_set():
                        dst.write(data)
                        await dst.drain()
                    # Frozen: a hung peer that reads nothing and answers nothing.
                    await asyncio.Event().wait()

                with contextlib.suppress(asyncio.CancelledError, OSError):
                    await asyncio.gather(pump(reader, up_w), pump(up_r, writer))

            proxy = await asyncio.start_server(relay, "127.0.0.1", 0)
            port = proxy.sockets[0].getsockname()[1]
            url = await _new_call_url(mock)
            direct = url.removeprefix("ws://").split("/")[0]
            options = SessionOptions(ping_interval_s=0.2, ping_timeout_s=0.3, close_timeout_s=0.3)
            session = await Session.connect(url.replace(direct, f"127.0.0.1:{port}"), wire=MULAW, options=options)
            await until(session, is_type("status-update"))
            frozen.set()
            loop = asyncio.get_running_loop()
            started = loop.time()
            lost = await session.wait_closed()
            assert isinstance(lost, ConnectionLost) and lost.code == 1011 and "keepalive" in lost.reason
            assert loop.time() - started < 2.0 * TIMEOUT_FACTOR
            await session.close()
            for handler in handlers:
                handler.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            for writer in relays:
                writer.close()
            proxy.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proxy.wait_closed(), 1)

    run(scenario())


async def _new_call_url(mock: MockVapi) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{mock.base_url}/call",
            json={"assistantId": "a", "transport": {"provider": "vapi.websocket", "audioFormat": MULAW.to_vapi()}},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    url = response.json()["transport"]["websocketCallUrl"]
    assert isinstance(url, str)
    return url


def test_malformed_unknown_and_oversize_frames_never_end_the_call() -> None:
    faults = MockFaults(malformed_json_every_ms=50, unknown_type_every_ms=50, oversize_frame_at_ms=100)

    async def scenario() -> None:
        async with MockVapi(KEY, faults=faults) as mock, await create(mock) as session:
            unknown = await until(session, lambda m: isinstance(m, UnknownMessage))
            assert unknown.type == "mock.unknown-event"
            while session.stats()["messages_skipped"] < 3 or session.stats()["bytes_received"] < 1 << 20:
                await until(session, lambda m: True)
            assert session.ended is None
            await session.say("still here")
            await until(session, is_type("speech-update", role="assistant", status="started"))
            assert session.ended is None

    run(scenario())


def test_audio_faster_than_real_time_is_played_at_real_time() -> None:
    async def scenario() -> None:
        behaviour = MockBehaviour(pacing="fast", reply_ms=2000)
        async with MockVapi(KEY, behaviour=behaviour) as mock, await create(mock, wire=PCM16) as session:
            loop = asyncio.get_running_loop()
            start: float | None = None
            count = 0
            async for frame in session.audio():
                if any(frame) and start is None:
                    start = loop.time()
                if start is not None:
                    count += 1
                    if count == 50:
                        break
            assert start is not None
            elapsed = loop.time() - start
            # 50 frames of 20 ms take about a second whatever the arrival pace.
            assert 0.9 <= elapsed <= 1.5 * TIMEOUT_FACTOR
            assert session.stats()["audio_frames_dropped"] == 0

    run(scenario())


def test_send_audio_applies_backpressure_without_blocking_the_loop() -> None:
    async def scenario() -> None:
        options = SessionOptions(send_queue_ms=200)
        async with MockVapi(KEY) as mock, await create(mock, options=options) as session:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.ensure_future(ticker())
            audio = np.zeros(16000 // 2, np.int16).tobytes()  # 0.5 s at once, queue holds 0.2 s
            await session.send_audio(audio)
            assert session.stats()["audio_frames_pending"] <= 10
            assert ticks >= 10  # the loop kept running while send_audio waited
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t

    run(scenario())


def test_create_reports_refusals_and_unreachable_hosts() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY) as mock:
            with pytest.raises(CallError) as refused:
                await Session.create("wrong-key", assistant_id="a", base_url=mock.base_url)
            assert refused.value.status_code == 401
            with pytest.raises(CallError) as invalid:
                await Session.create(KEY, assistant={"firstMessage": 5}, base_url=mock.base_url)
            assert invalid.value.status_code == 400
            with pytest.raises(ValueError, match="exactly one"):
                await Session.create(KEY, base_url=mock.base_url)
            base = mock.base_url
        with pytest.raises(ConnectionLost):
            await Session.create(KEY, assistant_id="a", base_url=base)  # the mock is gone
        with pytest.raises(ConnectionLost):
            await Session.connect("ws://127.0.0.1:9/nothing/transport")

    run(scenario())


def test_callbacks_may_be_async_and_errors_in_them_do_not_end_the_call() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=MockBehaviour(pacing="fast")) as mock, await create(mock) as session:
            seen: list[str] = []

            async def slow(message: Message) -> None:
                await asyncio.sleep(0)
                seen.append(message.type)

            def broken(message: Message) -> None:
                raise RuntimeError("user bug")

            session.on("speech-update", slow)
            session.on("speech-update", broken)
            await until(session, is_type("speech-update", role="assistant", status="stopped"))
            assert "speech-update" in seen and session.stats()["callback_errors"] >= 1
            assert session.ended is None

    run(scenario())


def test_an_internal_fault_ends_the_call_as_connection_lost_instead_of_hanging() -> None:
    class Broken:
        def push(self, data: bytes) -> bytes:
            raise RuntimeError("decoder bug")

        def reset(self) -> None:
            pass

    class FaultySession(Session):
        @staticmethod
        def _make_transcoders(wire: AudioFormat, local: AudioFormat, options: SessionOptions) -> tuple[Any, Any]:
            uplink, _ = Session._make_transcoders(wire, local, options)
            return uplink, Broken()

    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=MockBehaviour(pacing="fast")) as mock:
            session = await FaultySession.create(KEY, assistant_id="a", base_url=mock.base_url, wire=MULAW)
            lost = await session.wait_closed()
            assert isinstance(lost, ConnectionLost) and "decoder bug" in lost.reason
            await session.close()

    run(scenario())


def test_late_model_output_of_an_interrupted_turn_is_dropped() -> None:
    import json

    from websockets.asyncio.server import ServerConnection, serve

    frames = [
        {"type": "model-output", "output": "Our opening hours", "turnId": "A"},
        {"type": "user-interrupted", "turnId": "A"},
        {"type": "model-output", "output": " are nine to five", "turnId": "A"},
        {"type": "model-output", "output": "Sure, go ahead.", "turnId": "B"},
        {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call"},
    ]

    async def vapi(ws: ServerConnection) -> None:
        await ws.send(bytes([0x7F]) * 800)  # some assistant audio, then the barge-in
        for frame in frames:
            await ws.send(json.dumps(frame))
        await ws.close()

    async def scenario() -> None:
        async with serve(vapi, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            session = await Session.connect(f"ws://127.0.0.1:{port}/call/transport", wire=MULAW)
            received = [m async for m in session.messages()]
            outputs = [m.raw["output"] for m in received if m.type == "model-output"]
            assert outputs == ["Our opening hours", "Sure, go ahead."]
            stats = session.stats()
            assert stats["model_output_dropped"] == 1 and stats["barge_ins"] == 1
            ended = await session.wait_closed()
            assert isinstance(ended, CallEnded) and ended.ended_reason == "customer-ended-call"
            await session.close()

    run(scenario())


def test_messages_larger_than_one_read_arrive_whole_and_reads_stay_small() -> None:
    import json

    from websockets.asyncio.server import ServerConnection, serve

    # A conversation-update carrying a long history: about 50 reads of the default 4 KiB.
    history = [{"role": "user", "message": f"turn {i} " + "x" * 400} for i in range(500)]
    big = {"type": "conversation-update", "conversation": history}

    async def vapi(ws: ServerConnection) -> None:
        await ws.send(json.dumps(big))
        await ws.send(json.dumps({"type": "status-update", "status": "ended", "endedReason": "customer-ended-call"}))
        await ws.close()

    async def scenario() -> None:
        async with serve(vapi, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            session = await Session.connect(f"ws://127.0.0.1:{port}/call/transport", wire=MULAW)
            # The default loop's transport now reads at most read_size_bytes per call.
            assert getattr(session._ws.transport, "max_size", None) == SessionOptions().read_size_bytes == 4096
            received = [m async for m in session.messages()]
            assert [m.type for m in received] == ["conversation-update", "status-update"]
            assert received[0].raw == big
            await session.close()

    run(scenario())


def test_session_options_refuse_a_tiny_read_size() -> None:
    with pytest.raises(ValueError, match="read_size_bytes must be at least 1024, not 100"):
        SessionOptions(read_size_bytes=100)


def test_lateness_statistics_cover_the_whole_call() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=MockBehaviour(pacing="fast")) as mock, await create(mock) as session:
            await until(session, is_type("speech-update", role="assistant", status="stopped"))
            stats = session.stats()
            p50, p99, worst = stats["lateness_ms_p50"], stats["lateness_ms_p99"], stats["lateness_ms_max"]
            assert p50 is not None and p99 is not None and worst is not None
            # One lateness sample per pacer tick (the current tick may be between the two counts), and
            # the quantiles are ordered and bounded by the max.
            assert session._lateness.count - stats["frames_played"] in (0, 1)
            assert 0 <= p50 <= p99 <= max(worst, 0.0)

    run(scenario())


def test_without_a_consumer_only_the_latest_backlog_of_messages_is_kept() -> None:
    import json

    from websockets.asyncio.server import ServerConnection, serve

    async def vapi(ws: ServerConnection) -> None:
        for i in range(40):
            await ws.send(json.dumps({"type": "model-output", "output": f"token {i}", "turnId": "A"}))
        await ws.send(json.dumps({"type": "status-update", "status": "ended", "endedReason": "customer-ended-call"}))
        await ws.close()

    async def scenario() -> None:
        async with serve(vapi, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            url = f"ws://127.0.0.1:{port}/call/transport"
            for backlog in (0, 5):
                session = await Session.connect(url, wire=MULAW, options=SessionOptions(message_backlog=backlog))
                await session.wait_closed()
                received = [m async for m in session.messages()]
                tokens = [f"token {i}" for i in range(40)]
                assert [m.raw.get("output") for m in received] == [*tokens, None][41 - backlog :]
                assert session.stats()["messages_received"] == 41
                await session.close()

    with pytest.raises(ValueError, match="message_backlog must be at least 0"):
        SessionOptions(message_backlog=-1)

    run(scenario())


@pytest.mark.parametrize(
    ("wire", "local"),
    [(MULAW, PCM16), (PCM16, MULAW), (AudioFormat("pcm_s16le", 24000), PCM16)],
    ids=["mulaw8k-to-pcm16k", "pcm16k-to-mulaw8k", "pcm24k-to-pcm16k"],
)
def test_vapi_audio_plays_out_exactly_converted(wire: AudioFormat, local: AudioFormat) -> None:
    from vapi_fast.audio import Transcoder
    from websockets.asyncio.server import ServerConnection, serve

    # A steady tone (no pauses for the buffer to shorten), all of it sent at once: the buffer plays
    # every frame untouched, so what comes out is the one-shot conversion, bit for bit, after a
    # stretch of start-up silence and a fade-in over the first frame.
    t = np.arange(wire.sample_rate) / wire.sample_rate
    tone = np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).tobytes()
    sent = Transcoder(AudioFormat("pcm_s16le", wire.sample_rate), wire).push(tone)
    assert isinstance(sent, bytes)
    converter = Transcoder(wire, local)
    expected_bytes = converter.push(sent)
    assert isinstance(expected_bytes, bytes)

    async def vapi(ws: ServerConnection) -> None:
        for i in range(0, len(sent), 400):
            await ws.send(sent[i : i + 400])
        async for _ in ws:  # the caller's audio, until the session closes
            pass

    def linear(data: bytes, fmt: AudioFormat) -> np.ndarray[Any, np.dtype[np.int16]]:
        if fmt.encoding == "mulaw":
            from vapi_fast.audio import ulaw_decode

            data = ulaw_decode(data)
        return np.frombuffer(data, dtype=np.int16)

    async def scenario() -> list[bytes]:
        async with serve(vapi, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            session = await Session.connect(f"ws://127.0.0.1:{port}/call/transport", wire=wire, local=local)
            frame = local.bytes_per_frame(20)
            frames: list[bytes] = []
            async for f in session.audio():
                assert len(f) == frame
                frames.append(f)
                if len(frames) == 70:  # 1.4 s: the whole second of tone has played
                    break
            await session.close()
            assert session.jitter_buffer.stats()["frames_dropped"] == 0
            assert session.jitter_buffer.stats()["stretched_ms"] == 0
            return frames

    frames = run(scenario())
    played = linear(b"".join(frames), local)
    expected = linear(expected_bytes, local)
    # The first audible sample locates the audio to within the fade-in's silent first samples.
    start = int(np.flatnonzero(np.abs(played) > 0)[0]) - int(np.flatnonzero(np.abs(expected) > 0)[0])
    per_frame = local.sample_rate * 20 // 1000
    # From the second frame of audio on (the first fades in) to the last whole frame (a buffer
    # holding local audio waits for the rest of an incomplete one), every sample is the converter's.
    end = len(expected) // per_frame * per_frame
    want = expected[per_frame:end]
    matches = [
        offset
        for offset in range(max(0, start - 8), start + 8)
        if np.array_equal(played[offset + per_frame : offset + end], want)
    ]
    assert len(matches) == 1, matches


def test_audio_frames_take_the_direct_path_unless_the_socket_pushes_back() -> None:
    async def scenario() -> None:
        async with MockVapi(KEY, behaviour=MockBehaviour(pacing="fast")) as mock, await create(mock) as session:
            await until(session, is_type("speech-update", role="assistant", status="stopped"))
            # With the websockets this package supports, frames skip the per-send context manager...
            assert session._fast_send
            frame = session._silence
            assert session._send_frame_now(frame)
            # ...but never past backpressure or a closing connection: then send() waits or raises.
            ws = session._ws
            ws.paused = True
            try:
                assert not session._send_frame_now(frame)
            finally:
                ws.paused = False
            await session.close()
            assert not session._send_frame_now(frame)
            assert isinstance(session.ended, CallEnded)
            call = mock.calls[session.call_id or ""]
            assert all(size == 160 for size in call.caller_frames)

    run(scenario())
