"""Fixtures and helper assertions shared by the protocol tests (no sockets anywhere)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vapi_fast.protocol import (
    AddMessage,
    AppendContext,
    AssistantRequestResponse,
    CampaignPredialResponse,
    Control,
    ControlMessage,
    EndCall,
    EndpointingResponse,
    Event,
    Handoff,
    HandoffDestination,
    HandoffDestinationResponse,
    Hangup,
    KnowledgeBaseDocument,
    KnowledgeBaseResponse,
    NumberDestination,
    Outbound,
    Response,
    Say,
    SendTransportMessage,
    SipDestination,
    SipTransportMessage,
    ToolCallResult,
    ToolCallsResponse,
    Transfer,
    TransferDestinationResponse,
    VapiProtocol,
)

__all__ = [
    "CONTROL_CASES",
    "EXTRA_RESPONSES",
    "FIXTURES",
    "INBOUND_FIXTURES",
    "RESPONSE_CASES",
    "assert_events",
    "assert_outbound",
    "assert_same_json",
    "fixture_bytes",
    "fixture_json",
    "fixture_text",
    "inner",
]

#: The recorded protocol fixtures (copies of /work/shared/protocol/fixtures, plus sdk_enums.json).
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

#: Every message Vapi sends, as a webhook body (``NN-*.json``) or a WebSocket frame (``*.ws.json``).
INBOUND_FIXTURES = sorted(
    path.name
    for path in FIXTURES.glob("[0-9][0-9]-*.json")
    if not path.name.startswith("01-") and ".response" not in path.name
)


def fixture_text(name: str) -> str:
    """A fixture file's text."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_bytes(name: str) -> bytes:
    """A fixture file's bytes."""
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    """A fixture file, decoded."""
    return json.loads(fixture_text(name))


def inner(name: str) -> dict[str, Any]:
    """The message object of an inbound fixture: the envelope's ``message``, or the bare frame."""
    obj: dict[str, Any] = fixture_json(name)
    return obj if name.endswith(".ws.json") else obj["message"]


def assert_same_json(text: str, expected: Any) -> None:
    """``text`` is compact JSON equal (after decoding) to ``expected``."""
    decoded = json.loads(text)
    assert decoded == expected
    assert text == json.dumps(decoded, separators=(",", ":"), ensure_ascii=False), "not compact JSON"


def assert_events(protocol: VapiProtocol, *expected: type[Any] | Event) -> list[Event]:
    """``protocol.events_received()`` gives events matching ``expected`` (a class, or an equal value),
    in order, and nothing more; a second call gives nothing."""
    events = protocol.events_received()
    assert len(events) == len(expected), [type(event).__name__ for event in events]
    for event, want in zip(events, expected, strict=True):
        if isinstance(want, type):
            assert isinstance(event, want), (type(event).__name__, want.__name__)
        else:
            assert event == want
    assert protocol.events_received() == []
    return events


def assert_outbound(protocol: VapiProtocol, *expected: Outbound) -> None:
    """``protocol.data_to_send()`` gives exactly ``expected``, in order; a second call gives nothing."""
    assert protocol.data_to_send() == list(expected)
    assert protocol.data_to_send() == []


#: Each control fixture and the object that must serialize to it.
CONTROL_CASES: dict[str, ControlMessage] = {
    "01-ws.control.add-message.json": AddMessage(
        "system", "The caller's loyalty tier is Gold; offer free express shipping.", trigger_response_enabled=True
    ),
    "01-ws.control.add-message.silent.json": AddMessage(
        "user", "(typed in chat) My zip code is 94107.", trigger_response_enabled=False
    ),
    "01-ws.control.append-context.json": AppendContext(
        "thinking", "CRM lookup: caller has two open orders (A-1042, A-1077)."
    ),
    "01-ws.control.control.mute-assistant.json": Control("mute-assistant"),
    "01-ws.control.control.mute-customer.json": Control("mute-customer"),
    "01-ws.control.control.say-first-message.json": Control("say-first-message"),
    "01-ws.control.control.unmute-assistant.json": Control("unmute-assistant"),
    "01-ws.control.control.unmute-customer.json": Control("unmute-customer"),
    "01-ws.control.end-call.json": EndCall(),
    "01-ws.control.handoff.json": Handoff(
        HandoffDestination(assistant_name="Billing Specialist", context_engineering_plan={"type": "all"}),
        content="Let me hand you to our billing assistant.",
    ),
    "01-ws.control.hangup.json": Hangup(),
    "01-ws.control.say-and-end.json": Say("Thanks for calling Acme. Goodbye!", end_call_after_spoken=True),
    "01-ws.control.say.json": Say(
        "Quick note: our warehouse closes early today.",
        end_call_after_spoken=False,
        interruptions_enabled=True,
        interrupt_assistant_enabled=False,
    ),
    "01-ws.control.send-transport-message.sip-info.json": SendTransportMessage(
        SipTransportMessage(
            "INFO", headers={"Content-Type": "application/dtmf-relay"}, body="Signal=5\r\nDuration=160\r\n"
        )
    ),
    "01-ws.control.transfer.number.json": Transfer(
        NumberDestination("+14155550177"), content="Transferring you to a billing specialist now."
    ),
    "01-ws.control.transfer.sip.json": Transfer(
        SipDestination("sip:billing@pbx.acme-support.example", sip_headers={"X-Acme-Account": "gold"}),
        content="Connecting you now.",
    ),
}

_LOOKUP_RESULT = "Order A-1042 shipped on Aug 18 via UPS; expected delivery Aug 21."
_CALL_ID = "call_Xk29vQmP4tLr8sNaB3dE7fGh"

#: Each JSON response fixture and the object that must serialize to it.
RESPONSE_CASES: dict[str, Response] = {
    "02-assistant-request.response.json": AssistantRequestResponse(
        assistant_id="a1f3c9d2-7b44-4c1e-8f2a-6d5e0b9c3a17",
        assistant_overrides={"variableValues": {"customerName": "Dana", "tier": "gold"}},
    ),
    "02-assistant-request.response.assistant.json": AssistantRequestResponse(
        assistant={
            "name": "Acme After-Hours",
            "firstMessage": "Hi Dana, you've reached Acme after hours. How can I help?",
            "model": {
                "provider": "openai",
                "model": "gpt-4o",
                "messages": [{"role": "system", "content": "You handle after-hours order questions for Acme."}],
            },
            "voice": {"provider": "11labs", "voiceId": "21m00Tcm4TlvDq8ikWAM"},
            "serverMessages": ["end-of-call-report", "status-update", "tool-calls"],
        }
    ),
    "02-assistant-request.response.destination-number.json": AssistantRequestResponse(
        destination=NumberDestination(
            "+14155550177",
            caller_id="+14155550100",
            extension="204",
            message="Connecting you to the support desk.",
        )
    ),
    "02-assistant-request.response.destination-sip.json": AssistantRequestResponse(
        destination=SipDestination(
            "sip:frontdesk@pbx.acme-support.example", sip_headers={"X-Acme-Account": "gold"}, message=""
        )
    ),
    "02-assistant-request.response.error.json": AssistantRequestResponse(
        error="Sorry, our lines are closed for maintenance. Please call back after 6 PM."
    ),
    "04-call-endpointing-request.response.json": EndpointingResponse(0.6),
    "10-knowledge-base-request.response.json": KnowledgeBaseResponse(
        documents=[
            KnowledgeBaseDocument(
                "Orders ship within 2 business days. Standard delivery takes 3-5 business days after shipment.",
                0.91,
                "kb-shipping-001",
            ),
            KnowledgeBaseDocument(
                "Customers can track any order at acme-support.example/track using the order id.",
                0.74,
                "kb-tracking-004",
            ),
        ]
    ),
    "10-knowledge-base-request.response.custom-message.json": KnowledgeBaseResponse(
        message="Orders ship within two business days and usually arrive three to five days later."
    ),
    "10-knowledge-base-request.response.docs-style-message.json": KnowledgeBaseResponse(
        message={
            "role": "assistant",
            "content": "Orders ship within two business days and usually arrive three to five days later.",
        }
    ),
    "19-tool-calls.response.json": ToolCallsResponse(
        [ToolCallResult(tool_call_id=_CALL_ID, name="lookupOrder", result=_LOOKUP_RESULT)]
    ),
    "19-tool-calls.response.error.json": ToolCallsResponse(
        [
            ToolCallResult(
                tool_call_id=_CALL_ID,
                name="lookupOrder",
                error="Order system unavailable; ask the caller to try again later.",
            )
        ]
    ),
    "19-tool-calls.response.minimal.json": ToolCallsResponse(
        [ToolCallResult(tool_call_id=_CALL_ID, result=_LOOKUP_RESULT)]
    ),
    "21-transfer-destination-request.response.json": TransferDestinationResponse(
        destination=NumberDestination(
            "+14155550177", caller_id="+14155550100", message="Connecting you to billing now."
        ),
        message="Transferring you now.",
    ),
    "21-transfer-destination-request.response.error.json": TransferDestinationResponse(
        error="Billing is closed right now."
    ),
    "21-transfer-destination-request.response.sip.json": TransferDestinationResponse(
        destination=SipDestination("sip:billing@pbx.acme-support.example")
    ),
    "95-handoff-destination-request.response.json": HandoffDestinationResponse(
        destination=HandoffDestination(assistant_name="Billing Specialist")
    ),
}

#: Responses with no fixture, checked against the SDK only.
EXTRA_RESPONSES: dict[str, Response] = {
    "campaign-predial": CampaignPredialResponse(eligible=True),
}
