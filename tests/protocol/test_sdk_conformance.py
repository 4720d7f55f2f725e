"""Conformance with ``vapi-server-sdk`` 3.x: the same fixtures give the same field values in our classes
and in the SDK's models, and everything we serialize validates against the SDK model where one exists.

The SDK models allow extra keys, so validation alone would accept a misspelled camelCase key; the
outbound checks also assert that the SDK found no extra keys anywhere in what we generate.

Speed: each SDK message module rebuilds its pydantic models when imported (about 0.4 s per class,
25 s for this file). :func:`sdk` imports the classes with that rebuild skipped and validates through
one ``TypeAdapter`` holding all of them, so the schemas are built once (about 4 s). Validation is
still done by the SDK's own model classes; values are read back by attribute, never through the
SDK's serializers (which would rebuild each class).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from vapi_fast.protocol import (
    REGISTRY,
    ArtifactUploadResult,
    EndOfCallReportMessage,
    Message,
    ModelOutputMessage,
    ToolCall,
    ToolCallsMessage,
    WordAlignmentTiming,
    WordProgressTiming,
    WordTimestamp,
    parse_message,
)

from .conftest import CONTROL_CASES, EXTRA_RESPONSES, INBOUND_FIXTURES, RESPONSE_CASES, fixture_json, inner

# The suite must import without the SDK; it is installed in development and CI, so these run there.
vt = pytest.importorskip("vapi.types")
pydantic = pytest.importorskip("pydantic")
typing_extensions = pytest.importorskip("typing_extensions")
_sdk_utils = pytest.importorskip("vapi.core.pydantic_utilities")

#: Wire type -> (webhook model, WebSocket model); None where the SDK has no model for that side.
SDK_MODELS: dict[str, tuple[str | None, str | None]] = {
    "assistant-request": ("ServerMessageAssistantRequest", None),
    "assistant.speechStarted": ("ServerMessageAssistantSpeech", "ClientMessageAssistantSpeech"),
    "call.endpointing.request": ("ServerMessageCallEndpointingRequest", None),
    "chat.created": ("ServerMessageChatCreated", "ClientMessageChatCreated"),
    "chat.deleted": ("ServerMessageChatDeleted", "ClientMessageChatDeleted"),
    "conversation-update": ("ServerMessageConversationUpdate", "ClientMessageConversationUpdate"),
    "end-of-call-report": ("ServerMessageEndOfCallReport", None),
    "hang": ("ServerMessageHang", "ClientMessageHang"),
    "knowledge-base-request": ("ServerMessageKnowledgeBaseRequest", None),
    "language-change-detected": ("ServerMessageLanguageChangeDetected", "ClientMessageLanguageChangeDetected"),
    "model-output": ("ServerMessageModelOutput", "ClientMessageModelOutput"),
    "phone-call-control": ("ServerMessagePhoneCallControl", None),
    "session.created": ("ServerMessageSessionCreated", "ClientMessageSessionCreated"),
    "session.deleted": ("ServerMessageSessionDeleted", "ClientMessageSessionDeleted"),
    "session.updated": ("ServerMessageSessionUpdated", "ClientMessageSessionUpdated"),
    "speech-update": ("ServerMessageSpeechUpdate", "ClientMessageSpeechUpdate"),
    # No ClientMessage model: the socket frame has the webhook shape (reference section 8).
    "status-update": ("ServerMessageStatusUpdate", "ServerMessageStatusUpdate"),
    "tool-calls": ("ServerMessageToolCalls", "ClientMessageToolCalls"),
    "transcript": ("ServerMessageTranscript", "ClientMessageTranscript"),
    'transcript[transcriptType="final"]': ("ServerMessageTranscript", "ClientMessageTranscript"),
    "transfer-destination-request": ("ServerMessageTransferDestinationRequest", None),
    "transfer-update": ("ServerMessageTransferUpdate", "ClientMessageTransferUpdate"),
    "user-interrupted": ("ServerMessageUserInterrupted", "ClientMessageUserInterrupted"),
    "voice-input": ("ServerMessageVoiceInput", "ClientMessageVoiceInput"),
    "voice-request": ("ServerMessageVoiceRequest", None),
    "assistant.started": (None, "ClientMessageAssistantStarted"),
    "workflow.node.started": (None, "ClientMessageWorkflowNodeStarted"),
    "tool-calls-result": (None, "ClientMessageToolCallsResult"),
    "metadata": (None, "ClientMessageMetadata"),
    "handoff-destination-request": ("ServerMessageHandoffDestinationRequest", None),
    "call.deleted": ("ServerMessageCallDeleted", "ClientMessageCallDeleted"),
    "call.delete.failed": ("ServerMessageCallDeleteFailed", "ClientMessageCallDeleteFailed"),
    "call.artifact.upload": ("ServerMessageCallArtifactUpload", None),
    "campaign.predial": ("ServerMessageCampaignPredial", None),
}

#: Fixtures the SDK rejects on purpose (fixtures/README.md): real traffic the generated models refuse.
SDK_REJECTS_INBOUND = {
    "12-model-output.token.json",  # output is a string token; the SDK wants an object
    "12-model-output.token.ws.json",
    "19-tool-calls.args-object.json",  # arguments is an object; the SDK wants a JSON string
}
SDK_REJECTS_RESPONSES = {
    "19-tool-calls.response.minimal.json",  # no results[].name; the SDK requires it
    "10-knowledge-base-request.response.docs-style-message.json",  # {role, content}, not a CustomMessage
}
#: Control frames with no SDK model at all.
NO_SDK_CONTROL = {"01-ws.control.hangup.json", "01-ws.control.handoff.json"}

#: Our field -> the SDK attribute path holding the same value, where the names differ.
RENAMED = {
    "timestamp_ms": "timestamp",
    "messages_openai_formatted": "messages_open_ai_formatted",
    "tool_calls": "tool_call_list",
    "tools": "tool_with_tool_call_list",
}
#: Fields we derive, per class: our field -> the SDK path it comes from (None: no SDK counterpart).
DERIVED: dict[type[Message], dict[str, str | None]] = {
    EndOfCallReportMessage: {
        "summary": "analysis.summary",
        "transcript": "artifact.transcript",
        "recording_url": "artifact.recording_url",
        "stereo_recording_url": "artifact.stereo_recording_url",
        "messages": "artifact.messages",
        "started_at_ms": "started_at",
        "ended_at_ms": "ended_at",
        "duration_seconds": None,  # checked against ended_at - started_at below
    },
}
DERIVED_BY_NAME: dict[str, dict[str, str | None]] = {
    "ToolCallsResultMessage": {"tool_call_id": "tool_call_result.toolCallId", "name": "tool_call_result.name"},
}

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def norm(value: Any) -> Any:
    """A plain-JSON form of our values and the SDK's, so the two can be compared with ``==``."""
    if value is None or isinstance(value, bool | str):
        if isinstance(value, str) and _ISO.match(value):
            return _ms(datetime.fromisoformat(value))
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        return _ms(value)
    if isinstance(value, pydantic.BaseModel):
        return norm(plain(value))
    if isinstance(value, ToolCall):
        return {"id": value.id, "type": value.type, "function": {"name": value.name, "arguments": value.arguments}}
    if isinstance(value, WordAlignmentTiming):
        return norm(
            {
                "type": "word-alignment",
                "words": value.words,
                "wordsStartTimesMs": value.words_start_times_ms,
                "wordsEndTimesMs": value.words_end_times_ms,
            }
        )
    if isinstance(value, WordProgressTiming):
        return norm(
            {
                "type": "word-progress",
                "wordsSpoken": value.words_spoken,
                "totalWords": value.total_words,
                "segment": value.segment,
                "segmentDurationMs": value.segment_duration_ms,
                "words": value.words,
            }
        )
    if isinstance(value, WordTimestamp):
        return norm({"word": value.word, "startMs": value.start_ms, "endMs": value.end_ms})
    if isinstance(value, ArtifactUploadResult):
        return {"type": value.type, "success": value.success}
    if hasattr(value, "to_dict"):  # destinations
        return norm(value.to_dict())
    if isinstance(value, dict):
        out = {key: norm(item) for key, item in value.items() if item is not None}
        function = out.get("function")
        # The SDK keeps tool-call arguments as the JSON string; compare them decoded.
        if isinstance(function, dict) and isinstance(function.get("arguments"), str) and "id" in out:
            function["arguments"] = json.loads(function["arguments"] or "{}")
        return out
    if isinstance(value, list | tuple):
        return [norm(item) for item in value]
    raise TypeError(f"cannot normalize {type(value).__name__}")


def plain(model: Any) -> dict[str, Any]:
    """An SDK model instance as a dict of the keys it was given (wire aliases), like
    ``model_dump(by_alias=True, exclude_unset=True)`` but read attribute by attribute."""
    aliases = _aliases(type(model))
    extra = model.model_extra or {}
    out: dict[str, Any] = {}
    for name in model.model_fields_set:
        if name in aliases:
            out[aliases[name]] = getattr(model, name)
        elif name in extra:
            out[name] = extra[name]
    return out


_ALIASES: dict[type, dict[str, str]] = {}


def _aliases(cls: type) -> dict[str, str]:
    """Field name -> wire key of an SDK model class. The class's ``model_fields`` lack the aliases of
    fields whose annotations could not be evaluated when the class was created (the import-time
    rebuild is skipped), so read them from the annotations, evaluated now that the module is loaded."""
    if cls in _ALIASES:
        return _ALIASES[cls]
    out: dict[str, str] = {}
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        alias = info.alias
        if alias is None:
            owner = next(c for c in cls.__mro__ if name in getattr(c, "__annotations__", {}))
            annotation = owner.__annotations__[name]
            if isinstance(annotation, str):
                annotation = eval(annotation, vars(sys.modules[owner.__module__]))
            metadata = getattr(annotation, "__metadata__", ())
            alias = next((m.alias for m in metadata if getattr(m, "alias", None)), None)
        out[name] = alias or name
    _ALIASES[cls] = out
    return out


@functools.cache
def _probe() -> Any:
    """A ``TypeAdapter`` over a TypedDict with one key per SDK model class this file uses."""
    names = sorted(
        {model for pair in SDK_MODELS.values() for model in pair if model is not None}
        | set(RESPONSE_MODELS.values())
        | {"ClientInboundMessage"}
        | {f"ClientInboundMessageMessage_{name}" for name in CONTROL_MODELS}
    )
    with pytest.MonkeyPatch.context() as patch:
        # Skip the import-time model_rebuild; pydantic builds the schemas once, in the adapter.
        patch.setattr(_sdk_utils, "update_forward_refs", lambda model, **localns: None)
        classes = {name: getattr(vt, name) for name in names}
    probe = typing_extensions.TypedDict(
        "Probe", {name: typing_extensions.NotRequired[cls] for name, cls in classes.items()}
    )
    return pydantic.TypeAdapter(probe)


def validate(model: str, payload: Any) -> Any:
    """``payload`` validated by the SDK class named ``model``: the instance, or a ValidationError."""
    return _probe().validate_python({model: payload})[model]


CONTROL_MODELS = ["AddMessage", "AppendContext", "Control", "EndCall", "Say", "SendTransportMessage", "Transfer"]


def _ms(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp() * 1000


def sdk_get(obj: Any, path: str) -> Any:
    value = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part)
    return value


def sdk_model(name: str) -> str:
    """The name of the SDK model for an inbound fixture."""
    message_type = inner(name)["type"]
    hook, socket = SDK_MODELS[message_type]
    model = socket if name.endswith(".ws.json") else hook
    assert model is not None, f"no SDK model for {name}"
    return model


def compare(ours: Message, sdk: Any) -> list[str]:
    """Compare every field of ``ours`` with the SDK model; return the names compared."""
    derived = DERIVED.get(type(ours), {}) | DERIVED_BY_NAME.get(type(ours).__name__, {})
    compared = []
    for f in dataclasses.fields(ours):
        if f.name in ("raw", "type"):
            continue
        path = derived.get(f.name, RENAMED.get(f.name, f.name))
        if path is None:
            continue
        head = path.split(".")[0]
        if head not in type(sdk).model_fields:
            # Common fields the SDK does not model for this side (WebSocket models lack artifact).
            assert f.name in {"artifact", "call", "customer", "assistant", "phone_number"}, f.name
            assert getattr(ours, f.name) is None, f.name
            continue
        want = norm(sdk_get(sdk, path))
        got = norm(getattr(ours, f.name))
        if got == [] and want is None:  # our arrays are () when absent
            want = []
        assert got == want, f"{type(ours).__name__}.{f.name} != sdk {path}"
        compared.append(f.name)
    assert norm(ours.type) == norm(sdk.type)
    return compared


ACCEPTED = [name for name in INBOUND_FIXTURES if name not in SDK_REJECTS_INBOUND]


@pytest.mark.parametrize("name", ACCEPTED)
def test_fixture_fields_match_the_sdk(name: str) -> None:
    ours = parse_message(json.dumps(fixture_json(name)))
    sdk = validate(sdk_model(name), inner(name))
    compared = compare(ours, sdk)
    own = {f.name for f in dataclasses.fields(ours)} - {f.name for f in dataclasses.fields(Message)}
    skipped = {name for name, path in DERIVED.get(type(ours), {}).items() if path is None}
    assert own - skipped <= set(compared), f"typed fields not compared: {own - skipped - set(compared)}"
    if isinstance(ours, EndOfCallReportMessage):
        assert ours.duration_seconds == pytest.approx((sdk.ended_at - sdk.started_at).total_seconds())


@pytest.mark.parametrize("name", sorted(SDK_REJECTS_INBOUND))
def test_fixtures_the_sdk_rejects_parse_with_ours(name: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        validate(sdk_model(name), inner(name))
    ours = parse_message(json.dumps(fixture_json(name)))
    if isinstance(ours, ModelOutputMessage):
        assert ours.text == " shipped on August"
    else:
        assert isinstance(ours, ToolCallsMessage)
        assert ours.tool_calls[0].arguments == {"orderId": "A-1042"}
        # The same call in the SDK's own form gives the same typed values.
        fixed = json.loads(json.dumps(inner(name)))
        for call in fixed["toolCallList"]:
            call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
        for tool in fixed["toolWithToolCallList"]:
            tool["toolCall"]["function"]["arguments"] = json.dumps(tool["toolCall"]["function"]["arguments"])
        sdk = validate(sdk_model(name), fixed)
        assert norm(ours.tool_calls) == norm(sdk.tool_call_list)


def test_every_sdk_message_class_is_mapped() -> None:
    assert set(SDK_MODELS) == set(REGISTRY) - {
        "function-call",
        "function-call-result",
        "language-changed",
        "tool.completed",
    }
    _probe()  # imports every class named in the tables, or fails


@pytest.mark.parametrize(
    "frame",
    [
        {
            "type": "campaign.predial",
            "campaignId": "camp-1",
            "timestamp": 1787245445323,
            "contact": {
                "id": "c1",
                "campaignId": "camp-1",
                "orgId": "o1",
                "number": "+14155550142",
                "name": "Dana",
                "createdAt": "2026-08-20T17:04:05.123Z",
            },
        },
        {"type": "call.delete.failed", "timestamp": 1787245445323},
        {
            "type": "chat.created",
            "chat": {
                "id": "x",
                "orgId": "o",
                "createdAt": "2026-08-20T17:04:05.123Z",
                "updatedAt": "2026-08-20T17:04:05.123Z",
            },
        },
    ],
)
def test_synthetic_messages_match_the_sdk(frame: dict[str, Any]) -> None:
    ours = parse_message({"message": frame})
    hook, _ = SDK_MODELS[frame["type"]]
    assert hook is not None
    compare(ours, validate(hook, frame))


def assert_no_extra(model: Any, path: str = "") -> None:
    """No key anywhere in ``model`` fell into pydantic's extras (a misspelled or invented key)."""
    if isinstance(model, pydantic.BaseModel):
        assert not model.model_extra, f"unknown keys at {path or '<root>'}: {sorted(model.model_extra)}"
        for name in type(model).model_fields:
            assert_no_extra(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            assert_no_extra(item, f"{path}[{i}]")


RESPONSE_MODELS = {
    "02-": "ServerMessageResponseAssistantRequest",
    "04-": "ServerMessageResponseCallEndpointingRequest",
    "10-": "ServerMessageResponseKnowledgeBaseRequest",
    "19-": "ServerMessageResponseToolCalls",
    "21-": "ServerMessageResponseTransferDestinationRequest",
    "95-": "ServerMessageResponseHandoffDestinationRequest",
    "campaign-predial": "ServerMessageResponseCampaignPredial",
}


@pytest.mark.parametrize("name", sorted(set(RESPONSE_CASES) | set(EXTRA_RESPONSES)))
def test_responses_validate_against_the_sdk(name: str) -> None:
    response = RESPONSE_CASES.get(name) or EXTRA_RESPONSES[name]
    model = next(model for prefix, model in RESPONSE_MODELS.items() if name.startswith(prefix))
    body = json.loads(response.serialize())
    if name in SDK_REJECTS_RESPONSES:
        with pytest.raises(pydantic.ValidationError):
            validate(model, body)
        return
    parsed = validate(model, body)
    assert_no_extra(parsed)
    assert norm(parsed) == norm(body)


@pytest.mark.parametrize("name", sorted(CONTROL_CASES))
def test_control_messages_validate_against_the_sdk(name: str) -> None:
    frame = json.loads(CONTROL_CASES[name].serialize())
    if name in NO_SDK_CONTROL:
        with pytest.raises(pydantic.ValidationError):
            validate("ClientInboundMessage", {"message": frame})
        return
    # The SDK models the frame wrapped in {"message": ...}; on the wire it travels bare.
    wrapped = validate("ClientInboundMessage", {"message": frame})
    class_name = "ClientInboundMessageMessage_" + "".join(part.title() for part in frame["type"].split("-"))
    assert type(wrapped.message).__name__ == class_name
    direct = validate(class_name, frame)
    assert_no_extra(direct)
    assert norm(direct) == norm(frame)
