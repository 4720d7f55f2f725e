"""A call on the mock's socket: the assistant's timeline, caller turns, barge-in, control messages, webhooks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from mockutil import (
    MULAW,
    PCM16,
    Frames,
    Receiver,
    caller_audio,
    create_call,
    is_msg,
    open_call,
    recv_until,
    run,
    scaled,
)
from vapi_fast.audio import AudioFormat, ulaw_decode
from vapi_fast.mock import MockBehaviour, MockVapi
from vapi_fast.mock._audio import BURST_CHUNK_BYTES, dbfs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosedOK, InvalidStatus

#: Recorded shapes (tests/fixtures/01-ws.control.*.json), inlined so these tests stand alone.
SAY_AND_END = {"type": "say", "content": "Thanks for calling Acme. Goodbye!", "endCallAfterSpoken": True}
TRANSFER = {
    "type": "transfer",
    "destination": {"type": "number", "number": "+14155550177"},
    "content": "Transferring you to a billing specialist now.",
}
HANDOFF = {
    "type": "handoff",
    "destination": {
        "type": "assistant",
        "assistantName": "Billing Specialist",
        "contextEngineeringPlan": {"type": "all"},
    },
    "content": "Let me hand you to our billing assistant.",
}
ADD_MESSAGE = {
    "type": "add-message",
    "message": {"role": "system", "content": "The caller's loyalty tier is Gold; offer free express shipping."},
    "triggerResponseEnabled": True,
}
ADD_MESSAGE_SILENT = {
    "type": "add-message",
    "message": {"role": "user", "content": "(typed in chat) My zip code is 94107."},
    "triggerResponseEnabled": False,
}
APPEND_CONTEXT = {
    "type": "append-context",
    "kind": "thinking",
    "content": "CRM lookup: caller has two open orders (A-1042, A-1077).",
}
SIP_INFO = {
    "type": "send-transport-message",
    "message": {"transport": "vapi.sip", "sipVerb": "INFO", "headers": {"Content-Type": "application/dtmf-relay"}},
}
FIXTURES = Path(__file__).parents[1] / "fixtures"
QUICK = MockBehaviour(reply_ms=300, setup_spike_ms=(0, 0))
SILENT_START = MockBehaviour(reply_ms=300, setup_spike_ms=(0, 0), first_message="")

ASSISTANT_STOPPED = is_msg("speech-update", role="assistant", status="stopped")
ASSISTANT_STARTED = is_msg("speech-update", role="assistant", status="started")


def control(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


async def send_frames(ws: ClientConnection, frames: list[bytes]) -> None:
    for frame in frames:
        await ws.send(frame)


async def expect_close(ws: ClientConnection) -> None:
    with pytest.raises(ConnectionClosedOK):
        await recv_until(ws, lambda _: False)


def test_first_message_in_mulaw_with_bursty_pacing() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=MockBehaviour(reply_ms=1000)) as mock:
            async with open_call(mock, MULAW) as (ws, call_id):
                connected = time.monotonic()
                frames = await recv_until(ws, ASSISTANT_STOPPED)
                tail = await recv_until(ws, is_msg("conversation-update"))
            call = mock.calls[call_id]
            types = frames.types()
            assert types[0] == "status-update" and frames.messages[0]["status"] == "in-progress"
            assert types[1:] == [*["model-output"] * 7, "voice-input", "speech-update", "speech-update"]
            assert {m["turnId"] for m in frames.messages if m["type"] == "model-output"} != {None}
            assert "".join(m["output"] for m in frames.messages if m["type"] == "model-output") == (
                "Hello! This is the vapi_fast mock assistant."
            )
            # Audio comes after speech-update started and before stopped.
            first_audio = next(i for i, (_, item) in enumerate(frames.items) if isinstance(item, bytes))
            assert ASSISTANT_STARTED(frames.items[first_audio - 1][1])
            sizes = [len(chunk) for chunk in frames.audio]
            low, high = BURST_CHUNK_BYTES
            assert all(low <= size <= high for size in sizes[:-1]) and 0 < sizes[-1] <= high
            assert sum(sizes) == 8000  # 1000 ms of 8 kHz mu-law
            assert sizes == call.audio_chunks
            # The set-up spike (340-500 ms), then about real time.
            arrivals = [t for t, item in frames.items if isinstance(item, bytes)]
            assert arrivals[0] - connected >= 0.3
            assert arrivals[-1] - arrivals[0] >= 0.8
            assert -25 < dbfs(ulaw_decode(b"".join(frames.audio))) < -15
            assert tail.types() == ["transcript", "conversation-update"]
            assert tail.messages[0]["role"] == "assistant" and tail.messages[0]["transcriptType"] == "final"
            bot = tail.messages[1]["messages"][-1]
            assert bot["role"] == "bot" and bot["source"] == "force-say" and bot["duration"] == 1000
            assert [m["type"] for m in call.sent] == [*frames.types(), *tail.types()]

    run(main())


@pytest.mark.parametrize("pacing", ["bursty", "realtime"])
def test_first_message_in_pcm16(pacing: str) -> None:
    async def main() -> None:
        behaviour = MockBehaviour(reply_ms=400, setup_spike_ms=(0, 0), pacing=pacing)  # type: ignore[arg-type]
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, PCM16) as (ws, _):
            frames = await recv_until(ws, ASSISTANT_STOPPED)
        sizes = [len(chunk) for chunk in frames.audio]
        assert sum(sizes) == 400 * 32
        assert all(size % 2 == 0 for size in sizes)
        if pacing == "realtime":
            assert sizes == [640] * 20
        else:
            low, high = BURST_CHUNK_BYTES
            assert all(4 * low - 2 <= size <= 4 * high + 2 for size in sizes[:-1])
        assert -25 < dbfs(b"".join(frames.audio)) < -15

    run(main())


def test_caller_turn_gets_transcript_and_a_reply() -> None:
    async def main() -> None:
        fmt = AudioFormat("mulaw", 8000)
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, is_msg("status-update"))
            await send_frames(ws, caller_audio(fmt, 600, 500))
            frames = await recv_until(ws, ASSISTANT_STOPPED)
            call = mock.calls[call_id]
            types = frames.types()
            assert types[:5] == ["speech-update", "speech-update", "transcript", "conversation-update", "model-output"]
            started, stopped, transcript, conversation = frames.messages[:4]
            assert started["role"] == "user" and started["status"] == "started"
            assert stopped["role"] == "user" and stopped["status"] == "stopped" and stopped["turn"] == started["turn"]
            assert transcript["role"] == "user" and transcript["transcriptType"] == "final"
            assert transcript["transcript"].startswith("caller turn 1 (0.")
            assert conversation["messages"][-1]["role"] == "user"
            assert conversation["messagesOpenAIFormatted"][-1] == {"role": "user", "content": transcript["transcript"]}
            assert frames.messages[-1]["turn"] > started["turn"]
            assert sum(len(chunk) for chunk in frames.audio) == 300 * 8
            assert len(call.caller_turns) == 1 and 450 <= call.caller_turns[0].duration_ms <= 620
            assert sum(call.caller_frames) == 1100 * 8
            assert call.barge_ins == []

    run(main())


def test_barge_in_stops_the_assistant_audio_at_once() -> None:
    async def main() -> None:
        fmt = AudioFormat("mulaw", 8000)
        behaviour = MockBehaviour(
            reply_ms=1500, setup_spike_ms=(0, 0), pacing="realtime", first_message_interruptions_enabled=True
        )
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, MULAW) as (ws, call_id):
            before = await recv_until(ws, lambda item: isinstance(item, bytes))
            speech = caller_audio(fmt, 200, 0)
            await send_frames(ws, speech)
            interrupted = await recv_until(ws, is_msg("user-interrupted"))
            after = await recv_until(ws, ASSISTANT_STOPPED)
            assert after.audio == [] and after.types() == ["speech-update"]
            await send_frames(ws, caller_audio(fmt, 0, 500))
            reply = await recv_until(ws, ASSISTANT_STARTED)
            # Not one frame of the interrupted turn after user-interrupted.
            assert reply.audio == []
            call = mock.calls[call_id]
            turn_id = next(m["turnId"] for m in before.messages if m["type"] == "model-output")
            assert interrupted.last()["turnId"] == turn_id
            assert interrupted.types()[-2:] == ["speech-update", "user-interrupted"]
            assert interrupted.messages[-2]["role"] == "user"
            received = sum(len(a) for a in before.audio + interrupted.audio)
            assert received < 1500 * 8 // 2
            assert len(call.barge_ins) == 1
            assert reply.types()[:3] == ["speech-update", "transcript", "conversation-update"]

    run(main())


def test_first_message_is_not_interruptible_by_default() -> None:
    async def main() -> None:
        fmt = AudioFormat("mulaw", 8000)
        behaviour = MockBehaviour(reply_ms=600, setup_spike_ms=(0, 0), pacing="realtime")
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, lambda item: isinstance(item, bytes))
            await send_frames(ws, caller_audio(fmt, 200, 500))
            frames = await recv_until(ws, ASSISTANT_STOPPED)
            assert "user-interrupted" not in frames.types()
            assert any(m["type"] == "speech-update" and m["role"] == "user" for m in frames.messages)
            assert mock.calls[call_id].barge_ins == []
            reply = await recv_until(ws, ASSISTANT_STOPPED)  # the reply to the caller's turn comes after
            assert any(m["type"] == "voice-input" for m in reply.messages)

    run(main())


def test_say_and_mute_assistant() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(reply_ms=300, setup_spike_ms=(0, 0), first_message="", pacing="realtime")
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, is_msg("status-update"))
            await ws.send(control("control", control="mute-assistant"))
            await ws.send(control("say", content="muted words"))
            muted = await recv_until(ws, ASSISTANT_STOPPED)
            assert muted.audio == []
            assert any(m.get("input") == "muted words" for m in muted.messages)
            await ws.send(control("control", control="unmute-assistant"))
            await ws.send(control("say", content="loud words"))
            loud = await recv_until(ws, ASSISTANT_STOPPED)
            assert sum(len(a) for a in loud.audio) == 300 * 8
            assert any(m.get("input") == "loud words" for m in loud.messages)
            call = mock.calls[call_id]
            assert [c.get("control", c["type"]) for c in call.controls] == [
                "mute-assistant",
                "say",
                "unmute-assistant",
                "say",
            ]

    run(main())


def test_mute_assistant_stops_audio_mid_utterance() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(reply_ms=800, setup_spike_ms=(0, 0), pacing="realtime")
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, MULAW) as (ws, call_id):
            first = await recv_until(ws, lambda item: isinstance(item, bytes))
            await ws.send(control("control", control="mute-assistant"))
            rest = await recv_until(ws, ASSISTANT_STOPPED)
            call = mock.calls[call_id]
            received = sum(len(a) for a in first.audio + rest.audio)
            assert received == sum(call.audio_chunks) < 800 * 8 // 2

    run(main())


@pytest.mark.parametrize("kind", ["end-call", "hangup"])
def test_end_call_sends_status_closes_and_posts_the_report(kind: str) -> None:
    async def main() -> None:
        async with (
            Receiver("hook-token") as receiver,
            MockVapi(
                server_url=receiver.url, server_auth={"type": "bearer", "token": "hook-token"}, behaviour=QUICK
            ) as mock,
            open_call(mock, MULAW) as (ws, call_id),
        ):
            await recv_until(ws, ASSISTANT_STOPPED)
            await ws.send(control(kind))
            frames = await recv_until(ws, is_msg("status-update", status="ended"))
            assert frames.last()["endedReason"] == "customer-ended-call"
            await expect_close(ws)
            assert ws.close_code == 1000
            report = await receiver.wait_for("end-of-call-report")
            call = mock.calls[call_id]
            assert call.status == "ended" and call.ended_reason == "customer-ended-call" and call.close_code == 1000
            assert report["endedReason"] == "customer-ended-call"
            assert report["call"]["id"] == call_id and report["call"]["status"] == "ended"
            assert report["transcript"].startswith("AI: Hello! This is the vapi_fast mock assistant.")
            assert report["artifact"]["transcript"] == report["transcript"]
            assert report["summary"] == report["analysis"]["summary"]
            assert [m["role"] for m in report["messages"]] == ["system", "bot"]
            assert 0 < report["durationSeconds"] < scaled(5)
            assert report["cost"] == 0 and report["costs"][0]["type"] == "transport"
            assert report["startedAt"] < report["endedAt"]
            assert receiver.rejected == 0
            assert receiver.types() == [
                "status-update",
                'transcript[transcriptType="final"]',
                "status-update",
                "end-of-call-report",
            ]
            assert [e.get("status") for e in receiver.events[::2]] == ["in-progress", "ended"]
            await mock.flush_webhooks()
            assert [d.status for d in call.webhooks] == [200] * 4

    run(main())


def test_client_closing_the_socket_ends_the_call() -> None:
    async def main() -> None:
        async with Receiver() as receiver, MockVapi(server_url=receiver.url, behaviour=SILENT_START) as mock:
            async with open_call(mock, PCM16) as (ws, call_id):
                await recv_until(ws, is_msg("status-update"))
            call = mock.calls[call_id]
            await call.ended.wait()
            assert call.ended_reason == "customer-ended-call"
            ended = await receiver.wait_for("status-update", status="ended")
            assert ended["endedReason"] == "customer-ended-call"
            await receiver.wait_for("end-of-call-report")

    run(main())


def test_say_end_call_after_spoken() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, call_id):
            await ws.send(json.dumps(SAY_AND_END))
            frames = await recv_until(ws, is_msg("status-update", status="ended"))
            assert frames.last()["endedReason"] == "assistant-ended-call-after-message-spoken"
            assert sum(len(a) for a in frames.audio) == 300 * 8
            assert frames.types()[-4:] == ["speech-update", "transcript", "conversation-update", "status-update"]
            await expect_close(ws)
            assert mock.calls[call_id].ended_reason == "assistant-ended-call-after-message-spoken"

    run(main())


def test_transfer_speaks_then_forwards_and_ends() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, _):
            transfer = TRANSFER
            await ws.send(json.dumps(transfer))
            frames = await recv_until(ws, is_msg("status-update", status="ended"))
            await expect_close(ws)
        assert any(m.get("input") == transfer["content"] for m in frames.messages)
        types = frames.types()
        assert types[-3:] == ["transfer-update", "status-update", "status-update"]
        update, forwarding, ended = frames.messages[-3:]
        assert update["destination"] == transfer["destination"]
        assert forwarding["status"] == "forwarding" and forwarding["destination"] == transfer["destination"]
        assert ended["endedReason"] == "assistant-forwarded-call"

    run(main())


def test_handoff_announces_the_new_assistant_and_keeps_the_call() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, call_id):
            handoff = HANDOFF
            await ws.send(json.dumps(handoff))
            frames = await recv_until(ws, is_msg("assistant.started"))
            update = next(m for m in frames.messages if m["type"] == "transfer-update")
            assert update["destination"] == handoff["destination"]
            assert update["toAssistant"] == {"name": "Billing Specialist"}
            assert frames.last()["newAssistant"] == {"name": "Billing Specialist"}
            await ws.send(control("say", content="still here"))
            await recv_until(ws, ASSISTANT_STOPPED)
            assert mock.calls[call_id].status == "in-progress"

    run(main())


def test_add_message_append_context_and_transport_messages() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, is_msg("status-update"))
            for message in (ADD_MESSAGE, ADD_MESSAGE_SILENT, APPEND_CONTEXT, SIP_INFO):
                await ws.send(json.dumps(message))
            await ws.send(control("say", content="after the controls"))
            frames = await recv_until(ws, is_msg("voice-input", input="after the controls"), timeout_s=4)
            conversations = [m for m in frames.messages if m["type"] == "conversation-update"]
            assert len(conversations) >= 3
            contents = [m["content"] for m in conversations[2]["messagesOpenAIFormatted"]]
            assert "The caller's loyalty tier is Gold; offer free express shipping." in contents
            assert "(typed in chat) My zip code is 94107." in contents
            assert "CRM lookup: caller has two open orders (A-1042, A-1077)." in contents
            # Only the first add-message asks for a reply; it is spoken before the say.
            inputs = [m["input"] for m in frames.messages if m["type"] == "voice-input"]
            assert inputs == ["Noted your system message.", "after the controls"]
            call = mock.calls[call_id]
            assert [c["type"] for c in call.controls] == [
                "add-message",
                "add-message",
                "append-context",
                "send-transport-message",
                "say",
            ]

    run(main())


def test_garbage_and_unknown_controls_are_recorded_and_ignored() -> None:
    async def main() -> None:
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, is_msg("status-update"))
            for text in ("{not json", "[1, 2]", '{"no": "type"}', '{"type": 5}', ""):
                await ws.send(text)
            await ws.send(control("definitely-not-a-control"))
            await ws.send(control("control", control="self-destruct"))
            await ws.send(control("say"))
            await ws.send(control("add-message", message="not an object"))
            await ws.send(control("say", content="still fine"))
            await recv_until(ws, is_msg("voice-input", input="still fine"))
            call = mock.calls[call_id]
            assert call.invalid_messages == ["{not json", "[1, 2]", '{"no": "type"}', '{"type": 5}', ""]
            assert [c["type"] for c in call.controls] == [
                "definitely-not-a-control",
                "control",
                "say",
                "add-message",
                "say",
            ]
            assert sum(e.kind == "invalid-control" for e in call.timeline) == 8

    run(main())


def test_mute_customer_ignores_caller_audio() -> None:
    async def main() -> None:
        fmt = AudioFormat("pcm_s16le", 16000)
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, PCM16) as (ws, call_id):
            await recv_until(ws, is_msg("status-update"))
            await ws.send(control("control", control="mute-customer"))
            await send_frames(ws, caller_audio(fmt, 600, 500))
            await ws.send(control("control", control="unmute-customer"))
            await ws.send(control("say", content="are you there?"))
            frames = await recv_until(ws, is_msg("voice-input"))
            assert frames.last()["input"] == "are you there?"
            assert not any(m.get("role") == "user" for m in frames.messages)
            call = mock.calls[call_id]
            assert call.caller_turns == [] and sum(call.caller_frames) == 1100 * 32

    run(main())


def test_waits_for_say_first_message() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(reply_ms=300, setup_spike_ms=(0, 0), first_message_mode="assistant-waits-for-user")
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, MULAW) as (ws, _):
            await recv_until(ws, is_msg("status-update"))
            await ws.send(control("say", content="first the say"))
            await ws.send(control("control", control="say-first-message"))
            frames = await recv_until(ws, is_msg("voice-input", input=behaviour.first_message))
            inputs = [m["input"] for m in frames.messages if m["type"] == "voice-input"]
            assert inputs == ["first the say", behaviour.first_message]

    run(main())


def test_tool_call_posts_to_the_server_url_and_speaks_the_result() -> None:
    async def main() -> None:
        fmt = AudioFormat("mulaw", 8000)
        behaviour = MockBehaviour(reply_ms=300, setup_spike_ms=(0, 0), first_message="", tool_call_every_n_turns=1)
        async with (
            Receiver(tool_result="Sunny, 22 C") as receiver,
            MockVapi(server_url=receiver.url, behaviour=behaviour) as mock,
            open_call(mock, MULAW) as (ws, call_id),
        ):
            await recv_until(ws, is_msg("status-update"))
            await send_frames(ws, caller_audio(fmt, 400, 500))
            frames = await recv_until(ws, is_msg("voice-input"))
            assert frames.last()["input"] == "The weather tool says: Sunny, 22 C"
            tool_calls = next(m for m in frames.messages if m["type"] == "tool-calls")
            event = await receiver.wait_for("tool-calls")
            assert event["toolCallList"] == tool_calls["toolCallList"]
            assert event["toolCallList"][0]["function"]["name"] == "get_weather"
            assert event["call"]["id"] == call_id
            conversation = [m for m in frames.messages if m["type"] == "conversation-update"][-1]
            assert [m["role"] for m in conversation["messages"]][-2:] == ["tool_calls", "tool_call_result"]

    run(main())


def test_max_duration_ends_the_call() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(first_message="", max_duration_ms=200)
        async with MockVapi(behaviour=behaviour) as mock, open_call(mock, MULAW) as (ws, call_id):
            frames = await recv_until(ws, is_msg("status-update", status="ended"))
            assert frames.last()["endedReason"] == "exceeded-max-duration"
            await expect_close(ws)
            assert mock.calls[call_id].ended_reason == "exceeded-max-duration"

    run(main())


def test_a_call_nobody_connects_to_ends_and_reports_with_hmac() -> None:
    async def main() -> None:
        behaviour = MockBehaviour(connect_timeout_ms=100)
        async with (
            Receiver(hmac_secret="s3cret") as receiver,
            MockVapi(
                server_url=receiver.url, server_auth={"type": "hmac", "secret": "s3cret"}, behaviour=behaviour
            ) as mock,
        ):
            created = await create_call(mock, MULAW)
            call = mock.calls[created["id"]]
            await call.ended.wait()
            assert call.ended_reason == "call.in-progress.error-vapifault-transport-never-connected"
            report = await receiver.wait_for("end-of-call-report")
            assert report["endedReason"] == call.ended_reason and report["durationSeconds"] == 0
            assert receiver.rejected == 0
            with pytest.raises(InvalidStatus) as info:
                async with connect(created["transport"]["websocketCallUrl"]):
                    pass
            assert info.value.response.status_code == 409

    run(main())


def test_frames_helper_reads_in_order() -> None:
    frames = Frames([(0.0, '{"type": "a"}'), (0.1, b"\x00"), (0.2, "not json"), (0.3, '{"type": "b"}')])
    assert frames.types() == ["a", "b"] and frames.audio == [b"\x00"] and frames.last() == {"type": "b"}


def test_every_recorded_control_fixture_is_understood() -> None:
    paths = sorted(FIXTURES.glob("01-ws.control.*.json"))
    if not paths:
        pytest.skip("tests/fixtures/01-ws.control.*.json are not present")
    # Ending controls last: each of them ends the call.
    enders = ("end-call", "hangup", "say-and-end", "transfer")
    paths.sort(key=lambda p: any(e in p.name for e in enders))

    async def main() -> None:
        async with MockVapi(behaviour=SILENT_START) as mock, open_call(mock, MULAW) as (ws, call_id):
            await recv_until(ws, is_msg("status-update"))
            for path in paths:
                await ws.send(path.read_text())
            await recv_until(ws, is_msg("status-update", status="ended"), timeout_s=4)
            call = mock.calls[call_id]
            assert call.invalid_messages == []
            assert not [e for e in call.timeline if e.kind == "invalid-control"]
            assert call.ended_reason == "customer-ended-call"  # the first ender (end-call) wins

    run(main())
