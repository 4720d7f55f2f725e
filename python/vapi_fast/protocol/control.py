"""Control messages the client sends to Vapi: WebSocket text frames, or ``monitor.controlUrl`` bodies.

Each class validates its arguments when built: a bad argument raises
:class:`~vapi_fast.protocol.ControlMessageError`, which is both a ``ProtocolError`` and a
``ValueError``, so an invalid message never reaches the wire. ``to_dict()`` gives the wire object
(camelCase keys, ``None`` fields left out) and ``serialize()`` the compact JSON text to send.
Closed sets (roles, control actions, context kinds, SIP verbs) are checked against the values Vapi
documents, since Vapi rejects others.

:func:`parse_control` reads a control frame back (for a mock server, or for logging what was
sent); unknown types become :class:`RawControl`, which can also send a frame this module does not
model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from . import _checks
from ._json import Fields, copy_json, dumps, json_type, loads
from .destinations import HandoffDestination, NumberDestination, SipDestination, TransferDestination, parse_destination
from .enums import APPEND_CONTEXT_KINDS, CONTROL_ACTIONS, MESSAGE_ROLES
from .errors import ProtocolError

__all__ = [
    "SIP_VERBS",
    "AddMessage",
    "AppendContext",
    "Control",
    "ControlMessage",
    "EndCall",
    "Handoff",
    "Hangup",
    "RawControl",
    "Say",
    "SendTransportMessage",
    "SipTransportMessage",
    "Transfer",
    "TwilioTransportMessage",
    "parse_control",
]

#: The SIP methods ``send-transport-message`` can send.
SIP_VERBS: frozenset[str] = frozenset({"INFO", "MESSAGE", "NOTIFY"})


def _compact(wire: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in wire.items() if value is not None}


class ControlMessage:
    """Base class of the control messages.

    Subclasses set ``TYPE`` (the wire ``type``) and implement ``to_dict()``.
    """

    __slots__ = ()

    #: The wire ``type`` of this message.
    TYPE: ClassVar[str] = ""

    @property
    def type(self) -> str:
        """The wire ``type``."""
        return self.TYPE

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``type`` first, ``None`` fields omitted."""
        return {"type": self.TYPE}

    def serialize(self) -> str:
        """The compact JSON text frame to send."""
        return dumps(self.to_dict())

    @classmethod
    def _from_fields(cls, f: Fields) -> ControlMessage:
        return cls()


@dataclass(frozen=True, slots=True)
class Say(ControlMessage):
    """``say``: speak ``content`` now.

    Args:
        content: The text to speak (non-empty).
        end_call_after_spoken: End the call once it has been said.
        interruptions_enabled: Let the user barge in while it is said.
        interrupt_assistant_enabled: Cut off what the assistant is saying instead of waiting
            (Vapi's default is to wait).

    Raises:
        ControlMessageError: ``content`` is empty or not a string, or a flag is not a bool.
    """

    TYPE: ClassVar[str] = "say"

    content: str
    end_call_after_spoken: bool | None = None
    interruptions_enabled: bool | None = None
    interrupt_assistant_enabled: bool | None = None

    def __post_init__(self) -> None:
        _checks.text("Say", "content", self.content)
        _checks.flag("Say", "end_call_after_spoken", self.end_call_after_spoken)
        _checks.flag("Say", "interruptions_enabled", self.interruptions_enabled)
        _checks.flag("Say", "interrupt_assistant_enabled", self.interrupt_assistant_enabled)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        return _compact(
            {
                "type": self.TYPE,
                "content": self.content,
                "endCallAfterSpoken": self.end_call_after_spoken,
                "interruptionsEnabled": self.interruptions_enabled,
                "interruptAssistantEnabled": self.interrupt_assistant_enabled,
            }
        )

    @classmethod
    def _from_fields(cls, f: Fields) -> Say:
        # The web SDK sends the text as ``message``; read it, but always emit ``content``.
        content = f.opt_str("content")
        return cls(
            content=content if content is not None else f.req_str("message"),
            end_call_after_spoken=f.opt_bool("endCallAfterSpoken"),
            interruptions_enabled=f.opt_bool("interruptionsEnabled"),
            interrupt_assistant_enabled=f.opt_bool("interruptAssistantEnabled"),
        )


@dataclass(frozen=True, slots=True)
class AddMessage(ControlMessage):
    """``add-message``: append a message to the conversation history.

    Args:
        role: ``"assistant"``, ``"function"``, ``"user"``, ``"system"`` or ``"tool"``.
        content: The message text (non-empty).
        trigger_response_enabled: Whether the assistant responds to it (Vapi's default: true);
            ``False`` inserts it silently.

    Raises:
        ControlMessageError: An unknown ``role``, empty ``content``, or a non-bool flag.
    """

    TYPE: ClassVar[str] = "add-message"

    role: str
    content: str
    trigger_response_enabled: bool | None = None

    def __post_init__(self) -> None:
        _checks.choice("AddMessage", "role", self.role, MESSAGE_ROLES)
        _checks.text("AddMessage", "content", self.content)
        _checks.flag("AddMessage", "trigger_response_enabled", self.trigger_response_enabled)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        return _compact(
            {
                "type": self.TYPE,
                "message": {"role": self.role, "content": self.content},
                "triggerResponseEnabled": self.trigger_response_enabled,
            }
        )

    @classmethod
    def _from_fields(cls, f: Fields) -> AddMessage:
        message = f.child("message")
        if message is None:
            raise f.error("message", "required field is missing")
        return cls(
            role=message.req_str("role"),
            content=message.req_str("content"),
            trigger_response_enabled=f.opt_bool("triggerResponseEnabled"),
        )


@dataclass(frozen=True, slots=True)
class Control(ControlMessage):
    """``control``: mute or unmute a side, or release a held first message.

    Args:
        control: ``"mute-assistant"``, ``"unmute-assistant"``, ``"mute-customer"``,
            ``"unmute-customer"`` or ``"say-first-message"``.

    Raises:
        ControlMessageError: An unknown action.
    """

    TYPE: ClassVar[str] = "control"

    control: str

    def __post_init__(self) -> None:
        _checks.choice("Control", "control", self.control, CONTROL_ACTIONS)

    def to_dict(self) -> dict[str, Any]:
        """The wire object."""
        return {"type": self.TYPE, "control": self.control}

    @classmethod
    def _from_fields(cls, f: Fields) -> Control:
        return cls(f.req_str("control"))


@dataclass(frozen=True, slots=True)
class EndCall(ControlMessage):
    """``end-call``: end the call. Send it before closing the socket."""

    TYPE: ClassVar[str] = "end-call"


@dataclass(frozen=True, slots=True)
class Hangup(ControlMessage):
    """``hangup``: only in the WebSocket-transport doc's example, in no schema. Prefer :class:`EndCall`."""

    TYPE: ClassVar[str] = "hangup"


@dataclass(frozen=True, slots=True)
class Transfer(ControlMessage):
    """``transfer``: transfer the call to a number or a SIP URI (telephony calls only).

    Args:
        destination: Where to; ``None`` lets Vapi use the assistant's configured default.
        content: Said before transferring.

    Raises:
        ControlMessageError: ``destination`` is not a :class:`NumberDestination` or
            :class:`SipDestination`, or ``content`` is not a non-empty string.
    """

    TYPE: ClassVar[str] = "transfer"

    destination: TransferDestination | None = None
    content: str | None = None

    def __post_init__(self) -> None:
        if self.destination is not None and not isinstance(self.destination, NumberDestination | SipDestination):
            raise _checks.fail("Transfer", "destination must be a NumberDestination or a SipDestination")
        _checks.text("Transfer", "content", self.content, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        destination = None if self.destination is None else self.destination.to_dict()
        return _compact({"type": self.TYPE, "destination": destination, "content": self.content})

    @classmethod
    def _from_fields(cls, f: Fields) -> Transfer:
        obj = f.opt_object("destination")
        destination = None if obj is None else parse_destination(obj, f.at("destination"))
        if destination is not None and not isinstance(destination, NumberDestination | SipDestination):
            raise f.error("destination", "expected type number or sip")
        return cls(destination=destination, content=f.opt_str("content"))


@dataclass(frozen=True, slots=True)
class SipTransportMessage:
    """A SIP request for :class:`SendTransportMessage` (``transport: "vapi.sip"``).

    Args:
        sip_verb: ``"INFO"``, ``"MESSAGE"`` or ``"NOTIFY"``.
        headers: SIP headers to set.
        body: The request body.

    Raises:
        ControlMessageError: An unknown verb or a wrong type.
    """

    sip_verb: str
    headers: Mapping[str, Any] | None = None
    body: str | None = None

    def __post_init__(self) -> None:
        _checks.choice("SipTransportMessage", "sip_verb", self.sip_verb, SIP_VERBS)
        object.__setattr__(self, "headers", _checks.json_object("SipTransportMessage", "headers", self.headers))
        _checks.text("SipTransportMessage", "body", self.body, optional=True, empty_ok=True)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        return _compact({"transport": "vapi.sip", "sipVerb": self.sip_verb, "headers": self.headers, "body": self.body})


@dataclass(frozen=True, slots=True)
class TwilioTransportMessage:
    """TwiML for :class:`SendTransportMessage` (``transport: "twilio"``).

    Args:
        twiml: The TwiML document.

    Raises:
        ControlMessageError: ``twiml`` is empty or not a string.
    """

    twiml: str

    def __post_init__(self) -> None:
        _checks.text("TwilioTransportMessage", "twiml", self.twiml)

    def to_dict(self) -> dict[str, Any]:
        """The wire object."""
        return {"transport": "twilio", "twiml": self.twiml}


@dataclass(frozen=True, slots=True)
class SendTransportMessage(ControlMessage):
    """``send-transport-message``: send a SIP request or TwiML on the call's transport (SIP/Twilio only).

    Args:
        message: A :class:`SipTransportMessage` or a :class:`TwilioTransportMessage`.

    Raises:
        ControlMessageError: ``message`` is neither.
    """

    TYPE: ClassVar[str] = "send-transport-message"

    message: SipTransportMessage | TwilioTransportMessage

    def __post_init__(self) -> None:
        if not isinstance(self.message, SipTransportMessage | TwilioTransportMessage):
            raise _checks.fail(
                "SendTransportMessage", "message must be a SipTransportMessage or TwilioTransportMessage"
            )

    def to_dict(self) -> dict[str, Any]:
        """The wire object."""
        return {"type": self.TYPE, "message": self.message.to_dict()}

    @classmethod
    def _from_fields(cls, f: Fields) -> SendTransportMessage:
        m = f.child("message")
        if m is None:
            raise f.error("message", "required field is missing")
        transport = m.req_str("transport")
        if transport == "vapi.sip":
            return cls(SipTransportMessage(m.req_str("sipVerb"), m.opt_object("headers"), m.opt_str("body")))
        if transport == "twilio":
            return cls(TwilioTransportMessage(m.req_str("twiml")))
        raise m.error("transport", "expected vapi.sip or twilio")


@dataclass(frozen=True, slots=True)
class AppendContext(ControlMessage):
    """``append-context``: add context for the model without a user turn.

    Args:
        kind: ``"commentary"`` (voiced in the model's words), ``"thinking"`` (silent context) or
            ``"instructions"`` (steers the speaker).
        content: The text (non-empty).

    Raises:
        ControlMessageError: An unknown ``kind`` or empty ``content``.
    """

    TYPE: ClassVar[str] = "append-context"

    kind: str
    content: str

    def __post_init__(self) -> None:
        _checks.choice("AppendContext", "kind", self.kind, APPEND_CONTEXT_KINDS)
        _checks.text("AppendContext", "content", self.content)

    def to_dict(self) -> dict[str, Any]:
        """The wire object."""
        return {"type": self.TYPE, "kind": self.kind, "content": self.content}

    @classmethod
    def _from_fields(cls, f: Fields) -> AppendContext:
        return cls(f.req_str("kind"), f.req_str("content"))


@dataclass(frozen=True, slots=True)
class Handoff(ControlMessage):
    """``handoff``: hand the call to another assistant (documented for ``controlUrl`` only).

    Args:
        destination: A :class:`HandoffDestination`, or a mapping sent as given (for squad or
            dynamic destinations).
        content: Said before the handoff.

    Raises:
        ControlMessageError: ``destination`` is neither, or ``content`` is not a non-empty string.
    """

    TYPE: ClassVar[str] = "handoff"

    destination: HandoffDestination | Mapping[str, Any]
    content: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.destination, HandoffDestination):
            object.__setattr__(
                self, "destination", _checks.json_object("Handoff", "destination", self.destination, optional=False)
            )
        _checks.text("Handoff", "content", self.content, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        d = self.destination
        destination = d.to_dict() if isinstance(d, HandoffDestination) else dict(d)
        return _compact({"type": self.TYPE, "destination": destination, "content": self.content})

    @classmethod
    def _from_fields(cls, f: Fields) -> Handoff:
        obj = f.req_object("destination")
        destination: HandoffDestination | dict[str, Any] = obj
        if obj.get("type") == "assistant":
            destination = HandoffDestination.parse(obj, f.at("destination"))
        return cls(destination, f.opt_str("content"))


@dataclass(frozen=True, slots=True)
class RawControl(ControlMessage):
    """Any control frame, sent as given: for types this module does not model.

    Args:
        payload: The whole frame, with a non-empty string ``type`` (deep-copied).

    Raises:
        ControlMessageError: ``payload`` is not a JSON object with a ``type``.
    """

    payload: Mapping[str, Any]

    def __post_init__(self) -> None:
        payload = _checks.json_object("RawControl", "payload", self.payload, optional=False) or {}
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            raise _checks.fail("RawControl", "payload needs a non-empty string 'type'")
        object.__setattr__(self, "payload", payload)

    @property
    def type(self) -> str:
        """The wire ``type`` (from the payload)."""
        return str(self.payload["type"])

    def to_dict(self) -> dict[str, Any]:
        """A copy of the payload."""
        out: dict[str, Any] = copy_json(self.payload)
        return out


#: The control classes by wire ``type``.
_REGISTRY: Mapping[str, type[ControlMessage]] = {
    cls.TYPE: cls
    for cls in (Say, AddMessage, Control, EndCall, Hangup, Transfer, SendTransportMessage, AppendContext, Handoff)
}


def parse_control(data: str | bytes | bytearray | Mapping[str, Any]) -> ControlMessage:
    """Read a control frame back into its class.

    Args:
        data: The frame as JSON text, UTF-8 bytes, or a mapping.

    Returns:
        The typed control message; :class:`RawControl` for an unknown ``type``. A ``say`` that
        carries its text as ``message`` (as Vapi's web SDK sends it) is read as ``content``.

    Raises:
        ProtocolError: Not a JSON object, no string ``type``, a field of the wrong JSON type, or a
            value the class rejects (then a :class:`ControlMessageError`).
    """
    obj = loads(data) if isinstance(data, str | bytes | bytearray) else copy_json(data)
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {json_type(obj)}")
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise ProtocolError("missing 'type'" if kind is None else "'type' must be a non-empty string")
    cls = _REGISTRY.get(kind)
    if cls is None:
        return RawControl(obj)
    return cls._from_fields(Fields(obj, "", kind))
