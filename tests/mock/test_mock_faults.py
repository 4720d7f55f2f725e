"""Scriptable faults: dropped connections, stalls, garbage, oversize frames, fast audio, close codes."""

from __future__ import annotations

import itertools
import json

import pytest
from mockutil import MULAW, PCM16, Frames, Receiver, is_msg, open_call, recv_until, run
from vapi_fast.mock import MockBehaviour, MockFaults, MockVapi
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK

SILENT = MockBehaviour(first_message="", setup_spike_ms=(0, 0))
stopped = is_msg("speech-update", role="assistant", status="stopped")


async def read_until_closed(ws: ClientConnection, frames: Frames) -> None:
    """Read into ``frames`` until the connection closes (the close exception propagates)."""

    def keep(item: str | bytes) -> bool:
        frames.items.append((0.0, item))
        return False

    await recv_until(ws, keep)


def test_drop_aborts_the_connection_without_a_close_frame() -> None:
    async def main() -> None:
        async with (
            Receiver() as receiver,
            MockVapi(server_url=receiver.url, behaviour=SILENT, faults=MockFaults(drop_after_ms=150)) as mock,
            open_call(mock, MULAW) as (ws, call_id),
        ):
            frames = Frames()
            with pytest.raises(ConnectionClosedError):
                await read_until_closed(ws, frames)
            assert ws.protocol.close_rcvd is None  # no close frame: the TCP connection was cut
            assert frames.types() == ["status-update"]
            call = mock.calls[call_id]
            await call.ended.wait()
            assert call.ended_reason == "call.in-progress.error-vapifault-worker-died"
            assert call.close_code is None
            assert any(e.kind == "fault" and e.detail["fault"] == "drop" for e in call.timeline)
            ended = await receiver.wait_for("status-update", status="ended")
            assert ended["endedReason"] == call.ended_reason
            await receiver.wait_for("end-of-call-report")

    run(main())


def test_stall_holds_everything_back_then_sends_the_backlog() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(reply_ms=1000, setup_spike_ms=(0, 0), pacing="realtime")
        faults = MockFaults(stall_after_ms=200, stall_ms=500)
        async with MockVapi(behaviour=behaviour, faults=faults) as mock, open_call(mock, MULAW) as (ws, call_id):
            frames = await recv_until(ws, stopped)
        arrivals = [t for t, item in frames.items if isinstance(item, bytes)]
        gaps = [b - a for a, b in itertools.pairwise(arrivals)]
        assert max(gaps) >= 0.4  # nothing for the length of the stall
        # The backlog (about 25 frames due during the stall) arrives at once afterwards.
        assert sorted(gaps)[len(gaps) // 2] < 0.03
        assert sum(len(a) for a in frames.audio) == 8000
        assert any(e.detail.get("fault") == "stall" for e in mock.calls[call_id].timeline)

    run(main())


def test_malformed_json_and_unknown_types() -> None:
    async def main() -> None:
        faults = MockFaults(malformed_json_every_ms=40, unknown_type_every_ms=60)
        async with MockVapi(behaviour=SILENT, faults=faults) as mock, open_call(mock, PCM16) as (ws, call_id):
            seen: list[str | bytes] = []

            def enough(item: str | bytes) -> bool:
                seen.append(item)
                unknown = [s for s in seen if isinstance(s, str) and "mock.unknown-event" in s]
                return seen.count("{not json") >= 3 and len(unknown) >= 2

            await recv_until(ws, enough)
            unknown = json.loads(next(s for s in seen if isinstance(s, str) and "mock.unknown-event" in s))
            assert unknown["type"] == "mock.unknown-event" and isinstance(unknown["timestamp"], int)
            await ws.send(json.dumps({"type": "end-call"}))
            with pytest.raises(ConnectionClosedOK):
                await recv_until(ws, lambda _: False)
            call = mock.calls[call_id]
            assert call.sent_raw.count("{not json") >= 3
            assert call.ended_reason == "customer-ended-call"

    run(main())


def test_oversize_frame_breaks_a_default_client_and_reaches_an_unlimited_one() -> None:
    async def main() -> None:
        faults = MockFaults(oversize_frame_at_ms=50)
        async with MockVapi(behaviour=SILENT, faults=faults) as mock:
            async with open_call(mock, MULAW) as (ws, call_id):
                with pytest.raises(ConnectionClosedError):
                    await recv_until(ws, lambda _: False)
                assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1009
            call = mock.calls[call_id]
            await call.ended.wait()
            assert call.ended_reason == "customer-ended-call"
            async with open_call(mock, MULAW, max_size=None) as (ws, _):
                frames = await recv_until(ws, lambda item: isinstance(item, bytes))
                assert [len(a) for a in frames.audio] == [(1 << 20) + 1]
                assert set(frames.audio[0]) == {0xFF}

    run(main())


def test_fast_audio_sends_everything_at_once() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(reply_ms=1000, setup_spike_ms=(0, 0))
        async with MockVapi(behaviour=behaviour, faults=MockFaults(fast_audio=True)) as mock:
            async with open_call(mock, MULAW) as (ws, _):
                frames = await recv_until(ws, stopped)
            arrivals = [t for t, item in frames.items if isinstance(item, bytes)]
            assert sum(len(a) for a in frames.audio) == 8000 and len(arrivals) == 50
            assert arrivals[-1] - arrivals[0] < 0.3  # 1 s of audio, far faster than real time
            # speech-update stopped still comes when the audio would have finished playing.
            assert frames.items[-1][0] - arrivals[0] >= 0.95

    run(main())


def test_close_code_fault() -> None:
    async def main() -> None:
        faults = MockFaults(close_code=4000, close_reason="mock says bye")
        async with MockVapi(behaviour=SILENT, faults=faults) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, lambda _: True)
            await ws.send(json.dumps({"type": "end-call"}))
            with pytest.raises(ConnectionClosedError):
                await recv_until(ws, lambda _: False)
            assert ws.close_code == 4000 and ws.close_reason == "mock says bye"
            assert mock.calls[call_id].close_code == 4000

    run(main())


def test_faults_on_demand() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, lambda _: True)
            call = mock.calls[call_id]
            await call.inject_malformed()
            await call.inject_unknown()
            await call.inject_oversize(1000)
            frames = await recv_until(ws, lambda item: isinstance(item, bytes))
            assert frames.items[0][1] == "{not json"
            assert frames.types() == ["mock.unknown-event"]
            assert [len(a) for a in frames.audio] == [1000]
            call.stall(50)
            await call.drop()
            with pytest.raises(ConnectionClosedError):
                await recv_until(ws, lambda _: False)
            await call.ended.wait()
            assert call.ended_reason == "call.in-progress.error-vapifault-worker-died"
            faults = [e.detail["fault"] for e in call.timeline if e.kind == "fault"]
            assert faults == ["malformed-json", "unknown-type", "oversize-frame", "stall", "drop"]

    run(main())


def test_end_from_the_assistant_side() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, lambda _: True)
            await mock.calls[call_id].end()
            frames = Frames()
            with pytest.raises(ConnectionClosedOK):
                await read_until_closed(ws, frames)
            assert frames.messages[-1]["endedReason"] == "assistant-ended-call"

    run(main())


@pytest.mark.parametrize(
    "faults",
    [
        {"drop_after_ms": -1},
        {"malformed_json_every_ms": 0},
        {"stall_ms": -5},
        {"oversize_frame_bytes": 0},
        {"close_code": 1005},
        {"close_code": 2000},
    ],
)
def test_bad_faults_are_rejected(faults: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        MockFaults(**faults)  # type: ignore[arg-type]
