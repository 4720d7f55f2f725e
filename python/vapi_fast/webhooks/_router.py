"""The webhook router: an ASGI app that authenticates, parses and answers Vapi's server URL requests.

One request goes through these steps, each of which can end it:

1. method and path (405, 404), then ``Content-Length`` against the limit (413, body not read);
2. the body, read chunk by chunk under the size limit (413) and a deadline (408);
3. authentication over the raw bytes (401); then the envelope and the typed message (400);
4. the reply: handlers of request-style events run under a deadline and answer with the typed
   response; a missing, failing or late handler gets the event's fallback reply. Every other event
   is answered 200 at once and its handlers run afterwards, in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import inspect
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from ..audio import AudioFormat
from ..protocol import (
    REGISTRY,
    AssistantRequestMessage,
    AssistantRequestResponse,
    CallEndpointingRequestMessage,
    CampaignPredialMessage,
    CampaignPredialResponse,
    EndpointingResponse,
    HandoffDestinationRequestMessage,
    KnowledgeBaseRequestMessage,
    Message,
    PhoneCallControlMessage,
    ProtocolError,
    ToolCall,
    ToolCallResult,
    ToolCallsMessage,
    ToolCallsResponse,
    TransferDestinationRequestMessage,
    UnknownMessage,
    VoiceRequestMessage,
)
from ._asgi import (
    BodyDeadlines,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    Receive,
    Scope,
    Send,
    header_map,
    read_body,
    request_url,
    route_path,
    send_response,
)
from ._auth import AuthConfig, Authenticator, WebhookAuthError, WebhookRequest, build_authenticator
from ._replies import (
    AssistantReply,
    EndpointingReply,
    Handler,
    HandoffReply,
    KnowledgeBaseReply,
    ToolError,
    ToolSpec,
    TransferReply,
    bind_arguments,
    body_of,
    convert_reply,
    handler_for,
    json_bytes,
    short,
    tool_result,
    tool_spec,
    unique_calls,
)
from ._stats import RouterStats
from ._voice import pcm_stream

__all__ = ["DEFAULT_ASSISTANT_FALLBACK", "Router"]

logger = logging.getLogger("vapi_fast.webhooks")

#: The types answered with a JSON reply (besides ``tool-calls`` and ``voice-request``).
_ANSWERED = (
    "assistant-request",
    "transfer-destination-request",
    "knowledge-base-request",
    "call.endpointing.request",
    "handoff-destination-request",
    "campaign.predial",
)
_REPLY_TYPES = frozenset((*_ANSWERED, "tool-calls", "voice-request"))
_EMPTY_REPLY = b"{}"
_OCTET_STREAM_HEADER = (b"content-type", b"application/octet-stream")
#: The ``voice-request`` rates the native resampler serves, Hz (Vapi uses 8000 to 24000).
_MIN_RATE, _MAX_RATE = 8000, 48000

#: The default ``assistant_request_fallback``: Vapi speaks it to the caller and ends the call.
DEFAULT_ASSISTANT_FALLBACK = AssistantRequestResponse(
    error="Sorry, we cannot take your call right now. Please try again later."
)

_H = TypeVar("_H", bound=Callable[..., Any])
_AR = TypeVar("_AR", bound=Callable[[AssistantRequestMessage], "AssistantReply | Awaitable[AssistantReply]"])
_TR = TypeVar("_TR", bound=Callable[[TransferDestinationRequestMessage], "TransferReply | Awaitable[TransferReply]"])
_KB = TypeVar(
    "_KB", bound=Callable[[KnowledgeBaseRequestMessage], "KnowledgeBaseReply | Awaitable[KnowledgeBaseReply]"]
)
_EP = TypeVar("_EP", bound=Callable[[CallEndpointingRequestMessage], "EndpointingReply | Awaitable[EndpointingReply]"])
_HO = TypeVar("_HO", bound=Callable[[HandoffDestinationRequestMessage], "HandoffReply | Awaitable[HandoffReply]"])
_CP = TypeVar(
    "_CP",
    bound=Callable[
        [CampaignPredialMessage], "CampaignPredialResponse | bool | Awaitable[CampaignPredialResponse | bool]"
    ],
)
_PC = TypeVar("_PC", bound=Callable[[PhoneCallControlMessage], object])
_VO = TypeVar("_VO", bound=Callable[[VoiceRequestMessage], object])


@dataclass(slots=True)
class _Result:
    """How a reply handler ended: ``ok`` (``value``), ``failed`` (``error``) or ``late`` (abandoned)."""

    state: Literal["ok", "failed", "late"]
    value: Any = None
    error: BaseException | None = None


class _SeenCache:
    """Replies by idempotency key, forgotten after ``ttl_s`` (all entries live equally long)."""

    __slots__ = ("_entries", "_max_entries", "_ttl_s")

    def __init__(self, ttl_s: float, max_entries: int) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, float], tuple[float, asyncio.Future[tuple[int, bytes]]]] = (
            OrderedDict()
        )

    def get(self, key: tuple[str, str, float], now: float) -> asyncio.Future[tuple[int, bytes]] | None:
        entries = self._entries
        while entries:
            oldest = next(iter(entries.values()))
            if oldest[0] > now and len(entries) <= self._max_entries:
                break
            entries.popitem(last=False)
        found = entries.get(key)
        return None if found is None else found[1]

    def put(self, key: tuple[str, str, float], reply: asyncio.Future[tuple[int, bytes]], now: float) -> None:
        self._entries[key] = (now + self._ttl_s, reply)

    def forget(self, key: tuple[str, str, float]) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class Router:
    """Vapi's server URL events as decorated functions; the router itself is the ASGI app::

        router = Router(auth=BearerAuth(os.environ["VAPI_WEBHOOK_TOKEN"]))

        @router.tool("get_weather")
        async def get_weather(city: str) -> str:
            return f"Sunny in {city}"

    Run it with ``uvicorn module:router`` or ``vapi-fast serve module:router``, or mount it in
    Starlette / FastAPI (``Mount("/vapi", app=router)``, with ``lifespan=router.lifespan``).

    Handlers may be ``def`` (run in a worker thread) or ``async def`` (run on the event loop).
    Request-style events are answered within their deadline whatever the handler does: at the
    deadline the router sends the fallback reply without waiting for the handler, even one that
    ignores cancellation or blocks its thread (it is cancelled, and left to finish on its own). An
    ``async def`` that blocks the event loop itself (CPU work, ``time.sleep``) blocks every request:
    make such a handler a plain ``def``.

    Args:
        auth: How Vapi's requests authenticate (required; pass ``None`` explicitly to accept
            anything): a :class:`BearerAuth`, :class:`SecretAuth` or :class:`HmacAuth`; a
            credential-shaped mapping (``{"type": "hmac", "secret": ...}``, see
            :func:`auth_from_config`); or a list of these, any of which may match.
        path: Answer only on this path (below the mount point); default every path.
        max_body_bytes: Larger bodies get 413, unread (default 1 MiB; raise it if your
            end-of-call reports carry long transcripts).
        body_timeout_s: The whole body must arrive within this many seconds, else 408 (checked every
            0.1 s, so at most that much later).
        assistant_request_budget_s: Time for ``assistant-request`` from the request's arrival to the
            reply (default 6.0; Vapi gives up after 7.5 s end to end).
        assistant_request_fallback: The reply when the handler is missing, fails, returns nothing
            usable or is late: an assistant id, or an :class:`AssistantRequestResponse` (such as
            ``AssistantRequestResponse(error="...")``, the default, which Vapi speaks to the caller).
        tool_timeout_s: Default time each tool may take (``None``: only the reply budget applies);
            ``@router.tool(name, timeout_s=...)`` sets it per tool.
        reply_budget_s: Time for every other reply (``tool-calls`` as a whole, transfer, knowledge
            base, endpointing, handoff, campaign, the first audio of a voice reply); keep it below
            the server's ``timeoutSeconds`` in Vapi (default 20 s).
        endpointing_fallback_s: The ``timeoutSeconds`` answered when the endpointing handler is
            missing, fails or is late.
        idempotency_ttl_s: When set, a repeated delivery of the same event (same ``call.id``,
            ``type`` and ``timestamp``) within this many seconds runs no handler again: it gets the
            first delivery's reply. ``voice-request`` is never de-duplicated. Off by default.
        shutdown_timeout_s: At shutdown, how long background handlers may still run before they are
            cancelled.
        max_threads: Worker threads for ``def`` handlers.

    Raises:
        ValueError: A bad ``auth`` mapping, or a limit or time that is not positive.
        TypeError: ``auth`` of the wrong type.
    """

    def __init__(
        self,
        *,
        auth: AuthConfig,
        path: str | None = None,
        max_body_bytes: int = 1 << 20,
        body_timeout_s: float = 10.0,
        assistant_request_budget_s: float = 6.0,
        assistant_request_fallback: AssistantRequestResponse | str = DEFAULT_ASSISTANT_FALLBACK,
        tool_timeout_s: float | None = None,
        reply_budget_s: float = 18.0,
        endpointing_fallback_s: float = 0.4,
        idempotency_ttl_s: float | None = None,
        shutdown_timeout_s: float = 10.0,
        max_threads: int = 32,
    ) -> None:
        for name, value in (
            ("max_body_bytes", max_body_bytes),
            ("body_timeout_s", body_timeout_s),
            ("assistant_request_budget_s", assistant_request_budget_s),
            ("reply_budget_s", reply_budget_s),
            ("shutdown_timeout_s", shutdown_timeout_s),
            ("max_threads", max_threads),
            ("tool_timeout_s", 1 if tool_timeout_s is None else tool_timeout_s),
            ("idempotency_ttl_s", 1 if idempotency_ttl_s is None else idempotency_ttl_s),
        ):
            if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0 or math.isinf(value):
                raise ValueError(f"Router: {name} must be a positive finite number")
        if assistant_request_budget_s >= 7.5:
            logger.warning(
                "assistant_request_budget_s=%g: Vapi gives up after 7.5 s end to end", assistant_request_budget_s
            )
        if isinstance(assistant_request_fallback, str):
            assistant_request_fallback = AssistantRequestResponse(assistant_id=assistant_request_fallback)
        if not isinstance(assistant_request_fallback, AssistantRequestResponse):
            raise TypeError("assistant_request_fallback must be an assistant id or an AssistantRequestResponse")
        self._auth: Authenticator | None = build_authenticator(auth)
        if self._auth is None:
            logger.warning("webhook Router without authentication: anyone who finds its URL can call the handlers")
        self._path = None if path is None else ("/" + path.strip("/")).rstrip("/") or "/"
        self._max_body_bytes = int(max_body_bytes)
        self._body_timeout_s = float(body_timeout_s)
        # One timer for every body being read: a trickling body is cut off at most 0.1 s late.
        self._body_deadlines = BodyDeadlines(min(0.1, self._body_timeout_s / 4))
        self._assistant_budget_s = float(assistant_request_budget_s)
        self._tool_timeout_s = tool_timeout_s
        self._reply_budget_s = float(reply_budget_s)
        self._shutdown_timeout_s = float(shutdown_timeout_s)
        self._max_threads = int(max_threads)
        self._fallbacks: dict[str, bytes] = {
            "assistant-request": assistant_request_fallback.serialize().encode("utf-8"),
            "transfer-destination-request": json_bytes({"error": "No transfer destination is available right now."}),
            "knowledge-base-request": json_bytes({"documents": []}),
            "call.endpointing.request": EndpointingResponse(endpointing_fallback_s).serialize().encode("utf-8"),
            "handoff-destination-request": json_bytes({"error": "No handoff destination is available right now."}),
            "campaign.predial": json_bytes({"eligible": False}),
        }
        # The one handler answering each request-style type.
        self._answerers: dict[str, Handler] = {}
        # Tools by name, the catch-all tool, and a whole-message tool-calls handler (exclusive).
        self._tools: dict[str, ToolSpec] = {}
        self._default_tool: ToolSpec | None = None
        self._voice: tuple[Handler, AudioFormat | None] | None = None
        # Handlers run after the 200, by wire type; "*" gets every event.
        self._observers: dict[str, list[Handler]] = {}
        self._seen = None if idempotency_ttl_s is None else _SeenCache(float(idempotency_ttl_s), 100_000)
        self._stats = RouterStats()
        # Background handler tasks, and reply handlers abandoned at their deadline (still running).
        self._background: set[asyncio.Task[None]] = set()
        self._abandoned: set[asyncio.Future[Any]] = set()
        # Worker threads for def handlers, created on first use.
        self._executor: ThreadPoolExecutor | None = None

    # ------------------------------------------------------------------------------------------
    # Registration

    def on(self, *kinds: str | type[Message]) -> Callable[[_H], _H]:
        """Register a handler for one or more message types (wire names or message classes).

        For an event that takes no reply, the handler runs after the router has answered 200 (any
        number of handlers per type; ``"*"`` receives every event, unknown types included). For a
        request-style type it is *the* handler, the same as the typed shortcut
        (:meth:`assistant_request`, ...); for ``"tool-calls"`` it answers the whole message (return a
        :class:`ToolCallsResponse` or a list of :class:`ToolCallResult`) and replaces :meth:`tool`.

        Args:
            kinds: ``"end-of-call-report"``, ``EndOfCallReportMessage``, ``"*"``, ...; a type
                registers every wire name of its class (``"transcript"`` also gets
                ``transcript[transcriptType="final"]``).

        Returns:
            A decorator that registers the function and returns it unchanged.

        Raises:
            ValueError: No type given, or a request-style type that already has its handler.
        """
        if not kinds:
            raise ValueError("Router.on() needs at least one message type")
        names: list[str] = []
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, Message):
                if not kind.TYPES:
                    raise ValueError(f"{kind.__name__} has no wire type; use '*' for every event")
                names.extend(kind.TYPES)
            elif isinstance(kind, str) and kind:
                cls = REGISTRY.get(kind)
                names.extend(cls.TYPES if cls is not None else (kind,))
            else:
                raise ValueError("message types are non-empty strings or Message classes")

        def register(fn: _H) -> _H:
            for name in dict.fromkeys(names):
                self.add_handler(name, fn)
            return fn

        return register

    def add_handler(self, kind: str, fn: Callable[..., Any]) -> None:
        """Register ``fn`` for the wire type ``kind``; see :meth:`on`.

        Raises:
            ValueError: ``kind`` is request-style and already has its handler.
            TypeError: ``fn`` is not callable.
        """
        handler = handler_for(fn)
        if kind == "voice-request":
            self._set_voice(handler, None)
        elif kind == "tool-calls":
            if self._tools or self._default_tool is not None or "tool-calls" in self._answerers:
                raise ValueError("tool-calls already has handlers: use either @router.on('tool-calls') or @router.tool")
            self._answerers[kind] = handler
        elif kind in _REPLY_TYPES:
            if kind in self._answerers:
                raise ValueError(f"{kind} already has a handler ({self._answerers[kind].name})")
            self._answerers[kind] = handler
        else:
            self._observers.setdefault(kind, []).append(handler)

    def assistant_request(self, fn: _AR) -> _AR:
        """Answer ``assistant-request``: who takes an inbound call (see :data:`AssistantReply`).

        The reply leaves within ``assistant_request_budget_s``; if the handler is missing, raises,
        returns ``None`` or an unusable value, or is late, ``assistant_request_fallback`` is sent.
        """
        self.add_handler("assistant-request", fn)
        return fn

    def tool(self, name: str | None = None, *, timeout_s: float | None = None) -> Callable[[_H], _H]:
        """Register the function answering tool ``name`` (or every tool without its own, when ``None``).

        The tool call's arguments (a JSON string or an object on the wire) are passed as keyword
        arguments; arguments the function does not take are dropped unless it has ``**kwargs``, and a
        missing required one answers an error. A parameter annotated :class:`ToolCall` receives the
        call itself, one annotated :class:`ToolCallsMessage` the whole message. The return value
        becomes the ``result``: a string as is, ``None`` as ``""``, other JSON values as compact JSON,
        or a :class:`ToolCallResult` as given. Raise :class:`ToolError` to answer an ``error``.

        All calls of one message run concurrently; each gets an ``error`` if it fails or passes its
        timeout, and the reply leaves within ``reply_budget_s`` with every ``toolCallId`` answered
        exactly once, in call order.

        Args:
            name: The function name configured in Vapi, or ``None`` for the catch-all.
            timeout_s: This tool's own time limit (default the router's ``tool_timeout_s``).

        Raises:
            ValueError: The name already has a function, a bad timeout, or ``on("tool-calls")`` is used.
            TypeError: The function has a positional-only parameter without a default.
        """
        if timeout_s is not None and not (isinstance(timeout_s, int | float) and 0 < timeout_s < math.inf):
            raise ValueError("timeout_s must be a positive finite number")

        def register(fn: _H) -> _H:
            self.add_tool(name, fn, timeout_s=timeout_s)
            return fn

        return register

    def add_tool(self, name: str | None, fn: Callable[..., Any], *, timeout_s: float | None = None) -> None:
        """Register ``fn`` as tool ``name`` (``None``: the catch-all); see :meth:`tool`.

        Raises:
            ValueError: The name already has a function, or ``on("tool-calls")`` is used.
            TypeError: ``fn`` is not callable or cannot take keyword arguments.
        """
        if "tool-calls" in self._answerers:
            raise ValueError("tool-calls is answered by an @router.on('tool-calls') handler already")
        spec = tool_spec(fn, timeout_s)
        if name is None:
            if self._default_tool is not None:
                raise ValueError("the catch-all tool is registered already")
            self._default_tool = spec
            return
        if not isinstance(name, str) or not name:
            raise ValueError("tool names are non-empty strings")
        if name in self._tools:
            raise ValueError(f"tool {name!r} already has a function ({self._tools[name].handler.name})")
        self._tools[name] = spec

    def transfer_destination(self, fn: _TR) -> _TR:
        """Answer ``transfer-destination-request``: where a transfer goes (see :data:`TransferReply`)."""
        self.add_handler("transfer-destination-request", fn)
        return fn

    def knowledge_base(self, fn: _KB) -> _KB:
        """Answer ``knowledge-base-request`` with documents or a message (see :data:`KnowledgeBaseReply`).

        A missing, failing or late handler answers ``{"documents": []}``, as Vapi asks.
        """
        self.add_handler("knowledge-base-request", fn)
        return fn

    def endpointing(self, fn: _EP) -> _EP:
        """Answer ``call.endpointing.request`` with the seconds to wait (see :data:`EndpointingReply`)."""
        self.add_handler("call.endpointing.request", fn)
        return fn

    def handoff_destination(self, fn: _HO) -> _HO:
        """Answer ``handoff-destination-request`` (see :data:`HandoffReply`)."""
        self.add_handler("handoff-destination-request", fn)
        return fn

    def campaign_predial(self, fn: _CP) -> _CP:
        """Answer ``campaign.predial``: ``True`` to place the call (a failure answers ``False``)."""
        self.add_handler("campaign.predial", fn)
        return fn

    def phone_call_control(self, fn: _PC) -> _PC:
        """Handle ``phone-call-control`` (forward or hang up, which your server now performs).

        It takes no reply: the router answers 200 at once and runs the handler afterwards.
        """
        self.add_handler("phone-call-control", fn)
        return fn

    @overload
    def voice(self, fn: _VO, /) -> _VO: ...
    @overload
    def voice(self, /, *, format: AudioFormat | None = None) -> Callable[[_VO], _VO]: ...

    def voice(self, fn: Callable[..., Any] | None = None, /, *, format: AudioFormat | None = None) -> Any:
        """Answer ``voice-request`` (custom TTS) with audio, streamed as the PCM Vapi asks for.

        The handler gets the :class:`VoiceRequestMessage` (``text``, ``sample_rate``) and returns
        audio (see :data:`VoiceReply`): ``VoiceAudio(audio, fmt)`` or ``(audio, fmt)`` where audio is
        bytes, chunks or an async iterator of chunks; or bare audio in ``format``. It may also be an
        async generator yielding chunks in ``format``. Audio in any encoding, rate and channel count
        is converted natively to mono PCM16 at ``sample_rate``, chunk by chunk, and sent as
        ``application/octet-stream`` while it is produced.

        A missing handler answers 501, a failure before the first audio 500, no audio within
        ``reply_budget_s`` 504 (Vapi then tries the voice's ``fallbackPlan``). A failure after audio
        has started ends the body early.

        Args:
            fn: The handler (when used as ``@router.voice``).
            format: The format of bare audio the handler gives (default PCM16 mono at the requested
                rate).

        Raises:
            ValueError: A voice handler is registered already.
        """
        if fn is not None:
            self._set_voice(handler_for(fn), format)
            return fn

        def register(handler_fn: Callable[..., Any]) -> Callable[..., Any]:
            self._set_voice(handler_for(handler_fn), format)
            return handler_fn

        return register

    def _set_voice(self, handler: Handler, fmt: AudioFormat | None) -> None:
        if self._voice is not None:
            raise ValueError(f"voice-request already has a handler ({self._voice[0].name})")
        if fmt is not None and not isinstance(fmt, AudioFormat):
            raise TypeError("format must be an AudioFormat")
        self._voice = (handler, fmt)

    # ------------------------------------------------------------------------------------------
    # Introspection and lifetime

    def stats(self) -> dict[str, Any]:
        """Counters since start: requests by status, rejections, per-type count, errors, fallbacks and
        latency (mean, p50, p90, p99, max over the last 2048 requests, and a histogram), per-tool
        calls, errors and timeouts, background handlers.

        Latency runs from the request's arrival to the end of the reply (the last audio chunk for
        ``voice-request``).
        """
        return self._stats.snapshot(len(self._background))

    async def aclose(self) -> None:
        """Let background handlers finish (up to ``shutdown_timeout_s``), then cancel what is left,
        including reply handlers abandoned at their deadline, and stop the worker threads.

        Called on the ASGI lifespan shutdown; call it yourself when the server does not send lifespan
        events to the router (or use :meth:`lifespan`). The router can serve again afterwards.
        """
        pending: set[asyncio.Future[Any]] = set(self._background)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=self._shutdown_timeout_s)
        pending |= {future for future in self._abandoned if not future.done()}
        for future in pending:
            future.cancel()
        if pending:
            # Bounded: a handler that ignores cancellation is left behind rather than hanging shutdown.
            _, stuck = await asyncio.wait(pending, timeout=1.0)
            if stuck:
                logger.warning("%d webhook handler(s) ignored cancellation at shutdown", len(stuck))
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        if self._seen is not None:
            self._seen.clear()
        self._body_deadlines.clear()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """An async context manager that calls :meth:`aclose` on exit, for frameworks that do not
        forward lifespan events to mounted apps: ``Starlette(routes=[Mount("/vapi", app=router)],
        lifespan=router.lifespan)`` (FastAPI takes the same argument).

        Args:
            app: The framework's application (unused).
        """
        try:
            yield
        finally:
            await self.aclose()

    # ------------------------------------------------------------------------------------------
    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI 3 entry point: ``http`` requests, ``lifespan`` events; ``websocket`` is refused."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, _Reply(self._stats, send, time.perf_counter()))
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1003})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.aclose()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, reply: _Reply) -> None:
        """Handle one request, from the method check to the reply."""
        loop = asyncio.get_running_loop()
        arrived = loop.time()
        counters = self._stats.counters
        if scope["method"] != "POST":
            counters["method"] += 1
            await reply.error(405, "method not allowed", [(b"allow", b"POST")])
            return
        if self._path is not None and (route_path(scope).rstrip("/") or "/") != self._path:
            counters["path"] += 1
            await reply.error(404, "not found")
            return
        headers = header_map(scope)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                counters["bad_request"] += 1
                await reply.error(400, "bad Content-Length", close=True)
                return
            if int(declared) > self._max_body_bytes:
                counters["too_large"] += 1
                logger.warning("webhook rejected: 413, body of %s bytes over the limit", declared.strip())
                await reply.error(413, "body too large", close=True)
                return
        try:
            body = await read_body(receive, self._max_body_bytes, self._body_timeout_s, self._body_deadlines)
        except BodyTooLarge:
            counters["too_large"] += 1
            logger.warning("webhook rejected: 413, body over %d bytes", self._max_body_bytes)
            await reply.error(413, "body too large", close=True)
            return
        except BodyTimeout:
            counters["body_timeout"] += 1
            logger.warning("webhook rejected: 408, body not complete within %g s", self._body_timeout_s)
            await reply.error(408, "request body timeout", close=True)
            return
        except ClientGone:
            counters["client_gone"] += 1
            reply.record(499)
            return
        if self._auth is not None:
            request = WebhookRequest(scope["method"], request_url(scope, headers), headers, body)
            try:
                self._auth.verify(request)
            except WebhookAuthError as exc:
                counters["auth_failed"] += 1
                logger.warning("webhook rejected: 401, %s", exc.reason)
                await reply.error(401, "unauthorized")
                return
        try:
            message = _parse(body)
        except ProtocolError as exc:
            counters["bad_request"] += 1
            logger.warning("webhook rejected: 400, %s", exc.reason)
            await reply.error(400, f"bad request: {exc.reason}")
            return
        if isinstance(message, VoiceRequestMessage) and not _MIN_RATE <= message.sample_rate <= _MAX_RATE:
            counters["bad_request"] += 1
            logger.warning("webhook rejected: 400, voice-request sampleRate outside %d..%d Hz", _MIN_RATE, _MAX_RATE)
            await reply.error(400, f"bad request: sampleRate must be {_MIN_RATE}..{_MAX_RATE} Hz")
            return
        reply.label = short(message.type)
        try:
            await self._dispatch(message, arrived, receive, reply)
        except Exception:
            # A bug in the router or a misbehaving server: never let it pass silently.
            logger.exception("webhook %s: internal error", reply.label)
            with contextlib.suppress(Exception):
                await reply.error(500, "internal error")

    async def _dispatch(self, message: Message, arrived: float, receive: Receive, reply: _Reply) -> None:
        kind = message.type
        if isinstance(message, UnknownMessage):
            self._stats.counters["unknown_type"] += 1
            logger.info("webhook: unknown message type %r answered 200", reply.label)
        if kind == "voice-request":
            assert isinstance(message, VoiceRequestMessage)
            self._notify(message)
            await self._voice_reply(message, arrived, receive, reply)
            return
        key = self._key(message)
        if key is None:
            await self._reply(message, arrived, reply)
            return
        assert self._seen is not None
        loop = asyncio.get_running_loop()
        first = self._seen.get(key, loop.time())
        if first is not None:
            await asyncio.wait({first})
            if not first.cancelled():
                self._stats.counters["duplicate"] += 1
                logger.debug("webhook %s: duplicate delivery answered from the first one", reply.label)
                await reply.json(*first.result())
                return
        answered: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        self._seen.put(key, answered, loop.time())
        reply.on_sent = answered
        try:
            await self._reply(message, arrived, reply)
        finally:
            if not answered.done():
                self._seen.forget(key)
                answered.cancel()

    def _key(self, message: Message) -> tuple[str, str, float] | None:
        if self._seen is None:
            return None
        call_id = message.call_id
        if call_id is None or message.timestamp_ms is None:
            return None
        return (call_id, message.type, message.timestamp_ms)

    async def _reply(self, message: Message, arrived: float, reply: _Reply) -> None:
        """Answer ``message`` (JSON) and start its background handlers."""
        kind = message.type
        self._notify(message)
        if kind == "tool-calls" and "tool-calls" not in self._answerers:
            assert isinstance(message, ToolCallsMessage)
            await self._tool_calls(message, arrived + self._reply_budget_s, reply)
        elif kind in _REPLY_TYPES:
            budget = self._assistant_budget_s if kind == "assistant-request" else self._reply_budget_s
            await reply.json(200, await self._answer(message, arrived + budget))
        else:
            await reply.json(200, _EMPTY_REPLY)

    # ------------------------------------------------------------------------------------------
    # Running handlers

    def _threads(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._max_threads, thread_name_prefix="vapi-webhooks")
        return self._executor

    def _start(
        self, handler: Handler, args: tuple[Any, ...], kwargs: dict[str, Any], alarm: _Alarm | None = None
    ) -> asyncio.Future[Any]:
        """Start ``handler``: a task for ``async def``, a worker thread for ``def``; ``alarm`` rings when it ends."""
        loop = asyncio.get_running_loop()
        if handler.kind == "sync":
            call = functools.partial(contextvars.copy_context().run, handler.fn, *args, **kwargs)
            future = loop.run_in_executor(self._threads(), call)
            if alarm is not None:
                future.add_done_callback(alarm.ring)
            return future
        try:
            value = handler.fn(*args, **kwargs)
        except Exception as exc:
            future = loop.create_future()
            future.set_exception(exc)
            return future
        if handler.kind == "asyncgen" or not inspect.isawaitable(value):
            future = loop.create_future()
            future.set_result(value)
            return future
        return asyncio.ensure_future(value if alarm is None else _ringing(value, alarm))

    async def _within(self, future: asyncio.Future[Any], deadline: float, alarm: _Alarm | None = None) -> bool:
        """Whether ``future`` finished by ``deadline`` (loop time); never waits for a cancellation.

        ``alarm`` is the one ``future`` rings (see :meth:`_start`); without one, a done-callback is used.
        """
        if not future.done():
            if alarm is None:
                alarm = _Alarm()
                future.add_done_callback(alarm.ring)
            await alarm.wait(deadline)
        return future.done()

    def _abandon(self, future: asyncio.Future[Any]) -> None:
        # The handler keeps running (a thread cannot be stopped; a task may ignore cancellation):
        # keep a reference so it is not garbage-collected mid-flight, and collect its outcome later.
        future.cancel()
        if not future.done():
            self._abandoned.add(future)
            future.add_done_callback(self._abandoned_done)

    def _abandoned_done(self, future: asyncio.Future[Any]) -> None:
        self._abandoned.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.debug("a webhook handler abandoned at its deadline failed later", exc_info=future.exception())

    async def _run(self, handler: Handler, deadline: float, *args: Any, **kwargs: Any) -> _Result:
        """Run ``handler`` and wait for it until ``deadline``, without ever waiting past it."""
        alarm: _Alarm | None = _Alarm()
        future = self._start(handler, args, kwargs, alarm)
        unwrap = handler.kind == "sync"
        while True:
            if not await self._within(future, deadline, alarm):
                self._abandon(future)
                return _Result("late")
            if future.cancelled():
                return _Result("failed", error=asyncio.CancelledError())
            error = future.exception()
            if error is not None:
                return _Result("failed", error=error)
            value = future.result()
            if unwrap and inspect.isawaitable(value):
                # A plain function that returned an awaitable (a lambda around a coroutine, say).
                future, unwrap, alarm = asyncio.ensure_future(value), False, None
                continue
            return _Result("ok", value)

    def _notify(self, message: Message) -> None:
        handlers = self._observers.get(message.type)
        everyone = self._observers.get("*")
        if handlers is None and everyone is None:
            return
        loop = asyncio.get_running_loop()
        for handler in (*(handlers or ()), *(everyone or ())):
            task = loop.create_task(self._background_run(handler, message), name=f"vapi-webhook {handler.name}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _background_run(self, handler: Handler, message: Message) -> None:
        self._stats.background["started"] += 1
        try:
            value = await self._start(handler, (message,), {})
            if handler.kind == "sync" and inspect.isawaitable(value):
                await value
        except asyncio.CancelledError:
            self._stats.background["cancelled"] += 1
            raise
        except Exception:
            self._stats.background["failed"] += 1
            logger.exception("webhook %s handler %s failed", short(message.type), handler.name)

    # ------------------------------------------------------------------------------------------
    # Replies

    async def _answer(self, message: Message, deadline: float) -> bytes:
        kind = message.type
        handler = self._answerers.get(kind)
        histogram = self._stats.histogram(short(kind))
        if handler is None:
            logger.warning("webhook %s: no handler registered; sent the fallback reply", kind)
            histogram.fallbacks += 1
            return self._fallback(message)
        result = await self._run(handler, deadline, message)
        if result.state == "late":
            logger.warning("webhook %s: handler %s did not answer in time; sent the fallback reply", kind, handler.name)
            histogram.fallbacks += 1
            return self._fallback(message)
        if result.state == "failed":
            logger.error(
                "webhook %s: handler %s failed; sent the fallback reply", kind, handler.name, exc_info=result.error
            )
            histogram.errors += 1
            histogram.fallbacks += 1
            return self._fallback(message)
        try:
            reply = convert_reply(message, result.value)
            if reply is None:
                histogram.fallbacks += 1
                return self._fallback(message)
            return body_of(reply)
        except (TypeError, ValueError) as exc:
            logger.error(
                "webhook %s: handler %s returned an unusable reply (%s); sent the fallback", kind, handler.name, exc
            )
            histogram.errors += 1
            histogram.fallbacks += 1
            return self._fallback(message)

    def _fallback(self, message: Message) -> bytes:
        if isinstance(message, ToolCallsMessage):
            return body_of(
                ToolCallsResponse(
                    [ToolCallResult.for_call(c, error="The tool is unavailable.") for c in unique_calls(message)]
                )
            )
        return self._fallbacks[message.type]

    async def _tool_calls(self, message: ToolCallsMessage, deadline: float, reply: _Reply) -> None:
        loop = asyncio.get_running_loop()
        calls = unique_calls(message)
        answers: dict[str, ToolCallResult] = {}
        ready: list[tuple[ToolCall, ToolSpec, dict[str, Any], float]] = []
        for call in calls:
            spec = self._tools.get(call.name, self._default_tool)
            counters = self._stats.tool(short(call.name))
            counters["calls"] += 1
            if spec is None:
                counters["errors"] += 1
                logger.warning("webhook tool-calls: no function for tool %r", short(call.name))
                answers[call.id] = ToolCallResult.for_call(call, error=f"No handler for tool {short(call.name)!r}.")
                continue
            kwargs, problem = bind_arguments(spec, call, message)
            if problem is not None:
                counters["errors"] += 1
                answers[call.id] = ToolCallResult.for_call(call, error=f"Invalid arguments: {problem}.")
                continue
            timeout_s = spec.timeout_s if spec.timeout_s is not None else self._tool_timeout_s
            ready.append(
                (call, spec, kwargs, deadline if timeout_s is None else min(deadline, loop.time() + timeout_s))
            )
        if len(calls) == 1 and len(ready) == 1 and ready[0][1].handler.kind == "async":
            await self._inline_tool(*ready[0], reply)
            return
        alarm = _Alarm()
        running = {self._start(spec.handler, (), kwargs, alarm): (call, spec, own) for call, spec, kwargs, own in ready}
        while running:
            now = loop.time()
            for future in [f for f, (_, _, own) in running.items() if own <= now and not f.done()]:
                call, spec, own = running.pop(future)
                self._abandon(future)
                answers[call.id] = self._tool_late(call, spec)
            if not running:
                break
            if not any(future.done() for future in running):
                await alarm.wait(min(own for _, _, own in running.values()))
            for future in [f for f in running if f.done()]:
                call, spec, own = running.pop(future)
                if spec.handler.kind == "sync" and not future.cancelled() and future.exception() is None:
                    value = future.result()
                    if inspect.isawaitable(value):
                        # A plain function that returned an awaitable: wait for that too.
                        running[asyncio.ensure_future(_ringing(value, alarm))] = (call, spec, own)
                        continue
                error = asyncio.CancelledError() if future.cancelled() else future.exception()
                answers[call.id] = self._tool_answer(call, None if error else future.result(), error)
        await reply.json(200, body_of(ToolCallsResponse([answers[call.id] for call in calls])))

    async def _inline_tool(
        self, call: ToolCall, spec: ToolSpec, kwargs: dict[str, Any], deadline: float, reply: _Reply
    ) -> None:
        """One ``async def`` tool, awaited in the request's own task (the common case, and the fastest).

        At the deadline a timer sends the timeout reply from a task of its own and cancels this one;
        a tool that ignores the cancellation keeps this task busy, but the reply has left already.
        """
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            reply.json_soon(200, body_of(ToolCallsResponse([self._tool_late(call, spec)])))
            task.cancel()

        timer = asyncio.get_running_loop().call_at(deadline, expire)
        value: Any = None
        error: BaseException | None = None
        try:
            value = await spec.handler.fn(**kwargs)
        except asyncio.CancelledError:
            if not expired:
                raise  # the server is cancelling the request
        except Exception as exc:
            error = exc
        finally:
            timer.cancel()
        if expired:
            task.uncancel()  # our cancellation, delivered (or swallowed by the tool): settled here
            await reply.flush()
            return
        await reply.json(200, body_of(ToolCallsResponse([self._tool_answer(call, value, error)])))

    def _tool_late(self, call: ToolCall, spec: ToolSpec) -> ToolCallResult:
        self._stats.tool(short(call.name))["timeouts"] += 1
        logger.warning("webhook tool-calls: tool %r (%s) timed out", short(call.name), spec.handler.name)
        return ToolCallResult.for_call(call, error=f"The tool {short(call.name)} timed out.")

    def _tool_answer(self, call: ToolCall, value: Any, error: BaseException | None) -> ToolCallResult:
        counters = self._stats.tool(short(call.name))
        if isinstance(error, ToolError):
            counters["errors"] += 1
            return ToolCallResult.for_call(call, error=str(error) or f"The tool {short(call.name)} failed.")
        if error is not None:
            counters["errors"] += 1
            logger.error("webhook tool-calls: tool %r failed", short(call.name), exc_info=error)
            return ToolCallResult.for_call(call, error=f"The tool {short(call.name)} failed ({type(error).__name__}).")
        try:
            return tool_result(call, value)
        except (TypeError, ValueError) as exc:
            counters["errors"] += 1
            logger.error("webhook tool-calls: tool %r returned an unusable value: %s", short(call.name), exc)
            return ToolCallResult.for_call(call, error=f"The tool {short(call.name)} returned an unusable value.")

    async def _voice_reply(self, message: VoiceRequestMessage, arrived: float, receive: Receive, reply: _Reply) -> None:
        histogram = self._stats.histogram("voice-request")
        if self._voice is None:
            logger.warning("webhook voice-request: no voice handler registered; answered 501")
            await reply.error(501, "no voice handler")
            return
        handler, fmt = self._voice
        deadline = arrived + self._reply_budget_s
        result = await self._run(handler, deadline, message)
        if result.state != "ok":
            histogram.errors += 1
            if result.state == "late":
                logger.warning("webhook voice-request: handler %s did not answer in time; answered 504", handler.name)
                await reply.error(504, "voice handler timeout")
                return
            logger.error("webhook voice-request: handler %s failed; answered 500", handler.name, exc_info=result.error)
            await reply.error(500, "voice handler failed")
            return
        stream = pcm_stream(result.value, message.sample_rate, default_format=fmt, executor=self._threads())
        loop = asyncio.get_running_loop()
        send = reply.send
        gone = asyncio.ensure_future(_disconnected(receive))
        step: asyncio.Future[bytes | None] | None = None
        started = False
        try:
            while True:
                step = asyncio.ensure_future(anext(stream, None))
                # The first audio is due by the reply deadline; later chunks may each take the budget.
                alarm = _Alarm()
                step.add_done_callback(alarm.ring)
                gone.add_done_callback(alarm.ring)
                await alarm.wait(loop.time() + self._reply_budget_s if started else deadline)
                step.remove_done_callback(alarm.ring)
                gone.remove_done_callback(alarm.ring)
                if not step.done():
                    self._abandon(step)
                    if gone.done():
                        self._stats.counters["client_gone"] += 1
                        reply.record(200 if started else 499)
                        return
                    histogram.errors += 1
                    if started:
                        logger.warning("webhook voice-request: audio stalled for %g s; ended it", self._reply_budget_s)
                        break
                    logger.warning("webhook voice-request: no audio within %g s; answered 504", self._reply_budget_s)
                    await reply.error(504, "voice handler timeout")
                    return
                error = step.exception()
                if error is not None:
                    histogram.errors += 1
                    if not started:
                        logger.error("webhook voice-request: the audio failed; answered 500", exc_info=error)
                        await reply.error(500, "voice handler failed")
                        return
                    logger.error("webhook voice-request: the audio failed mid-stream; ended it early", exc_info=error)
                    break
                chunk = step.result()
                if not started:
                    started = True
                    await send({"type": "http.response.start", "status": 200, "headers": [_OCTET_STREAM_HEADER]})
                if chunk is None:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            reply.record(200)
        finally:
            gone.cancel()
            # A chunk still being produced was cancelled; the generator closes itself when it sees that.
            if step is None or step.done():
                await _close_quietly(stream)


class _Reply:
    """The response to one request: sent exactly once, by the request or by a timer at a deadline.

    Sending also records the status and the latency in the router's stats, and resolves ``on_sent``
    (the idempotency cache's entry) with the status and body.
    """

    __slots__ = ("_started", "_stats", "_task", "label", "on_sent", "send", "status")

    def __init__(self, stats: RouterStats, send: Send, started: float) -> None:
        self._stats = stats
        self._started = started
        # The raw ASGI send (streamed replies use it directly), and the task of a reply sent "soon".
        self.send = send
        self._task: asyncio.Task[None] | None = None
        # The message type, once known (the latency histogram's key), and the status once decided.
        self.label: str | None = None
        self.status: int | None = None
        self.on_sent: asyncio.Future[tuple[int, bytes]] | None = None

    def record(self, status: int, body: bytes = b"") -> None:
        """Count the reply (once): status, latency since arrival, and ``on_sent``."""
        if self.status is not None:
            return
        self.status = status
        self._stats.statuses[status] += 1
        if self.label is not None:
            self._stats.histogram(self.label).add((time.perf_counter() - self._started) * 1000)
        if self.on_sent is not None and not self.on_sent.done():
            self.on_sent.set_result((status, body))

    async def json(self, status: int, body: bytes) -> None:
        """Send a JSON body, unless a reply went out already (then wait until it has)."""
        if self.status is not None:
            await self.flush()
            return
        self.record(status, body)
        await send_response(self.send, status, body)

    async def error(
        self, status: int, text: str, extra_headers: Sequence[tuple[bytes, bytes]] = (), *, close: bool = False
    ) -> None:
        """Send ``{"error": text}``; ``close`` drops the connection afterwards."""
        if self.status is not None:
            await self.flush()
            return
        body = json_bytes({"error": text})
        self.record(status, body)
        await send_response(self.send, status, body, extra_headers=extra_headers, close=close)

    def json_soon(self, status: int, body: bytes) -> None:
        """Send a JSON body from a task of its own (from a timer), unless a reply is decided already."""
        if self.status is not None:
            return
        self.record(status, body)
        self._task = asyncio.get_running_loop().create_task(send_response(self.send, status, body))
        self._task.add_done_callback(_consume)

    async def flush(self) -> None:
        """Wait until a reply sent by :meth:`json_soon` has gone out."""
        if self._task is not None:
            with contextlib.suppress(Exception):
                await self._task


def _consume(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.debug("webhook: sending a deadline reply failed", exc_info=task.exception())


class _Alarm:
    """Wakes a request waiting for handlers when one of them ends or its deadline passes.

    A handler's task rings it as its last act (:func:`_ringing`), so the request resumes on the next
    turn of the loop, as with a plain ``await task`` (``asyncio.wait`` takes one turn more, about 10 us
    per request, most of the router's overhead on a tool call). Nothing is cancelled and only the
    private waiter is awaited, so a handler that ignores cancellation cannot hold the request.
    """

    __slots__ = ("_waiter",)

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def ring(self, _: object = None) -> None:
        """Wake the waiting request, if any (usable as a done-callback)."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, deadline: float) -> None:
        """Wait for the next ring, or until ``deadline`` (loop time)."""
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        timer = loop.call_at(deadline, self.ring)
        try:
            await self._waiter
        finally:
            timer.cancel()
            self._waiter = None


async def _ringing(awaitable: Awaitable[Any], alarm: _Alarm) -> Any:
    try:
        return await awaitable
    finally:
        alarm.ring()


async def _close_quietly(stream: AsyncIterator[bytes]) -> None:
    closer = getattr(stream, "aclose", None)
    if closer is not None:
        with contextlib.suppress(RuntimeError):
            await closer()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _parse(body: bytes) -> Message:
    """The typed message of a webhook body, which must be the ``{"message": {...}}`` envelope."""
    try:
        envelope = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        # The message and position only: exc.doc is the payload.
        raise ProtocolError(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise ProtocolError(f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("malformed JSON: nested too deeply") from None
    if not isinstance(envelope, dict):
        raise ProtocolError("the body must be a JSON object")
    inner = envelope.get("message")
    if not isinstance(inner, dict):
        raise ProtocolError("missing 'message' object")
    kind = inner.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing 'type'", path="message")
    # The decoded object is ours alone, so it is handed to the message class without the deep copy
    # that parse_message() makes of mappings (32 us for a tool-calls body, twice the decoding).
    return REGISTRY.get(kind, UnknownMessage)._build(inner)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")
