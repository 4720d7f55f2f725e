"""Control messages: serialize() equals the fixtures, parse_control() reads them back, bad arguments fail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from vapi_fast.protocol import (
    AddMessage,
    AppendContext,
    Control,
    ControlMessage,
    ControlMessageError,
    EndCall,
    Handoff,
    HandoffDestination,
    NumberDestination,
    ProtocolError,
    RawControl,
    Say,
    SendTransportMessage,
    SipDestination,
    SipTransportMessage,
    Transfer,
    TwilioTransportMessage,
    parse_control,
)

from .conftest import CONTROL_CASES, FIXTURES, assert_same_json, fixture_json, fixture_text


def test_every_control_fixture_has_a_case() -> None:
    assert sorted(CONTROL_CASES) == sorted(path.name for path in FIXTURES.glob("01-ws.control.*.json"))


@pytest.mark.parametrize("name", sorted(CONTROL_CASES))
def test_serialize_matches_the_fixture(name: str) -> None:
    message = CONTROL_CASES[name]
    assert_same_json(message.serialize(), fixture_json(name))
    assert message.to_dict() == fixture_json(name)
    assert next(iter(message.to_dict())) == "type"
    assert message.type == fixture_json(name)["type"]


@pytest.mark.parametrize("name", sorted(CONTROL_CASES))
def test_parse_control_reads_the_fixture_back(name: str) -> None:
    parsed = parse_control(fixture_text(name))
    assert parsed == CONTROL_CASES[name]
    assert type(parsed) is type(CONTROL_CASES[name])
    assert parse_control(fixture_json(name)) == parsed


def test_optional_fields_are_omitted_and_text_is_compact_utf8() -> None:
    assert Say("Grüße 👋").serialize() == '{"type":"say","content":"Grüße 👋"}'
    assert AddMessage("user", "hi").serialize() == '{"type":"add-message","message":{"role":"user","content":"hi"}}'
    assert Transfer().serialize() == '{"type":"transfer"}'
    assert EndCall().serialize() == '{"type":"end-call"}'
    twilio = SendTransportMessage(TwilioTransportMessage("<Response/>"))
    assert twilio.to_dict() == {
        "type": "send-transport-message",
        "message": {"transport": "twilio", "twiml": "<Response/>"},
    }


def test_say_from_the_web_sdk_reads_message_as_content() -> None:
    assert parse_control({"type": "say", "message": "hello"}) == Say("hello")
    assert parse_control({"type": "say", "message": "x", "content": "wins"}) == Say("wins")


def test_unknown_control_types_become_raw_control() -> None:
    frame = {"type": "dtmf", "digits": "12#", "nested": {"a": [1]}}
    parsed = parse_control(json.dumps(frame))
    assert isinstance(parsed, RawControl)
    assert parsed.type == "dtmf"
    assert parsed.to_dict() == frame
    assert json.loads(parsed.serialize()) == frame


def test_raw_control_copies_its_payload() -> None:
    payload: dict[str, Any] = {"type": "custom", "list": [1]}
    raw = RawControl(payload)
    payload["list"].append(2)
    assert raw.to_dict() == {"type": "custom", "list": [1]}
    out = raw.to_dict()
    out["list"].append(3)
    assert raw.to_dict() == {"type": "custom", "list": [1]}


def test_destination_mappings_are_copied() -> None:
    headers = {"X-A": "1"}
    transfer = Transfer(SipDestination("sip:a@b", sip_headers=headers))
    headers["X-A"] = "2"
    assert transfer.to_dict()["destination"]["sipHeaders"] == {"X-A": "1"}


def test_destination_extra_keys_are_sent() -> None:
    destination = NumberDestination("+1", extra={"numberE164CheckEnabled": False})
    assert Transfer(destination).to_dict() == {
        "type": "transfer",
        "destination": {"type": "number", "number": "+1", "numberE164CheckEnabled": False},
    }


def test_handoff_accepts_a_raw_destination_mapping() -> None:
    handoff = Handoff({"type": "squad", "squadId": "s1"})
    assert handoff.to_dict() == {"type": "handoff", "destination": {"type": "squad", "squadId": "s1"}}
    assert parse_control(handoff.serialize()) == handoff


BAD: list[tuple[Callable[[], object], str]] = [
    (lambda: Say(""), "content must not be empty"),
    (lambda: Say(3), "content must be a string, got number"),  # type: ignore[arg-type]
    (lambda: Say("hi", end_call_after_spoken="yes"), "end_call_after_spoken must be a bool"),  # type: ignore[arg-type]
    (lambda: AddMessage("robot", "hi"), "role must be one of assistant, function, system, tool, user; got 'robot'"),
    (lambda: AddMessage("user", ""), "content must not be empty"),
    (lambda: AddMessage("user", "x", trigger_response_enabled=1), "trigger_response_enabled"),  # type: ignore[arg-type]
    (lambda: Control("mute-everyone"), "control must be one of"),
    (lambda: Control(None), "got null"),  # type: ignore[arg-type]
    (lambda: AppendContext("gossip", "x"), "kind must be one of commentary, instructions, thinking"),
    (lambda: AppendContext("thinking", ""), "content must not be empty"),
    (lambda: Transfer("+14155550177"), "destination must be a NumberDestination or a SipDestination"),  # type: ignore[arg-type]
    (lambda: Transfer(NumberDestination("+1"), content=""), "content must not be empty"),
    (lambda: NumberDestination(""), "number must not be empty"),
    (lambda: NumberDestination("+1", message=5), "message must be a string, a mapping or None"),  # type: ignore[arg-type]
    (lambda: NumberDestination("+1", extra={"number": "+2"}), "extra must not set number"),
    (lambda: NumberDestination("+1", extra={"x": object()}), "is not a JSON value"),
    (lambda: SipDestination(""), "sip_uri must not be empty"),
    (lambda: SipDestination("sip:a@b", sip_headers=["x"]), "sip_headers must be a mapping"),  # type: ignore[arg-type]
    (lambda: SipTransportMessage("BYE"), "sip_verb must be one of INFO, MESSAGE, NOTIFY"),
    (lambda: TwilioTransportMessage(""), "twiml must not be empty"),
    (lambda: SendTransportMessage({"transport": "twilio"}), "message must be a SipTransportMessage"),  # type: ignore[arg-type]
    (lambda: HandoffDestination(), "give exactly one of assistant_name, assistant_id, assistant (got none)"),
    (lambda: HandoffDestination(assistant_name="a", assistant_id="b"), "(got assistant_name, assistant_id)"),
    (lambda: Handoff("billing"), "destination must be a mapping"),  # type: ignore[arg-type]
    (lambda: RawControl({"no": "type"}), "payload needs a non-empty string 'type'"),
]


@pytest.mark.parametrize(("build", "reason"), BAD)
def test_bad_arguments_raise_control_message_error(build: Callable[[], object], reason: str) -> None:
    with pytest.raises(ControlMessageError) as info:
        build()
    assert isinstance(info.value, ValueError) and isinstance(info.value, ProtocolError)
    assert reason in str(info.value)


def test_bad_argument_errors_do_not_quote_long_or_private_text() -> None:
    with pytest.raises(ControlMessageError) as info:
        AddMessage("x" * 100, "private words")
    assert "x" * 50 not in str(info.value) and "private" not in str(info.value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("[]", "expected a JSON object, got array"),
        ("{}", "missing 'type'"),
        ('{"type": 1}', "'type' must be a non-empty string"),
        ("{oops", "malformed JSON"),
        ('{"type": "add-message"}', "message: required field is missing"),
        ('{"type": "add-message", "message": {"role": "user"}}', "message.content: required field is missing"),
        ('{"type": "add-message", "message": {"role": "martian", "content": "x"}}', "role must be one of"),
        ('{"type": "say"}', "message: required field is missing"),
        ('{"type": "control", "control": 3}', "control: expected a string, got number"),
        ('{"type": "transfer", "destination": {"type": "assistant", "assistantName": "a"}}', "expected type number"),
        ('{"type": "send-transport-message", "message": {"transport": "pigeon"}}', "expected vapi.sip or twilio"),
    ],
)
def test_parse_control_errors(data: str, reason: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_control(data)
    assert reason in str(info.value)


def test_control_messages_are_immutable_values() -> None:
    say = Say("hi")
    with pytest.raises(AttributeError):
        say.content = "bye"  # type: ignore[misc]
    assert say == Say("hi") and hash(say) == hash(Say("hi"))
    assert isinstance(say, ControlMessage)
