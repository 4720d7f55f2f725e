"""Webhook replies: serialize() equals the response fixtures; bad arguments fail at construction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from vapi_fast.protocol import (
    AssistantDestination,
    AssistantRequestResponse,
    CampaignPredialResponse,
    ControlMessageError,
    EndpointingResponse,
    HandoffDestinationResponse,
    KnowledgeBaseDocument,
    KnowledgeBaseResponse,
    NumberDestination,
    ToolCallResult,
    ToolCallsMessage,
    ToolCallsResponse,
    TransferDestinationResponse,
    parse_message,
)

from .conftest import FIXTURES, RESPONSE_CASES, assert_same_json, fixture_json, fixture_text


def test_every_json_response_fixture_has_a_case() -> None:
    names = sorted(path.name for path in FIXTURES.glob("*.response*.json"))
    # Not webhook replies: the create-call answer (01-) and the voice-request descriptor (the reply is PCM).
    assert sorted(RESPONSE_CASES) == [name for name in names if not name.startswith(("01-", "25-"))]


@pytest.mark.parametrize("name", sorted(RESPONSE_CASES))
def test_serialize_matches_the_fixture(name: str) -> None:
    response = RESPONSE_CASES[name]
    assert_same_json(response.serialize(), fixture_json(name))
    assert response.to_dict() == fixture_json(name)


def test_tool_call_result_for_a_parsed_call() -> None:
    message = parse_message(fixture_text("19-tool-calls.json"))
    assert isinstance(message, ToolCallsMessage)
    results = [
        ToolCallResult.for_call(call, result="Order A-1042 shipped on Aug 18 via UPS; expected delivery Aug 21.")
        for call in message.tool_calls
    ]
    assert ToolCallsResponse(results).to_dict() == fixture_json("19-tool-calls.response.json")


def test_small_replies() -> None:
    assert CampaignPredialResponse(eligible=False).serialize() == '{"eligible":false}'
    assert EndpointingResponse(0).serialize() == '{"timeoutSeconds":0}'
    assert KnowledgeBaseResponse(documents=[]).serialize() == '{"documents":[]}'
    assert ToolCallsResponse([], error="down").to_dict() == {"results": [], "error": "down"}
    assert TransferDestinationResponse(destination=AssistantDestination("Billing")).to_dict() == {
        "destination": {"type": "assistant", "assistantName": "Billing"}
    }
    result = ToolCallResult(tool_call_id="c", name="n", result="", metadata={"k": 1}, message={"type": "x"})
    assert result.to_dict() == {
        "name": "n",
        "toolCallId": "c",
        "result": "",
        "message": {"type": "x"},
        "metadata": {"k": 1},
    }
    assert HandoffDestinationResponse(destination={"type": "dynamic"}, result="ok").to_dict() == {
        "destination": {"type": "dynamic"},
        "result": "ok",
    }


def test_inputs_are_copied() -> None:
    overrides: dict[str, Any] = {"variableValues": {"a": 1}}
    response = AssistantRequestResponse(assistant_id="x", assistant_overrides=overrides)
    overrides["variableValues"]["a"] = 2
    assert response.to_dict()["assistantOverrides"] == {"variableValues": {"a": 1}}
    documents = [KnowledgeBaseDocument("c", 0.5)]
    kb = KnowledgeBaseResponse(documents=documents)
    documents.append(KnowledgeBaseDocument("d", 0.1))
    assert len(kb.to_dict()["documents"]) == 1


BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: AssistantRequestResponse(), "give exactly one of assistant_id, assistant, squad_id"),
    (lambda: AssistantRequestResponse(assistant_id="a", error="e"), "(got assistant_id, error)"),
    (
        lambda: AssistantRequestResponse(error="e", assistant_overrides={"x": 1}),
        "assistant_overrides needs assistant_id or assistant",
    ),
    (lambda: AssistantRequestResponse(assistant_id=""), "assistant_id must not be empty"),
    (lambda: AssistantRequestResponse(assistant="x"), "assistant must be a mapping"),  # type: ignore[arg-type]
    (
        lambda: AssistantRequestResponse(destination=AssistantDestination("a")),  # type: ignore[arg-type]
        "destination must be a NumberDestination or a SipDestination",
    ),
    (lambda: ToolCallResult(tool_call_id="c"), "give exactly one of result, error (got none)"),
    (lambda: ToolCallResult(tool_call_id="c", result="r", error="e"), "(got result, error)"),
    (lambda: ToolCallResult(tool_call_id="", result="r"), "tool_call_id must not be empty"),
    (lambda: ToolCallResult(tool_call_id="c", result={"a": 1}), "result must be a string"),  # type: ignore[arg-type]
    (lambda: ToolCallsResponse(["x"]), "results[0] must be a ToolCallResult"),  # type: ignore[list-item]
    (
        lambda: ToolCallsResponse(
            [ToolCallResult(tool_call_id="c", result="1"), ToolCallResult(tool_call_id="c", result="2")]
        ),
        "results[1] repeats a tool_call_id",
    ),
    (lambda: TransferDestinationResponse(), "destination must be a Number, Sip or AssistantDestination"),
    (
        lambda: TransferDestinationResponse(destination=NumberDestination("+1"), error="e"),
        "give error alone",
    ),
    (lambda: TransferDestinationResponse(destination=NumberDestination("+1"), message=""), "message must not be empty"),
    (lambda: KnowledgeBaseResponse(), "give documents, message or both"),
    (lambda: KnowledgeBaseResponse(documents=[{"content": "x"}]), "documents[0] must be a KnowledgeBaseDocument"),  # type: ignore[list-item]
    (lambda: KnowledgeBaseDocument("", 0.5), "content must not be empty"),
    (lambda: KnowledgeBaseDocument("c", float("nan")), "similarity must be a finite number"),
    (lambda: KnowledgeBaseDocument("c", True), "similarity must be a finite number"),
    (lambda: EndpointingResponse(-1), "timeout_seconds must be >= 0"),
    (lambda: EndpointingResponse(float("inf")), "finite"),
    (lambda: HandoffDestinationResponse(destination="billing"), "destination must be a mapping"),  # type: ignore[arg-type]
    (lambda: CampaignPredialResponse(eligible=1), "eligible must be a bool"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("build", "reason"), BAD)
def test_bad_arguments_raise_control_message_error(build: Callable[[], object], reason: str) -> None:
    with pytest.raises(ControlMessageError) as info:
        build()
    assert isinstance(info.value, ValueError)
    assert reason in str(info.value)
