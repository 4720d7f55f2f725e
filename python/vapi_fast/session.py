"""A Vapi call over its WebSocket transport: the one asyncio driver of vapi_fast.

A :class:`Session` owns one call's WebSocket, a reader task and a pacer:

* the **reader** receives frames: binary audio goes into the
  :class:`~vapi_fast.audio.JitterBuffer`; text goes through the sans-I/O
  :class:`~vapi_fast.protocol.VapiProtocol` and comes out as typed messages. A barge-in
  (``user-interrupted``, or the user starting to speak) clears the playout buffer right there, before
  any later frame is pushed;
* the **pacer** ticks every 20 ms: it sends the next wire frame of the caller's audio (or silence: Vapi
  wants continuous uplink audio) keeping a small lead over real time, and pops one frame from the
  playout buffer for :meth:`Session.audio`. It is a chain of loop timer callbacks, not a task (a
  task costs half as much again per tick); a send that has to wait for the socket finishes its tick
  in a short-lived task.

``Transcoder(wire -> local)`` sits on whichever side of the playout buffer keeps it smaller: with
mu-law 8 kHz on the wire and PCM 16 kHz locally the buffer holds wire audio (a quarter of the bytes)
and the pacer converts each popped frame; with a wire format larger than the local one the reader
converts on arrival. The audio is the same either way, bit for bit (the tests check both).

Control messages (:meth:`Session.say` and friends) are sent at once from the caller's task, so they
never wait behind queued audio. Uplink audio bypasses ``VapiProtocol``'s audio queue: the pacer owns
the pacing and hands frames straight to the socket, which keeps the per-frame cost low at hundreds
of calls per process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State as _WsState

from ._histogram import MsHistogram
from .audio import AudioFormat, JitterBuffer, Quality, Transcoder
from .errors import CallEnded, CallError, ConnectionLost, VapiFastError
from .protocol import (
    AddMessage,
    AppendContext,
    Control,
    ControlMessage,
    Hangup,
    Message,
    MessageSkipped,
    ModelOutputMessage,
    OutboundBytes,
    OutboundClose,
    OutboundText,
    Say,
    SendTransportMessage,
    State,
    Transfer,
    UserInterruptedMessage,
    VapiProtocol,
)
from .protocol.destinations import TransferDestination

__all__ = ["DEFAULT_BASE_URL", "Session", "SessionOptions"]

logger = logging.getLogger(__name__)

_WS_OPEN = _WsState.OPEN

#: Vapi's API.
DEFAULT_BASE_URL = "https://api.vapi.ai"
#: Every frame on the wire and every frame out of :meth:`Session.audio` lasts this long.
FRAME_MS = 20

Callback = Callable[[Message], Awaitable[None] | None]


@dataclass(frozen=True)
class SessionOptions:
    """Tuning of a :class:`Session`; the defaults suit a phone agent.

    Attributes:
        send_lead_ms: How far ahead of real time the pacer keeps the uplink (absorbs scheduling hiccups).
        send_queue_ms: Caller audio :meth:`Session.send_audio` may queue before it waits for room.
        jitter_min_delay_ms: Lowest playout delay the jitter buffer targets.
        jitter_max_delay_ms: Highest playout delay the jitter buffer targets.
        jitter_initial_delay_ms: Playout delay before the buffer has measured anything.
        jitter_percentile: Quantile of arrival lateness the buffer's delay covers.
        audio_queue_frames: Frames kept for a slow :meth:`Session.audio` consumer before the oldest
            are dropped (and counted).
        message_queue_size: Messages kept for a slow :meth:`Session.messages` consumer likewise.
        message_backlog: Messages kept while no :meth:`Session.messages` consumer runs (the latest
            ones), so a consumer that starts a little late still sees them. Small on purpose: a
            call nobody reads messages from (callbacks only, say) must stay small, and
            ``conversation-update`` messages carry the whole history.
        ping_interval_s: Keepalive ping period; with ``ping_timeout_s`` it bounds how long a dead peer
            goes unnoticed. ``None`` turns keepalive off.
        ping_timeout_s: How long a ping may go unanswered.
        open_timeout_s: Limit on the WebSocket handshake.
        close_timeout_s: Limit on the closing handshake.
        http_timeout_s: Limit on ``POST /call``.
        max_message_bytes: Largest frame accepted from Vapi.
        read_size_bytes: Most bytes read from the socket at once. CPython's selector transport reads
            into a fresh buffer of this size (256 KiB by default) and shrinks it; with hundreds of
            sockets those large short-lived buffers fragment the C heap and the process grows by
            tens of KiB per call per minute. Vapi's audio messages are a few KiB at most; a larger
            message just takes several reads.
        quality: Resampler quality when the wire and local rates differ.
    """

    send_lead_ms: int = 60
    send_queue_ms: int = 2000
    jitter_min_delay_ms: int = 20
    jitter_max_delay_ms: int = 400
    jitter_initial_delay_ms: int = 80
    jitter_percentile: float = 0.95
    audio_queue_frames: int = 50
    message_queue_size: int = 1000
    message_backlog: int = 32
    ping_interval_s: float | None = 5.0
    ping_timeout_s: float | None = 10.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    http_timeout_s: float = 10.0
    max_message_bytes: int = 8 * 1024 * 1024
    read_size_bytes: int = 4096
    quality: Quality = "high"

    def __post_init__(self) -> None:
        if self.message_queue_size < 1:
            raise ValueError(f"message_queue_size must be at least 1, not {self.message_queue_size}")
        if self.message_backlog < 0:
            raise ValueError(f"message_backlog must be at least 0, not {self.message_backlog}")
        if self.read_size_bytes < 1024:
            raise ValueError(f"read_size_bytes must be at least 1024, not {self.read_size_bytes}")


@dataclass(slots=True)
class _Counts:
    """The session's counters (slotted attributes: cheaper per call than a Counter's dict)."""

    frames_sent: int = 0
    silence_frames_sent: int = 0
    audio_frames_queued: int = 0
    binary_messages_received: int = 0
    bytes_received: int = 0
    frames_played: int = 0
    audio_frames_dropped: int = 0
    messages_received: int = 0
    messages_skipped: int = 0
    messages_dropped: int = 0
    model_output_dropped: int = 0
    callback_errors: int = 0
    barge_ins: int = 0
    flushed_ms: int = 0
    pacer_resyncs: int = 0


class _Signal:
    """``asyncio.Event``'s set / clear / wait with its waiters in a list: an Event's deque costs
    about 600 bytes even when nobody waits, and a Session has four."""

    __slots__ = ("_is_set", "_waiters")

    def __init__(self) -> None:
        self._is_set = False
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._is_set

    def set(self) -> None:
        if not self._is_set:
            self._is_set = True
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._is_set = False

    async def wait(self) -> None:
        if self._is_set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            self._waiters.remove(waiter)


#: Barge-in flush latencies kept for stats().
_KEEP_FLUSH_LATENCIES = 256
#: turnIds of interrupted turns remembered (their late model-output is dropped).
_KEEP_INTERRUPTED_TURNS = 32


def _limit_read_size(ws: ClientConnection, size: int) -> None:
    transport = ws.transport
    # Only CPython's selector transport allocates a `max_size` buffer per read (uvloop, for one,
    # reuses a single buffer): leave any other transport as it is.
    if isinstance(getattr(type(transport), "max_size", None), int):
        setattr(transport, "max_size", size)  # noqa: B010 - not a declared attribute


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Session:
    """One Vapi call over the WebSocket transport, with audio in the caller's own format.

    Build one with :meth:`create` (creates the call) or :meth:`connect` (joins a call by its
    ``websocketCallUrl``); use it as an async context manager or call :meth:`close`.

    Audio: :meth:`send_audio` takes ``local``-format audio of any size; :meth:`audio` yields
    ``local``-format frames, one every 20 ms (concealment when Vapi's audio is late, silence when
    there is none). Messages: :meth:`messages` yields typed messages; :meth:`on` registers callbacks.

    A Session belongs to the event loop that created it.
    """

    # Slots: no per-instance dict (hundreds of Sessions per process), faster attribute access.
    __slots__ = (
        "_audio_consumers",
        "_audio_q",
        "_audio_ready",
        "_call",
        "_callbacks",
        "_closing",
        "_convert_on_pop",
        "_counts",
        "_downlink",
        "_ended",
        "_ended_event",
        "_fast_send",
        "_flush_latency_us",
        "_http",
        "_interrupted_turns",
        "_jitter",
        "_lateness",
        "_local",
        "_local_frame_bytes",
        "_local_pending",
        "_loop",
        "_msg_consumers",
        "_msg_q",
        "_msg_ready",
        "_options",
        "_outq",
        "_outq_limit",
        "_outq_room",
        "_pace_handle",
        "_pace_start",
        "_pace_stopped",
        "_pace_tick",
        "_pace_waiting",
        "_proto",
        "_reader",
        "_sent_ms",
        "_silence",
        "_skip_logged",
        "_uplink",
        "_wire",
        "_ws",
    )

    def __init__(
        self,
        ws: ClientConnection,
        *,
        wire: AudioFormat,
        local: AudioFormat,
        call: Mapping[str, Any] | None,
        options: SessionOptions,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """Internal: use :meth:`create` or :meth:`connect`."""
        self._ws = ws
        # The frame fast path needs these parts of the websockets connection (see _send_frame_now).
        self._fast_send = all(hasattr(ws, name) for name in ("protocol", "send_data", "paused"))
        self._wire = wire
        self._local = local
        self._call = dict(call) if call is not None else None
        self._options = options
        self._http = http
        self._loop = asyncio.get_running_loop()
        self._proto = VapiProtocol()
        # Caller -> Vapi: local audio cut into exact 20 ms wire frames. Vapi -> caller: the jitter
        # buffer holds the more compact of the two formats (see _playout_format): with mu-law 8 kHz
        # on the wire and PCM 16 kHz locally it holds wire audio, a quarter of the bytes, and each
        # popped 20 ms frame is converted to local on the way out, in passes of one frame.
        self._uplink, self._downlink = self._make_transcoders(wire, local, options)
        self._silence = bytes([wire.silence_byte]) * wire.bytes_per_frame(FRAME_MS)
        playout = self._playout_format(wire, local)
        # True: convert after the buffer (it holds wire audio); False: before (it holds local).
        self._convert_on_pop = playout != local
        self._local_frame_bytes = local.bytes_per_frame(FRAME_MS)
        # Converted local audio not yet played (convert_on_pop only); see _to_local_frame.
        self._local_pending = bytearray()
        self._jitter = JitterBuffer(
            playout,
            frame_ms=FRAME_MS,
            min_delay_ms=options.jitter_min_delay_ms,
            max_delay_ms=options.jitter_max_delay_ms,
            initial_delay_ms=options.jitter_initial_delay_ms,
            percentile=options.jitter_percentile,
        )
        # Wire frames waiting for the pacer, and how many may wait.
        self._outq: collections.deque[bytes] = collections.deque()
        self._outq_limit = max(1, options.send_queue_ms // FRAME_MS)
        self._outq_room = _Signal()
        # Media time sent so far, ms, against the pacer's clock.
        self._sent_ms = 0.0
        # Local frames for audio() consumers; counted while at least one consumer listens.
        self._audio_q: collections.deque[bytes] = collections.deque()
        self._audio_ready = _Signal()
        self._audio_consumers = 0
        # Messages for messages() consumers.
        self._msg_q: collections.deque[Message] = collections.deque()
        self._msg_ready = _Signal()
        self._msg_consumers = 0
        self._callbacks: dict[str, list[Callback]] = {}
        # turnIds named by user-interrupted: their late model-output is dropped.
        self._interrupted_turns: list[str] = []
        # How the session ended; set once.
        self._ended: CallEnded | ConnectionLost | None = None
        self._ended_event = _Signal()
        self._closing = False
        # How late each pacer tick ran, ms, for the whole call (a histogram: a call can last hours).
        self._lateness = MsHistogram()
        # The latest barge-in flush latencies (a list: most calls have a few barge-ins, if any).
        self._flush_latency_us: list[float] = []
        self._counts = _Counts()
        self._skip_logged = 0
        self._reader = asyncio.create_task(self._read(), name="vapi_fast.session.reader")
        self._pace_start = self._loop.time()
        self._pace_tick = 0
        self._pace_stopped = False
        # A send of the pacer's that waits for the socket (or the abort after a pacer failure).
        self._pace_waiting: asyncio.Task[None] | None = None
        self._pace_handle: asyncio.Handle | None = self._loop.call_soon(self._tick)

    # Construction

    @staticmethod
    def _playout_format(wire: AudioFormat, local: AudioFormat) -> AudioFormat:
        """The format the jitter buffer holds: the one with fewer bytes per 20 ms (the buffer's
        queue and the converter's working buffers then stay small; the work per second is the
        same either way). Local when they tie, or when the wire format has no whole 20 ms frames.
        A seam for benchmarks that model converting on arrival."""
        try:
            wire_bytes = wire.bytes_per_frame(FRAME_MS)
        except ValueError:
            return local
        return wire if wire_bytes < local.bytes_per_frame(FRAME_MS) else local

    @staticmethod
    def _make_transcoders(wire: AudioFormat, local: AudioFormat, options: SessionOptions) -> tuple[Any, Any]:
        """The (uplink, downlink) converters. Uplink ``push`` returns a list of 20 ms wire frames,
        downlink ``push`` returns bytes; both have ``reset``. A seam for benchmarks that swap in
        another audio path (the objects only need those methods)."""
        return (
            Transcoder(local, wire, frame_ms=FRAME_MS, quality=options.quality),
            Transcoder(wire, local, quality=options.quality),
        )

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        wire: AudioFormat | None = None,
        local: AudioFormat | None = None,
        call: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        options: SessionOptions | None = None,
    ) -> Session:
        """Join a call by its ``transport.websocketCallUrl``.

        Args:
            url: The call's WebSocket URL (treat it as a secret: it is never logged).
            wire: The call's audio format on the socket; default PCM 16 kHz (Vapi's default), or the
                call object's ``transport.audioFormat`` when ``call`` is given.
            local: The format of your side; default the wire format.
            call: The call object, if known (kept as :attr:`call`).
            headers: Extra handshake headers (e.g. ``Authorization``).
            options: Tuning; see :class:`SessionOptions`.

        Raises:
            ConnectionLost: The handshake failed or timed out.
            AudioFormatError: The formats cannot be converted into each other.
        """
        options = options or SessionOptions()
        if wire is None:
            transport = (call or {}).get("transport") or {}
            fmt = transport.get("audioFormat") if isinstance(transport, Mapping) else None
            wire = AudioFormat.from_vapi(dict(fmt) if isinstance(fmt, Mapping) else {})
        local = local or wire
        try:
            ws = await ws_connect(
                url,
                additional_headers=dict(headers or {}),
                compression=None,  # permessage-deflate costs about 4x CPU on audio for nothing
                open_timeout=options.open_timeout_s,
                close_timeout=options.close_timeout_s,
                ping_interval=options.ping_interval_s,
                ping_timeout=options.ping_timeout_s,
                max_size=options.max_message_bytes,
            )
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            raise ConnectionLost(None, f"could not open the call socket: {type(exc).__name__}: {exc}") from exc
        _limit_read_size(ws, options.read_size_bytes)
        try:
            return cls(ws, wire=wire, local=local, call=call, options=options)
        except BaseException:
            await ws.close()
            raise

    @classmethod
    async def create(
        cls,
        api_key: str,
        *,
        assistant_id: str | None = None,
        assistant: Mapping[str, Any] | None = None,
        assistant_overrides: Mapping[str, Any] | None = None,
        wire: AudioFormat | None = None,
        local: AudioFormat | None = None,
        base_url: str = DEFAULT_BASE_URL,
        extra: Mapping[str, Any] | None = None,
        options: SessionOptions | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> Session:
        """Create a call on Vapi (``POST /call`` with the ``vapi.websocket`` transport) and join it.

        Args:
            api_key: Your private API key (sent as ``Authorization: Bearer``; never logged).
            assistant_id: A saved assistant; or pass ``assistant``.
            assistant: A transient assistant definition.
            assistant_overrides: Overrides for the assistant (``variableValues`` and so on).
            wire: The audio format on the socket; default PCM 16 kHz.
            local: The format of your side; default the wire format.
            base_url: Vapi's API (or a :mod:`vapi_fast.mock` server's ``base_url``).
            extra: More fields for the create-call body (``metadata``, ``name``, ...).
            options: Tuning; see :class:`SessionOptions`.
            http: An ``httpx.AsyncClient`` to reuse (a pool shared by many calls); by default a
                client is made for this request.

        Raises:
            CallError: Vapi refused (``status_code`` and ``body`` say why) or answered oddly.
            ConnectionLost: Vapi could not be reached, or the socket did not open.
            ValueError: Neither or both of ``assistant_id`` and ``assistant``.
        """
        if (assistant_id is None) == (assistant is None):
            raise ValueError("pass exactly one of assistant_id and assistant")
        options = options or SessionOptions()
        wire = wire or AudioFormat("pcm_s16le", 16000)
        body: dict[str, Any] = dict(extra or {})
        if assistant_id is not None:
            body["assistantId"] = assistant_id
        else:
            body["assistant"] = dict(assistant or {})
        if assistant_overrides is not None:
            body["assistantOverrides"] = dict(assistant_overrides)
        body["transport"] = {"provider": "vapi.websocket", "audioFormat": wire.to_vapi()}
        headers = {"Authorization": f"Bearer {api_key}"}
        client = http or httpx.AsyncClient(timeout=options.http_timeout_s)
        try:
            response = await client.post(f"{base_url.rstrip('/')}/call", json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ConnectionLost(None, f"POST /call failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if http is None:
                await client.aclose()
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text
        if response.status_code not in (200, 201):
            raise CallError(
                f"POST /call answered {response.status_code}: {answer!r:.300}",
                status_code=response.status_code,
                body=answer,
            )
        url = answer.get("transport", {}).get("websocketCallUrl") if isinstance(answer, dict) else None
        if not isinstance(url, str):
            raise CallError("the call object has no transport.websocketCallUrl", status_code=response.status_code)
        logger.info("created call %s", answer.get("id"))
        return await cls.connect(url, wire=wire, local=local, call=answer, headers=headers, options=options)

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # Properties

    @property
    def call(self) -> dict[str, Any] | None:
        """The call object from ``POST /call`` (or as given to :meth:`connect`)."""
        return self._call

    @property
    def call_id(self) -> str | None:
        """The call's id, when the call object is known."""
        value = (self._call or {}).get("id")
        return value if isinstance(value, str) else None

    @property
    def wire(self) -> AudioFormat:
        """The audio format on the socket."""
        return self._wire

    @property
    def local(self) -> AudioFormat:
        """The audio format of your side."""
        return self._local

    @property
    def ended(self) -> CallEnded | ConnectionLost | None:
        """How the call ended, once it has; ``None`` while it runs."""
        return self._ended

    @property
    def jitter_buffer(self) -> JitterBuffer:
        """The playout buffer (for inspection; the session drives it). Its ``format`` is the more
        compact of ``wire`` and ``local`` (see the module documentation)."""
        return self._jitter

    # Audio

    async def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        """Queue caller audio in the ``local`` format, any size; it is converted to exact 20 ms wire
        frames and sent at real time. Waits (without blocking the loop) while more than
        ``send_queue_ms`` is queued.

        Raises:
            CallEnded: The call has ended.
            ConnectionLost: The connection died.
        """
        self._raise_if_ended()
        frames = self._uplink.push(data)
        assert isinstance(frames, list)
        self._counts.audio_frames_queued += len(frames)
        self._outq.extend(frames)
        while len(self._outq) > self._outq_limit:
            self._outq_room.clear()
            waiter = asyncio.ensure_future(self._outq_room.wait())
            ended = asyncio.ensure_future(self._ended_event.wait())
            try:
                await asyncio.wait([waiter, ended], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
                ended.cancel()
            self._raise_if_ended()

    def clear_audio(self) -> int:
        """Drop caller audio queued but not yet sent; returns the frames dropped."""
        dropped = len(self._outq)
        self._outq.clear()
        self._outq_room.set()
        return dropped

    async def audio(self) -> AsyncIterator[bytes]:
        """Yield Vapi's audio in the ``local`` format, one 20 ms frame per 20 ms.

        Ends when the call ends; a consumer slower than real time loses the oldest frames beyond
        ``audio_queue_frames`` (counted in :meth:`stats`).

        Raises:
            ConnectionLost: The connection died.
        """
        self._audio_consumers += 1
        try:
            while True:
                while self._audio_q:
                    yield self._audio_q.popleft()
                if self._ended is not None:
                    if isinstance(self._ended, ConnectionLost):
                        raise self._ended
                    return
                self._audio_ready.clear()
                await self._audio_ready.wait()
        finally:
            self._audio_consumers -= 1
            if not self._audio_consumers:
                self._audio_q.clear()

    # Messages

    async def messages(self) -> AsyncIterator[Message]:
        """Yield every message Vapi sends on the socket, typed, in order; ends when the call ends.

        While no consumer runs, the latest ``message_backlog`` messages are kept, so a consumer that
        starts right after the call opened misses nothing; start it early (or use :meth:`on`) to see
        every message of a long call. Several consumers share one queue (each message goes to one).

        Raises:
            ConnectionLost: The connection died.
        """
        self._msg_consumers += 1
        try:
            while True:
                while self._msg_q:
                    yield self._msg_q.popleft()
                if self._ended is not None:
                    if isinstance(self._ended, ConnectionLost):
                        raise self._ended
                    return
                self._msg_ready.clear()
                await self._msg_ready.wait()
        finally:
            self._msg_consumers -= 1

    def on(self, message_type: str, callback: Callback) -> Callable[[], None]:
        """Call ``callback(message)`` for every message of ``message_type`` (``"*"``: every message).

        Callbacks run on the reader task in arrival order; a coroutine callback is awaited there, so
        keep them short (incoming audio waits meanwhile; playout does not). An exception in a callback
        is logged and does not end the call.

        Returns:
            A function that unregisters the callback.
        """
        self._callbacks.setdefault(message_type, []).append(callback)

        def remove() -> None:
            callbacks = self._callbacks.get(message_type, [])
            if callback in callbacks:
                callbacks.remove(callback)

        return remove

    # Control

    async def send(self, message: ControlMessage) -> None:
        """Send any control message now, ahead of queued audio.

        Raises:
            CallEnded: The call has ended.
            ConnectionLost: The connection died.
        """
        self._raise_if_ended()
        if self._closing:
            raise CallEnded(None, "the session is closing")
        self._proto.send_control(message)
        await self._flush_outbound()

    async def say(
        self,
        content: str,
        *,
        end_call_after_spoken: bool | None = None,
        interruptions_enabled: bool | None = None,
        interrupt_assistant_enabled: bool | None = None,
    ) -> None:
        """Make the assistant say ``content``."""
        await self.send(
            Say(
                content,
                end_call_after_spoken=end_call_after_spoken,
                interruptions_enabled=interruptions_enabled,
                interrupt_assistant_enabled=interrupt_assistant_enabled,
            )
        )

    async def add_message(self, role: str, content: str, *, trigger_response_enabled: bool | None = None) -> None:
        """Append a message to the conversation (``trigger_response_enabled=False``: silently)."""
        await self.send(AddMessage(role, content, trigger_response_enabled=trigger_response_enabled))

    async def mute_assistant(self) -> None:
        """Stop the assistant's audio."""
        await self.send(Control("mute-assistant"))

    async def unmute_assistant(self) -> None:
        """Resume the assistant's audio."""
        await self.send(Control("unmute-assistant"))

    async def mute_customer(self) -> None:
        """Make Vapi ignore the caller's audio."""
        await self.send(Control("mute-customer"))

    async def unmute_customer(self) -> None:
        """Make Vapi listen to the caller again."""
        await self.send(Control("unmute-customer"))

    async def say_first_message(self) -> None:
        """Speak a first message that was held back."""
        await self.send(Control("say-first-message"))

    async def transfer(self, destination: TransferDestination | None = None, *, content: str | None = None) -> None:
        """Transfer the call (``content`` is said first)."""
        await self.send(Transfer(destination=destination, content=content))

    async def send_transport_message(self, message: SendTransportMessage) -> None:
        """Send a SIP or Twilio transport message (SIP/Twilio calls only)."""
        await self.send(message)

    async def append_context(self, kind: str, content: str) -> None:
        """Add ``commentary``, ``thinking`` or ``instructions`` context."""
        await self.send(AppendContext(kind, content))

    async def end_call(self) -> None:
        """End the call cleanly (``end-call``, then close the socket) and wait for the tasks to stop."""
        await self.close(end_call=True)

    async def hangup(self) -> None:
        """Send ``hangup`` (an undocumented alias of ``end-call`` on this transport), then close."""
        if self._ended is None and not self._closing:
            try:
                await self.send(Hangup())
            except (VapiFastError, ConnectionClosed):
                pass
        await self.close(end_call=False)

    # Lifetime

    async def wait_closed(self) -> CallEnded | ConnectionLost:
        """Wait until the call ends; returns how it ended (it does not raise it)."""
        await self._ended_event.wait()
        assert self._ended is not None
        return self._ended

    async def close(self, *, end_call: bool = True) -> None:
        """End the session: send ``end-call`` (unless told not to), close the socket, stop both tasks.

        Idempotent and safe to call from any task of the loop; returns once nothing is left running.
        """
        if self._closing:
            await self._ended_event.wait()
            await asyncio.gather(*self._tasks(), return_exceptions=True)
            return
        self._closing = True
        try:
            if self._ended is None and self._proto.state is not State.CLOSED:
                self._proto.close(end_call=end_call)
                try:
                    async with asyncio.timeout(self._options.close_timeout_s):
                        await self._flush_outbound()
                except (TimeoutError, ConnectionClosed, OSError):
                    pass
        finally:
            self._stop_pacer()
            current = asyncio.current_task()
            tasks = [t for t in self._tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._ws.close()
            self._finish(None)
            if self._http is not None:
                await self._http.aclose()

    def _tasks(self) -> list[asyncio.Task[None]]:
        waiting = self._pace_waiting
        return [self._reader] if waiting is None else [self._reader, waiting]

    def stats(self) -> dict[str, Any]:
        """Counters of the session: frames sent and received, lateness, playout buffer, barge-ins."""
        flush = list(self._flush_latency_us)
        c = self._counts
        return {
            "frames_sent": c.frames_sent,
            "silence_frames_sent": c.silence_frames_sent,
            "audio_frames_queued": c.audio_frames_queued,
            "audio_frames_pending": len(self._outq),
            "binary_messages_received": c.binary_messages_received,
            "bytes_received": c.bytes_received,
            "frames_played": c.frames_played,
            "audio_frames_dropped": c.audio_frames_dropped,
            "messages_received": c.messages_received,
            "messages_skipped": c.messages_skipped,
            "messages_dropped": c.messages_dropped,
            "model_output_dropped": c.model_output_dropped,
            "callback_errors": c.callback_errors,
            "barge_ins": c.barge_ins,
            "flushed_ms": c.flushed_ms,
            "flush_latency_us_p50": _percentile(flush, 0.5),
            "flush_latency_us_max": max(flush) if flush else None,
            "pacer_resyncs": c.pacer_resyncs,
            "lateness_ms_p50": self._lateness.quantile(0.5),
            "lateness_ms_p99": self._lateness.quantile(0.99),
            "lateness_ms_max": self._lateness.max_ms,
            "jitter": self._jitter.stats(),
        }

    # Tasks

    # The pacer is a chain of timer callbacks rather than a task: each 20 ms tick of each call would
    # otherwise cost a future, an extra loop pass and a task step on top of the timer (about 12 us
    # against 7 us per tick measured with 300 calls). Sends that must wait (backpressure, or a
    # closing connection) finish their tick in a task, and the chain resumes from there.

    def _tick(self) -> None:
        self._pace_handle = None
        if self._pace_stopped:
            return
        try:
            now = self._loop.time()
            late_s = now - (self._pace_start + self._pace_tick * FRAME_MS / 1000)
            if late_s > 0.2:
                # The loop was blocked: catch up by skipping ticks rather than bursting frames.
                skipped = int(late_s * 1000 // FRAME_MS)
                self._pace_tick += skipped
                self._sent_ms = max(self._sent_ms, self._pace_tick * FRAME_MS)
                self._counts.pacer_resyncs += 1
                late_s -= skipped * FRAME_MS / 1000
            self._lateness.add(late_s * 1000)
            due_ms = (now - self._pace_start) * 1000 + self._options.send_lead_ms
            while self._sent_ms < due_ms:
                frame = self._next_uplink_frame()
                if not self._send_frame_now(frame):
                    self._pace_waiting = self._loop.create_task(
                        self._finish_tick(frame, now, due_ms), name="vapi_fast.session.pacer"
                    )
                    return
                self._counts.frames_sent += 1
                self._sent_ms += FRAME_MS
            self._play(now)
        except Exception as exc:
            self._pacer_failed(exc)

    async def _finish_tick(self, frame: bytes, now: float, due_ms: float) -> None:
        """The rest of a tick whose send has to wait for the socket."""
        try:
            while True:
                await self._ws.send(frame)
                self._counts.frames_sent += 1
                self._sent_ms += FRAME_MS
                if self._sent_ms >= due_ms:
                    break
                frame = self._next_uplink_frame()
            self._pace_waiting = None
            self._play(now)
        except ConnectionClosed:
            # The reader sees the same close and records how the call ended.
            self._pace_stopped = True
        except Exception as exc:
            self._pacer_failed(exc)

    def _next_uplink_frame(self) -> bytes:
        if self._outq:
            return self._outq.popleft()
        self._counts.silence_frames_sent += 1
        return self._silence

    def _play(self, now: float) -> None:
        """The second half of a tick: room for the caller, one playout frame, the next tick."""
        if len(self._outq) <= self._outq_limit:
            self._outq_room.set()
        played = self._jitter.pop(now * 1000)
        if self._convert_on_pop:
            played = self._to_local_frame(played)
        if self._audio_consumers:
            if len(self._audio_q) >= self._options.audio_queue_frames:
                self._audio_q.popleft()
                self._counts.audio_frames_dropped += 1
            self._audio_q.append(played)
            self._audio_ready.set()
        self._counts.frames_played += 1
        self._pace_tick += 1
        if not self._pace_stopped:
            self._pace_handle = self._loop.call_at(self._pace_start + self._pace_tick * FRAME_MS / 1000, self._tick)

    def _pacer_failed(self, exc: Exception) -> None:
        # A bug must not leave a call that looks alive but sends nothing.
        logger.error("the pacer failed", exc_info=exc)
        self._stop_pacer()
        self._pace_waiting = self._loop.create_task(
            self._abort(f"internal error in the pacer: {type(exc).__name__}: {exc}"), name="vapi_fast.session.abort"
        )

    def _stop_pacer(self) -> None:
        self._pace_stopped = True
        if self._pace_handle is not None:
            self._pace_handle.cancel()
            self._pace_handle = None

    async def _read(self) -> None:
        lost: ConnectionLost | None = None
        try:
            async for data in self._ws:
                if isinstance(data, bytes):
                    self._on_audio(data)
                else:
                    await self._on_text(data)
        except ConnectionClosed as exc:
            if exc.rcvd is None and exc.sent is not None and exc.sent.code == 1011:
                # websockets gave up on an unanswered ping: the peer is dead or hung.
                lost = ConnectionLost(1011, exc.sent.reason or "keepalive ping timeout")
        except Exception as exc:
            logger.exception("the reader failed")
            await self._abort(f"internal error in the reader: {type(exc).__name__}: {exc}")
            return
        self._proto.receive_eof()
        self._finish(lost)

    def _send_frame_now(self, frame: bytes) -> bool:
        """Write one audio frame straight through the connection's sans-I/O protocol, when nothing
        could make the send wait: the connection is open and the socket applies no backpressure.
        ``ClientConnection.send`` wraps every send in an async context manager that costs about a
        third of the send (measured); at 50 frames a second per call that is the largest cost
        left in the pacer. False means: use ``send``, which waits, raises and closes as usual."""
        ws = self._ws
        if not self._fast_send or ws.protocol.state is not _WS_OPEN or ws.paused:
            return False
        ws.protocol.send_binary(frame)
        ws.send_data()
        return True

    def _on_audio(self, data: bytes) -> None:
        self._counts.binary_messages_received += 1
        self._counts.bytes_received += len(data)
        if not self._convert_on_pop:
            data = self._downlink.push(data)
            assert isinstance(data, bytes)
        self._jitter.push(data, self._loop.time() * 1000)

    def _to_local_frame(self, wire_frame: bytes) -> bytes:
        """One popped wire frame converted to exactly one local frame."""
        converted = self._downlink.push(wire_frame)
        assert isinstance(converted, bytes)
        pending = self._local_pending
        size = self._local_frame_bytes
        if not pending and len(converted) == size:
            return converted  # the steady state: one frame in, one frame out
        pending += converted
        if len(pending) < size:
            # After a (re)start the converter holds back its look-ahead (about a millisecond):
            # play that much silence ahead of the audio, as any resampler's delay does.
            pending[:0] = bytes([self._local.silence_byte]) * (size - len(pending))
        frame = bytes(pending[:size])
        del pending[:size]
        return frame

    async def _on_text(self, text: str) -> None:
        received = time.perf_counter()
        self._proto.receive_text(text)
        for event in self._proto.events_received():
            if isinstance(event, MessageSkipped):
                self._counts.messages_skipped += 1
                if self._skip_logged < 10:
                    self._skip_logged += 1
                    logger.warning("skipped a message from Vapi: %s", event.reason)
                continue
            if not isinstance(event, Message):
                continue
            if event.is_barge_in:
                self._barge_in(event, received)
            if isinstance(event, ModelOutputMessage) and event.turn_id in self._interrupted_turns:
                self._counts.model_output_dropped += 1
                continue
            self._counts.messages_received += 1
            # Queued even before anyone listens, so messages() started a little late still sees
            # them; while nobody listens only a short backlog is kept (see message_backlog).
            limit = self._options.message_queue_size if self._msg_consumers else self._options.message_backlog
            while self._msg_q and len(self._msg_q) >= limit:
                self._msg_q.popleft()
                if self._msg_consumers:
                    self._counts.messages_dropped += 1
            if limit:
                self._msg_q.append(event)
                self._msg_ready.set()
            for callback in (*self._callbacks.get(event.type, ()), *self._callbacks.get("*", ())):
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self._counts.callback_errors += 1
                    logger.exception("a callback for %s raised", event.type)

    def _barge_in(self, message: Message, received: float) -> None:
        # Flush before any later frame is pushed: stale assistant audio must not play.
        flushed = self._jitter.clear()
        self._downlink.reset()
        self._local_pending.clear()
        self._audio_q.clear()
        self._flush_latency_us.append((time.perf_counter() - received) * 1e6)
        if len(self._flush_latency_us) > _KEEP_FLUSH_LATENCIES:
            del self._flush_latency_us[0]
        self._counts.barge_ins += 1
        self._counts.flushed_ms += int(flushed)
        if isinstance(message, UserInterruptedMessage) and message.turn_id:
            self._interrupted_turns.append(message.turn_id)
            if len(self._interrupted_turns) > _KEEP_INTERRUPTED_TURNS:
                del self._interrupted_turns[0]
        logger.debug("barge-in (%s): flushed %.0f ms", message.type, flushed)

    async def _flush_outbound(self) -> None:
        for item in self._proto.data_to_send():
            if isinstance(item, OutboundText):
                await self._ws.send(item.text)
            elif isinstance(item, OutboundBytes):
                await self._ws.send(item.data)
            elif isinstance(item, OutboundClose):
                await self._ws.close()

    async def _abort(self, reason: str) -> None:
        self._finish(ConnectionLost(None, reason))
        with contextlib.suppress(Exception):
            await self._ws.close(1011, "client error")

    def _finish(self, error: CallEnded | ConnectionLost | None) -> None:
        if self._ended is not None:
            return
        if error is None:
            code = self._ws.close_code
            reason = self._ws.close_reason or ""
            report = self._proto.end_of_call_report
            normal = (
                self._closing
                or self._proto.ended_reason is not None
                or self._proto.status == "ended"
                or code in (1000, 1001)
            )
            if normal:
                error = CallEnded(code, reason, self._proto.ended_reason, dict(report.raw) if report else None)
            else:
                error = ConnectionLost(code, reason or "the connection closed without the call ending")
        self._ended = error
        if isinstance(error, ConnectionLost):
            logger.warning("%s", error)
        else:
            logger.info("call ended: %s", error.ended_reason)
        self._ended_event.set()
        self._audio_ready.set()
        self._msg_ready.set()
        self._outq_room.set()

    def _raise_if_ended(self) -> None:
        if self._ended is not None:
            raise self._ended
