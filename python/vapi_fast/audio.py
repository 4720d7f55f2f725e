"""Audio conversion for Vapi calls, done in the native core.

PCM means signed 16-bit little-endian samples, interleaved when ``channels`` is above 1. Every
function and ``push`` method accepts any buffer-protocol object (``bytes``, ``bytearray``,
``memoryview``, or a C-contiguous numpy ``int16`` / ``uint8`` array) without copying it, and returns
``bytes``. Bad arguments or input raise :class:`~vapi_fast.errors.AudioFormatError`, a ``ValueError``.

Stream objects (:class:`Framer`, :class:`Resampler`, :class:`Transcoder`, :class:`JitterBuffer`) hold state
between calls:
use one per audio stream, from one thread at a time.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

from ._native import (
    AudioFormat,
    Framer,
    JitterBuffer,
    Resampler,
    Transcoder,
    alaw_decode,
    alaw_encode,
    resample,
    ulaw_decode,
    ulaw_encode,
)
from .errors import AudioFormatError

#: Names of the supported encodings.
Encoding: TypeAlias = Literal["pcm_s16le", "mulaw", "alaw"]
#: Resampler quality settings.
Quality: TypeAlias = Literal["low", "medium", "high"]

__all__ = [
    "AudioFormat",
    "AudioFormatError",
    "Encoding",
    "Framer",
    "JitterBuffer",
    "Quality",
    "Resampler",
    "Transcoder",
    "alaw_decode",
    "alaw_encode",
    "resample",
    "ulaw_decode",
    "ulaw_encode",
]
