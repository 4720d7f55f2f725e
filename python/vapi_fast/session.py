"""A Vapi call over its WebSocket transport: the one asyncio driver of vapi_fast.

A :class:`Session` owns one call's WebSocket and exactly two tasks:

* the **reader** receives frames: binary audio goes through ``Transcoder(wire -> local)`` into the
  :class:`~vapi_fast.audio.JitterBuffer`; text goes through the sans-I/O
  :class:`~vapi_fast.protocol.VapiProtocol` and comes out as typed messages. A barge-in
  (``user-interrupted``, or the user starting to speak) clears the playout buffer right there, before
  any later frame is pushed;
* the **pacer** ticks every 20 ms: it sends the next wire frame of the caller's audio (or silence: Vapi
  wants continuous uplink audio) keeping a small lead over real time, and pops one frame from the
  playout buffer for :meth:`Session.audio`.

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
        ping_interval_s: Keepalive ping period; with ``ping_timeout_s`` it bounds how long a dead peer
            goes unnoticed. ``None`` turns keepalive off.
        ping_timeout_s: How long a ping may go unanswered.
        open_timeout_s: Limit on the WebSocket handshake.
        close_timeout_s: Limit on the closing handshake.
        http_timeout_s: Limit on ``POST /call``.
        max_message_bytes: Largest frame accepted from Vapi.
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
    ping_interval_s: float | None = 5.0
    ping_timeout_s: float | None = 10.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 2.0
    http_timeout_s: float = 10.0
    max_message_bytes: int = 8 * 1024 * 1024
    quality: Quality = "high"


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
        self._wire = wire
        self._local = local
        self._call = dict(call) if call is not None else None
        self._options = options
        self._http = http
        self._loop = asyncio.get_running_loop()
        self._proto = VapiProtocol()
        # Caller -> Vapi: local audio cut into exact 20 ms wire frames; Vapi -> caller: wire audio
        # converted to local, then paced out by the jitter buffer.
        self._uplink, self._downlink = self._make_transcoders(wire, local, options)
        self._silence = bytes([wire.silence_byte]) * wire.bytes_per_frame(FRAME_MS)
        self._jitter = JitterBuffer(
            local,
            frame_ms=FRAME_MS,
            min_delay_ms=options.jitter_min_delay_ms,
            max_delay_ms=options.jitter_max_delay_ms,
            initial_delay_ms=options.jitter_initial_delay_ms,
            percentile=options.jitter_percentile,
        )
        # Wire frames waiting for the pacer, and how many may wait.
        self._outq: collections.deque[bytes] = collections.deque()
        self._outq_limit = max(1, options.send_queue_ms // FRAME_MS)
        self._outq_room = asyncio.Event()
        # Media time sent so far, ms, against the pacer's clock.
        self._sent_ms = 0.0
        # Local frames for audio() consumers; counted while at least one consumer listens.
        self._audio_q: collections.deque[bytes] = collections.deque()
        self._audio_ready = asyncio.Event()
        self._audio_consumers = 0
        # Messages for messages() consumers.
        self._msg_q: collections.deque[Message] = collections.deque()
        self._msg_ready = asyncio.Event()
        self._msg_consumers = 0
        self._callbacks: dict[str, list[Callback]] = {}
        # turnIds named by user-interrupted: their late model-output is dropped.
        self._interrupted_turns: collections.deque[str] = collections.deque(maxlen=32)
        # How the session ended; set once.
        self._ended: CallEnded | ConnectionLost | None = None
        self._ended_event = asyncio.Event()
        self._closing = False
        self._lateness_ms: collections.deque[float] = collections.deque(maxlen=3000)
        self._flush_latency_us: collections.deque[float] = collections.deque(maxlen=256)
        self._counts: collections.Counter[str] = collections.Counter()
        self._skip_logged = 0
        self._reader = asyncio.create_task(self._read(), name="vapi_fast.session.reader")
        self._pacer = asyncio.create_task(self._pace(), name="vapi_fast.session.pacer")

    # Construction

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
        """The playout buffer (for inspection; the session drives it)."""
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
        self._counts["audio_frames_queued"] += len(frames)
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

        Messages are kept from the start of the call (up to ``message_queue_size``), so a consumer
        that starts late misses nothing; several consumers share one queue (each message goes to one).

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
            await asyncio.gather(self._reader, self._pacer, return_exceptions=True)
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
            current = asyncio.current_task()
            for task in (self._pacer, self._reader):
                if task is not current:
                    task.cancel()
            await asyncio.gather(*(t for t in (self._pacer, self._reader) if t is not current), return_exceptions=True)
            await self._ws.close()
            self._finish(None)
            if self._http is not None:
                await self._http.aclose()

    def stats(self) -> dict[str, Any]:
        """Counters of the session: frames sent and received, lateness, playout buffer, barge-ins."""
        lateness = list(self._lateness_ms)
        flush = list(self._flush_latency_us)
        c = self._counts
        return {
            "frames_sent": c["frames_sent"],
            "silence_frames_sent": c["silence_frames_sent"],
            "audio_frames_queued": c["audio_frames_queued"],
            "audio_frames_pending": len(self._outq),
            "binary_messages_received": c["binary_messages_received"],
            "bytes_received": c["bytes_received"],
            "frames_played": c["frames_played"],
            "audio_frames_dropped": c["audio_frames_dropped"],
            "messages_received": c["messages_received"],
            "messages_skipped": c["messages_skipped"],
            "messages_dropped": c["messages_dropped"],
            "model_output_dropped": c["model_output_dropped"],
            "callback_errors": c["callback_errors"],
            "barge_ins": c["barge_ins"],
            "flushed_ms": c["flushed_ms"],
            "flush_latency_us_p50": _percentile(flush, 0.5),
            "flush_latency_us_max": max(flush) if flush else None,
            "pacer_resyncs": c["pacer_resyncs"],
            "lateness_ms_p50": _percentile(lateness, 0.5),
            "lateness_ms_p99": _percentile(lateness, 0.99),
            "jitter": self._jitter.stats(),
        }

    # Tasks

    async def _pace(self) -> None:
        lead_ms = float(self._options.send_lead_ms)
        start = self._loop.time()
        tick = 0
        try:
            while True:
                now = self._loop.time()
                due = start + tick * FRAME_MS / 1000
                late_s = now - due
                if late_s > 0.2:
                    # The loop was blocked: catch up by skipping ticks rather than bursting frames.
                    skipped = int(late_s * 1000 // FRAME_MS)
                    tick += skipped
                    self._sent_ms = max(self._sent_ms, (tick * FRAME_MS))
                    self._counts["pacer_resyncs"] += 1
                    late_s -= skipped * FRAME_MS / 1000
                self._lateness_ms.append(late_s * 1000)
                elapsed_ms = (now - start) * 1000
                while self._sent_ms < elapsed_ms + lead_ms:
                    if self._outq:
                        frame = self._outq.popleft()
                    else:
                        frame = self._silence
                        self._counts["silence_frames_sent"] += 1
                    await self._ws.send(frame)
                    self._counts["frames_sent"] += 1
                    self._sent_ms += FRAME_MS
                if len(self._outq) <= self._outq_limit:
                    self._outq_room.set()
                played = self._jitter.pop(now * 1000)
                if self._audio_consumers:
                    if len(self._audio_q) >= self._options.audio_queue_frames:
                        self._audio_q.popleft()
                        self._counts["audio_frames_dropped"] += 1
                    self._audio_q.append(played)
                    self._audio_ready.set()
                self._counts["frames_played"] += 1
                tick += 1
                await asyncio.sleep(max(0.0, start + tick * FRAME_MS / 1000 - self._loop.time()))
        except ConnectionClosed:
            # The reader sees the same close and records how the call ended.
            return
        except Exception as exc:
            # A bug must not leave a call that looks alive but sends nothing.
            logger.exception("the pacer failed")
            await self._abort(f"internal error in the pacer: {type(exc).__name__}: {exc}")

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

    def _on_audio(self, data: bytes) -> None:
        self._counts["binary_messages_received"] += 1
        self._counts["bytes_received"] += len(data)
        local = self._downlink.push(data)
        assert isinstance(local, bytes)
        self._jitter.push(local, self._loop.time() * 1000)

    async def _on_text(self, text: str) -> None:
        received = time.perf_counter()
        self._proto.receive_text(text)
        for event in self._proto.events_received():
            if isinstance(event, MessageSkipped):
                self._counts["messages_skipped"] += 1
                if self._skip_logged < 10:
                    self._skip_logged += 1
                    logger.warning("skipped a message from Vapi: %s", event.reason)
                continue
            if not isinstance(event, Message):
                continue
            if event.is_barge_in:
                self._barge_in(event, received)
            if isinstance(event, ModelOutputMessage) and event.turn_id in self._interrupted_turns:
                self._counts["model_output_dropped"] += 1
                continue
            self._counts["messages_received"] += 1
            # Queued even before anyone listens, so messages() started late still sees the call
            # from its start; a reader that never comes costs at most message_queue_size messages.
            # Before anyone listens keep only the start of the call: conversation-update messages
            # carry the whole history, and a session nobody reads must stay small.
            limit = self._options.message_queue_size if self._msg_consumers else 64
            if len(self._msg_q) >= limit:
                self._msg_q.popleft()
                if self._msg_consumers:
                    self._counts["messages_dropped"] += 1
            self._msg_q.append(event)
            self._msg_ready.set()
            for callback in (*self._callbacks.get(event.type, ()), *self._callbacks.get("*", ())):
                try:
                    result = callback(event)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    self._counts["callback_errors"] += 1
                    logger.exception("a callback for %s raised", event.type)

    def _barge_in(self, message: Message, received: float) -> None:
        # Flush before any later frame is pushed: stale assistant audio must not play.
        flushed = self._jitter.clear()
        self._downlink.reset()
        self._audio_q.clear()
        self._flush_latency_us.append((time.perf_counter() - received) * 1e6)
        self._counts["barge_ins"] += 1
        self._counts["flushed_ms"] += int(flushed)
        if isinstance(message, UserInterruptedMessage) and message.turn_id:
            self._interrupted_turns.append(message.turn_id)
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
