"""Every recorded request that has a ``.response`` fixture, POSTed to a Router under uvicorn, is answered
with exactly that body (validated against the official ``vapi-server-sdk`` reply model), from handlers
that return typed replies or plain values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from vapi_fast.audio import AudioFormat
from vapi_fast.protocol import (
    AssistantRequestResponse,
    EndpointingResponse,
    HandoffDestination,
    KnowledgeBaseDocument,
    KnowledgeBaseResponse,
    NumberDestination,
    SipDestination,
    ToolCall,
    TransferDestinationResponse,
)
from vapi_fast.webhooks import Router, ToolError, VoiceAudio

from .conftest import FIXTURES, Dispatch, assert_no_extra, client, fixture_bytes, fixture_json, sdk_validate, serving

_LOOKUP = "Order A-1042 shipped on Aug 18 via UPS; expected delivery Aug 21."

#: Each JSON reply fixture and a router whose handler produces it (typed replies and plain values mixed).
REPLIES: dict[str, Callable[[Router], None]] = {}


def reply(name: str) -> Callable[[Callable[[Router], None]], Callable[[Router], None]]:
    def register(setup: Callable[[Router], None]) -> Callable[[Router], None]:
        REPLIES[name] = setup
        return setup

    return register


@reply("02-assistant-request.response.json")
def _assistant_id(router: Router) -> None:
    @router.assistant_request
    def choose(message: Any) -> AssistantRequestResponse:
        return AssistantRequestResponse(
            assistant_id="a1f3c9d2-7b44-4c1e-8f2a-6d5e0b9c3a17",
            assistant_overrides={"variableValues": {"customerName": "Dana", "tier": "gold"}},
        )


@reply("02-assistant-request.response.assistant.json")
def _inline_assistant(router: Router) -> None:
    @router.assistant_request
    async def choose(message: Any) -> dict[str, Any]:
        inline: dict[str, Any] = fixture_json("02-assistant-request.response.assistant.json")
        return inline  # a plain mapping, sent as given


@reply("02-assistant-request.response.destination-number.json")
def _to_number(router: Router) -> None:
    @router.assistant_request
    async def choose(message: Any) -> NumberDestination:
        return NumberDestination(
            "+14155550177", caller_id="+14155550100", extension="204", message="Connecting you to the support desk."
        )


@reply("02-assistant-request.response.destination-sip.json")
def _to_sip(router: Router) -> None:
    @router.assistant_request
    def choose(message: Any) -> SipDestination:
        return SipDestination(
            "sip:frontdesk@pbx.acme-support.example", sip_headers={"X-Acme-Account": "gold"}, message=""
        )


@reply("02-assistant-request.response.error.json")
def _refuse(router: Router) -> None:
    @router.assistant_request
    async def choose(message: Any) -> AssistantRequestResponse:
        return AssistantRequestResponse(
            error="Sorry, our lines are closed for maintenance. Please call back after 6 PM."
        )


@reply("04-call-endpointing-request.response.json")
def _endpointing(router: Router) -> None:
    @router.endpointing
    def wait(message: Any) -> float:
        return 0.6


@reply("10-knowledge-base-request.response.json")
def _documents(router: Router) -> None:
    @router.knowledge_base
    async def search(message: Any) -> list[Any]:
        return [
            KnowledgeBaseDocument(
                "Orders ship within 2 business days. Standard delivery takes 3-5 business days after shipment.",
                0.91,
                "kb-shipping-001",
            ),
            {
                "content": "Customers can track any order at acme-support.example/track using the order id.",
                "similarity": 0.74,
                "uuid": "kb-tracking-004",
            },
        ]


@reply("10-knowledge-base-request.response.custom-message.json")
def _kb_message(router: Router) -> None:
    @router.knowledge_base
    def say(message: Any) -> str:
        return "Orders ship within two business days and usually arrive three to five days later."


@reply("10-knowledge-base-request.response.docs-style-message.json")
def _kb_docs_style(router: Router) -> None:
    @router.knowledge_base
    def say(message: Any) -> KnowledgeBaseResponse:
        return KnowledgeBaseResponse(
            message={
                "role": "assistant",
                "content": "Orders ship within two business days and usually arrive three to five days later.",
            }
        )


@reply("19-tool-calls.response.json")
def _tool(router: Router) -> None:
    @router.tool("lookupOrder")
    async def lookup_order(orderId: str) -> str:
        assert orderId == "A-1042"
        return _LOOKUP


@reply("19-tool-calls.response.error.json")
def _tool_error(router: Router) -> None:
    @router.tool("lookupOrder")
    def lookup_order(orderId: str, call: ToolCall) -> str:
        assert call.name == "lookupOrder" and orderId == "A-1042"
        raise ToolError("Order system unavailable; ask the caller to try again later.")


@reply("19-tool-calls.response.minimal.json")
def _tool_minimal(router: Router) -> None:
    @router.tool()  # the catch-all
    async def any_tool(orderId: str) -> str:
        return _LOOKUP


@reply("21-transfer-destination-request.response.json")
def _transfer(router: Router) -> None:
    @router.transfer_destination
    async def where(message: Any) -> tuple[NumberDestination, str]:
        destination = NumberDestination(
            "+14155550177", caller_id="+14155550100", message="Connecting you to billing now."
        )
        return destination, "Transferring you now."


@reply("21-transfer-destination-request.response.error.json")
def _transfer_error(router: Router) -> None:
    @router.transfer_destination
    def where(message: Any) -> TransferDestinationResponse:
        return TransferDestinationResponse(error="Billing is closed right now.")


@reply("21-transfer-destination-request.response.sip.json")
def _transfer_sip(router: Router) -> None:
    @router.transfer_destination
    def where(message: Any) -> SipDestination:
        return SipDestination("sip:billing@pbx.acme-support.example")


@reply("95-handoff-destination-request.response.json")
def _handoff(router: Router) -> None:
    @router.handoff_destination
    async def where(message: Any) -> HandoffDestination:
        assert message.parameters == {"department": "billing"}
        return HandoffDestination(assistant_name="Billing Specialist")


#: SDK model per channel number.
MODELS = {
    "02": "ServerMessageResponseAssistantRequest",
    "04": "ServerMessageResponseCallEndpointingRequest",
    "10": "ServerMessageResponseKnowledgeBaseRequest",
    "19": "ServerMessageResponseToolCalls",
    "21": "ServerMessageResponseTransferDestinationRequest",
    "95": "ServerMessageResponseHandoffDestinationRequest",
}
#: Fixtures the SDK rejects on purpose (tests/fixtures/README.md): real shapes the generated models refuse.
SDK_REJECTS = {"19-tool-calls.response.minimal.json", "10-knowledge-base-request.response.docs-style-message.json"}


def request_for(reply_name: str) -> str:
    """``02-assistant-request.response.error.json`` -> ``02-assistant-request.json``."""
    return reply_name.split(".response")[0] + ".json"


def test_every_response_fixture_has_a_case() -> None:
    names = {path.name for path in FIXTURES.glob("[0-9][0-9]-*.response*.json")}
    names -= {"01-ws.create-call.response.json", "25-voice-request.response.json"}  # not a webhook; binary
    assert names == set(REPLIES)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    routes = {}
    for name, setup in REPLIES.items():
        router = Router(auth=None)
        setup(router)
        routes[f"/{name}"] = router
    voice = Router(auth=None)

    @voice.voice
    async def speak(message: Any) -> VoiceAudio:
        assert message.text == "Your order A-1042 shipped on August 18th."
        return VoiceAudio(fixture_bytes("25-voice-request.response.pcm"), AudioFormat("pcm_s16le", 24000))

    routes["/voice"] = voice
    with serving(Dispatch(routes)) as url:
        yield url


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_reply_fixture(base_url: str, name: str) -> None:
    expected = fixture_json(name)
    requests = [request_for(name)]
    if name.startswith("19-"):
        requests.append("19-tool-calls.args-object.json")  # arguments as an object, not a JSON string
    with client(base_url) as http:
        for request in requests:
            response = http.post(f"/{name}", content=fixture_bytes(request))
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            body = response.json()
            if name == "19-tool-calls.response.minimal.json":
                # The router always sends the tool's name (the SDK requires it; Vapi's docs omit it).
                assert body == {"results": [{**expected["results"][0], "name": "lookupOrder"}]}
            else:
                assert body == expected
            model = MODELS[name[:2]]
            if name in SDK_REJECTS and body == expected:
                with pytest.raises(pytest.importorskip("pydantic").ValidationError):
                    sdk_validate(model, body)
            else:
                assert_no_extra(sdk_validate(model, body))


def test_voice_fixture_is_streamed_as_raw_pcm(base_url: str) -> None:
    descriptor = fixture_json("25-voice-request.response.json")
    pcm = fixture_bytes(descriptor["bodyFile"])
    assert len(pcm) == descriptor["bytes"]
    with client(base_url) as http:
        response = http.post("/voice", content=fixture_bytes("25-voice-request.json"))
    assert response.status_code == descriptor["status"] == 200
    assert response.headers["content-type"] == descriptor["headers"]["Content-Type"]
    assert "content-length" not in response.headers  # streamed (chunked), not buffered
    assert response.content == pcm


def test_endpointing_reply_object_matches_a_number_reply() -> None:
    # The plain number and the typed reply give the same body.
    assert EndpointingResponse(0.6).to_dict() == fixture_json("04-call-endpointing-request.response.json")
