"""Typed messages that Vapi sends: WebSocket text frames and Server URL (webhook) events.

:func:`parse_message` turns one message into an instance of the class registered for its ``type``
in :data:`REGISTRY`. It accepts the webhook envelope (``{"message": {...}}``) and the bare object the
call WebSocket carries, as ``str``, ``bytes`` or an already decoded mapping. Dispatch is on
``type`` only, never on shape: an unknown ``type`` gives an :class:`UnknownMessage`, not an error.

Rules every class follows:

* ``raw`` is the complete message object (envelope removed), so fields this module does not type
  are never lost. The message owns it: ``parse_message`` decodes text into a new object and deep
  copies a mapping it is given; the typed fields that hold objects (``call``, ``messages`` items,
  ...) are the same objects as in ``raw``. Treat all of it as read-only.
* Typed fields use snake_case names for the camelCase wire keys. A missing optional field is
  ``None``; a missing array is ``()``; every array is a tuple.
* A typed field present with the wrong JSON type (``"transcript": 3``), and a missing required
  field, raise :class:`~vapi_fast.protocol.ProtocolError` naming the field path. Required fields are
  the ones a message is about (``transcript.transcript``, ``speech-update.status``, ...); each class
  lists its own.
* Enumerations (``role``, ``status``, ``endedReason``, ...) are plain ``str``: Vapi adds values
  without notice, and unknown ones are kept as sent. :mod:`vapi_fast.protocol.enums` lists the
  known ones.
* ``timestamp_ms`` is Unix epoch milliseconds, read from the ``timestamp`` number or from an
  ISO-8601 string (older payloads).
* Legacy types with no schema (``function-call``, ``function-call-result``, ``tool.completed``) get
  classes with no typed fields of their own, so they can be matched by class; read ``raw``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Self, TypeAlias

from ._json import Fields, copy_json, json_type, loads
from .destinations import Destination, parse_destination
from .errors import ProtocolError

__all__ = [
    "REGISTRY",
    "ArtifactUploadResult",
    "AssistantRequestMessage",
    "AssistantSpeechStartedMessage",
    "AssistantStartedMessage",
    "CallArtifactUploadMessage",
    "CallDeleteFailedMessage",
    "CallDeletedMessage",
    "CallEndpointingRequestMessage",
    "CampaignPredialMessage",
    "ChatCreatedMessage",
    "ChatDeletedMessage",
    "ConversationUpdateMessage",
    "EndOfCallReportMessage",
    "FunctionCallMessage",
    "FunctionCallResultMessage",
    "HandoffDestinationRequestMessage",
    "HangMessage",
    "KnowledgeBaseRequestMessage",
    "LanguageChangeDetectedMessage",
    "LanguageChangedMessage",
    "Message",
    "MetadataMessage",
    "ModelOutputMessage",
    "PhoneCallControlMessage",
    "SessionCreatedMessage",
    "SessionDeletedMessage",
    "SessionUpdatedMessage",
    "SpeechUpdateMessage",
    "StatusUpdateMessage",
    "Timing",
    "ToolCall",
    "ToolCallsMessage",
    "ToolCallsResultMessage",
    "ToolCompletedMessage",
    "TranscriptMessage",
    "TransferDestinationRequestMessage",
    "TransferUpdateMessage",
    "UnknownMessage",
    "UserInterruptedMessage",
    "VoiceInputMessage",
    "VoiceRequestMessage",
    "WordAlignmentTiming",
    "WordProgressTiming",
    "WordTimestamp",
    "WorkflowNodeStartedMessage",
    "parse_message",
]


# ---------------------------------------------------------------------------------------------
# Base class


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base class of every message Vapi sends.

    Attributes:
        type: The wire ``type``, exactly as sent.
        raw: The whole message object, envelope removed (owned by this message; read-only).
        timestamp_ms: When Vapi sent it, Unix epoch milliseconds, or ``None``.
        call: The ``call`` object (webhooks; WebSocket frames usually lack it).
        customer: The ``customer`` object.
        assistant: The effective ``assistant`` configuration.
        phone_number: The ``phoneNumber`` object. It may hold provider secrets: never log it.
        artifact: The live ``artifact`` object (messages, transcript, recordings so far).
    """

    #: The wire types this class parses; empty for classes that take any type.
    TYPES: ClassVar[tuple[str, ...]] = ()

    type: str
    raw: dict[str, Any] = field(repr=False)
    timestamp_ms: float | None = None
    call: dict[str, Any] | None = field(default=None, repr=False)
    customer: dict[str, Any] | None = field(default=None, repr=False)
    assistant: dict[str, Any] | None = field(default=None, repr=False)
    phone_number: dict[str, Any] | None = field(default=None, repr=False)
    artifact: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def call_id(self) -> str | None:
        """``call.id`` when the message carries a call object, else ``None``."""
        if self.call is None:
            return None
        value = self.call.get("id")
        return value if isinstance(value, str) else None

    @property
    def is_barge_in(self) -> bool:
        """Whether the user is talking over the assistant: flush queued playback at once.

        True for ``user-interrupted`` and for a ``speech-update`` with role ``user`` and status
        ``started``; false for everything else.
        """
        return False

    @classmethod
    def parse(cls, obj: Mapping[str, Any]) -> Self:
        """Build this class from one bare message object (not the envelope).

        The object is deep-copied first; :func:`parse_message` is the usual entry point.

        Args:
            obj: The decoded message, with its ``type``.

        Returns:
            The typed message.

        Raises:
            ProtocolError: ``obj`` is not a JSON object, its ``type`` is not one this class parses,
                or a typed field is missing or has the wrong JSON type.
        """
        if not isinstance(obj, Mapping):
            raise ProtocolError(f"expected a JSON object, got {json_type(obj)}")
        return cls._build(copy_json(obj))

    @classmethod
    def _build(cls, obj: dict[str, Any]) -> Self:
        # obj is owned by the new message from here on.
        message_type = _message_type(obj)
        if cls.TYPES and message_type not in cls.TYPES:
            raise ProtocolError(f"{cls.__name__} does not parse this type", message_type=message_type)
        f = Fields(obj, "", message_type)
        return cls(
            type=message_type,
            raw=obj,
            timestamp_ms=f.opt_timestamp_ms("timestamp"),
            call=f.opt_object("call"),
            customer=f.opt_object("customer"),
            assistant=f.opt_object("assistant"),
            phone_number=f.opt_object("phoneNumber"),
            artifact=f.opt_object("artifact"),
            **cls._typed_fields(f),
        )

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        """The keyword arguments for this class's own fields, read from ``f``."""
        return {}


def _message_type(obj: Mapping[str, Any]) -> str:
    message_type = obj.get("type")
    if message_type is None:
        raise ProtocolError("missing 'type'")
    if not isinstance(message_type, str):
        raise ProtocolError(f"'type' must be a string, got {json_type(message_type)}")
    if not message_type:
        raise ProtocolError("'type' is empty")
    return message_type


def _history(f: Fields) -> dict[str, Any]:
    return {
        "messages": f.objects("messages"),
        "messages_openai_formatted": f.objects("messagesOpenAIFormatted"),
    }


def _destination(f: Fields, key: str = "destination") -> Destination | dict[str, Any] | None:
    obj = f.opt_object(key)
    return None if obj is None else parse_destination(obj, f.at(key), f.message_type)


# ---------------------------------------------------------------------------------------------
# The 25 channels


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantRequestMessage(Message):
    """``assistant-request``: an inbound call needs an assistant (reply within 7.5 s).

    No fields of its own: read ``call``, ``customer`` and ``phone_number``. Answer with
    :class:`~vapi_fast.protocol.AssistantRequestResponse`.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("assistant-request",)


@dataclass(frozen=True, slots=True)
class WordTimestamp:
    """One word of a ``word-progress`` timing, times relative to the segment start.

    Attributes:
        word: The word.
        start_ms: Start, milliseconds from the segment start.
        end_ms: End, milliseconds from the segment start.
    """

    word: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True, slots=True)
class WordAlignmentTiming:
    """``timing.type == "word-alignment"``: per-word times (ElevenLabs).

    ``words`` includes whitespace entries; advance a character cursor by the joined words. The three
    tuples have the same length when Vapi sends them consistently (not checked).

    Attributes:
        words: The words and whitespace runs.
        words_start_times_ms: Start time of each entry, milliseconds.
        words_end_times_ms: End time of each entry, milliseconds.
    """

    words: tuple[str, ...]
    words_start_times_ms: tuple[float, ...]
    words_end_times_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class WordProgressTiming:
    """``timing.type == "word-progress"``: progress through the turn, per synthesis segment (Minimax).

    Attributes:
        words_spoken: Words spoken so far in the turn.
        total_words: Words in the turn; may be 0 on the first event.
        segment: The text of this segment.
        segment_duration_ms: The segment's duration, milliseconds.
        words: Per-word times inside the segment.
    """

    words_spoken: int
    total_words: int
    segment: str | None = None
    segment_duration_ms: float | None = None
    words: tuple[WordTimestamp, ...] = ()

    @property
    def fraction_spoken(self) -> float | None:
        """``words_spoken / total_words``, or ``None`` while ``total_words`` is 0."""
        return self.words_spoken / self.total_words if self.total_words > 0 else None


#: A typed timing variant, or the raw object for an unknown ``timing.type``.
Timing: TypeAlias = WordAlignmentTiming | WordProgressTiming | dict[str, Any]


def _timing(f: Fields) -> Timing | None:
    t = f.child("timing")
    if t is None:
        return None
    kind = t.any("type")
    if kind == "word-alignment":
        return WordAlignmentTiming(
            words=t.opt_strings("words") or (),
            words_start_times_ms=t.opt_numbers("wordsStartTimesMs") or (),
            words_end_times_ms=t.opt_numbers("wordsEndTimesMs") or (),
        )
    if kind == "word-progress":
        return WordProgressTiming(
            words_spoken=t.req_int("wordsSpoken"),
            total_words=t.req_int("totalWords"),
            segment=t.opt_str("segment"),
            segment_duration_ms=t.opt_number("segmentDurationMs"),
            words=tuple(
                WordTimestamp(w.req_str("word"), w.req_number("startMs"), w.req_number("endMs"))
                for w in t.children("words")
            ),
        )
    return t.obj


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantSpeechStartedMessage(Message):
    """``assistant.speechStarted``: a segment of the assistant's turn starts playing.

    Three variants, told apart by ``timing``: :class:`WordAlignmentTiming`,
    :class:`WordProgressTiming`, or ``None`` (text only). Required: ``text``.

    Attributes:
        text: The turn's text so far (cumulative, not a delta).
        turn: The 0-based turn number.
        source: ``"model"``, ``"force-say"`` or ``"custom-voice"`` (open set).
        timing: The timing variant; the raw object for an unknown ``timing.type``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("assistant.speechStarted",)

    text: str
    turn: int | None = None
    source: str | None = None
    timing: Timing | None = None

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {
            "text": f.req_str("text"),
            "turn": f.opt_int("turn"),
            "source": f.opt_str("source"),
            "timing": _timing(f),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEndpointingRequestMessage(Message):
    """``call.endpointing.request``: how long to wait before the user's turn is over?

    Answer in milliseconds with :class:`~vapi_fast.protocol.EndpointingResponse`.

    Attributes:
        messages: The conversation so far (Vapi format: ``role``, ``message``, ``time``, ...).
        messages_openai_formatted: The conversation in OpenAI chat format.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("call.endpointing.request",)

    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    messages_openai_formatted: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return _history(f)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatCreatedMessage(Message):
    """``chat.created``. Required: ``chat``.

    Attributes:
        chat: The Chat object (``id``, ``orgId``, ``input``, ``messages``, ``output``, ...).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("chat.created",)

    chat: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"chat": f.req_object("chat")}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChatDeletedMessage(Message):
    """``chat.deleted``. Required: ``chat``.

    Attributes:
        chat: The Chat object.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("chat.deleted",)

    chat: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"chat": f.req_object("chat")}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationUpdateMessage(Message):
    """``conversation-update``: the full history, each time something is committed (not a delta).

    Attributes:
        messages: The conversation (Vapi format; roles ``system``, ``bot``, ``user``, ``tool_calls``,
            ``tool_call_result``).
        messages_openai_formatted: The conversation in OpenAI chat format.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("conversation-update",)

    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    messages_openai_formatted: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return _history(f)


@dataclass(frozen=True, slots=True, kw_only=True)
class EndOfCallReportMessage(Message):
    """``end-of-call-report``: sent once after the call ended and post-processing finished.

    Every field is optional. Newer payloads put the call data under ``artifact`` and ``analysis``;
    older ones repeat it at the top level. Each typed field reads the new place first.

    Attributes:
        ended_reason: Why the call ended (open set; see ``enums.ENDED_REASONS``).
        summary: ``analysis.summary``, else top-level ``summary``.
        transcript: ``artifact.transcript``, else top-level ``transcript``.
        recording_url: ``artifact.recordingUrl``, else ``artifact.recording.mono.combinedUrl``, else
            top-level ``recordingUrl``.
        stereo_recording_url: ``artifact.stereoRecordingUrl``, else ``artifact.recording.stereoUrl``,
            else top-level ``stereoRecordingUrl``.
        cost: Total cost, USD.
        costs: The cost breakdown items.
        duration_seconds: Top-level ``durationSeconds``, else ``endedAt - startedAt``.
        started_at_ms: ``startedAt`` as epoch milliseconds.
        ended_at_ms: ``endedAt`` as epoch milliseconds.
        messages: ``artifact.messages``, else top-level ``messages``.
        analysis: The ``analysis`` object.
        destination: Where the call was forwarded, if it was.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("end-of-call-report",)

    ended_reason: str | None = None
    summary: str | None = None
    transcript: str | None = None
    recording_url: str | None = None
    stereo_recording_url: str | None = None
    cost: float | None = None
    costs: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    duration_seconds: float | None = None
    started_at_ms: float | None = None
    ended_at_ms: float | None = None
    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    analysis: dict[str, Any] | None = field(default=None, repr=False)
    destination: Destination | dict[str, Any] | None = None

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        artifact = f.child("artifact") or Fields({}, "artifact", f.message_type)
        analysis = f.child("analysis") or Fields({}, "analysis", f.message_type)
        recording = artifact.child("recording") or Fields({}, "artifact.recording", f.message_type)
        mono = recording.child("mono") or Fields({}, "artifact.recording.mono", f.message_type)
        started = f.opt_timestamp_ms("startedAt")
        ended = f.opt_timestamp_ms("endedAt")
        duration = f.opt_number("durationSeconds")
        if duration is None and started is not None and ended is not None:
            duration = (ended - started) / 1000.0
        messages = artifact.objects("messages") if artifact.has("messages") else f.objects("messages")
        return {
            "ended_reason": f.opt_str("endedReason"),
            "summary": _first(analysis.opt_str("summary"), f.opt_str("summary")),
            "transcript": _first(artifact.opt_str("transcript"), f.opt_str("transcript")),
            "recording_url": _first(
                artifact.opt_str("recordingUrl"), mono.opt_str("combinedUrl"), f.opt_str("recordingUrl")
            ),
            "stereo_recording_url": _first(
                artifact.opt_str("stereoRecordingUrl"), recording.opt_str("stereoUrl"), f.opt_str("stereoRecordingUrl")
            ),
            "cost": f.opt_number("cost"),
            "costs": f.objects("costs"),
            "duration_seconds": duration,
            "started_at_ms": started,
            "ended_at_ms": ended,
            "messages": messages,
            "analysis": analysis.obj if f.has("analysis") else None,
            "destination": _destination(f),
        }


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value is not None), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class HangMessage(Message):
    """``hang``: the assistant has gone quiet because something is slow. No fields of its own."""

    TYPES: ClassVar[tuple[str, ...]] = ("hang",)


@dataclass(frozen=True, slots=True, kw_only=True)
class KnowledgeBaseRequestMessage(Message):
    """``knowledge-base-request``: documents for the model, from your custom knowledge base.

    Answer with :class:`~vapi_fast.protocol.KnowledgeBaseResponse`.

    Attributes:
        messages: The conversation so far (Vapi format).
        messages_openai_formatted: The conversation in OpenAI chat format.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("knowledge-base-request",)

    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    messages_openai_formatted: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return _history(f)


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageChangeDetectedMessage(Message):
    """``language-change-detected``: the transcriber switched language. Required: ``language``.

    Attributes:
        language: The new language code, such as ``"es"``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("language-change-detected",)

    language: str

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"language": f.req_str("language")}


def _output_text(output: object, depth: int = 0) -> str | None:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        for key in ("content", "text", "token"):
            value = output.get(key)
            if isinstance(value, str):
                return value
        return None
    if isinstance(output, list) and depth == 0:
        parts = [text for text in (_output_text(item, 1) for item in output) if text is not None]
        return "".join(parts) if parts else None
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelOutputMessage(Message):
    """``model-output``: a chunk of streamed LLM output. Required: ``output``.

    The schema says ``output`` is an object; live traffic streams plain string tokens. Both are
    accepted (and arrays), and kept as sent.

    Attributes:
        output: The chunk: a token string, or an object/array (tool calls, structured output).
        turn_id: The same for every chunk of one LLM response; ``user-interrupted`` names it.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("model-output",)

    output: str | dict[str, Any] | list[Any]
    turn_id: str | None = None

    @property
    def text(self) -> str | None:
        """The token text: ``output`` itself when a string; for an object its ``content``, ``text`` or
        ``token`` string; for an array the concatenated text of its items; else ``None`` (such as a
        tool-call chunk)."""
        return _output_text(self.output)

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        output = f.any("output")
        if output is None:
            raise f.error("output", "required field is missing")
        if not isinstance(output, str | dict | list):
            raise f.error("output", f"expected a string, an object or an array, got {json_type(output)}")
        return {"output": output, "turn_id": f.opt_str("turnId")}


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneCallControlMessage(Message):
    """``phone-call-control``: Vapi hands a hang-up or forward over to you. Required: ``request``.

    Attributes:
        request: ``"forward"`` or ``"hang-up"`` (open set).
        destination: Where to forward (number or SIP), for ``forward``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("phone-call-control",)

    request: str
    destination: Destination | dict[str, Any] | None = None

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"request": f.req_str("request"), "destination": _destination(f)}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionCreatedMessage(Message):
    """``session.created``. Required: ``session``.

    Attributes:
        session: The Session object (``id``, ``status``, ``messages``, ...).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("session.created",)

    session: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"session": f.req_object("session")}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionUpdatedMessage(Message):
    """``session.updated``. Required: ``session``.

    Attributes:
        session: The Session object.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("session.updated",)

    session: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"session": f.req_object("session")}


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionDeletedMessage(Message):
    """``session.deleted``. Required: ``session``.

    Attributes:
        session: The Session object.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("session.deleted",)

    session: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"session": f.req_object("session")}


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechUpdateMessage(Message):
    """``speech-update``: someone started or stopped talking. Required: ``status``, ``role``.

    Attributes:
        status: ``"started"`` or ``"stopped"`` (open set).
        role: ``"assistant"`` or ``"user"`` (open set).
        turn: The 0-based turn number.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("speech-update",)

    status: str
    role: str
    turn: int | None = None

    @property
    def is_barge_in(self) -> bool:
        """True when the user started talking: the earliest barge-in hint."""
        return self.role == "user" and self.status == "started"

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"status": f.req_str("status"), "role": f.req_str("role"), "turn": f.opt_int("turn")}


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusUpdateMessage(Message):
    """``status-update``: the call's status changed. Required: ``status``.

    Attributes:
        status: ``"queued"``, ``"ringing"``, ``"in-progress"``, ``"forwarding"``, ``"ended"``, ...
            (open set).
        ended_reason: Why the call ended, with ``ended``.
        destination: Where the call is forwarded, with ``forwarding``.
        messages: The conversation, with ``forwarding``.
        messages_openai_formatted: The conversation in OpenAI format, with ``forwarding``.
        transcript: The transcript, with ``forwarding``.
        summary: A summary, with ``forwarding``.
        inbound_phone_call_debugging_artifacts: Inbound setup errors, with ``ended``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("status-update",)

    status: str
    ended_reason: str | None = None
    destination: Destination | dict[str, Any] | None = None
    messages: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    messages_openai_formatted: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    transcript: str | None = None
    summary: str | None = None
    inbound_phone_call_debugging_artifacts: dict[str, Any] | None = None

    @property
    def is_ended(self) -> bool:
        """Whether the call has ended (``status == "ended"``)."""
        return self.status == "ended"

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {
            "status": f.req_str("status"),
            "ended_reason": f.opt_str("endedReason"),
            "destination": _destination(f),
            **_history(f),
            "transcript": f.opt_str("transcript"),
            "summary": f.opt_str("summary"),
            "inbound_phone_call_debugging_artifacts": f.opt_object("inboundPhoneCallDebuggingArtifacts"),
        }


def _arguments(value: object, f: Fields, key: str) -> dict[str, Any]:
    # The schema says a JSON string; captured payloads carry an object. An absent, null, empty or
    # "null" value means no arguments.
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            decoded = loads(value)
        except ProtocolError as exc:
            raise f.error(key, f"not a JSON object string ({exc.reason})") from None
        if decoded is None:
            return {}
        if isinstance(decoded, dict):
            return decoded
        raise f.error(key, f"expected a JSON object, the string holds {json_type(decoded)}")
    raise f.error(key, f"expected an object or a JSON string, got {json_type(value)}")


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call the model made.

    Attributes:
        id: The tool call id; answer with it (``ToolCallResult.tool_call_id``).
        name: The function name.
        arguments: The decoded arguments (sent as a JSON string or as an object; both give this).
        type: The tool call type, ``"function"``.
        raw: The tool call object as sent.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    type: str = "function"
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, obj: Mapping[str, Any], path: str = "toolCall", message_type: str | None = None) -> ToolCall:
        """Build from a tool call object.

        Accepts ``{id, type, function: {name, arguments}}`` and the older ``{id, name, parameters}``.
        The object is deep-copied first.

        Args:
            obj: The tool call object.
            path: Its path inside the message, for errors.
            message_type: The message ``type``, for errors.

        Raises:
            ProtocolError: No ``id`` or no name, a wrong JSON type, or arguments that are not a
                JSON object (or a string holding one).
        """
        if not isinstance(obj, Mapping):
            raise ProtocolError(f"expected an object, got {json_type(obj)}", path=path, message_type=message_type)
        return _tool_call(Fields(copy_json(obj, path), path, message_type), None)


def _tool_call(f: Fields, fallback_name: str | None) -> ToolCall:
    function = f.child("function")
    name = function.opt_str("name") if function is not None else None
    if function is not None and function.has("arguments"):
        arguments = _arguments(function.any("arguments"), function, "arguments")
    elif f.has("arguments"):
        arguments = _arguments(f.any("arguments"), f, "arguments")
    else:
        arguments = _arguments(f.any("parameters"), f, "parameters")
    name = name or f.opt_str("name") or fallback_name
    if name is None:
        raise f.error("function.name", "required field is missing")
    return ToolCall(id=f.req_str("id"), name=name, arguments=arguments, type=f.opt_str("type") or "function", raw=f.obj)


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallsMessage(Message):
    """``tool-calls``: the model called tools. Answer with :class:`~vapi_fast.protocol.ToolCallsResponse`.

    Calls are read from ``toolCallList``; when it is absent, from the legacy ``toolCalls`` array;
    when that is absent too, from ``toolWithToolCallList[].toolCall``. One of them is required.

    Attributes:
        tool_calls: The calls, in the order sent (answer in the same order).
        tools: The ``toolWithToolCallList`` items: each tool's configuration plus its ``toolCall``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("tool-calls",)

    tool_calls: tuple[ToolCall, ...]
    tools: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        tools = f.children("toolWithToolCallList")
        calls: list[ToolCall]
        if f.has("toolCallList"):
            calls = [_tool_call(item, None) for item in f.children("toolCallList")]
        elif f.has("toolCalls"):
            calls = [_tool_call(item, None) for item in f.children("toolCalls")]
        elif f.has("toolWithToolCallList"):
            calls = []
            for tool in tools:
                call = tool.child("toolCall")
                if call is None:
                    raise tool.error("toolCall", "required field is missing")
                function = tool.child("function")
                name = tool.opt_str("name") or (function.opt_str("name") if function is not None else None)
                calls.append(_tool_call(call, name))
        else:
            raise f.error("toolCallList", "required field is missing (and no toolCalls or toolWithToolCallList)")
        return {"tool_calls": tuple(calls), "tools": tuple(tool.obj for tool in tools)}


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptMessage(Message):
    """``transcript`` and ``transcript[transcriptType="final"]``: speech to text.

    Partials for an utterance replace each other until its final arrives. Required: ``role``,
    ``transcriptType``, ``transcript``.

    Attributes:
        role: ``"assistant"`` or ``"user"`` (open set).
        transcript_type: ``"partial"`` or ``"final"`` (open set).
        transcript: The text.
        assistant_id: The speaking assistant's id (assistant role).
        assistant_name: The speaking assistant's name (assistant role).
        is_filtered: Whether security filtering changed the text.
        detected_threats: What the filter found.
        original_transcript: The text before filtering.
        confidence: Transcriber confidence, 0 to 1.
        confidence_source: ``"provider"`` or ``"derived"`` (open set).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("transcript", 'transcript[transcriptType="final"]')

    role: str
    transcript_type: str
    transcript: str
    assistant_id: str | None = None
    assistant_name: str | None = None
    is_filtered: bool | None = None
    detected_threats: tuple[str, ...] | None = None
    original_transcript: str | None = None
    confidence: float | None = None
    confidence_source: str | None = None

    @property
    def is_final(self) -> bool:
        """Whether this is a final transcript (it will not be replaced)."""
        return self.transcript_type == "final"

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {
            "role": f.req_str("role"),
            "transcript_type": f.req_str("transcriptType"),
            "transcript": f.req_str("transcript"),
            "assistant_id": f.opt_str("assistantId"),
            "assistant_name": f.opt_str("assistantName"),
            "is_filtered": f.opt_bool("isFiltered"),
            "detected_threats": f.opt_strings("detectedThreats"),
            "original_transcript": f.opt_str("originalTranscript"),
            "confidence": f.opt_number("confidence"),
            "confidence_source": f.opt_str("confidenceSource"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferDestinationRequestMessage(Message):
    """``transfer-destination-request``: a transfer tool fired without a destination.

    No fields of its own (read ``call``, ``artifact``, ``customer``). Answer with
    :class:`~vapi_fast.protocol.TransferDestinationResponse`.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("transfer-destination-request",)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferUpdateMessage(Message):
    """``transfer-update``: a transfer happened.

    Attributes:
        destination: Where to (assistant, number or SIP).
        to_assistant: The assistant transferred to (assistant transfers).
        from_assistant: The assistant transferred from.
        to_step_record: The workflow step transferred to.
        from_step_record: The workflow step transferred from.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("transfer-update",)

    destination: Destination | dict[str, Any] | None = None
    to_assistant: dict[str, Any] | None = None
    from_assistant: dict[str, Any] | None = None
    to_step_record: dict[str, Any] | None = None
    from_step_record: dict[str, Any] | None = None

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {
            "destination": _destination(f),
            "to_assistant": f.opt_object("toAssistant"),
            "from_assistant": f.opt_object("fromAssistant"),
            "to_step_record": f.opt_object("toStepRecord"),
            "from_step_record": f.opt_object("fromStepRecord"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UserInterruptedMessage(Message):
    """``user-interrupted``: the user barged in. Stop playback and drop that turn's pending output.

    Attributes:
        turn_id: The ``turnId`` of the ``model-output`` chunks that were cut off; ``None`` means drop
            everything pending.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("user-interrupted",)

    turn_id: str | None = None

    @property
    def is_barge_in(self) -> bool:
        """Always true."""
        return True

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"turn_id": f.opt_str("turnId")}


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceInputMessage(Message):
    """``voice-input``: assistant text handed to the voice provider. Required: ``input``.

    Attributes:
        input: The text about to be spoken (the assistant's words, not the user's).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("voice-input",)

    input: str

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"input": f.req_str("input")}


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceRequestMessage(Message):
    """``voice-request``: synthesize ``text`` (custom voice). Required: ``text``, ``sampleRate``.

    Answer with raw mono PCM16 little-endian at exactly ``sample_rate``, no header, never JSON.

    Attributes:
        text: The text to speak.
        sample_rate: The PCM rate Vapi wants, Hz (a positive integer).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("voice-request",)

    text: str
    sample_rate: int

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        sample_rate = f.req_int("sampleRate")
        if sample_rate <= 0:
            raise f.error("sampleRate", "must be a positive number of Hz")
        return {"text": f.req_str("text"), "sample_rate": sample_rate}


# ---------------------------------------------------------------------------------------------
# Other types (reference section 7)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssistantStartedMessage(Message):
    """``assistant.started``: a new assistant took over the call. Required: ``newAssistant``.

    Attributes:
        new_assistant: The new assistant's configuration.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("assistant.started",)

    new_assistant: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"new_assistant": f.req_object("newAssistant")}


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkflowNodeStartedMessage(Message):
    """``workflow.node.started``: a workflow entered a node. Required: ``node``.

    Attributes:
        node: The node object (``type``, ``name``, ...).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("workflow.node.started",)

    node: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"node": f.req_object("node")}


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCallsResultMessage(Message):
    """``tool-calls-result``: a tool returned (WebSocket only). Required: ``toolCallResult``.

    Attributes:
        tool_call_result: The result object (``toolCallId``, ``name``, ``result``, ...).
        tool_call_id: Its ``toolCallId``.
        name: Its ``name``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("tool-calls-result",)

    tool_call_result: dict[str, Any]
    tool_call_id: str | None = None
    name: str | None = None

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        result = f.child("toolCallResult")
        if result is None:
            raise f.error("toolCallResult", "required field is missing")
        return {
            "tool_call_result": result.obj,
            "tool_call_id": result.opt_str("toolCallId"),
            "name": result.opt_str("name"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MetadataMessage(Message):
    """``metadata`` (WebSocket only). Required: ``metadata``.

    Attributes:
        metadata: The metadata string (often JSON text; not decoded).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("metadata",)

    metadata: str

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"metadata": f.req_str("metadata")}


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffDestinationRequestMessage(Message):
    """``handoff-destination-request``: pick the assistant to hand off to.

    Answer with :class:`~vapi_fast.protocol.HandoffDestinationResponse`.

    Attributes:
        parameters: The handoff tool's arguments (``{}`` when absent).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("handoff-destination-request",)

    parameters: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"parameters": f.opt_object("parameters") or {}}


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDeletedMessage(Message):
    """``call.deleted``: a call's data was deleted. No fields of its own (read ``call``)."""

    TYPES: ClassVar[tuple[str, ...]] = ("call.deleted",)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallDeleteFailedMessage(Message):
    """``call.delete.failed``: deleting a call's data failed. No fields of its own (read ``call``)."""

    TYPES: ClassVar[tuple[str, ...]] = ("call.delete.failed",)


@dataclass(frozen=True, slots=True)
class ArtifactUploadResult:
    """One item of ``call.artifact.upload``.

    Attributes:
        type: What was uploaded: ``"recording-stereo"``, ``"log"``, ... (open set).
        success: Whether the upload worked.
    """

    type: str
    success: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CallArtifactUploadMessage(Message):
    """``call.artifact.upload``: how uploading the call's artifacts went.

    Attributes:
        artifacts: One result per artifact.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("call.artifact.upload",)

    artifacts: tuple[ArtifactUploadResult, ...] = ()

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        results = []
        for item in f.children("artifacts"):
            success = item.opt_bool("success")
            if success is None:
                raise item.error("success", "required field is missing")
            results.append(ArtifactUploadResult(item.req_str("type"), success))
        return {"artifacts": tuple(results)}


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignPredialMessage(Message):
    """``campaign.predial``: may this campaign contact be called now? Required: ``campaignId``, ``contact``.

    Answer with :class:`~vapi_fast.protocol.CampaignPredialResponse`.

    Attributes:
        campaign_id: The campaign's id.
        contact: The contact (``id``, ``number``, ``name``, ...).
    """

    TYPES: ClassVar[tuple[str, ...]] = ("campaign.predial",)

    campaign_id: str
    contact: dict[str, Any]

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"campaign_id": f.req_str("campaignId"), "contact": f.req_object("contact")}


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallMessage(Message):
    """``function-call`` (legacy, no schema): read ``raw``."""

    TYPES: ClassVar[tuple[str, ...]] = ("function-call",)


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCallResultMessage(Message):
    """``function-call-result`` (legacy, no schema): read ``raw``."""

    TYPES: ClassVar[tuple[str, ...]] = ("function-call-result",)


@dataclass(frozen=True, slots=True, kw_only=True)
class LanguageChangedMessage(Message):
    """``language-changed`` (no schema; the client-list spelling of ``language-change-detected``).

    Attributes:
        language: ``language`` if present, else ``None``.
    """

    TYPES: ClassVar[tuple[str, ...]] = ("language-changed",)

    language: str | None = None

    @classmethod
    def _typed_fields(cls, f: Fields) -> dict[str, Any]:
        return {"language": f.opt_str("language")}


@dataclass(frozen=True, slots=True, kw_only=True)
class ToolCompletedMessage(Message):
    """``tool.completed`` (no schema): read ``raw``."""

    TYPES: ClassVar[tuple[str, ...]] = ("tool.completed",)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(Message):
    """A message whose ``type`` is not in :data:`REGISTRY`: kept whole in ``raw``, never an error."""


_CLASSES: tuple[type[Message], ...] = (
    AssistantRequestMessage,
    AssistantSpeechStartedMessage,
    CallEndpointingRequestMessage,
    ChatCreatedMessage,
    ChatDeletedMessage,
    ConversationUpdateMessage,
    EndOfCallReportMessage,
    HangMessage,
    KnowledgeBaseRequestMessage,
    LanguageChangeDetectedMessage,
    ModelOutputMessage,
    PhoneCallControlMessage,
    SessionCreatedMessage,
    SessionUpdatedMessage,
    SessionDeletedMessage,
    SpeechUpdateMessage,
    StatusUpdateMessage,
    ToolCallsMessage,
    TranscriptMessage,
    TransferDestinationRequestMessage,
    TransferUpdateMessage,
    UserInterruptedMessage,
    VoiceInputMessage,
    VoiceRequestMessage,
    AssistantStartedMessage,
    WorkflowNodeStartedMessage,
    ToolCallsResultMessage,
    MetadataMessage,
    HandoffDestinationRequestMessage,
    CallDeletedMessage,
    CallDeleteFailedMessage,
    CallArtifactUploadMessage,
    CampaignPredialMessage,
    FunctionCallMessage,
    FunctionCallResultMessage,
    LanguageChangedMessage,
    ToolCompletedMessage,
)

#: Wire ``type`` -> the class that parses it. Types not listed parse as :class:`UnknownMessage`.
REGISTRY: Mapping[str, type[Message]] = MappingProxyType({t: cls for cls in _CLASSES for t in cls.TYPES})


def parse_message(data: str | bytes | bytearray | Mapping[str, Any]) -> Message:
    """Parse one message from Vapi into its typed class.

    Args:
        data: A WebSocket text frame or a webhook body: JSON text (``str``, or UTF-8 ``bytes``), or
            an already decoded mapping (deep-copied). Either the bare message object or the webhook
            envelope ``{"message": {...}}``.

    Returns:
        An instance of ``REGISTRY[type]``, or :class:`UnknownMessage` for any other ``type``.

    Raises:
        ProtocolError: Not UTF-8, not JSON, not a JSON object, no ``type`` (or a ``type`` that is not
            a non-empty string), or a typed field that is missing or has the wrong JSON type. The
            error says why and where, without payload text.
    """
    obj: Any
    if isinstance(data, str | bytes | bytearray):
        obj = loads(data)
    elif isinstance(data, Mapping):
        obj = copy_json(data)
    else:
        raise ProtocolError(f"expected str, bytes or a mapping, got {type(data).__name__}")
    if not isinstance(obj, dict):
        raise ProtocolError(f"expected a JSON object, got {json_type(obj)}")
    if obj.get("type") is None and "message" in obj:
        # The webhook envelope; a bare frame always has its type at the top.
        inner = obj["message"]
        if not isinstance(inner, dict):
            raise ProtocolError(f"expected an object, got {json_type(inner)}", path="message")
        if inner.get("type") is None:
            raise ProtocolError("missing 'type'", path="message")
        obj = inner
    cls = REGISTRY.get(_message_type(obj), UnknownMessage)
    return cls._build(obj)
