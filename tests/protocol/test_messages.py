"""parse_message: every fixture to its class and field values, tolerance, and errors."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vapi_fast.errors import VapiFastError
from vapi_fast.protocol import (
    REGISTRY,
    AssistantDestination,
    AssistantRequestMessage,
    AssistantSpeechStartedMessage,
    AssistantStartedMessage,
    CallArtifactUploadMessage,
    CallDeletedMessage,
    CallDeleteFailedMessage,
    CallEndpointingRequestMessage,
    CampaignPredialMessage,
    ChatCreatedMessage,
    ChatDeletedMessage,
    ConversationUpdateMessage,
    EndOfCallReportMessage,
    FunctionCallMessage,
    FunctionCallResultMessage,
    HandoffDestinationRequestMessage,
    HangMessage,
    KnowledgeBaseRequestMessage,
    LanguageChangeDetectedMessage,
    LanguageChangedMessage,
    Message,
    MetadataMessage,
    ModelOutputMessage,
    NumberDestination,
    PhoneCallControlMessage,
    ProtocolError,
    SessionCreatedMessage,
    SessionDeletedMessage,
    SessionUpdatedMessage,
    SipDestination,
    SpeechUpdateMessage,
    StatusUpdateMessage,
    ToolCall,
    ToolCallsMessage,
    ToolCallsResultMessage,
    ToolCompletedMessage,
    TranscriptMessage,
    TransferDestinationRequestMessage,
    TransferUpdateMessage,
    UnknownMessage,
    UserInterruptedMessage,
    VoiceInputMessage,
    VoiceRequestMessage,
    WordAlignmentTiming,
    WordProgressTiming,
    WorkflowNodeStartedMessage,
    enums,
    parse_message,
)

from .conftest import INBOUND_FIXTURES, fixture_bytes, fixture_json, fixture_text, inner

CALL_ID = "0198c4a2-5e71-7d3b-9f10-4b2e8a6c1d55"
TURN_ID = "3f2b9c1e-5d4a-4e8b-a7c6-1b0d9e8f7a62"
USER_FINAL = "Hi, I want to check on my order, it's A-1042."
SPOKEN = "Your order A-1042 shipped on August 18th."
SUMMARY = "Dana called about order A-1042; the assistant confirmed it shipped Aug 18 and arrives Aug 21."


def dig(obj: object, path: str) -> Any:
    """``obj.a.b[0].c`` for ``path == "a.b[0].c"``: attributes of objects, keys of dicts."""
    value: Any = obj
    for part in path.split("."):
        name, _, index = part.partition("[")
        value = value[name] if isinstance(value, dict) else getattr(value, name)
        if index:
            value = value[int(index.rstrip("]"))]
    return value


# fixture -> (class, {attribute path: expected value}): at least one type-specific field per type.
EXPECTED: dict[str, tuple[type[Message], dict[str, Any]]] = {
    "02-assistant-request.json": (
        AssistantRequestMessage,
        {
            "call_id": "0198c4b0-1c2d-7e8f-a031-52d7e9f4b6c8",
            "customer": {"number": "+14155550142", "name": "Dana Whitfield"},
        },
    ),
    "03-assistant-speech-started.text-only.json": (
        AssistantSpeechStartedMessage,
        {"text": SPOKEN, "turn": 2, "source": "model", "timing": None, "call_id": CALL_ID},
    ),
    "03-assistant-speech-started.text-only.ws.json": (
        AssistantSpeechStartedMessage,
        {"text": SPOKEN, "timing": None, "call": None},
    ),
    "03-assistant-speech-started.word-alignment.json": (
        AssistantSpeechStartedMessage,
        {
            "timing.words": ("Your", " ", "order", " ", "A-1042"),
            "timing.words_start_times_ms": (0.0, 210.0, 240.0, 520.0, 560.0),
            "timing.words_end_times_ms[4]": 1180.0,
        },
    ),
    "03-assistant-speech-started.word-alignment.ws.json": (
        AssistantSpeechStartedMessage,
        {"timing.words[4]": "A-1042"},
    ),
    "03-assistant-speech-started.word-progress.json": (
        AssistantSpeechStartedMessage,
        {
            "timing.words_spoken": 4,
            "timing.total_words": 7,
            "timing.segment": "Your order A-1042 shipped",
            "timing.segment_duration_ms": 1720.0,
            "timing.words[3].word": "shipped",
            "timing.words[3].start_ms": 1310.0,
            "timing.words[3].end_ms": 1720.0,
        },
    ),
    "03-assistant-speech-started.word-progress.ws.json": (
        AssistantSpeechStartedMessage,
        {"timing.fraction_spoken": 4 / 7, "turn": 2},
    ),
    "04-call-endpointing-request.json": (
        CallEndpointingRequestMessage,
        {"messages[2].message": USER_FINAL, "messages_openai_formatted[2]": {"role": "user", "content": USER_FINAL}},
    ),
    "05-chat-created.json": (
        ChatCreatedMessage,
        {"chat.id": "0198c4c3-77aa-7b21-8c4d-9e0f1a2b3c4d", "timestamp_ms": 1787245447623.0},
    ),
    "06-chat-deleted.json": (
        ChatDeletedMessage,
        {"timestamp_ms": 1787249045123.0, "chat.updatedAt": "2026-08-20T18:04:05.123Z"},
    ),
    "07-conversation-update.json": (
        ConversationUpdateMessage,
        {
            "messages[3].role": "tool_calls",
            "messages_openai_formatted[4].tool_call_id": "call_Xk29vQmP4tLr8sNaB3dE7fGh",
        },
    ),
    "07-conversation-update.ws.json": (ConversationUpdateMessage, {"timestamp_ms": 1787245459423.0}),
    "08-end-of-call-report.json": (
        EndOfCallReportMessage,
        {
            "ended_reason": "customer-ended-call",
            "summary": SUMMARY,
            "recording_url": f"https://storage.vapi.ai/{CALL_ID}-mono.wav",
            "stereo_recording_url": f"https://storage.vapi.ai/{CALL_ID}-stereo.wav",
            "cost": 0.0871,
            "duration_seconds": 41.5,
            "started_at_ms": 1787245446323.0,
            "ended_at_ms": 1787245487823.0,
            "analysis": {
                "summary": SUMMARY,
                "successEvaluation": "true",
            },
            "destination": None,
        },
    ),
    "09-hang.json": (HangMessage, {"timestamp_ms": 1787245466623.0, "call_id": CALL_ID}),
    "09-hang.ws.json": (HangMessage, {"timestamp_ms": 1787245466623.0, "call_id": None}),
    "10-knowledge-base-request.json": (
        KnowledgeBaseRequestMessage,
        {"messages_openai_formatted[2].content": USER_FINAL},
    ),
    "11-language-change-detected.json": (LanguageChangeDetectedMessage, {"language": "es"}),
    "11-language-change-detected.ws.json": (LanguageChangeDetectedMessage, {"language": "es"}),
    "12-model-output.object.json": (ModelOutputMessage, {"text": None, "turn_id": TURN_ID}),
    "12-model-output.token.json": (ModelOutputMessage, {"output": " shipped on August", "text": " shipped on August"}),
    "12-model-output.token.ws.json": (ModelOutputMessage, {"text": " shipped on August", "turn_id": TURN_ID}),
    "13-phone-call-control.forward-sip.json": (
        PhoneCallControlMessage,
        {
            "request": "forward",
            "destination": SipDestination(
                "sip:agent@pbx.acme-support.example",
                sip_headers={"X-Vapi-Call": "0198c4b0-1c2d-7e8f-a031-52d7e9f4b6c8"},
            ),
        },
    ),
    "13-phone-call-control.forward.json": (
        PhoneCallControlMessage,
        {
            "request": "forward",
            "destination": NumberDestination(
                "+14155550177", caller_id="+14155550100", message="Please hold while I connect you."
            ),
        },
    ),
    "13-phone-call-control.hang-up.json": (PhoneCallControlMessage, {"request": "hang-up", "destination": None}),
    "14-session-created.json": (SessionCreatedMessage, {"session.status": "active"}),
    "15-session-deleted.json": (SessionDeletedMessage, {"session.status": "completed"}),
    "16-session-updated.json": (SessionUpdatedMessage, {"session.cost": 0.0012, "session.messages[0].role": "user"}),
    "17-speech-update.assistant-started.json": (
        SpeechUpdateMessage,
        {"status": "started", "role": "assistant", "turn": 2, "is_barge_in": False},
    ),
    "17-speech-update.assistant-stopped.ws.json": (
        SpeechUpdateMessage,
        {"status": "stopped", "role": "assistant", "is_barge_in": False},
    ),
    "17-speech-update.user-started.ws.json": (
        SpeechUpdateMessage,
        {"status": "started", "role": "user", "turn": 3, "is_barge_in": True},
    ),
    "17-speech-update.user-stopped.json": (SpeechUpdateMessage, {"status": "stopped", "is_barge_in": False}),
    "18-status-update.ended.json": (
        StatusUpdateMessage,
        {"status": "ended", "ended_reason": "customer-ended-call", "is_ended": True},
    ),
    "18-status-update.ended.ws.json": (StatusUpdateMessage, {"is_ended": True, "ended_reason": "customer-ended-call"}),
    "18-status-update.forwarding.json": (
        StatusUpdateMessage,
        {
            "status": "forwarding",
            "is_ended": False,
            "destination": NumberDestination("+14155550177", message="Please hold while I connect you."),
            "summary": "Caller asked about order A-1042 and asked to speak with billing.",
            "messages[4].role": "tool_call_result",
        },
    ),
    "18-status-update.in-progress.json": (StatusUpdateMessage, {"status": "in-progress", "ended_reason": None}),
    "19-tool-calls.args-object.json": (
        ToolCallsMessage,
        {"tool_calls[0].arguments": {"orderId": "A-1042"}, "tool_calls[0].name": "lookupOrder"},
    ),
    "19-tool-calls.json": (
        ToolCallsMessage,
        {
            "tool_calls[0].id": "call_Xk29vQmP4tLr8sNaB3dE7fGh",
            "tool_calls[0].name": "lookupOrder",
            "tool_calls[0].arguments": {"orderId": "A-1042"},
            "tool_calls[0].type": "function",
            "tools[0].server.url": "https://hooks.acme-support.example/vapi/tools",
        },
    ),
    "19-tool-calls.ws.json": (ToolCallsMessage, {"tool_calls[0].arguments": {"orderId": "A-1042"}}),
    "20-transcript.assistant-final.json": (
        TranscriptMessage,
        {"role": "assistant", "is_final": True, "assistant_name": "Acme Support"},
    ),
    "20-transcript.final-only-subscription.json": (
        TranscriptMessage,
        {"type": 'transcript[transcriptType="final"]', "is_final": True, "transcript": USER_FINAL},
    ),
    "20-transcript.final.json": (
        TranscriptMessage,
        {
            "role": "user",
            "transcript_type": "final",
            "transcript": USER_FINAL,
            "is_filtered": False,
            "detected_threats": (),
            "confidence": 0.94,
            "confidence_source": "provider",
        },
    ),
    "20-transcript.final.ws.json": (TranscriptMessage, {"is_final": True, "confidence": 0.94}),
    "20-transcript.partial.json": (
        TranscriptMessage,
        {"transcript_type": "partial", "is_final": False, "transcript": "Hi, I want to check on my ord"},
    ),
    "20-transcript.partial.ws.json": (TranscriptMessage, {"is_final": False, "detected_threats": None}),
    "21-transfer-destination-request.json": (
        TransferDestinationRequestMessage,
        {"artifact.messages[3].role": "tool_calls", "phone_number.provider": "twilio"},
    ),
    "22-transfer-update.assistant.json": (
        TransferUpdateMessage,
        {
            "destination": AssistantDestination(
                "Billing Specialist", message="Let me bring in our billing specialist.", transfer_mode="rolling-history"
            ),
            "from_assistant": {"name": "Acme Support"},
            "to_assistant.firstMessage": "Hi, this is billing. What can I do for you?",
        },
    ),
    "22-transfer-update.number.json": (
        TransferUpdateMessage,
        {"destination.number": "+14155550177", "to_assistant": None},
    ),
    "22-transfer-update.number.ws.json": (
        TransferUpdateMessage,
        {"destination.message": "Connecting you to billing now."},
    ),
    "23-user-interrupted.json": (UserInterruptedMessage, {"turn_id": TURN_ID, "is_barge_in": True}),
    "23-user-interrupted.ws.json": (UserInterruptedMessage, {"turn_id": TURN_ID, "is_barge_in": True}),
    "24-voice-input.json": (VoiceInputMessage, {"input": SPOKEN}),
    "24-voice-input.ws.json": (VoiceInputMessage, {"input": SPOKEN}),
    "25-voice-request.json": (VoiceRequestMessage, {"text": SPOKEN, "sample_rate": 24000}),
    "91-assistant-started.ws.json": (AssistantStartedMessage, {"new_assistant": {"name": "Billing Specialist"}}),
    "92-workflow-node-started.ws.json": (
        WorkflowNodeStartedMessage,
        {"node": {"type": "conversation", "name": "collect_order_id"}},
    ),
    "93-tool-calls-result.ws.json": (
        ToolCallsResultMessage,
        {
            "tool_call_id": "call_Xk29vQmP4tLr8sNaB3dE7fGh",
            "name": "lookupOrder",
            "tool_call_result.result": "Order A-1042 shipped on Aug 18 via UPS; expected delivery Aug 21.",
        },
    ),
    "94-metadata.ws.json": (MetadataMessage, {"metadata": '{"crmRecord":"0032A00002xYzQ"}'}),
    "95-handoff-destination-request.json": (
        HandoffDestinationRequestMessage,
        {"parameters": {"department": "billing"}},
    ),
    "96-call-deleted.json": (CallDeletedMessage, {"call_id": CALL_ID, "call.endedReason": "customer-ended-call"}),
    "97-call-artifact-upload.json": (
        CallArtifactUploadMessage,
        {"artifacts[1].type": "recording-stereo", "artifacts[1].success": True},
    ),
}


def test_every_inbound_fixture_has_expectations() -> None:
    assert sorted(EXPECTED) == INBOUND_FIXTURES


@pytest.mark.parametrize("name", INBOUND_FIXTURES)
def test_fixture_parses_to_its_class_and_values(name: str) -> None:
    cls, fields = EXPECTED[name]
    message = parse_message(fixture_text(name))
    assert type(message) is cls
    assert message.type == inner(name)["type"]
    assert message.raw == inner(name)
    for path, want in fields.items():
        assert dig(message, path) == want, path


@pytest.mark.parametrize("name", INBOUND_FIXTURES)
def test_text_bytes_bytearray_and_mapping_inputs_agree(name: str) -> None:
    from_text = parse_message(fixture_text(name))
    assert parse_message(fixture_bytes(name)) == from_text
    assert parse_message(bytearray(fixture_bytes(name))) == from_text
    assert parse_message(fixture_json(name)) == from_text


@pytest.mark.parametrize("name", [n for n in INBOUND_FIXTURES if n.endswith(".ws.json")])
def test_envelope_and_bare_forms_give_the_same_message(name: str) -> None:
    bare = parse_message(fixture_text(name))
    assert parse_message({"message": fixture_json(name)}) == bare
    assert parse_message(json.dumps({"message": fixture_json(name)})) == bare
    # And the webhook twin of a WebSocket fixture has the same typed fields.
    twin = name.removesuffix(".ws.json") + ".json"
    if twin in EXPECTED:
        hook = parse_message(fixture_text(twin))
        assert _own_fields(hook) == _own_fields(bare)


def _own_fields(message: Message) -> dict[str, Any]:
    common = {f.name for f in dataclasses.fields(Message)}
    return {f.name: getattr(message, f.name) for f in dataclasses.fields(message) if f.name not in common}


def test_registry_covers_every_channel_and_extra() -> None:
    channels = {
        "assistant-request",
        "assistant.speechStarted",
        "call.endpointing.request",
        "chat.created",
        "chat.deleted",
        "conversation-update",
        "end-of-call-report",
        "hang",
        "knowledge-base-request",
        "language-change-detected",
        "model-output",
        "phone-call-control",
        "session.created",
        "session.updated",
        "session.deleted",
        "speech-update",
        "status-update",
        "tool-calls",
        "transcript",
        'transcript[transcriptType="final"]',
        "transfer-destination-request",
        "transfer-update",
        "user-interrupted",
        "voice-input",
        "voice-request",
    }
    extras = {
        "assistant.started",
        "workflow.node.started",
        "tool-calls-result",
        "metadata",
        "handoff-destination-request",
        "call.deleted",
        "call.delete.failed",
        "call.artifact.upload",
        "campaign.predial",
    }
    legacy = {"function-call", "function-call-result", "language-changed", "tool.completed"}
    assert set(REGISTRY) == channels | extras | legacy
    # Every type a subscription list can name has a class.
    assert enums.SERVER_MESSAGE_TYPES | enums.CLIENT_MESSAGE_TYPES <= set(REGISTRY)
    for message_type, cls in REGISTRY.items():
        assert message_type in cls.TYPES


def test_model_output_string_object_and_array_forms() -> None:
    token = parse_message(fixture_text("12-model-output.token.ws.json"))
    obj = parse_message(fixture_text("12-model-output.object.json"))
    assert isinstance(token, ModelOutputMessage) and isinstance(obj, ModelOutputMessage)
    assert token.output == token.text == " shipped on August"
    assert isinstance(obj.output, dict) and obj.output["toolCalls"][0]["function"]["name"] == "lookupOrder"
    assert obj.text is None
    for output, text in [
        ({"content": "Hi"}, "Hi"),
        ({"token": "Hi"}, "Hi"),
        (["Hi", {"text": " there"}, {"toolCalls": []}], "Hi there"),
        ([{"toolCalls": []}], None),
        ([["nested"]], None),
    ]:
        message = parse_message({"type": "model-output", "output": output})
        assert isinstance(message, ModelOutputMessage) and message.text == text, output


def test_tool_arguments_as_string_or_object_give_the_same_dict() -> None:
    as_string = parse_message(fixture_text("19-tool-calls.json"))
    as_object = parse_message(fixture_text("19-tool-calls.args-object.json"))
    assert isinstance(as_string, ToolCallsMessage) and isinstance(as_object, ToolCallsMessage)
    assert as_string.tool_calls[0].arguments == as_object.tool_calls[0].arguments == {"orderId": "A-1042"}
    assert as_string.tool_calls[0].id == as_object.tool_calls[0].id


@pytest.mark.parametrize(
    ("frame", "calls"),
    [
        # The legacy duplicate array alone.
        (
            {"toolCalls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]},
            [("c1", "f", {"a": 1})],
        ),
        # The older toolWithToolCallList shape: {name, toolCall: {id, parameters}}.
        (
            {"toolWithToolCallList": [{"name": "lookup", "toolCall": {"id": "c2", "parameters": {"x": "y"}}}]},
            [("c2", "lookup", {"x": "y"})],
        ),
        # The current toolWithToolCallList shape, with no toolCallList.
        (
            {
                "toolWithToolCallList": [
                    {"type": "function", "function": {"name": "g"}, "toolCall": {"id": "c3", "function": {}}}
                ]
            },
            [("c3", "g", {})],
        ),
        # toolCallList wins over the legacy array; empty, "null" and missing arguments are {}.
        (
            {
                "toolCallList": [
                    {"id": "a", "function": {"name": "f", "arguments": ""}},
                    {"id": "b", "function": {"name": "f", "arguments": "null"}},
                    {"id": "c", "function": {"name": "f"}},
                ],
                "toolCalls": [{"id": "ignored", "function": {"name": "f"}}],
            },
            [("a", "f", {}), ("b", "f", {}), ("c", "f", {})],
        ),
    ],
)
def test_tool_call_forms(frame: dict[str, Any], calls: list[tuple[str, str, dict[str, Any]]]) -> None:
    message = parse_message({"type": "tool-calls", **frame})
    assert isinstance(message, ToolCallsMessage)
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == calls


def test_tool_call_parse_on_its_own() -> None:
    call = ToolCall.parse({"id": "x", "type": "function", "function": {"name": "n", "arguments": '{"k": [1]}'}})
    assert (call.id, call.name, call.arguments, call.type) == ("x", "n", {"k": [1]}, "function")


def test_timestamps_epoch_ms_iso_and_digit_strings() -> None:
    epoch_ms = datetime(2026, 8, 20, 17, 4, 5, 123000, tzinfo=UTC).timestamp() * 1000
    for stamp in [
        epoch_ms,
        int(epoch_ms),
        "2026-08-20T17:04:05.123Z",
        "2026-08-20T17:04:05.123+00:00",
        "2026-08-20T19:04:05.123+02:00",
        "2026-08-20T17:04:05.123",  # naive: UTC
        str(int(epoch_ms)),
    ]:
        message = parse_message({"type": "hang", "timestamp": stamp})
        assert message.timestamp_ms == pytest.approx(epoch_ms, abs=0.001), stamp
    assert parse_message({"type": "hang"}).timestamp_ms is None
    assert parse_message({"type": "hang", "timestamp": None}).timestamp_ms is None


def test_end_of_call_report_reads_legacy_top_level_fields() -> None:
    message = parse_message(
        {
            "type": "end-of-call-report",
            "endedReason": "assistant-ended-call",
            "summary": "old summary",
            "transcript": "AI: hi",
            "recordingUrl": "https://example.invalid/r.wav",
            "durationSeconds": 12.5,
            "messages": [{"role": "bot", "message": "hi"}],
        }
    )
    assert isinstance(message, EndOfCallReportMessage)
    assert (message.summary, message.transcript, message.recording_url) == (
        "old summary",
        "AI: hi",
        "https://example.invalid/r.wav",
    )
    assert message.duration_seconds == 12.5
    assert message.messages == ({"role": "bot", "message": "hi"},)
    bare = parse_message({"type": "end-of-call-report"})
    assert isinstance(bare, EndOfCallReportMessage)
    assert (bare.ended_reason, bare.summary, bare.duration_seconds, bare.messages) == (None, None, None, ())


def test_unknown_enum_values_are_kept() -> None:
    message = parse_message({"type": "status-update", "status": "teleporting", "endedReason": "solar-flare"})
    assert isinstance(message, StatusUpdateMessage)
    assert (message.status, message.ended_reason) == ("teleporting", "solar-flare")
    assert "teleporting" not in enums.CALL_STATUSES and "customer-ended-call" in enums.ENDED_REASONS


def test_unknown_type_is_an_unknown_message_with_raw_intact() -> None:
    frame = {"type": "hologram.projected", "timestamp": 5, "beam": {"power": [1, 2, 3]}, "call": {"id": "c"}}
    message = parse_message(json.dumps({"message": frame}))
    assert type(message) is UnknownMessage
    assert message.type == "hologram.projected"
    assert message.raw == frame
    assert (message.timestamp_ms, message.call_id, message.is_barge_in) == (5.0, "c", False)


@pytest.mark.parametrize(
    ("cls", "frame"),
    [
        (FunctionCallMessage, {"type": "function-call", "functionCall": {"name": "f", "parameters": {}}}),
        (FunctionCallResultMessage, {"type": "function-call-result", "functionCallResult": {"result": "x"}}),
        (ToolCompletedMessage, {"type": "tool.completed", "anything": [1]}),
        (LanguageChangedMessage, {"type": "language-changed", "language": "de"}),
        (CallDeleteFailedMessage, {"type": "call.delete.failed", "call": {"id": "c"}}),
        (CampaignPredialMessage, {"type": "campaign.predial", "campaignId": "k", "contact": {"number": "+1"}}),
    ],
)
def test_types_without_a_fixture(cls: type[Message], frame: dict[str, Any]) -> None:
    message = parse_message(frame)
    assert type(message) is cls and message.raw == frame
    if isinstance(message, LanguageChangedMessage):
        assert message.language == "de"
    if isinstance(message, CampaignPredialMessage):
        assert (message.campaign_id, message.contact) == ("k", {"number": "+1"})


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("{not json", "malformed JSON"),
        ("", "malformed JSON"),
        ('{"type": "hang"', "malformed JSON"),
        ('{"type": NaN}', "NaN is not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        ("[1, 2]", "expected a JSON object, got array"),
        ('"hang"', "expected a JSON object, got string"),
        ("null", "expected a JSON object, got null"),
        ("{}", "missing 'type'"),
        ('{"timestamp": 1}', "missing 'type'"),
        ('{"message": {"timestamp": 1}}', "message: missing 'type'"),
        ('{"message": [1]}', "message: expected an object, got array"),
        ('{"type": 7}', "'type' must be a string, got number"),
        ('{"type": ""}', "'type' is empty"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_malformed_input_raises_protocol_error_with_a_reason(data: str | bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason.replace("[", r"\[")) as info:
        parse_message(data)
    assert isinstance(info.value, VapiFastError)
    assert reason in info.value.reason


def test_non_json_inputs_raise_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="expected str, bytes or a mapping"):
        parse_message(42)  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="Python set is not a JSON value"):
        parse_message({"type": "hang", "x": {1, 2}})
    with pytest.raises(ProtocolError, match="object key of type number"):
        parse_message({"type": "hang", "x": {1: 2}})


@pytest.mark.parametrize(
    ("frame", "path", "reason"),
    [
        (
            {"type": "transcript", "role": "user", "transcriptType": "final", "transcript": 3},
            "transcript",
            "got number",
        ),
        ({"type": "transcript", "role": "user", "transcriptType": "final"}, "transcript", "required field is missing"),
        ({"type": "speech-update", "status": "started", "role": ["user"]}, "role", "got array"),
        ({"type": "speech-update", "status": "started", "role": "user", "turn": 1.5}, "turn", "an integer"),
        ({"type": "status-update"}, "status", "required field is missing"),
        ({"type": "hang", "timestamp": True}, "timestamp", "got boolean"),
        ({"type": "hang", "timestamp": "yesterday"}, "timestamp", "ISO-8601"),
        ({"type": "hang", "timestamp": 1e400}, "timestamp", "finite"),
        ({"type": "hang", "call": "abc"}, "call", "expected an object, got string"),
        ({"type": "model-output"}, "output", "required field is missing"),
        ({"type": "model-output", "output": 12}, "output", "got number"),
        ({"type": "voice-request", "text": "hi", "sampleRate": 0}, "sampleRate", "positive"),
        ({"type": "voice-request", "text": "hi", "sampleRate": "16000"}, "sampleRate", "got string"),
        ({"type": "tool-calls"}, "toolCallList", "required field is missing"),
        ({"type": "tool-calls", "toolCallList": {"id": "x"}}, "toolCallList", "expected an array, got object"),
        ({"type": "tool-calls", "toolCallList": ["x"]}, "toolCallList[0]", "expected an object, got string"),
        (
            {"type": "tool-calls", "toolCallList": [{"id": "x", "function": {"name": "f", "arguments": 5}}]},
            "toolCallList[0].function.arguments",
            "got number",
        ),
        (
            {"type": "tool-calls", "toolCallList": [{"id": "x", "function": {"name": "f", "arguments": "{oops"}}]},
            "toolCallList[0].function.arguments",
            "not a JSON object string",
        ),
        (
            {"type": "tool-calls", "toolCallList": [{"id": "x", "function": {"name": "f", "arguments": "[1]"}}]},
            "toolCallList[0].function.arguments",
            "holds array",
        ),
        (
            {"type": "tool-calls", "toolCallList": [{"id": "x", "function": {}}]},
            "toolCallList[0].function.name",
            "missing",
        ),
        (
            {"type": "assistant.speechStarted", "text": "t", "timing": {"type": "word-progress", "totalWords": 3}},
            "timing.wordsSpoken",
            "required field is missing",
        ),
        (
            {"type": "assistant.speechStarted", "text": "t", "timing": {"type": "word-alignment", "words": [1]}},
            "timing.words[0]",
            "expected a string",
        ),
        (
            {"type": "phone-call-control", "request": "forward", "destination": {"type": "number"}},
            "destination.number",
            "missing",
        ),
        ({"type": "chat.created"}, "chat", "required field is missing"),
        ({"type": "call.artifact.upload", "artifacts": [{"type": "log"}]}, "artifacts[0].success", "missing"),
        (
            {
                "type": "transcript",
                "role": "user",
                "transcriptType": "final",
                "transcript": "t",
                "detectedThreats": "x",
            },
            "detectedThreats",
            "expected an array",
        ),
        ({"type": "end-of-call-report", "artifact": {"transcript": 1}}, "artifact.transcript", "got number"),
    ],
)
def test_wrong_typed_fields_name_the_path(frame: dict[str, Any], path: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message({"message": frame})
    error = info.value
    assert error.path == path
    assert error.message_type == frame["type"]
    assert reason in error.reason and path in error.reason and frame["type"] in error.reason


def test_errors_never_quote_payload_values() -> None:
    secret = "sk_live_SUPER_SECRET_VALUE"
    cases: list[Any] = [
        {"type": "transcript", "role": "user", "transcriptType": "final", "transcript": {"x": secret}},
        {"type": "hang", "timestamp": secret},
        {"type": "tool-calls", "toolCallList": [{"id": "x", "function": {"name": "f", "arguments": "{" + secret}}]},
        '{"type": "hang", "secret": "' + secret + '"',
    ]
    for data in cases:
        with pytest.raises(ProtocolError) as info:
            parse_message(data)
        assert secret not in str(info.value)
        assert secret not in repr(info.value.args)


def test_unknown_destination_types_stay_dicts() -> None:
    message = parse_message({"type": "transfer-update", "destination": {"type": "carrier-pigeon", "loft": 3}})
    assert isinstance(message, TransferUpdateMessage)
    assert message.destination == {"type": "carrier-pigeon", "loft": 3}
    timing = parse_message({"type": "assistant.speechStarted", "text": "t", "timing": {"type": "future"}})
    assert isinstance(timing, AssistantSpeechStartedMessage) and timing.timing == {"type": "future"}


def test_destinations_keep_untyped_keys_in_extra() -> None:
    message = parse_message(
        {
            "type": "phone-call-control",
            "request": "forward",
            "destination": {"type": "number", "number": "+1", "numberE164CheckEnabled": False, "description": "d"},
        }
    )
    assert isinstance(message, PhoneCallControlMessage)
    assert isinstance(message.destination, NumberDestination)
    assert message.destination.extra == {"numberE164CheckEnabled": False, "description": "d"}
    assert message.destination.to_dict() == message.raw["destination"]


def test_class_parse_checks_the_type_and_copies() -> None:
    frame = {"type": "voice-input", "input": "hello"}
    message = VoiceInputMessage.parse(frame)
    assert message.input == "hello"
    frame["input"] = "changed"
    assert message.raw["input"] == "hello"
    with pytest.raises(ProtocolError, match="VoiceInputMessage does not parse this type"):
        VoiceInputMessage.parse({"type": "hang"})
    with pytest.raises(ProtocolError, match="expected a JSON object"):
        VoiceInputMessage.parse([])  # type: ignore[arg-type]


def test_mapping_input_is_copied_not_held() -> None:
    frame: dict[str, Any] = {"type": "conversation-update", "messages": [{"role": "user", "message": "a"}]}
    message = parse_message(frame)
    frame["messages"][0]["message"] = "mutated"
    frame["messages"].append({"role": "bot"})
    assert isinstance(message, ConversationUpdateMessage)
    assert message.messages == ({"role": "user", "message": "a"},)
    assert message.raw["messages"] == [{"role": "user", "message": "a"}]


def test_messages_are_frozen_and_reprs_hide_bulky_or_secret_fields() -> None:
    message = parse_message(fixture_text("02-assistant-request.json"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.type = "hang"  # type: ignore[misc]
    text = repr(message)
    assert "twilioAccountSid" not in text and "Dana" not in text
    assert text.startswith("AssistantRequestMessage(type='assistant-request'")


def test_word_progress_guards_a_zero_total() -> None:
    timing = WordProgressTiming(words_spoken=0, total_words=0)
    assert timing.fraction_spoken is None
    assert isinstance(
        WordAlignmentTiming(words=(), words_start_times_ms=(), words_end_times_ms=()), WordAlignmentTiming
    )


def test_enums_match_the_sdk_lists() -> None:
    sdk = fixture_json("sdk_enums.json")
    pairs = {
        "endedReason": enums.ENDED_REASONS,
        "callStatus": enums.CALL_STATUSES,
        "callType": enums.CALL_TYPES,
        "transcriptType": enums.TRANSCRIPT_TYPES,
        "transcriptMessageType": enums.TRANSCRIPT_MESSAGE_TYPES,
        "role": enums.ROLES,
        "speechUpdateStatus": enums.SPEECH_STATUSES,
        "assistantSpeechSource": enums.ASSISTANT_SPEECH_SOURCES,
        "phoneCallControlRequest": enums.PHONE_CALL_CONTROL_REQUESTS,
        "controlAction": enums.CONTROL_ACTIONS,
        "appendContextKind": enums.APPEND_CONTEXT_KINDS,
        "openAiMessageRole": enums.MESSAGE_ROLES,
        "audioFormat": enums.AUDIO_FORMATS,
        "audioContainer": enums.AUDIO_CONTAINERS,
        "assistantServerMessages": enums.SERVER_MESSAGE_TYPES,
        "assistantClientMessages": enums.CLIENT_MESSAGE_TYPES,
        "callArtifactUploadType": enums.CALL_ARTIFACT_UPLOAD_TYPES,
        "confidenceSource": enums.CONFIDENCE_SOURCES,
    }
    assert set(pairs) == set(sdk) - {"_about"}
    for key, values in pairs.items():
        assert values == frozenset(sdk[key]), key
    assert len(enums.ENDED_REASONS) == 604


# Property test: anything JSON-like gives a Message or a ProtocolError, nothing else.

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_KEYS = sorted(
    {
        "type",
        "timestamp",
        "call",
        "customer",
        "assistant",
        "phoneNumber",
        "artifact",
        "role",
        "transcriptType",
        "transcript",
        "status",
        "turn",
        "endedReason",
        "output",
        "turnId",
        "toolCallList",
        "toolCalls",
        "toolWithToolCallList",
        "text",
        "sampleRate",
        "input",
        "language",
        "request",
        "destination",
        "timing",
        "messages",
        "messagesOpenAIFormatted",
        "chat",
        "session",
        "node",
        "newAssistant",
        "toolCallResult",
        "metadata",
        "parameters",
        "artifacts",
        "campaignId",
        "contact",
        "analysis",
        "startedAt",
        "endedAt",
        "durationSeconds",
        "cost",
        "costs",
        "isFiltered",
        "detectedThreats",
        "confidence",
        "source",
    }
)


def _frames() -> st.SearchStrategy[dict[str, Any]]:
    # Known types with plausible keys holding arbitrary values, to reach every typed parser.
    known = st.sampled_from(sorted(REGISTRY))
    fields = st.dictionaries(st.sampled_from(_KEYS), _json, max_size=6)
    return st.builds(lambda t, f: {**f, "type": t}, known, fields)


def _check(data: Any) -> None:
    try:
        message = parse_message(data)
    except ProtocolError as exc:
        assert exc.reason
    else:
        assert isinstance(message, Message)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_arbitrary_json_values_give_a_message_or_a_protocol_error(value: Any) -> None:
    _check(value)
    _check(json.dumps(value))
    _check({"message": value})


@settings(max_examples=300, deadline=None)
@given(_frames())
def test_arbitrary_fields_of_known_types_give_a_message_or_a_protocol_error(frame: dict[str, Any]) -> None:
    _check(frame)
    _check({"message": frame})
    _check(json.dumps(frame).encode())


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40) | st.text(max_size=40))
def test_arbitrary_text_and_bytes_give_a_message_or_a_protocol_error(data: bytes | str) -> None:
    _check(data)
