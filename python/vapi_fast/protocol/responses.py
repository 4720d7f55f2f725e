"""Replies to the Server URL events that take one (the JSON body of the HTTP 200).

===============================  =========================================
event                            reply
===============================  =========================================
``assistant-request``            :class:`AssistantRequestResponse`
``tool-calls``                   :class:`ToolCallsResponse` of :class:`ToolCallResult`
``transfer-destination-request`` :class:`TransferDestinationResponse`
``knowledge-base-request``       :class:`KnowledgeBaseResponse` of :class:`KnowledgeBaseDocument`
``call.endpointing.request``     :class:`EndpointingResponse`
``handoff-destination-request``  :class:`HandoffDestinationResponse`
``campaign.predial``             :class:`CampaignPredialResponse`
``voice-request``                raw PCM bytes, not JSON (no class)
===============================  =========================================

Like the control messages, each class validates its arguments when built (raising
:class:`~vapi_fast.protocol.ControlMessageError`, a ``ValueError``), and has ``to_dict()`` (camelCase
keys, ``None`` fields left out) and ``serialize()`` (compact JSON). Destinations come from
:mod:`vapi_fast.protocol.destinations`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import _checks
from ._json import dumps
from .destinations import (
    AssistantDestination,
    Destination,
    HandoffDestination,
    NumberDestination,
    SipDestination,
    TransferDestination,
)
from .messages import ToolCall

__all__ = [
    "AssistantRequestResponse",
    "CampaignPredialResponse",
    "EndpointingResponse",
    "HandoffDestinationResponse",
    "KnowledgeBaseDocument",
    "KnowledgeBaseResponse",
    "Response",
    "ToolCallResult",
    "ToolCallsResponse",
    "TransferDestinationResponse",
]


def _compact(wire: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in wire.items() if value is not None}


class Response:
    """Base class of the webhook replies."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON body as a dict, ``None`` fields omitted."""
        raise NotImplementedError

    def serialize(self) -> str:
        """The compact JSON body."""
        return dumps(self.to_dict())


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantRequestResponse(Response):
    """The reply to ``assistant-request``: who takes the call. Vapi waits 7.5 s end to end at most.

    Give exactly one of ``assistant_id``, ``assistant``, ``squad_id``, ``squad``, ``workflow_id``,
    ``workflow``, ``destination`` (transfer at once, no AI) or ``error`` (spoken to the caller, who
    is then hung up on). The ``*_overrides`` go with their own selector only.

    Args:
        assistant_id: A saved assistant.
        assistant: An inline assistant configuration.
        assistant_overrides: Overrides for ``assistant_id``/``assistant`` (such as ``variableValues``).
        squad_id: A saved squad.
        squad: An inline squad.
        squad_overrides: Overrides for the squad.
        workflow_id: A saved workflow.
        workflow: An inline workflow.
        workflow_overrides: Overrides for the workflow.
        destination: A number or SIP destination to transfer to.
        error: A message to speak before hanging up.

    Raises:
        ControlMessageError: Not exactly one selector, an override without its selector, or a wrong
            argument type.
    """

    assistant_id: str | None = None
    assistant: Mapping[str, Any] | None = None
    assistant_overrides: Mapping[str, Any] | None = None
    squad_id: str | None = None
    squad: Mapping[str, Any] | None = None
    squad_overrides: Mapping[str, Any] | None = None
    workflow_id: str | None = None
    workflow: Mapping[str, Any] | None = None
    workflow_overrides: Mapping[str, Any] | None = None
    destination: TransferDestination | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        owner = "AssistantRequestResponse"
        chosen = _checks.exactly_one(
            owner,
            assistant_id=self.assistant_id,
            assistant=self.assistant,
            squad_id=self.squad_id,
            squad=self.squad,
            workflow_id=self.workflow_id,
            workflow=self.workflow,
            destination=self.destination,
            error=self.error,
        )
        for overrides, owners in (
            ("assistant_overrides", ("assistant_id", "assistant")),
            ("squad_overrides", ("squad_id", "squad")),
            ("workflow_overrides", ("workflow_id", "workflow")),
        ):
            value = getattr(self, overrides)
            if value is not None and chosen not in owners:
                raise _checks.fail(owner, f"{overrides} needs {' or '.join(owners)}")
            object.__setattr__(self, overrides, _checks.json_object(owner, overrides, value))
        for name in ("assistant_id", "squad_id", "workflow_id", "error"):
            _checks.text(owner, name, getattr(self, name), optional=True)
        for name in ("assistant", "squad", "workflow"):
            object.__setattr__(self, name, _checks.json_object(owner, name, getattr(self, name)))
        if self.destination is not None and not isinstance(self.destination, NumberDestination | SipDestination):
            raise _checks.fail(owner, "destination must be a NumberDestination or a SipDestination")

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, ``None`` fields omitted."""
        return _compact(
            {
                "assistantId": self.assistant_id,
                "assistant": self.assistant,
                "assistantOverrides": self.assistant_overrides,
                "squadId": self.squad_id,
                "squad": self.squad,
                "squadOverrides": self.squad_overrides,
                "workflowId": self.workflow_id,
                "workflow": self.workflow,
                "workflowOverrides": self.workflow_overrides,
                "destination": None if self.destination is None else self.destination.to_dict(),
                "error": self.error,
            }
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallResult:
    """The outcome of one tool call, for :class:`ToolCallsResponse`.

    Give exactly one of ``result`` and ``error``. Vapi's docs prefer single-line strings.

    Args:
        tool_call_id: The ``ToolCall.id`` this answers.
        name: The tool's name. The SDK requires it although Vapi's docs omit it: send it
            (:meth:`for_call` does).
        result: What the tool returned, as text for the model.
        error: Why it failed, as text for the model.
        message: A spoken message object (``{"type": "request-complete", "content": ...}``).
        metadata: Extra data stored with the result.

    Raises:
        ControlMessageError: Not exactly one of ``result``/``error``, or a wrong argument type.
    """

    tool_call_id: str
    name: str | None = None
    result: str | None = None
    error: str | None = None
    message: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        owner = "ToolCallResult"
        _checks.text(owner, "tool_call_id", self.tool_call_id)
        _checks.text(owner, "name", self.name, optional=True)
        _checks.exactly_one(owner, result=self.result, error=self.error)
        _checks.text(owner, "result", self.result, optional=True, empty_ok=True)
        _checks.text(owner, "error", self.error, optional=True, empty_ok=True)
        object.__setattr__(self, "message", _checks.json_object(owner, "message", self.message))
        object.__setattr__(self, "metadata", _checks.json_object(owner, "metadata", self.metadata))

    @classmethod
    def for_call(
        cls,
        call: ToolCall,
        *,
        result: str | None = None,
        error: str | None = None,
        message: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> ToolCallResult:
        """The result for ``call``, with its id and name filled in.

        Args:
            call: The tool call answered.
            result: What the tool returned.
            error: Why it failed.
            message: A spoken message object.
            metadata: Extra data stored with the result.

        Returns:
            The result.

        Raises:
            ControlMessageError: As the constructor.
        """
        return cls(tool_call_id=call.id, name=call.name, result=result, error=error, message=message, metadata=metadata)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        return _compact(
            {
                "name": self.name,
                "toolCallId": self.tool_call_id,
                "result": self.result,
                "error": self.error,
                "message": self.message,
                "metadata": self.metadata,
            }
        )


@dataclass(frozen=True, slots=True)
class ToolCallsResponse(Response):
    """The reply to ``tool-calls``: one result per call, in call order. Always answer HTTP 200.

    Args:
        results: The results (a sequence; stored as a tuple).
        error: A failure of the whole request.

    Raises:
        ControlMessageError: An item is not a :class:`ToolCallResult`, or two answer the same id.
    """

    results: Sequence[ToolCallResult] = ()
    error: str | None = None

    def __post_init__(self) -> None:
        results = tuple(self.results)
        seen: set[str] = set()
        for i, item in enumerate(results):
            if not isinstance(item, ToolCallResult):
                raise _checks.fail("ToolCallsResponse", f"results[{i}] must be a ToolCallResult")
            if item.tool_call_id in seen:
                raise _checks.fail("ToolCallsResponse", f"results[{i}] repeats a tool_call_id")
            seen.add(item.tool_call_id)
        object.__setattr__(self, "results", results)
        _checks.text("ToolCallsResponse", "error", self.error, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, ``None`` fields omitted."""
        return _compact({"results": [item.to_dict() for item in self.results], "error": self.error})


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferDestinationResponse(Response):
    """The reply to ``transfer-destination-request``: where the transfer goes, or an error.

    Args:
        destination: A number, SIP or assistant destination (required unless ``error``).
        message: What to say meanwhile: a string (sent as ``{"type": "request-start", "content": ...}``)
            or a message object sent as given.
        error: Why no transfer happens (then give neither ``destination`` nor ``message``).

    Raises:
        ControlMessageError: Neither or both of ``destination`` and ``error``, or a wrong type.
    """

    destination: Destination | None = None
    message: str | Mapping[str, Any] | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        owner = "TransferDestinationResponse"
        if self.error is not None:
            _checks.text(owner, "error", self.error)
            if self.destination is not None or self.message is not None:
                raise _checks.fail(owner, "give error alone, or destination (and message)")
        elif not isinstance(self.destination, NumberDestination | SipDestination | AssistantDestination):
            raise _checks.fail(owner, "destination must be a Number, Sip or AssistantDestination (or give error)")
        if isinstance(self.message, str):
            _checks.text(owner, "message", self.message)
            object.__setattr__(self, "message", {"type": "request-start", "content": self.message})
        else:
            object.__setattr__(self, "message", _checks.json_object(owner, "message", self.message))

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, ``None`` fields omitted."""
        destination = None if self.destination is None else self.destination.to_dict()
        return _compact({"destination": destination, "message": self.message, "error": self.error})


@dataclass(frozen=True, slots=True)
class KnowledgeBaseDocument:
    """One document for :class:`KnowledgeBaseResponse`.

    Args:
        content: The text handed to the model.
        similarity: How relevant it is (a finite number, typically 0 to 1).
        uuid: Your id for the document.

    Raises:
        ControlMessageError: A wrong type, or empty ``content``.
    """

    content: str
    similarity: float
    uuid: str | None = None

    def __post_init__(self) -> None:
        _checks.text("KnowledgeBaseDocument", "content", self.content)
        _checks.number("KnowledgeBaseDocument", "similarity", self.similarity)
        _checks.text("KnowledgeBaseDocument", "uuid", self.uuid, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """The wire object, ``None`` fields omitted."""
        return _compact({"content": self.content, "similarity": self.similarity, "uuid": self.uuid})


@dataclass(frozen=True, slots=True)
class KnowledgeBaseResponse(Response):
    """The reply to ``knowledge-base-request``: documents for the model, or a message to speak.

    On failure answer ``KnowledgeBaseResponse(documents=[])`` with HTTP 200.

    Args:
        documents: The documents (a sequence; stored as a tuple). ``[]`` is sent as an empty array.
        message: Spoken instead of generating: a string (sent as ``{"type": "custom-message",
            "content": ...}``, the SDK shape) or a mapping sent as given (the KB doc's
            ``{"role": "assistant", "content": ...}`` shape, which the SDK rejects).

    Raises:
        ControlMessageError: Neither argument, or a wrong type.
    """

    documents: Sequence[KnowledgeBaseDocument] | None = None
    message: str | Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        owner = "KnowledgeBaseResponse"
        if self.documents is None and self.message is None:
            raise _checks.fail(owner, "give documents, message or both")
        if self.documents is not None:
            documents = tuple(self.documents)
            for i, item in enumerate(documents):
                if not isinstance(item, KnowledgeBaseDocument):
                    raise _checks.fail(owner, f"documents[{i}] must be a KnowledgeBaseDocument")
            object.__setattr__(self, "documents", documents)
        if isinstance(self.message, str):
            _checks.text(owner, "message", self.message)
            object.__setattr__(self, "message", {"type": "custom-message", "content": self.message})
        else:
            object.__setattr__(self, "message", _checks.json_object(owner, "message", self.message))

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, ``None`` fields omitted."""
        documents = None if self.documents is None else [item.to_dict() for item in self.documents]
        return _compact({"documents": documents, "message": self.message})


@dataclass(frozen=True, slots=True)
class EndpointingResponse(Response):
    """The reply to ``call.endpointing.request``: how long to wait before the user's turn is over.

    Args:
        timeout_seconds: Seconds of silence to wait (finite, >= 0).

    Raises:
        ControlMessageError: Not a finite non-negative number.
    """

    timeout_seconds: float

    def __post_init__(self) -> None:
        _checks.number("EndpointingResponse", "timeout_seconds", self.timeout_seconds, minimum=0)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body."""
        return {"timeoutSeconds": self.timeout_seconds}


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffDestinationResponse(Response):
    """The reply to ``handoff-destination-request``.

    Args:
        destination: A :class:`HandoffDestination`, or a mapping sent as given (squad or dynamic
            destinations). Required, as in the SDK.
        result: Text for the model about the handoff.
        error: Why the handoff cannot happen.

    Raises:
        ControlMessageError: A wrong type.
    """

    destination: HandoffDestination | Mapping[str, Any]
    result: str | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        owner = "HandoffDestinationResponse"
        if not isinstance(self.destination, HandoffDestination):
            destination = _checks.json_object(owner, "destination", self.destination, optional=False)
            object.__setattr__(self, "destination", destination)
        _checks.text(owner, "result", self.result, optional=True, empty_ok=True)
        _checks.text(owner, "error", self.error, optional=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON body, ``None`` fields omitted."""
        d = self.destination
        destination = d.to_dict() if isinstance(d, HandoffDestination) else dict(d)
        return _compact({"destination": destination, "result": self.result, "error": self.error})


@dataclass(frozen=True, slots=True)
class CampaignPredialResponse(Response):
    """The reply to ``campaign.predial``: may Vapi call this contact now?

    Args:
        eligible: ``True`` to place the call.

    Raises:
        ControlMessageError: ``eligible`` is not a bool.
    """

    eligible: bool

    def __post_init__(self) -> None:
        if not isinstance(self.eligible, bool):
            raise _checks.fail("CampaignPredialResponse", "eligible must be a bool")

    def to_dict(self) -> dict[str, Any]:
        """The JSON body."""
        return {"eligible": self.eligible}
