"""Handlers and their replies: how a function is called, and how its return value becomes Vapi's JSON.

A handler is a plain function (run in a worker thread) or a coroutine function (run on the event
loop). A tool's arguments are bound to its parameters by name; a request-style handler's return value
(a typed reply from :mod:`vapi_fast.protocol.responses` or a plain value) is converted here to the
exact body Vapi expects.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from ..errors import VapiFastError
from ..protocol import (
    AssistantRequestResponse,
    CampaignPredialResponse,
    EndpointingResponse,
    HandoffDestination,
    HandoffDestinationResponse,
    KnowledgeBaseDocument,
    KnowledgeBaseResponse,
    Message,
    NumberDestination,
    Response,
    SipDestination,
    ToolCall,
    ToolCallResult,
    ToolCallsMessage,
    ToolCallsResponse,
    TransferDestinationResponse,
)
from ..protocol.destinations import AssistantDestination

__all__ = [
    "MAX_NAME",
    "AssistantReply",
    "EndpointingReply",
    "Handler",
    "HandoffReply",
    "KnowledgeBaseReply",
    "ToolError",
    "ToolSpec",
    "TransferReply",
    "bind_arguments",
    "body_of",
    "convert_reply",
    "handler_for",
    "json_bytes",
    "short",
    "tool_result",
    "tool_spec",
    "unique_calls",
    "whole_tool_reply",
]

#: Longest message type or tool name quoted in logs, errors and stats keys.
MAX_NAME = 64


#: What an ``assistant-request`` handler may return: the typed reply; an assistant id (``str``); a
#: number or SIP destination (transfer at once); a mapping sent as the JSON body (it must hold a
#: selector such as ``assistantId``, ``assistant`` or ``squadId``); ``None`` for the fallback.
AssistantReply: TypeAlias = (
    AssistantRequestResponse | str | NumberDestination | SipDestination | Mapping[str, Any] | None
)
#: What a ``transfer-destination-request`` handler may return: the typed reply; a destination; a
#: ``(destination, message)`` pair; a mapping sent as the JSON body; ``None`` for the error reply.
TransferReply: TypeAlias = (
    TransferDestinationResponse
    | NumberDestination
    | SipDestination
    | AssistantDestination
    | tuple[NumberDestination | SipDestination | AssistantDestination, str]
    | Mapping[str, Any]
    | None
)
#: What a ``knowledge-base-request`` handler may return: the typed reply; documents
#: (:class:`KnowledgeBaseDocument` or ``{content, similarity, uuid?}`` mappings); a string to speak;
#: ``None`` for ``{"documents": []}``.
KnowledgeBaseReply: TypeAlias = (
    KnowledgeBaseResponse | Sequence[KnowledgeBaseDocument | Mapping[str, Any]] | str | Mapping[str, Any] | None
)
#: What a ``call.endpointing.request`` handler may return: the typed reply, or seconds to wait.
EndpointingReply: TypeAlias = EndpointingResponse | float | Mapping[str, Any] | None
#: What a ``handoff-destination-request`` handler may return.
HandoffReply: TypeAlias = HandoffDestinationResponse | HandoffDestination | Mapping[str, Any] | None


class ToolError(VapiFastError):
    """Raise it in a tool to answer the model with an error text of your choice.

    ``raise ToolError("Order not found")`` answers ``{"toolCallId": ..., "error": "Order not found"}``.
    Any other exception answers a generic error naming the tool and the exception class (the
    exception's text may hold internal details, so it is logged, not sent).
    """


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered function: how to call it (``async``, ``sync`` in a thread, ``asyncgen``) and its name for logs."""

    fn: Callable[..., Any]
    kind: Literal["async", "sync", "asyncgen"]
    name: str


def handler_for(fn: Callable[..., Any]) -> Handler:
    """Classify ``fn`` (coroutine function, async generator function, or plain callable).

    Raises:
        TypeError: ``fn`` is not callable.
    """
    if not callable(fn):
        raise TypeError(f"a handler must be callable, not {type(fn).__name__}")
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    if inspect.isasyncgenfunction(fn) or inspect.isasyncgenfunction(getattr(fn, "__call__", None)):  # noqa: B004
        return Handler(fn, "asyncgen", name)
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None)):  # noqa: B004
        return Handler(fn, "async", name)
    return Handler(fn, "sync", name)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool function with what binding its arguments needs, read once from its signature."""

    handler: Handler
    timeout_s: float | None
    # Argument names the function takes by keyword, or None when it takes **kwargs.
    accepts: frozenset[str] | None
    required: frozenset[str]
    # Parameters that receive the ToolCall / the ToolCallsMessage instead of an argument.
    call_param: str | None
    message_param: str | None


def tool_spec(fn: Callable[..., Any], timeout_s: float | None) -> ToolSpec:
    """Read ``fn``'s signature: keyword parameters, required ones, and the ToolCall/ToolCallsMessage ones.

    Raises:
        TypeError: ``fn`` is not callable, or has a positional-only parameter without a default.
    """
    handler = handler_for(fn)
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return ToolSpec(handler, timeout_s, None, frozenset(), None, None)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # annotations that cannot be resolved: inject nothing
        hints = {}
    accepts: set[str] | None = set()
    required: set[str] = set()
    call_param = message_param = None
    for param in signature.parameters.values():
        hint = hints.get(param.name)
        if hint is ToolCall:
            call_param = param.name
        elif hint is ToolCallsMessage:
            message_param = param.name
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            accepts = None
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        elif param.kind is inspect.Parameter.POSITIONAL_ONLY:
            if param.default is inspect.Parameter.empty:
                raise TypeError(
                    f"tool handler {handler.name}: positional-only parameter {param.name!r} cannot be filled"
                )
        else:
            if accepts is not None:
                accepts.add(param.name)
            if param.default is inspect.Parameter.empty:
                required.add(param.name)
    return ToolSpec(
        handler,
        timeout_s,
        None if accepts is None else frozenset(accepts),
        frozenset(required),
        call_param,
        message_param,
    )


def short(text: str) -> str:
    """``text`` cut to :data:`MAX_NAME` characters (for wire names quoted in logs and stats)."""
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 3] + "..."


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON.

    Raises:
        TypeError: ``obj`` holds something JSON cannot represent.
        ValueError: ``obj`` holds NaN or an infinity.
    """
    # allow_nan=False: NaN and Infinity are not JSON; raises ValueError (caught as a bad reply).
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def body_of(reply: Response | Mapping[str, Any]) -> bytes:
    """The JSON body of a typed reply, or of a mapping sent as given."""
    if isinstance(reply, Response):
        return reply.serialize().encode("utf-8")
    return json_bytes(dict(reply))


def unique_calls(message: ToolCallsMessage) -> list[ToolCall]:
    """The message's tool calls in order, each ``toolCallId`` once (the first occurrence)."""
    # Every toolCallId is answered exactly once, even if Vapi repeated one in the request.
    seen: dict[str, ToolCall] = {}
    for call in message.tool_calls:
        seen.setdefault(call.id, call)
    return list(seen.values())


def bind_arguments(spec: ToolSpec, call: ToolCall, message: ToolCallsMessage) -> tuple[dict[str, Any], str | None]:
    """The keyword arguments for ``spec``'s function, and why they cannot be built (``None`` when they can)."""
    arguments = call.arguments
    if spec.accepts is None:
        kwargs = dict(arguments)
    else:
        kwargs = {name: value for name, value in arguments.items() if name in spec.accepts}
    missing = spec.required - kwargs.keys()
    if missing:
        return kwargs, "missing " + ", ".join(sorted(repr(short(name)) for name in missing))
    if spec.call_param is not None:
        kwargs[spec.call_param] = call
    if spec.message_param is not None:
        kwargs[spec.message_param] = message
    return kwargs, None


def tool_result(call: ToolCall, value: Any) -> ToolCallResult:
    """A tool's return value as its result: text as is, ``None`` as ``""``, JSON values compact, typed as given.

    Raises:
        TypeError: Bytes, or a value JSON cannot represent.
        ValueError: NaN or an infinity.
    """
    if isinstance(value, ToolCallResult):
        if value.tool_call_id != call.id or value.name is None:
            fixed: ToolCallResult = dataclasses.replace(value, tool_call_id=call.id, name=value.name or call.name)
            return fixed
        return value
    if isinstance(value, str):
        text = value
    elif value is None:
        text = ""
    elif isinstance(value, bytes | bytearray | memoryview):
        raise TypeError("a tool result must be text or a JSON value, not bytes")
    else:
        text = json_bytes(value).decode("utf-8")
    return ToolCallResult.for_call(call, result=text)


_SELECTORS = ("assistantId", "assistant", "squadId", "squad", "workflowId", "workflow", "destination", "error")


def convert_reply(message: Message, value: Any) -> Response | Mapping[str, Any] | None:
    """The reply for a request-style handler's return value, or None for the fallback.

    Raises:
        TypeError: A value this type of event cannot take.
        ValueError: A typed reply that does not validate (ControlMessageError).
    """
    if value is None:
        return None
    kind = message.type
    if isinstance(value, Response):
        if isinstance(value, ToolCallsResponse) and isinstance(message, ToolCallsMessage):
            return whole_tool_reply(message, value.results)
        if isinstance(value, _RESPONSE_CLASSES[kind]):
            return value
        raise TypeError(f"{type(value).__name__} is not a reply to {kind}")
    if kind == "assistant-request":
        if isinstance(value, str):
            return AssistantRequestResponse(assistant_id=value)
        if isinstance(value, NumberDestination | SipDestination):
            return AssistantRequestResponse(destination=value)
        if isinstance(value, Mapping):
            if not any(key in value for key in _SELECTORS):
                raise ValueError("the mapping has none of " + ", ".join(_SELECTORS))
            return value
    elif kind == "transfer-destination-request":
        if isinstance(value, NumberDestination | SipDestination | AssistantDestination):
            return TransferDestinationResponse(destination=value)
        if isinstance(value, tuple) and len(value) == 2:
            return TransferDestinationResponse(destination=value[0], message=value[1])
        if isinstance(value, Mapping):
            return value
    elif kind == "knowledge-base-request":
        if isinstance(value, str):
            return KnowledgeBaseResponse(message=value)
        if isinstance(value, Mapping):
            return value
        if isinstance(value, Sequence):
            return KnowledgeBaseResponse(documents=[document(item) for item in value])
    elif kind == "call.endpointing.request":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return EndpointingResponse(float(value))
        if isinstance(value, Mapping):
            return value
    elif kind == "handoff-destination-request":
        if isinstance(value, HandoffDestination):
            return HandoffDestinationResponse(destination=value)
        if isinstance(value, Mapping):
            return value
    elif kind == "campaign.predial":
        if isinstance(value, bool):
            return CampaignPredialResponse(eligible=value)
        if isinstance(value, Mapping):
            return value
    elif kind == "tool-calls":
        assert isinstance(message, ToolCallsMessage)
        if isinstance(value, Sequence) and not isinstance(value, str | bytes):
            return whole_tool_reply(message, value)
        if isinstance(value, Mapping):
            return value
    raise TypeError(f"a {kind} handler cannot return {type(value).__name__}")


def document(item: Any) -> KnowledgeBaseDocument:
    """A knowledge-base document from a :class:`KnowledgeBaseDocument` or a ``{content, similarity, uuid?}`` mapping.

    Raises:
        TypeError: Neither.
        ValueError: A mapping without ``content`` or ``similarity``, or invalid values.
    """
    if isinstance(item, KnowledgeBaseDocument):
        return item
    if isinstance(item, Mapping):
        try:
            return KnowledgeBaseDocument(item["content"], item["similarity"], item.get("uuid"))
        except KeyError as exc:
            raise ValueError(f"a document mapping needs {exc}") from None
    raise TypeError(f"documents are KnowledgeBaseDocument or mappings, not {type(item).__name__}")


def whole_tool_reply(message: ToolCallsMessage, results: Sequence[Any]) -> ToolCallsResponse:
    """A whole-message tool handler's results, fixed up: every call answered once, in call order.

    Raises:
        TypeError: An item is not a :class:`ToolCallResult`.
    """
    by_id: dict[str, ToolCallResult] = {}
    for item in results:
        if not isinstance(item, ToolCallResult):
            raise TypeError(f"tool-calls results are ToolCallResult, not {type(item).__name__}")
        by_id.setdefault(item.tool_call_id, item)
    answers = []
    for call in unique_calls(message):
        found = by_id.get(call.id)
        if found is None:
            found = ToolCallResult.for_call(call, error="The tool did not answer.")
        elif found.name is None:
            found = dataclasses.replace(found, name=call.name)
        answers.append(found)
    return ToolCallsResponse(answers)


_RESPONSE_CLASSES: dict[str, type[Response]] = {
    "assistant-request": AssistantRequestResponse,
    "transfer-destination-request": TransferDestinationResponse,
    "knowledge-base-request": KnowledgeBaseResponse,
    "call.endpointing.request": EndpointingResponse,
    "handoff-destination-request": HandoffDestinationResponse,
    "campaign.predial": CampaignPredialResponse,
    "tool-calls": ToolCallsResponse,
}
