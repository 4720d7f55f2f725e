"""How the mock assistant behaves (:class:`MockBehaviour`) and which faults it injects (:class:`MockFaults`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from ._audio import Pacing

__all__ = [
    "DEFAULT_CLIENT_MESSAGES",
    "DEFAULT_SERVER_MESSAGES",
    "FirstMessageMode",
    "MockBehaviour",
    "MockFaults",
]

#: What Vapi pushes on the call socket unless ``assistant.clientMessages`` says otherwise.
DEFAULT_CLIENT_MESSAGES: tuple[str, ...] = (
    "conversation-update",
    "function-call",
    "hang",
    "model-output",
    "speech-update",
    "status-update",
    "transfer-update",
    "transcript",
    "tool-calls",
    "user-interrupted",
    "voice-input",
    "workflow.node.started",
    "assistant.started",
)

#: What the mock POSTs to the server URL by default: call status, final transcripts, tool calls
#: and the end-of-call report. Any type the mock emits can be added (``speech-update``,
#: ``conversation-update``, ``user-interrupted``, ``transfer-update``, ``model-output``,
#: ``voice-input``, ``assistant.started``, ``transcript`` for partials and finals).
DEFAULT_SERVER_MESSAGES: tuple[str, ...] = (
    "status-update",
    'transcript[transcriptType="final"]',
    "tool-calls",
    "end-of-call-report",
)

#: ``assistant-speaks-first`` plays the first message after the set-up delay;
#: ``assistant-waits-for-user`` holds it until a ``say-first-message`` control (and replies to the caller).
FirstMessageMode: TypeAlias = Literal["assistant-speaks-first", "assistant-waits-for-user"]

_VALID_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


@dataclass(frozen=True)
class MockBehaviour:
    """The mock assistant's script. All times are milliseconds.

    An inline ``assistant`` in ``POST /call`` (and ``assistantOverrides``) can override
    ``firstMessage``, ``firstMessageMode``, ``firstMessageInterruptionsEnabled``, ``clientMessages``,
    ``serverMessages`` and ``maxDurationSeconds`` per call, as on Vapi.

    Attributes:
        first_message: spoken when the call starts (empty: none).
        first_message_mode: see :data:`FirstMessageMode`.
        first_message_interruptions_enabled: the caller may barge in on the first message
            (Vapi's default is false; replies are always interruptible).
        system_prompt: the first entry of the conversation history.
        reply_ms: length of every assistant utterance's audio.
        speech_level_dbfs: RMS level of the assistant's audio.
        speech_threshold_dbfs: caller audio windows (20 ms) louder than this are speech.
        caller_speech_min_ms: this much consecutive caller speech starts a caller turn.
        end_of_turn_silence_ms: this much caller silence ends the turn.
        pacing: how assistant audio is sent: ``bursty`` (measured Vapi pacing), ``realtime``
            (20 ms frames every 20 ms) or ``fast`` (everything at once).
        setup_spike_ms: (min, max) delay before the first message, drawn per call from the seed.
        tool_call_every_n_turns: every n-th caller turn triggers a ``get_weather`` tool call to the
            server URL, whose result the assistant speaks (0: never; needs a server URL).
        client_messages: message types sent on the call socket.
        server_messages: message types POSTed to the server URL.
        max_duration_ms: the call ends with ``exceeded-max-duration`` after this long connected.
        connect_timeout_ms: a created call nobody connects to ends after this long with
            ``call.in-progress.error-vapifault-transport-never-connected``.
        webhook_timeout_ms: deadline of each server URL request.
    """

    first_message: str = "Hello! This is the vapi_fast mock assistant."
    first_message_mode: FirstMessageMode = "assistant-speaks-first"
    first_message_interruptions_enabled: bool = False
    system_prompt: str = "You are the vapi_fast mock assistant."
    reply_ms: int = 1500
    speech_level_dbfs: float = -20.0
    speech_threshold_dbfs: float = -40.0
    caller_speech_min_ms: int = 60
    end_of_turn_silence_ms: int = 400
    pacing: Pacing = "bursty"
    setup_spike_ms: tuple[int, int] = (340, 500)
    tool_call_every_n_turns: int = 0
    client_messages: tuple[str, ...] = DEFAULT_CLIENT_MESSAGES
    server_messages: tuple[str, ...] = DEFAULT_SERVER_MESSAGES
    max_duration_ms: int = 10 * 60 * 1000
    connect_timeout_ms: int = 20_000
    webhook_timeout_ms: int = 20_000

    def __post_init__(self) -> None:
        if self.pacing not in ("bursty", "realtime", "fast"):
            raise ValueError(f"pacing must be 'bursty', 'realtime' or 'fast', not {self.pacing!r}")
        if self.first_message_mode not in ("assistant-speaks-first", "assistant-waits-for-user"):
            raise ValueError(f"unknown first_message_mode {self.first_message_mode!r}")
        low, high = self.setup_spike_ms
        if not 0 <= low <= high:
            raise ValueError(f"setup_spike_ms must be (min, max) with 0 <= min <= max, not {self.setup_spike_ms}")
        for name in ("reply_ms", "caller_speech_min_ms", "end_of_turn_silence_ms", "tool_call_every_n_turns"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("max_duration_ms", "connect_timeout_ms", "webhook_timeout_ms"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class MockFaults:
    """Faults injected into every call, timed in ms from the moment the call socket connects.

    All are off by default. Each call also has methods to inject them on demand
    (:meth:`MockCall.drop`, :meth:`MockCall.stall`, :meth:`MockCall.inject_malformed`, ...).

    Attributes:
        drop_after_ms: abort the TCP connection (no close frame) at this time.
        stall_after_ms: at this time stop sending anything for ``stall_ms`` (the caller's audio is
            still read; what piles up meanwhile is sent at once afterwards).
        stall_ms: length of that stall.
        malformed_json_every_ms: send a ``{not json`` text frame this often.
        unknown_type_every_ms: send a ``{"type": "mock.unknown-event", ...}`` message this often.
        oversize_frame_at_ms: send one binary frame of ``oversize_frame_bytes`` at this time.
        oversize_frame_bytes: its size; the default is one byte over websockets' default ``max_size``
            (1 MiB), so a client with default limits closes with 1009.
        fast_audio: send all assistant audio at once (overrides the behaviour's pacing).
        close_code: close code for a normal end of call instead of 1000.
        close_reason: close reason sent with ``close_code``.
    """

    drop_after_ms: int | None = None
    stall_after_ms: int | None = None
    stall_ms: int = 1000
    malformed_json_every_ms: int | None = None
    unknown_type_every_ms: int | None = None
    oversize_frame_at_ms: int | None = None
    oversize_frame_bytes: int = (1 << 20) + 1
    fast_audio: bool = False
    close_code: int | None = None
    close_reason: str = ""

    def __post_init__(self) -> None:
        for name in ("drop_after_ms", "stall_after_ms", "oversize_frame_at_ms"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative")
        for name in ("malformed_json_every_ms", "unknown_type_every_ms"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive")
        if self.stall_ms < 0 or self.oversize_frame_bytes <= 0:
            raise ValueError("stall_ms must not be negative and oversize_frame_bytes must be positive")
        if self.close_code is not None and not (
            self.close_code in _VALID_CLOSE_CODES or 3000 <= self.close_code <= 4999
        ):
            raise ValueError(f"close_code {self.close_code} cannot be sent in a close frame")
