"""vapi_fast: real-time voice calls with Vapi from Python, with a native audio core."""

from __future__ import annotations

from . import audio
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
from .errors import AudioFormatError, NativeError, VapiFastError

__all__ = [
    "AudioFormat",
    "AudioFormatError",
    "Encoding",
    "Framer",
    "JitterBuffer",
    "NativeError",
    "Quality",
    "Resampler",
    "Transcoder",
    "VapiFastError",
    "__version__",
    "alaw_decode",
    "alaw_encode",
    "audio",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
]
