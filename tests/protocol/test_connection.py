"""VapiProtocol: events in order, the control priority lane, tolerance of bad text, barge-in, closing."""

from __future__ import annotations

import json
import logging

import pytest
from vapi_fast.protocol import (
    AddMessage,
    AudioReceived,
    ConnectionClosedError,
    Control,
    ConversationUpdateMessage,
    EndCall,
    Message,
    MessageSkipped,
    ModelOutputMessage,
    OutboundBytes,
    OutboundClose,
    OutboundText,
    ProtocolError,
    Say,
    SpeechUpdateMessage,
    State,
    StatusUpdateMessage,
    ToolCallsMessage,
    TranscriptMessage,
    UnknownMessage,
    UserInterruptedMessage,
    VapiProtocol,
)

from .conftest import assert_events, assert_outbound, fixture_bytes, fixture_text


def state(protocol: VapiProtocol) -> State:
    # A call, so mypy does not narrow protocol.state across the state changes a test drives.
    return protocol.state


PCM_FRAME = fixture_bytes("01-ws.audio.pcm_s16le-16000hz-20ms.bin")
MULAW_FRAME = fixture_bytes("01-ws.audio.mulaw-8000hz-20ms.bin")


def test_fixture_audio_frames_are_20_ms() -> None:
    assert (len(PCM_FRAME), len(MULAW_FRAME)) == (640, 160)


def test_a_call_in_order() -> None:
    protocol = VapiProtocol()
    assert state(protocol) is State.OPEN
    protocol.receive_text(fixture_text("20-transcript.partial.ws.json"))
    protocol.receive_bytes(PCM_FRAME)
    protocol.receive_text(fixture_text("20-transcript.final.ws.json"))
    protocol.receive_text(fixture_text("19-tool-calls.ws.json"))
    protocol.receive_text(fixture_text("12-model-output.token.ws.json"))
    protocol.receive_bytes(PCM_FRAME[:321])
    protocol.receive_text(fixture_text("07-conversation-update.ws.json"))
    events = assert_events(
        protocol,
        TranscriptMessage,
        AudioReceived(PCM_FRAME),
        TranscriptMessage,
        ToolCallsMessage,
        ModelOutputMessage,
        AudioReceived(PCM_FRAME[:321]),
        ConversationUpdateMessage,
    )
    first, third = events[0], events[2]
    assert isinstance(first, TranscriptMessage) and isinstance(third, TranscriptMessage)
    assert (first.is_final, third.is_final) == (False, True)
    assert state(protocol) is State.OPEN


def test_every_websocket_fixture_becomes_one_event() -> None:
    protocol = VapiProtocol()
    names = [
        "03-assistant-speech-started.word-alignment.ws.json",
        "09-hang.ws.json",
        "11-language-change-detected.ws.json",
        "17-speech-update.assistant-stopped.ws.json",
        "22-transfer-update.number.ws.json",
        "24-voice-input.ws.json",
        "91-assistant-started.ws.json",
        "92-workflow-node-started.ws.json",
        "93-tool-calls-result.ws.json",
        "94-metadata.ws.json",
    ]
    for name in names:
        protocol.receive_text(fixture_text(name))
    events = protocol.events_received()
    assert [type(event).__name__ for event in events] == [
        "AssistantSpeechStartedMessage",
        "HangMessage",
        "LanguageChangeDetectedMessage",
        "SpeechUpdateMessage",
        "TransferUpdateMessage",
        "VoiceInputMessage",
        "AssistantStartedMessage",
        "WorkflowNodeStartedMessage",
        "ToolCallsResultMessage",
        "MetadataMessage",
    ]


def test_control_is_sent_ahead_of_queued_audio() -> None:
    protocol = VapiProtocol()
    protocol.send_audio(b"\x01" * 640)
    protocol.send_audio(bytearray(b"\x02" * 640))
    protocol.send_control(Say("Hold on."))
    protocol.send_audio(memoryview(b"\x03" * 640))
    protocol.send_control(Control("mute-customer"))
    assert protocol.pending_audio_bytes == 1920
    assert_outbound(
        protocol,
        OutboundText('{"type":"say","content":"Hold on."}'),
        OutboundText('{"type":"control","control":"mute-customer"}'),
        OutboundBytes(b"\x01" * 640),
        OutboundBytes(b"\x02" * 640),
        OutboundBytes(b"\x03" * 640),
    )
    assert protocol.pending_audio_bytes == 0
    protocol.send_audio(b"")  # ignored
    protocol.send_control(AddMessage("system", "note", trigger_response_enabled=False))
    assert_outbound(
        protocol,
        OutboundText(
            '{"type":"add-message","message":{"role":"system","content":"note"},"triggerResponseEnabled":false}'
        ),
    )


def test_send_control_rejects_other_objects() -> None:
    protocol = VapiProtocol()
    with pytest.raises(TypeError, match="expected a control message, got str"):
        protocol.send_control('{"type":"end-call"}')  # type: ignore[arg-type]


def test_malformed_text_is_skipped_and_logged_without_payload(caplog: pytest.LogCaptureFixture) -> None:
    protocol = VapiProtocol()
    secret = "sk_live_SECRET"
    with caplog.at_level(logging.WARNING, logger="vapi_fast.protocol.connection"):
        protocol.receive_text("not json " + secret)
        protocol.receive_text("[1, 2, 3]")
        protocol.receive_text(json.dumps({"no": "type", "key": secret}))
        protocol.receive_text(json.dumps({"type": "transcript", "role": "user", "transcriptType": "final"}))
        protocol.receive_text(fixture_text("09-hang.ws.json"))
    events = assert_events(protocol, MessageSkipped, MessageSkipped, MessageSkipped, MessageSkipped, Message)
    reasons = [event.reason for event in events if isinstance(event, MessageSkipped)]
    assert reasons[0].startswith("malformed JSON")
    assert reasons[1] == "expected a JSON object, got array"
    assert reasons[2] == "missing 'type'"
    assert reasons[3] == "transcript message: transcript: required field is missing"
    skipped = events[3]
    assert isinstance(skipped, MessageSkipped) and isinstance(skipped.error, ProtocolError)
    assert len(caplog.records) == 4
    assert secret not in caplog.text


def test_unknown_types_become_unknown_message_events() -> None:
    protocol = VapiProtocol()
    protocol.receive_text('{"type": "future.event", "x": 1}')
    (event,) = assert_events(protocol, UnknownMessage)
    assert isinstance(event, UnknownMessage) and event.raw == {"type": "future.event", "x": 1}


def test_barge_in_flags() -> None:
    protocol = VapiProtocol()
    protocol.receive_text(fixture_text("17-speech-update.assistant-stopped.ws.json"))
    protocol.receive_text(fixture_text("17-speech-update.user-started.ws.json"))
    protocol.receive_text(fixture_text("23-user-interrupted.ws.json"))
    protocol.receive_text(fixture_text("20-transcript.partial.ws.json"))
    protocol.receive_bytes(MULAW_FRAME)
    events = protocol.events_received()
    flags = [isinstance(event, Message) and event.is_barge_in for event in events]
    assert flags == [False, True, True, False, False]
    assert isinstance(events[2], UserInterruptedMessage)


def test_assistant_speaking_follows_speech_updates() -> None:
    protocol = VapiProtocol()
    assert not protocol.assistant_speaking
    protocol.receive_text(json.dumps({"type": "speech-update", "role": "assistant", "status": "started"}))
    assert protocol.assistant_speaking
    protocol.receive_text(fixture_text("17-speech-update.user-started.ws.json"))
    assert protocol.assistant_speaking
    protocol.receive_text(fixture_text("17-speech-update.assistant-stopped.ws.json"))
    assert not protocol.assistant_speaking
    events = protocol.events_received()
    assert all(isinstance(event, SpeechUpdateMessage) for event in events)


def test_vapi_ends_the_call() -> None:
    protocol = VapiProtocol()
    protocol.receive_text(fixture_text("18-status-update.in-progress.json"))
    assert (protocol.state, protocol.status) == (State.OPEN, "in-progress")
    protocol.receive_text(fixture_text("18-status-update.ended.ws.json"))
    assert state(protocol) is State.CLOSING
    assert (protocol.status, protocol.ended_reason) == ("ended", "customer-ended-call")
    # The socket is still open: sending stays allowed until it closes.
    protocol.send_audio(PCM_FRAME)
    protocol.send_control(EndCall())
    protocol.receive_bytes(PCM_FRAME)
    assert_events(protocol, StatusUpdateMessage, StatusUpdateMessage, AudioReceived)
    protocol.receive_eof()
    assert state(protocol) is State.CLOSED
    assert protocol.data_to_send() == []  # what was pending can no longer go out
    with pytest.raises(ConnectionClosedError, match="cannot send: the connection is closed"):
        protocol.send_audio(PCM_FRAME)
    with pytest.raises(ConnectionClosedError):
        protocol.send_control(EndCall())
    with pytest.raises(ConnectionClosedError, match="cannot receive"):
        protocol.receive_text(fixture_text("09-hang.ws.json"))
    with pytest.raises(ConnectionClosedError):
        protocol.receive_bytes(PCM_FRAME)
    protocol.receive_eof()  # idempotent
    protocol.close()  # nothing to do once closed
    assert state(protocol) is State.CLOSED and protocol.data_to_send() == []


def test_end_of_call_report_on_the_socket_is_kept() -> None:
    protocol = VapiProtocol()
    protocol.receive_text(fixture_text("08-end-of-call-report.json"))
    assert protocol.end_of_call_report is not None
    assert protocol.end_of_call_report.duration_seconds == 41.5
    assert protocol.ended_reason == "customer-ended-call"


def test_client_closes_the_call() -> None:
    protocol = VapiProtocol()
    protocol.send_audio(PCM_FRAME)
    protocol.send_control(Say("Goodbye."))
    protocol.close()
    assert state(protocol) is State.CLOSING
    assert protocol.pending_audio_bytes == 0  # dropped: it would not be played after end-call
    with pytest.raises(ConnectionClosedError, match=r"close\(\) was called"):
        protocol.send_audio(PCM_FRAME)
    with pytest.raises(ConnectionClosedError):
        protocol.send_control(Say("too late"))
    protocol.close()  # idempotent: no second end-call
    assert_outbound(
        protocol,
        OutboundText('{"type":"say","content":"Goodbye."}'),
        OutboundText('{"type":"end-call"}'),
        OutboundClose(),
    )
    # Vapi's last frames still arrive and are parsed.
    protocol.receive_text(fixture_text("18-status-update.ended.ws.json"))
    assert_events(protocol, StatusUpdateMessage)
    assert state(protocol) is State.CLOSING
    protocol.receive_eof()
    assert state(protocol) is State.CLOSED


def test_close_without_end_call() -> None:
    protocol = VapiProtocol()
    protocol.close(end_call=False)
    assert_outbound(protocol, OutboundClose())


def test_empty_audio_is_ignored_and_bytearray_is_copied() -> None:
    protocol = VapiProtocol()
    protocol.receive_bytes(b"")
    buffer = bytearray(b"\x00\x01")
    protocol.receive_bytes(buffer)
    buffer[0] = 0xFF
    assert_events(protocol, AudioReceived(b"\x00\x01"))
    assert repr(AudioReceived(PCM_FRAME)) == "AudioReceived(<640 bytes>)"
    assert repr(OutboundBytes(MULAW_FRAME)) == "OutboundBytes(<160 bytes>)"


def test_state_is_an_int_enum() -> None:
    assert State.OPEN < State.CLOSING < State.CLOSED
    assert [state.name for state in State] == ["OPEN", "CLOSING", "CLOSED"]
