"""The sans-I/O state machine of one call WebSocket.

:class:`VapiProtocol` does no I/O and keeps no clock: the driver (``vapi_fast.session``) feeds it
what arrives and sends what it hands out, in the manner of ``websockets.protocol``::

    protocol.receive_text(frame)            # or receive_bytes(audio), receive_eof()
    for event in protocol.events_received():
        ...                                 # Message, AudioReceived or MessageSkipped
    protocol.send_control(Say("Hello"))      # or send_audio(frame), close()
    for item in protocol.data_to_send():
        ...                                 # OutboundText, OutboundBytes or OutboundClose

Both getters hand each item over exactly once, in order. Control messages travel on a priority
lane: ``data_to_send()`` returns every pending control frame before any pending audio frame, so a
backlog of audio never delays a ``say`` or an ``end-call``.

Inbound text never raises: malformed JSON, a missing ``type`` or a badly typed field becomes a
:class:`MessageSkipped` event (and a warning in the log, without payload text), and an unknown
``type`` becomes an :class:`~vapi_fast.protocol.UnknownMessage` event.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TypeAlias

from .control import ControlMessage, EndCall
from .errors import ConnectionClosedError, ProtocolError
from .messages import EndOfCallReportMessage, Message, SpeechUpdateMessage, StatusUpdateMessage, parse_message

__all__ = [
    "AudioReceived",
    "Event",
    "MessageSkipped",
    "Outbound",
    "OutboundBytes",
    "OutboundClose",
    "OutboundText",
    "State",
    "VapiProtocol",
]

logger = logging.getLogger(__name__)


class State(enum.IntEnum):
    """The state of a call WebSocket, as the protocol sees it."""

    #: The socket is open and the call is live.
    OPEN = 1
    #: The call is ending: Vapi sent ``status-update`` ``ended``, or :meth:`VapiProtocol.close` was called.
    CLOSING = 2
    #: The socket is closed (:meth:`VapiProtocol.receive_eof`).
    CLOSED = 3


@dataclass(frozen=True, slots=True)
class AudioReceived:
    """A binary frame from Vapi: audio in the call's wire format.

    Attributes:
        data: The audio bytes, as received (the size is not fixed; PCM may even split a sample).
    """

    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"AudioReceived(<{len(self.data)} bytes>)"


@dataclass(frozen=True, slots=True)
class MessageSkipped:
    """A text frame that could not be parsed and was dropped.

    Attributes:
        reason: Why (no payload text; safe to log).
        error: The :class:`~vapi_fast.protocol.ProtocolError` raised by the parser.
    """

    reason: str
    error: ProtocolError = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class OutboundText:
    """A text frame to send (a serialized control message).

    Attributes:
        text: The JSON text.
    """

    text: str


@dataclass(frozen=True, slots=True)
class OutboundBytes:
    """A binary frame to send (audio in the wire format).

    Attributes:
        data: The audio bytes.
    """

    data: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"OutboundBytes(<{len(self.data)} bytes>)"


@dataclass(frozen=True, slots=True)
class OutboundClose:
    """Close the WebSocket now (normal closure): the last item after :meth:`VapiProtocol.close`."""


#: What :meth:`VapiProtocol.events_received` returns.
Event: TypeAlias = Message | AudioReceived | MessageSkipped
#: What :meth:`VapiProtocol.data_to_send` returns.
Outbound: TypeAlias = OutboundText | OutboundBytes | OutboundClose


class VapiProtocol:
    """The sans-I/O protocol of one call WebSocket (one per call; not thread-safe).

    Barge-in: flush queued playback as soon as an event has ``is_barge_in`` set
    (``isinstance(event, Message) and event.is_barge_in``): a ``user-interrupted`` message, or a
    ``speech-update`` of the user starting to speak.

    Sending is allowed while ``OPEN`` and while ``CLOSING`` because Vapi ended the call (the socket
    is still open and frames are harmless). After :meth:`close` or in ``CLOSED`` it raises
    :class:`~vapi_fast.protocol.ConnectionClosedError`.

    Attributes:
        state: The current :class:`State`.
        status: The last ``status-update`` status seen, or ``None``.
        ended_reason: Why the call ended, once a ``status-update`` ``ended`` or an
            ``end-of-call-report`` said so.
        end_of_call_report: The ``end-of-call-report``, if one arrived on this socket (it normally
            goes to the Server URL only).
        assistant_speaking: Whether the assistant is speaking, from ``speech-update`` messages.
    """

    def __init__(self) -> None:
        # Where the call is in its life; only ever moves forward.
        self.state = State.OPEN
        # The last status-update status, for the driver's logs and CallEnded.
        self.status: str | None = None
        # Set by status-update "ended" or end-of-call-report; carried by CallEnded.
        self.ended_reason: str | None = None
        # Kept if Vapi ever sends the report on the socket.
        self.end_of_call_report: EndOfCallReportMessage | None = None
        # From assistant speech-update started/stopped; lets the driver tell a barge-in from a
        # user who simply starts talking.
        self.assistant_speaking = False
        # True once close() was called: no more sends, OutboundClose is queued.
        self._close_requested = False
        # Parsed inbound items, until events_received() hands them over.
        self._events: list[Event] = []
        # The priority lane: control frames, always handed out before audio.
        self._control: deque[OutboundText | OutboundClose] = deque()
        # Audio frames waiting to be handed out, and their total size in bytes.
        self._audio: deque[OutboundBytes] = deque()
        self._audio_bytes = 0

    # Inbound

    def receive_text(self, text: str) -> None:
        """Feed a text frame from Vapi. Never raises for bad content.

        Args:
            text: The frame's text.

        Raises:
            ConnectionClosedError: The protocol is ``CLOSED``.
        """
        self._check_receiving()
        try:
            message = parse_message(text)
        except ProtocolError as exc:
            logger.warning("skipped a text frame: %s", exc.reason)
            self._events.append(MessageSkipped(exc.reason, exc))
            return
        self._on_message(message)
        self._events.append(message)

    def receive_bytes(self, data: bytes | bytearray | memoryview) -> None:
        """Feed a binary frame (audio) from Vapi. Empty frames are ignored.

        Args:
            data: The frame's bytes (copied if not ``bytes``).

        Raises:
            ConnectionClosedError: The protocol is ``CLOSED``.
        """
        self._check_receiving()
        if len(data):
            self._events.append(AudioReceived(bytes(data)))

    def receive_eof(self) -> None:
        """Tell the protocol the socket closed. Moves to ``CLOSED``; calling it again does nothing."""
        if self.state is not State.CLOSED:
            logger.debug("call socket closed (ended_reason=%s)", self.ended_reason)
        self.state = State.CLOSED
        # Nothing can be sent any more.
        self._control.clear()
        self._drop_audio()

    def events_received(self) -> list[Event]:
        """The events parsed since the last call, oldest first; each is returned once."""
        events, self._events = self._events, []
        return events

    # Outbound

    def send_control(self, message: ControlMessage) -> None:
        """Queue a control message on the priority lane.

        Args:
            message: Any control message (``Say``, ``AddMessage``, ``EndCall``, ...).

        Raises:
            ConnectionClosedError: After :meth:`close` or once ``CLOSED``.
            TypeError: ``message`` is not a control message.
        """
        self._check_sending()
        if not isinstance(message, ControlMessage):
            raise TypeError(f"expected a control message, got {type(message).__name__}")
        self._control.append(OutboundText(message.serialize()))

    def send_audio(self, data: bytes | bytearray | memoryview) -> None:
        """Queue an audio frame in the wire format. Empty frames are ignored.

        Args:
            data: The audio (copied if not ``bytes``).

        Raises:
            ConnectionClosedError: After :meth:`close` or once ``CLOSED``.
        """
        self._check_sending()
        if len(data):
            self._audio.append(OutboundBytes(bytes(data)))
            self._audio_bytes += len(data)

    def close(self, *, end_call: bool = True) -> None:
        """End the call from this side: queue ``end-call`` (unless told not to), then a close.

        Audio still waiting to be handed out is dropped: after ``end-call`` it would not be played.
        Calling it again, or once ``CLOSED``, does nothing.

        Args:
            end_call: Send ``{"type": "end-call"}`` before closing (Vapi's clean way to hang up).
        """
        if self._close_requested or self.state is State.CLOSED:
            return
        if end_call:
            self._control.append(OutboundText(EndCall().serialize()))
        self._control.append(OutboundClose())
        self._drop_audio()
        self._close_requested = True
        self.state = State.CLOSING

    def data_to_send(self) -> list[Outbound]:
        """The frames to send since the last call: control frames first, then audio, then a close.

        Each item is returned once. An :class:`OutboundClose` is always the last item.
        """
        items: list[Outbound] = []
        close: OutboundClose | None = None
        while self._control:
            item = self._control.popleft()
            if isinstance(item, OutboundClose):
                close = item
            else:
                items.append(item)
        items.extend(self._audio)
        self._drop_audio()
        if close is not None:
            items.append(close)
        return items

    @property
    def pending_audio_bytes(self) -> int:
        """Bytes of audio queued and not yet handed out by :meth:`data_to_send`."""
        return self._audio_bytes

    # Internals

    def _drop_audio(self) -> None:
        self._audio.clear()
        self._audio_bytes = 0

    def _check_receiving(self) -> None:
        if self.state is State.CLOSED:
            raise ConnectionClosedError("cannot receive: the connection is closed")

    def _check_sending(self) -> None:
        if self.state is State.CLOSED:
            raise ConnectionClosedError("cannot send: the connection is closed")
        if self._close_requested:
            raise ConnectionClosedError("cannot send: close() was called")

    def _on_message(self, message: Message) -> None:
        if isinstance(message, StatusUpdateMessage):
            self.status = message.status
            if message.is_ended:
                self.ended_reason = message.ended_reason or self.ended_reason
                if self.state is State.OPEN:
                    logger.debug("call ended (ended_reason=%s)", self.ended_reason)
                    self.state = State.CLOSING
        elif isinstance(message, SpeechUpdateMessage) and message.role == "assistant":
            self.assistant_speaking = message.status == "started"
        elif isinstance(message, EndOfCallReportMessage):
            self.end_of_call_report = message
            self.ended_reason = message.ended_reason or self.ended_reason
