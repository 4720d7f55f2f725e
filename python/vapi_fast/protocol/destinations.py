"""Transfer and handoff destinations, shared by inbound messages, control messages and webhook responses.

A destination is where a call goes: a phone number, a SIP URI, or another assistant. The same
objects appear in ``transfer`` control messages, in ``assistant-request`` and
``transfer-destination-request`` responses, and inside inbound messages (``phone-call-control``,
``transfer-update``, ``status-update`` while forwarding, ``end-of-call-report``).

Each class validates its arguments at construction (raising
:class:`~vapi_fast.protocol.ControlMessageError`), has ``to_dict()`` giving the wire object with
camelCase keys and ``None`` fields left out, and a ``parse()`` class method for inbound objects.
Wire keys the class does not type go to ``extra`` (both ways), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from . import _checks
from ._json import Fields

__all__ = [
    "AssistantDestination",
    "Destination",
    "HandoffDestination",
    "NumberDestination",
    "SipDestination",
    "TransferDestination",
    "parse_destination",
]


def _with_extra(wire: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    out = {key: value for key, value in wire.items() if value is not None}
    if extra:
        out.update(extra)
    return out


def _rest(fields: Fields, typed: frozenset[str]) -> dict[str, Any] | None:
    rest = {key: value for key, value in fields.obj.items() if key not in typed}
    return rest or None


@dataclass(frozen=True, slots=True)
class NumberDestination:
    """A phone number to transfer or forward the call to (``{"type": "number", ...}``).

    Args:
        number: The number, E.164 (``"+14155550177"``).
        extension: Digits to dial after the call connects.
        caller_id: The caller id to present (a number you own).
        message: What the assistant says before transferring: a string (``""`` transfers silently)
            or a ``CustomMessage`` object.
        transfer_plan: A Vapi ``transferPlan`` object (warm/blind transfer settings).
        extra: Other wire keys, sent as given (``numberE164CheckEnabled``, ``description``, ...).

    Raises:
        ControlMessageError: An argument has the wrong type, ``number`` is empty, or ``extra``
            repeats a typed key.
    """

    number: str
    extension: str | None = None
    caller_id: str | None = None
    message: str | Mapping[str, Any] | None = None
    transfer_plan: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None

    _KEYS = frozenset({"type", "number", "extension", "callerId", "message", "transferPlan"})

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _checks.text(owner, "number", self.number)
        _checks.text(owner, "extension", self.extension, optional=True)
        _checks.text(owner, "caller_id", self.caller_id, optional=True)
        object.__setattr__(self, "message", _checks.text_or_object(owner, "message", self.message))
        object.__setattr__(self, "transfer_plan", _checks.json_object(owner, "transfer_plan", self.transfer_plan))
        object.__setattr__(self, "extra", _checks.extra_keys(owner, self.extra, self._KEYS))

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        wire = {
            "type": "number",
            "number": self.number,
            "extension": self.extension,
            "callerId": self.caller_id,
            "message": self.message,
            "transferPlan": self.transfer_plan,
        }
        return _with_extra(wire, self.extra)

    @classmethod
    def parse(
        cls, obj: Mapping[str, Any], path: str = "destination", message_type: str | None = None
    ) -> NumberDestination:
        """Build from a wire object (its ``type`` is not checked).

        Raises:
            ProtocolError: ``number`` is missing or a field has the wrong JSON type.
        """
        f = Fields(obj, path, message_type)
        return cls(
            number=f.req_str("number"),
            extension=f.opt_str("extension"),
            caller_id=f.opt_str("callerId"),
            message=f.opt_str_or_object("message"),
            transfer_plan=f.opt_object("transferPlan"),
            extra=_rest(f, cls._KEYS),
        )


@dataclass(frozen=True, slots=True)
class SipDestination:
    """A SIP URI to transfer or forward the call to (``{"type": "sip", ...}``).

    Args:
        sip_uri: The target, such as ``"sip:billing@pbx.example.com"``.
        sip_headers: SIP headers to add to the INVITE/REFER.
        caller_id: The caller id to present.
        message: What the assistant says before transferring (string or ``CustomMessage`` object).
        transfer_plan: A Vapi ``transferPlan`` object.
        extra: Other wire keys, sent as given.

    Raises:
        ControlMessageError: An argument has the wrong type, ``sip_uri`` is empty, or ``extra``
            repeats a typed key.
    """

    sip_uri: str
    sip_headers: Mapping[str, Any] | None = None
    caller_id: str | None = None
    message: str | Mapping[str, Any] | None = None
    transfer_plan: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None

    _KEYS = frozenset({"type", "sipUri", "sipHeaders", "callerId", "message", "transferPlan"})

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _checks.text(owner, "sip_uri", self.sip_uri)
        object.__setattr__(self, "sip_headers", _checks.json_object(owner, "sip_headers", self.sip_headers))
        _checks.text(owner, "caller_id", self.caller_id, optional=True)
        object.__setattr__(self, "message", _checks.text_or_object(owner, "message", self.message))
        object.__setattr__(self, "transfer_plan", _checks.json_object(owner, "transfer_plan", self.transfer_plan))
        object.__setattr__(self, "extra", _checks.extra_keys(owner, self.extra, self._KEYS))

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        wire = {
            "type": "sip",
            "sipUri": self.sip_uri,
            "sipHeaders": self.sip_headers,
            "callerId": self.caller_id,
            "message": self.message,
            "transferPlan": self.transfer_plan,
        }
        return _with_extra(wire, self.extra)

    @classmethod
    def parse(
        cls, obj: Mapping[str, Any], path: str = "destination", message_type: str | None = None
    ) -> SipDestination:
        """Build from a wire object (its ``type`` is not checked).

        Raises:
            ProtocolError: ``sipUri`` is missing or a field has the wrong JSON type.
        """
        f = Fields(obj, path, message_type)
        return cls(
            sip_uri=f.req_str("sipUri"),
            sip_headers=f.opt_object("sipHeaders"),
            caller_id=f.opt_str("callerId"),
            message=f.opt_str_or_object("message"),
            transfer_plan=f.opt_object("transferPlan"),
            extra=_rest(f, cls._KEYS),
        )


@dataclass(frozen=True, slots=True)
class AssistantDestination:
    """Another assistant of the squad to transfer to (``{"type": "assistant", ...}``).

    Args:
        assistant_name: The target assistant's name within the squad.
        message: What the assistant says before transferring (string or ``CustomMessage`` object).
        transfer_mode: ``"rolling-history"`` or ``"swap-system-message-in-history"`` (open set).
        description: Free text.
        extra: Other wire keys, sent as given.

    Raises:
        ControlMessageError: An argument has the wrong type, ``assistant_name`` is empty, or ``extra``
            repeats a typed key.
    """

    assistant_name: str
    message: str | Mapping[str, Any] | None = None
    transfer_mode: str | None = None
    description: str | None = None
    extra: Mapping[str, Any] | None = None

    _KEYS = frozenset({"type", "assistantName", "message", "transferMode", "description"})

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _checks.text(owner, "assistant_name", self.assistant_name)
        object.__setattr__(self, "message", _checks.text_or_object(owner, "message", self.message))
        _checks.text(owner, "transfer_mode", self.transfer_mode, optional=True)
        _checks.text(owner, "description", self.description, optional=True, empty_ok=True)
        object.__setattr__(self, "extra", _checks.extra_keys(owner, self.extra, self._KEYS))

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        wire = {
            "type": "assistant",
            "assistantName": self.assistant_name,
            "message": self.message,
            "transferMode": self.transfer_mode,
            "description": self.description,
        }
        return _with_extra(wire, self.extra)

    @classmethod
    def parse(
        cls, obj: Mapping[str, Any], path: str = "destination", message_type: str | None = None
    ) -> AssistantDestination:
        """Build from a wire object (its ``type`` is not checked).

        Raises:
            ProtocolError: ``assistantName`` is missing or a field has the wrong JSON type.
        """
        f = Fields(obj, path, message_type)
        return cls(
            assistant_name=f.req_str("assistantName"),
            message=f.opt_str_or_object("message"),
            transfer_mode=f.opt_str("transferMode"),
            description=f.opt_str("description"),
            extra=_rest(f, cls._KEYS),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffDestination:
    """The assistant to hand the call to, for ``handoff`` and ``handoff-destination-request``.

    Shaped like the SDK's ``HandoffDestinationAssistant``: name exactly one of ``assistant_name``,
    ``assistant_id`` or an inline ``assistant``.

    Args:
        assistant_name: An assistant of the squad, by name.
        assistant_id: A saved assistant, by id.
        assistant: An inline assistant configuration.
        context_engineering_plan: What history the new assistant gets, e.g. ``{"type": "all"}``.
        assistant_overrides: Overrides applied to the new assistant.
        extra: Other wire keys, sent as given.

    Raises:
        ControlMessageError: Not exactly one assistant selector, a wrong type, or ``extra`` repeats a
            typed key.
    """

    assistant_name: str | None = None
    assistant_id: str | None = None
    assistant: Mapping[str, Any] | None = None
    context_engineering_plan: Mapping[str, Any] | None = None
    assistant_overrides: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] | None = None

    _KEYS = frozenset(
        {"type", "assistantName", "assistantId", "assistant", "contextEngineeringPlan", "assistantOverrides"}
    )

    def __post_init__(self) -> None:
        owner = type(self).__name__
        _checks.exactly_one(
            owner, assistant_name=self.assistant_name, assistant_id=self.assistant_id, assistant=self.assistant
        )
        _checks.text(owner, "assistant_name", self.assistant_name, optional=True)
        _checks.text(owner, "assistant_id", self.assistant_id, optional=True)
        object.__setattr__(self, "assistant", _checks.json_object(owner, "assistant", self.assistant))
        plan = _checks.json_object(owner, "context_engineering_plan", self.context_engineering_plan)
        object.__setattr__(self, "context_engineering_plan", plan)
        overrides = _checks.json_object(owner, "assistant_overrides", self.assistant_overrides)
        object.__setattr__(self, "assistant_overrides", overrides)
        object.__setattr__(self, "extra", _checks.extra_keys(owner, self.extra, self._KEYS))

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        wire = {
            "type": "assistant",
            "assistantName": self.assistant_name,
            "assistantId": self.assistant_id,
            "assistant": self.assistant,
            "contextEngineeringPlan": self.context_engineering_plan,
            "assistantOverrides": self.assistant_overrides,
        }
        return _with_extra(wire, self.extra)

    @classmethod
    def parse(
        cls, obj: Mapping[str, Any], path: str = "destination", message_type: str | None = None
    ) -> HandoffDestination:
        """Build from a wire object (its ``type`` is not checked).

        Raises:
            ProtocolError: A field has the wrong JSON type, or not exactly one assistant selector.
        """
        f = Fields(obj, path, message_type)
        return cls(
            assistant_name=f.opt_str("assistantName"),
            assistant_id=f.opt_str("assistantId"),
            assistant=f.opt_object("assistant"),
            context_engineering_plan=f.opt_object("contextEngineeringPlan"),
            assistant_overrides=f.opt_object("assistantOverrides"),
            extra=_rest(f, cls._KEYS),
        )


#: Where a ``transfer`` control message can send the call.
TransferDestination: TypeAlias = NumberDestination | SipDestination
#: Any typed destination found in inbound messages and responses.
Destination: TypeAlias = NumberDestination | SipDestination | AssistantDestination


def parse_destination(
    obj: Mapping[str, Any], path: str = "destination", message_type: str | None = None
) -> Destination | dict[str, Any]:
    """Type an inbound destination object by its ``type``.

    Args:
        obj: The wire object. Typed destinations copy what they keep; an unknown one is returned as is.
        path: Its path inside the message, for errors.
        message_type: The enclosing message ``type``, for errors.

    Returns:
        A :class:`NumberDestination`, :class:`SipDestination` or :class:`AssistantDestination`; the
        object itself (a ``dict``) when its ``type`` is missing or unknown.

    Raises:
        ProtocolError: A known destination type with a missing or wrongly typed field.
    """
    kind = obj.get("type")
    if kind == "number":
        return NumberDestination.parse(obj, path, message_type)
    if kind == "sip":
        return SipDestination.parse(obj, path, message_type)
    if kind == "assistant":
        return AssistantDestination.parse(obj, path, message_type)
    return obj if isinstance(obj, dict) else dict(obj)
