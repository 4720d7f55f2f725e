"""vapi_fast: real-time voice calls with Vapi from Python, with a native audio core.

* :mod:`vapi_fast.audio`: G.711, resampling, framing, transcoding and the playout buffer (native).
* :mod:`vapi_fast.protocol`: every Vapi message typed, without I/O.
* :class:`Session`: one call over Vapi's WebSocket transport (asyncio).
* :class:`Vapi`: a drop-in for Vapi's own synchronous Python client.
* :mod:`vapi_fast.mock`: a local Vapi for tests and demos.
"""

from __future__ import annotations

from . import audio, protocol, webhooks
from ._native import __version__
from .audio import (
    AudioFormat,
    Encoding,
    Framer,
    JitterBuffer,
    Quality,
    Resampler,
    Transcoder,
    alaw_decode,
    alaw_encode,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from .client import Vapi
from .errors import (
    AudioFormatError,
    CallEnded,
    CallError,
    ConnectionClosedError,
    ConnectionLost,
    ControlMessageError,
    NativeError,
    ProtocolError,
    VapiFastError,
)
from .protocol import Message, parse_message
from .session import Session, SessionOptions
from .webhooks import Router, WebhookAuthError

__all__ = [
    "AudioFormat",
    "AudioFormatError",
    "CallEnded",
    "CallError",
    "ConnectionClosedError",
    "ConnectionLost",
    "ControlMessageError",
    "Encoding",
    "Framer",
    "JitterBuffer",
    "Message",
    "NativeError",
    "ProtocolError",
    "Quality",
    "Resampler",
    "Router",
    "Session",
    "SessionOptions",
    "Transcoder",
    "Vapi",
    "VapiFastError",
    "WebhookAuthError",
    "__version__",
    "alaw_decode",
    "alaw_encode",
    "audio",
    "parse_message",
    "protocol",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
    "webhooks",
]
