"""One mock call: its state, its record of what happened, and the assistant behind its WebSocket."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import itertools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

import numpy as np
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ..audio import AudioFormat
from ._audio import SpeechStarted, TurnDetector, TurnEnded, plan_chunks, synth_speech
from ._config import MockBehaviour, MockFaults
from ._webhooks import WebhookDelivery

__all__ = ["CallEvent", "MockCall"]

logger = logging.getLogger(__name__)

JsonObject: TypeAlias = dict[str, Any]

#: Ended reasons the mock uses (all are real Vapi values).
CUSTOMER_ENDED = "customer-ended-call"
SPOKEN_AND_ENDED = "assistant-ended-call-after-message-spoken"
FORWARDED = "assistant-forwarded-call"
MAX_DURATION = "exceeded-max-duration"
WORKER_DIED = "call.in-progress.error-vapifault-worker-died"
NEVER_CONNECTED = "call.in-progress.error-vapifault-transport-never-connected"
SHUTDOWN = "worker-shutdown"

_ORG_ID = "00000000-0000-4000-8000-00000000f00d"
_ASSISTANT_NAME = "vapi_fast mock assistant"
#: How long a graceful close may take before the connection is aborted, in ms.
_CLOSE_GRACE_MS = 5000


def now_iso() -> str:
    """The current UTC time as Vapi writes it: ISO 8601 with milliseconds and ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms() -> int:
    """The current Unix time in ms, for ``timestamp`` fields."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class CallEvent:
    """One entry of :attr:`MockCall.timeline`: ``at_ms`` after the socket connected (0 before)."""

    at_ms: float
    kind: str
    detail: JsonObject = field(default_factory=dict)


@dataclass
class _Utterance:
    text: str
    turn_id: str
    interruptible: bool
    duration_ms: float
    plan: list[tuple[float, bytes]]
    turn: int = 0
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True)
class _Speak:
    text: str
    source: Literal["force-say", "model"]
    interruptible: bool
    end_call_after: bool = False


@dataclass(frozen=True)
class _ToolCall:
    turn: int


@dataclass(frozen=True)
class _Transfer:
    destination: JsonObject
    content: str | None
    handoff: bool


_Job: TypeAlias = _Speak | _ToolCall | _Transfer


@dataclass(frozen=True)
class _Close:
    code: int
    reason: str


@dataclass(frozen=True)
class _Frame:
    payload: str | bytes
    kind: str  # "json", "audio", "raw"
    utterance: _Utterance | None = None
    message: JsonObject | None = None


PostEvent: TypeAlias = Callable[["MockCall", JsonObject], None]
RequestTool: TypeAlias = Callable[["MockCall", JsonObject], Awaitable[str | None]]
Spawn: TypeAlias = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class MockCall:
    """A call created with ``POST /call``: its state and a record of everything that happened.

    Created by :class:`~vapi_fast.mock.MockVapi`; tests read its attributes and may inject faults
    with its methods. Lists only grow; times are ms since the socket connected.

    Attributes:
        id: the call id.
        format: the wire audio format (both directions).
        request: the ``POST /call`` body.
        behaviour: the effective behaviour (the server's, with per-call assistant overrides).
        faults: the faults injected into this call.
        status: ``queued``, ``in-progress``, ``forwarding`` or ``ended``.
        ended_reason: why the call ended (``None`` until it has).
        close_code: the close code the mock sent (``None`` if it aborted or never closed).
        connected: set when the socket connects.
        ended: set when the call has ended and the socket is closed.
        sent: every JSON message written to the socket, in order.
        sent_raw: every non-JSON text frame written (malformed-JSON faults).
        audio_chunks: the size of every binary frame written, in order.
        controls: every well-formed control message received.
        invalid_messages: text frames received that were not a JSON object with a string ``type``.
        caller_frames: the size of every binary frame received.
        barge_ins: when the caller interrupted the assistant.
        caller_turns: the caller turns detected, in caller audio time.
        webhooks: every server URL delivery.
        history: the conversation, as Vapi's ``messages``.
        timeline: notable events (messages, controls, faults, barge-ins, the end).
    """

    def __init__(
        self,
        call_id: str,
        fmt: AudioFormat,
        request: JsonObject,
        behaviour: MockBehaviour,
        faults: MockFaults,
        *,
        websocket_url: str,
        seed: int,
        post_event: PostEvent,
        request_tool: RequestTool,
        has_server_url: bool,
    ) -> None:
        self.id = call_id
        self.format = fmt
        self.request = request
        self.behaviour = behaviour
        self.faults = faults
        self.status = "queued"
        self.ended_reason: str | None = None
        self.close_code: int | None = None
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self.sent: list[JsonObject] = []
        self.sent_raw: list[str] = []
        self.audio_chunks: list[int] = []
        self.controls: list[JsonObject] = []
        self.invalid_messages: list[str] = []
        self.caller_frames: list[int] = []
        self.barge_ins: list[float] = []
        self.caller_turns: list[TurnEnded] = []
        self.webhooks: list[WebhookDelivery] = []
        self.history: list[JsonObject] = []
        self.timeline: list[CallEvent] = []
        self.created_at = now_iso()
        self.started_at: str | None = None
        self.ended_at: str | None = None
        self._websocket_url = websocket_url
        self._rng = np.random.default_rng(seed)
        self._post_event = post_event
        self._request_tool = request_tool
        self._has_server_url = has_server_url
        self._openai: list[JsonObject] = []
        # The socket, once connected.
        self._ws: ServerConnection | None = None
        # Loop time when the socket connected.
        self._t0: float | None = None
        # Wall-clock epoch ms when the socket connected (for conversation times).
        self._t0_epoch_ms = 0
        # Outbound frames, written in order by the writer task.
        self._out: asyncio.Queue[_Frame | _Close] = asyncio.Queue()
        # Pending assistant work, run in order by the speaker task.
        self._jobs: collections.deque[_Job] = collections.deque()
        self._jobs_ready = asyncio.Event()
        # The utterance being played, if any.
        self._speaking: _Utterance | None = None
        # Counts every speech turn (assistant and caller), as Vapi's ``turn``.
        self._turn = -1
        # Caller turns completed.
        self._caller_turn_count = 0
        # Assistant replies generated.
        self._reply_count = 0
        self._assistant_muted = False
        self._customer_muted = False
        # Cleared while a stall holds back every outbound frame.
        self._unstalled = asyncio.Event()
        self._unstalled.set()
        self._stall_until = 0.0
        # The first request to end the call wins.
        self._end_requested = asyncio.Event()
        self._end_reason: str | None = None
        self._end_close: tuple[int, str] | None = None
        # Whether status-update ended went through _emit (socket and server URL).
        self._ended_status_emitted = False
        # Timers (stall ends) to cancel when the call ends.
        self._timer_handles: list[asyncio.TimerHandle] = []
        # The turn number of the caller's current speech.
        self._caller_turn = -1
        self._detector = TurnDetector(
            fmt, behaviour.speech_threshold_dbfs, behaviour.caller_speech_min_ms, behaviour.end_of_turn_silence_ms
        )
        self.history.append(
            {"role": "system", "message": behaviour.system_prompt, "time": epoch_ms(), "secondsFromStart": 0}
        )
        self._openai.append({"role": "system", "content": behaviour.system_prompt})

    # ----------------------------------------------------------------------------------------
    # Public: state and on-demand faults

    @property
    def websocket_call_url(self) -> str:
        """The URL to connect to (treat it as a secret, as on Vapi)."""
        return self._websocket_url

    @property
    def assistant_speaking(self) -> bool:
        """An assistant utterance is playing."""
        return self._speaking is not None

    def call_object(self) -> JsonObject:
        """The call as ``GET /call/{id}`` returns it."""
        obj: JsonObject = {
            "id": self.id,
            "orgId": _ORG_ID,
            "createdAt": self.created_at,
            "updatedAt": self.ended_at or self.started_at or self.created_at,
            "type": "vapi.websocketCall",
            "status": self.status,
        }
        for key in ("assistantId", "assistant", "squadId", "squad", "workflowId", "workflow"):
            if key in self.request:
                obj[key] = self.request[key]
        for key in ("assistantOverrides", "name", "metadata", "customer", "customerId"):
            if key in self.request:
                obj[key] = self.request[key]
        obj["transport"] = {
            "provider": "vapi.websocket",
            "audioFormat": self.format.to_vapi(),
            "websocketCallUrl": self._websocket_url,
        }
        if self.started_at:
            obj["startedAt"] = self.started_at
        if self.ended_at:
            obj["endedAt"] = self.ended_at
        if self.ended_reason:
            obj["endedReason"] = self.ended_reason
        obj["cost"] = 0
        return obj

    async def inject_malformed(self) -> None:
        """Send one ``{not json`` text frame now."""
        self._fault("malformed-json")
        self._out.put_nowait(_Frame("{not json", "raw"))

    async def inject_unknown(self) -> None:
        """Send one message of an unknown type (``mock.unknown-event``) now."""
        self._fault("unknown-type")
        message = {"type": "mock.unknown-event", "detail": "a message type no client knows", "timestamp": epoch_ms()}
        self._out.put_nowait(_Frame(json.dumps(message), "json", message=message))

    async def inject_oversize(self, n_bytes: int | None = None) -> None:
        """Send one binary frame of ``n_bytes`` (default ``faults.oversize_frame_bytes``) of silence now."""
        size = self.faults.oversize_frame_bytes if n_bytes is None else n_bytes
        self._fault("oversize-frame", bytes=size)
        self._out.put_nowait(_Frame(bytes([self.format.silence_byte]) * size, "raw"))

    async def drop(self) -> None:
        """Abort the TCP connection now, without a close frame; the call ends as if Vapi's worker died."""
        self._fault("drop")
        self._request_end(WORKER_DIED, how="abort")

    def stall(self, stall_ms: float) -> None:
        """Send nothing for ``stall_ms`` from now (what is due meanwhile goes out afterwards)."""
        self._fault("stall", ms=stall_ms)
        loop = asyncio.get_running_loop()
        self._stall_until = max(self._stall_until, loop.time() + stall_ms / 1000)
        self._unstalled.clear()
        self._timer_handles.append(loop.call_at(self._stall_until, self._maybe_unstall))

    async def end(self, reason: str = "assistant-ended-call") -> None:
        """End the call from the assistant's side: ``status-update`` ended, then a normal close.

        Returns once the call has ended. A call not connected yet just ends.
        """
        if self._ws is None:
            self.never_connected(reason)
        else:
            self._request_end(reason)
        await self.ended.wait()

    # ----------------------------------------------------------------------------------------
    # Lifecycle, driven by MockVapi

    def never_connected(self, reason: str = NEVER_CONNECTED) -> None:
        """End a call whose socket has not connected (a later connection is closed at once)."""
        if self.status != "queued":
            return
        self.status = "ended"
        self.ended_reason = reason
        self.ended_at = now_iso()
        self._event("ended", reason=reason)
        self._post_subscribed(self._stamped(self._status_message("ended")))
        self._post_subscribed(self._end_of_call_report())
        self.ended.set()

    def shutdown(self) -> None:
        """The server is closing: end the call promptly (close code 1001)."""
        self._request_end(SHUTDOWN, close=(1001, "server shutting down"))
        self._maybe_unstall(force=True)

    async def serve(self, ws: ServerConnection) -> None:
        """Run the call on its connected socket until it ends; returns after the socket is closed."""
        loop = asyncio.get_running_loop()
        if self.status != "queued":  # ended while the handshake was in flight
            await ws.close(1000, "call ended")
            return
        self._ws = ws
        self._t0 = loop.time()
        self._t0_epoch_ms = epoch_ms()
        self.started_at = now_iso()
        self.status = "in-progress"
        self.connected.set()
        self._event("connected")
        logger.debug("mock call %s connected", self.id)
        self._emit(self._status_message("in-progress"))
        b = self.behaviour
        if b.first_message and b.first_message_mode == "assistant-speaks-first":
            self._enqueue(_Speak(b.first_message, "force-say", b.first_message_interruptions_enabled))
        writer = asyncio.create_task(self._writer(ws), name=f"mock-writer-{self.id}")
        reader = asyncio.create_task(self._reader(ws), name=f"mock-reader-{self.id}")
        helpers = [
            asyncio.create_task(self._speaker(), name=f"mock-speaker-{self.id}"),
            asyncio.create_task(self._timers(), name=f"mock-timers-{self.id}"),
        ]
        try:
            await self._end_requested.wait()
        finally:
            for task in helpers:
                task.cancel()
            results = await asyncio.gather(*helpers, return_exceptions=True)
            self._speaking = None
            self.status = "ended"
            self.ended_reason = self._end_reason or CUSTOMER_ENDED
            self.ended_at = now_iso()
            await self._close_socket(ws, writer)
            reader.cancel()
            results += await asyncio.gather(reader, writer, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):  # a bug in the mock: say so, loudly
                    logger.error("mock call task failed", exc_info=result)
            self._finish()

    async def _close_socket(self, ws: ServerConnection, writer: asyncio.Task[None]) -> None:
        if self._end_close is None or writer.done():
            writer.cancel()
            return
        self._emit(self._status_message("ended"))
        self._ended_status_emitted = True
        self._out.put_nowait(_Close(*self._end_close))
        try:
            async with asyncio.timeout(_CLOSE_GRACE_MS / 1000):
                await asyncio.shield(writer)
        except TimeoutError:
            logger.debug("mock call %s: close timed out; aborting", self.id)
            ws.transport.abort()
        except Exception:
            pass  # serve() logs the writer's failure when it gathers it

    def _finish(self) -> None:
        self._event("ended", reason=self.ended_reason, close_code=self.close_code)
        logger.info("mock call ended: %s", self.ended_reason)
        for handle in self._timer_handles:
            handle.cancel()
        if not self._ended_status_emitted:
            self._post_subscribed(self._stamped(self._status_message("ended")))
        self._post_subscribed(self._end_of_call_report())
        self.ended.set()

    def _request_end(
        self, reason: str, *, how: Literal["close", "abort", "closed"] = "close", close: tuple[int, str] | None = None
    ) -> None:
        """End the call: ``close`` sends status-update ended and a close frame, ``abort`` cuts the TCP
        connection, ``closed`` means the socket is already gone. The first request wins."""
        if self._end_requested.is_set():
            return
        self._end_reason = reason
        if how == "close":
            code = self.faults.close_code
            self._end_close = close or ((code, self.faults.close_reason) if code is not None else (1000, ""))
        else:
            self._end_close = None
            if how == "abort" and self._ws is not None:
                self._ws.transport.abort()
        self._end_requested.set()

    # ----------------------------------------------------------------------------------------
    # Tasks

    async def _writer(self, ws: ServerConnection) -> None:
        try:
            while True:
                item = await self._out.get()
                if isinstance(item, _Close):
                    self.close_code = item.code
                    await ws.close(item.code, item.reason)
                    return
                await self._unstalled.wait()
                utterance = item.utterance
                if utterance is not None and (utterance.cancelled.is_set() or self._assistant_muted):
                    continue  # dropped on barge-in or mute: never reaches the wire
                await ws.send(item.payload)
                if item.kind == "audio":
                    self.audio_chunks.append(len(item.payload))
                elif item.kind == "json" and item.message is not None:
                    self.sent.append(item.message)
                elif isinstance(item.payload, str):
                    self.sent_raw.append(item.payload)
                # raw binary frames (oversize faults) are in the timeline only
        except ConnectionClosed:
            self._request_end(CUSTOMER_ENDED, how="closed")

    async def _reader(self, ws: ServerConnection) -> None:
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self._on_audio(message)
                else:
                    self._on_text(message)
        except ConnectionClosed:
            pass
        self._event("socket-closed" if self._end_requested.is_set() else "socket-closed-by-peer")
        self._request_end(CUSTOMER_ENDED, how="closed")

    async def _speaker(self) -> None:
        low, high = self.behaviour.setup_spike_ms
        await asyncio.sleep(float(self._rng.uniform(low, high)) / 1000)  # the set-up spike
        while True:
            while not self._jobs:
                self._jobs_ready.clear()
                await self._jobs_ready.wait()
            job = self._jobs.popleft()
            if isinstance(job, _Speak):
                spoken = await self._speak(job.text, job.source, job.interruptible)
                if spoken and job.end_call_after:
                    self._request_end(SPOKEN_AND_ENDED)
            elif isinstance(job, _ToolCall):
                await self._tool_call(job.turn)
            else:
                await self._transfer(job)

    async def _timers(self) -> None:
        """Scheduled faults and the maximum call duration, in one task."""
        f = self.faults
        loop = asyncio.get_running_loop()
        assert self._t0 is not None
        queue: list[tuple[float, int, str, float | None]] = []
        order = itertools.count()

        def add(at_ms: float | None, action: str, every_ms: float | None = None) -> None:
            if at_ms is not None:
                heapq.heappush(queue, (at_ms, next(order), action, every_ms))

        add(self.behaviour.max_duration_ms, "max-duration")
        add(f.drop_after_ms, "drop")
        add(f.stall_after_ms, "stall")
        add(f.oversize_frame_at_ms, "oversize")
        add(f.malformed_json_every_ms, "malformed", f.malformed_json_every_ms)
        add(f.unknown_type_every_ms, "unknown", f.unknown_type_every_ms)
        while queue:
            at_ms, _, action, every_ms = heapq.heappop(queue)
            await asyncio.sleep(max(0.0, self._t0 + at_ms / 1000 - loop.time()))
            if action == "max-duration":
                self._event("max-duration")
                self._request_end(MAX_DURATION)
            elif action == "drop":
                await self.drop()
            elif action == "stall":
                self.stall(f.stall_ms)
            elif action == "oversize":
                await self.inject_oversize()
            elif action == "malformed":
                await self.inject_malformed()
            elif action == "unknown":
                await self.inject_unknown()
            if every_ms is not None:
                add(at_ms + every_ms, action, every_ms)

    # ----------------------------------------------------------------------------------------
    # Caller audio and control messages (called by the reader; they never block)

    def _on_audio(self, data: bytes) -> None:
        self.caller_frames.append(len(data))
        if self._customer_muted:
            return
        for event in self._detector.push(data):
            if isinstance(event, SpeechStarted):
                self._on_caller_speech_started()
            else:
                self._on_caller_turn_ended(event)

    def _on_caller_speech_started(self) -> None:
        self._turn += 1
        self._caller_turn = self._turn
        interrupted = self._speaking if self._speaking is not None and self._speaking.interruptible else None
        if interrupted is not None:
            interrupted.cancelled.set()  # first, so no later frame of this turn reaches the wire
            self._speaking = None
            self._drop_queued_speech()
            self.barge_ins.append(self._now_ms())
            self._event("barge-in", turnId=interrupted.turn_id)
        self._emit({"type": "speech-update", "status": "started", "role": "user", "turn": self._turn})
        if interrupted is not None:
            self._emit({"type": "user-interrupted", "turnId": interrupted.turn_id})
            self._emit({"type": "speech-update", "status": "stopped", "role": "assistant", "turn": interrupted.turn})

    def _on_caller_turn_ended(self, turn: TurnEnded) -> None:
        self._caller_turn_count += 1
        self.caller_turns.append(turn)
        n = self._caller_turn_count
        text = f"caller turn {n} ({turn.duration_ms / 1000:.2f} s)"
        self._event("caller-turn", n=n, ms=turn.duration_ms)
        self._emit({"type": "speech-update", "status": "stopped", "role": "user", "turn": self._caller_turn})
        self._emit(
            {
                "type": "transcript",
                "role": "user",
                "transcriptType": "final",
                "transcript": text,
                "isFiltered": False,
                "detectedThreats": [],
                "confidence": 0.9,
                "confidenceSource": "provider",
            }
        )
        self._add_history("user", text, duration_ms=turn.duration_ms)
        self._emit_conversation()
        every = self.behaviour.tool_call_every_n_turns
        if every and self._has_server_url and n % every == 0:
            self._enqueue(_ToolCall(n))
        else:
            self._enqueue(self._reply(f"You spoke for {turn.duration_ms / 1000:.2f} seconds in turn {n}."))

    def _on_text(self, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.invalid_messages.append(text)
            self._event("invalid-control", text=text[:200])
            logger.debug("mock call %s: ignoring a text frame that is not a control message", self.id)
            return
        self.controls.append(message)
        kind = message["type"]
        self._event("control", type=kind)
        handler = getattr(self, "_control_" + kind.replace("-", "_"), None)
        if handler is None:
            logger.debug("mock call %s: ignoring unknown control type %r", self.id, kind)
            return
        try:
            handler(message)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            self._event("invalid-control", type=kind, error=str(exc))
            logger.debug("mock call %s: malformed %s control: %s", self.id, kind, exc)

    def _control_say(self, m: JsonObject) -> None:
        content = m.get("content", m.get("message"))
        if not isinstance(content, str) or not content:
            raise ValueError("say needs a non-empty string content")
        if m.get("interruptAssistantEnabled") is True and self._speaking is not None:
            self._cut_assistant()
        self._enqueue(
            _Speak(content, "force-say", m.get("interruptionsEnabled") is True, m.get("endCallAfterSpoken") is True)
        )

    def _control_add_message(self, m: JsonObject) -> None:
        msg = m["message"]
        role, content = msg["role"], msg["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError("add-message needs message.role and message.content strings")
        self._add_history(role, content)
        self._emit_conversation()
        if m.get("triggerResponseEnabled", True) is not False:
            self._enqueue(self._reply(f"Noted your {role} message."))

    def _control_control(self, m: JsonObject) -> None:
        action = m["control"]
        if action == "mute-assistant":
            self._assistant_muted = True
        elif action == "unmute-assistant":
            self._assistant_muted = False
        elif action == "mute-customer":
            self._customer_muted = True
            self._detector.reset()
        elif action == "unmute-customer":
            self._customer_muted = False
        elif action == "say-first-message":
            b = self.behaviour
            if b.first_message:
                self._enqueue(_Speak(b.first_message, "force-say", b.first_message_interruptions_enabled))
        else:
            raise ValueError(f"unknown control {action!r}")

    def _control_end_call(self, m: JsonObject) -> None:
        self._request_end(CUSTOMER_ENDED)

    _control_hangup = _control_end_call

    def _control_transfer(self, m: JsonObject) -> None:
        destination = m.get("destination")
        if not isinstance(destination, dict):
            raise TypeError("transfer needs a destination object")
        content = m.get("content")
        self._enqueue(_Transfer(destination, content if isinstance(content, str) else None, handoff=False))

    def _control_handoff(self, m: JsonObject) -> None:
        destination = m.get("destination")
        if not isinstance(destination, dict):
            raise TypeError("handoff needs a destination object")
        content = m.get("content")
        self._enqueue(_Transfer(destination, content if isinstance(content, str) else None, handoff=True))

    def _control_append_context(self, m: JsonObject) -> None:
        content = m["content"]
        if not isinstance(content, str):
            raise TypeError("append-context needs a content string")
        self._add_history("system", content)
        self._emit_conversation()
        if m.get("kind") == "commentary":
            self._enqueue(self._reply(content))

    def _control_send_transport_message(self, m: JsonObject) -> None:
        pass  # recorded in controls; there is no transport behind a WebSocket call to send it to

    # ----------------------------------------------------------------------------------------
    # The assistant

    def _reply(self, text: str) -> _Speak:
        self._reply_count += 1
        return _Speak(text, "model", interruptible=True)

    def _enqueue(self, job: _Job) -> None:
        self._jobs.append(job)
        self._jobs_ready.set()

    def _drop_queued_speech(self) -> None:
        kept = [job for job in self._jobs if not isinstance(job, _Speak)]
        self._jobs.clear()
        self._jobs.extend(kept)

    def _cut_assistant(self) -> None:
        """Stop the current utterance without a barge-in (``say`` with ``interruptAssistantEnabled``)."""
        utterance = self._speaking
        if utterance is None:
            return
        utterance.cancelled.set()
        self._speaking = None
        self._emit({"type": "speech-update", "status": "stopped", "role": "assistant", "turn": utterance.turn})

    async def _speak(self, text: str, source: str, interruptible: bool) -> bool:
        """Play one utterance; returns whether it played to the end."""
        loop = asyncio.get_running_loop()
        b = self.behaviour
        seed = int(self._rng.integers(1 << 31))
        audio = synth_speech(self.format, b.reply_ms, seed, b.speech_level_dbfs)
        pacing = "fast" if self.faults.fast_audio else b.pacing
        utterance = _Utterance(
            text,
            str(uuid.uuid4()),
            interruptible,
            float(b.reply_ms),
            plan_chunks(self.format, audio, pacing, self._rng),
        )
        for token in _tokens(text):
            self._emit({"type": "model-output", "output": token, "turnId": utterance.turn_id})
        self._emit({"type": "voice-input", "input": text})
        self._turn += 1
        turn = utterance.turn = self._turn
        self._speaking = utterance
        started_epoch = epoch_ms()
        self._emit({"type": "speech-update", "status": "started", "role": "assistant", "turn": turn})
        start = loop.time()
        for offset_ms, chunk in utterance.plan:
            if await _wait_event_until(utterance.cancelled, start + offset_ms / 1000):
                return False
            if not self._assistant_muted:
                self._out.put_nowait(_Frame(chunk, "audio", utterance))
        if await _wait_event_until(utterance.cancelled, start + utterance.duration_ms / 1000):
            return False
        self._speaking = None
        self._emit({"type": "speech-update", "status": "stopped", "role": "assistant", "turn": turn})
        self._emit({"type": "transcript", "role": "assistant", "transcriptType": "final", "transcript": text})
        self._add_history("bot", text, time_ms=started_epoch, duration_ms=utterance.duration_ms, source=source)
        self._emit_conversation()
        return True

    async def _tool_call(self, caller_turn: int) -> None:
        tool_call_id = "call_" + uuid.uuid4().hex[:24]
        arguments = json.dumps({"city": "Paris"})
        tool_call = {
            "id": tool_call_id,
            "type": "function",
            "function": {"name": "get_weather", "arguments": arguments},
        }
        tool = {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
            "async": False,
            "messages": [{"type": "request-start", "content": "Let me check the weather."}],
            "toolCall": tool_call,
        }
        message = {"type": "tool-calls", "toolCallList": [tool_call], "toolWithToolCallList": [tool]}
        self._emit(message, webhook=False)
        self.history.append(
            {
                "role": "tool_calls",
                "message": "",
                "toolCalls": [tool_call],
                "time": epoch_ms(),
                "secondsFromStart": self._seconds_from_start(),
            }
        )
        self._openai.append({"role": "assistant", "content": "", "tool_calls": [tool_call]})
        result = await self._request_tool(self, self._stamped(message))
        if result is None:
            await self._speak("Sorry, the weather tool did not answer.", "model", True)
            return
        self.history.append(
            {
                "role": "tool_call_result",
                "name": "get_weather",
                "toolCallId": tool_call_id,
                "result": result,
                "time": epoch_ms(),
                "secondsFromStart": self._seconds_from_start(),
            }
        )
        self._openai.append({"role": "tool", "tool_call_id": tool_call_id, "content": result})
        self._emit(
            {
                "type": "tool-calls-result",
                "toolCallResult": {"name": "get_weather", "toolCallId": tool_call_id, "result": result},
            }
        )
        self._emit_conversation()
        self._reply_count += 1
        await self._speak(f"The weather tool says: {result}", "model", True)

    async def _transfer(self, job: _Transfer) -> None:
        if job.content:
            await self._speak(job.content, "force-say", False)
        if job.handoff:
            name = str(job.destination.get("assistantName") or "handoff assistant")
            self._emit(
                {
                    "type": "transfer-update",
                    "destination": job.destination,
                    "fromAssistant": {"name": _ASSISTANT_NAME},
                    "toAssistant": {"name": name},
                }
            )
            self._emit({"type": "assistant.started", "newAssistant": {"name": name}})
            return
        self._emit({"type": "transfer-update", "destination": job.destination})
        self.status = "forwarding"
        forwarding = self._status_message("forwarding")
        forwarding["destination"] = job.destination
        self._emit(forwarding)
        self._request_end(FORWARDED)

    # ----------------------------------------------------------------------------------------
    # Messages

    def _emit(self, message: JsonObject, *, webhook: bool = True) -> None:
        """Send ``message`` on the socket if subscribed, and to the server URL if subscribed there."""
        stamped = self._stamped(message)
        kind = stamped["type"]
        if kind in self.behaviour.client_messages and self._ws is not None:
            self._out.put_nowait(_Frame(json.dumps(stamped, separators=(",", ":")), "json", message=stamped))
        if not webhook:
            return
        subscribed = self.behaviour.server_messages
        if kind in subscribed:
            self._post_event(self, stamped)
        elif kind == "transcript" and stamped.get("transcriptType") == "final":
            final_only = 'transcript[transcriptType="final"]'
            if final_only in subscribed:
                self._post_event(self, {**stamped, "type": final_only})

    def _post_subscribed(self, message: JsonObject) -> None:
        if message["type"] in self.behaviour.server_messages:
            self._post_event(self, message)

    def _stamped(self, message: JsonObject) -> JsonObject:
        return {**message, "timestamp": epoch_ms()}

    def _status_message(self, status: str) -> JsonObject:
        message: JsonObject = {"type": "status-update", "status": status}
        if status == "ended":
            message["endedReason"] = self._end_reason or self.ended_reason or CUSTOMER_ENDED
        return message

    def _emit_conversation(self) -> None:
        self._emit(
            {
                "type": "conversation-update",
                "messages": list(self.history),
                "messagesOpenAIFormatted": list(self._openai),
            }
        )

    def _add_history(
        self,
        role: str,
        text: str,
        *,
        time_ms: int | None = None,
        duration_ms: float | None = None,
        source: str | None = None,
    ) -> None:
        now = epoch_ms()
        start = time_ms if time_ms is not None else now - int(duration_ms or 0)
        entry: JsonObject = {"role": role, "message": text, "time": start}
        if duration_ms is not None:
            entry["endTime"] = start + int(duration_ms)
            entry["duration"] = int(duration_ms)
        entry["secondsFromStart"] = round(max(0, start - self._t0_epoch_ms) / 1000, 3) if self._t0_epoch_ms else 0
        if source is not None:
            entry["source"] = source
        self.history.append(entry)
        openai_role = {"bot": "assistant", "function": "function"}.get(role, role)
        self._openai.append({"role": openai_role, "content": text})

    def _end_of_call_report(self) -> JsonObject:
        transcript = "".join(
            f"{'AI' if m['role'] == 'bot' else 'User'}: {m['message']}\n"
            for m in self.history
            if m["role"] in ("bot", "user")
        )
        duration_s = self._duration_seconds()
        summary = f"Mock call with {self._caller_turn_count} caller turns and {self._reply_count} replies."
        return self._stamped(
            {
                "type": "end-of-call-report",
                "endedReason": self.ended_reason,
                "startedAt": self.started_at,
                "endedAt": self.ended_at,
                "cost": 0,
                "costs": [
                    {"type": "transport", "provider": "vapi.websocket", "minutes": round(duration_s / 60, 4), "cost": 0}
                ],
                "artifact": {
                    "messages": list(self.history),
                    "messagesOpenAIFormatted": list(self._openai),
                    "transcript": transcript,
                },
                "analysis": {"summary": summary},
                "summary": summary,
                "transcript": transcript,
                "messages": list(self.history),
                "durationSeconds": duration_s,
            }
        )

    def _duration_seconds(self) -> float:
        if self._t0 is None:
            return 0.0
        return round(max(0.0, asyncio.get_running_loop().time() - self._t0), 3)

    def _seconds_from_start(self) -> float:
        return round(self._now_ms() / 1000, 3)

    def _now_ms(self) -> float:
        if self._t0 is None:
            return 0.0
        return (asyncio.get_running_loop().time() - self._t0) * 1000

    def _event(self, kind: str, **detail: Any) -> None:
        self.timeline.append(CallEvent(round(self._now_ms(), 3), kind, detail))

    def _fault(self, kind: str, **detail: Any) -> None:
        self._event("fault", fault=kind, **detail)
        logger.debug("mock call %s: fault %s", self.id, kind)

    def _maybe_unstall(self, force: bool = False) -> None:
        if force or asyncio.get_running_loop().time() >= self._stall_until - 1e-6:
            self._stall_until = 0.0
            self._unstalled.set()


async def _wait_event_until(event: asyncio.Event, deadline: float) -> bool:
    """Wait for ``event`` until loop time ``deadline``; returns whether it is set."""
    if event.is_set():
        return True
    if deadline <= asyncio.get_running_loop().time():
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout_at(deadline):
            await event.wait()
    return event.is_set()


def _tokens(text: str) -> list[str]:
    """Split text the way streamed LLM tokens look: words with their leading spaces."""
    words = text.split(" ")
    return [words[0], *(" " + w for w in words[1:])] if text else []
