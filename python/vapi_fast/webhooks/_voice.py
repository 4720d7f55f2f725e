"""Custom voice (``voice-request``): any audio a TTS gives, streamed as the raw PCM Vapi asks for.

Vapi wants the body as raw mono signed 16-bit little-endian PCM at exactly the request's
``sampleRate``, with no header. A handler may return audio in any format the native
:class:`~vapi_fast.audio.Transcoder` reads (PCM16 at any rate and channel count, mu-law, A-law), as
one buffer or as chunks; :func:`pcm_stream` converts it chunk by chunk, so nothing waits for the
whole utterance.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypeAlias

from ..audio import AudioFormat, Transcoder

__all__ = ["VoiceAudio", "VoiceReply", "pcm_stream"]

#: Bytes of a single buffer converted per step, so the loop is never held for long (16 KiB is
#: about 340 ms of PCM16 at 24 kHz).
_SLICE_BYTES = 1 << 14

#: Audio data as a handler gives it: one buffer, or chunks (async or not).
AudioData: TypeAlias = bytes | bytearray | memoryview | AsyncIterable[bytes] | Iterable[bytes]


@dataclass(frozen=True, slots=True)
class VoiceAudio:
    """Audio returned by a ``voice-request`` handler, with its format.

    Args:
        audio: One buffer, or an iterable or async iterable of chunks (any sizes; a sample may be
            split across chunks).
        format: The format of ``audio`` (any encoding, rate and channel count the native
            :class:`~vapi_fast.audio.Transcoder` accepts).
    """

    audio: AudioData
    format: AudioFormat


#: What a ``voice-request`` handler may return: :class:`VoiceAudio`; ``(audio, AudioFormat)``; or
#: bare audio, which is taken to be in the handler's declared format (by default PCM16 mono at the
#: requested rate, passed through untouched).
VoiceReply: TypeAlias = VoiceAudio | tuple[AudioData, AudioFormat] | AudioData


def _split(reply: object, default_format: AudioFormat | None, sample_rate: int) -> tuple[object, AudioFormat]:
    if isinstance(reply, VoiceAudio):
        return reply.audio, reply.format
    if isinstance(reply, tuple) and len(reply) == 2 and isinstance(reply[1], AudioFormat):
        return reply[0], reply[1]
    return reply, default_format or AudioFormat("pcm_s16le", sample_rate)


async def _chunks(audio: object, executor: Executor | None) -> AsyncGenerator[bytes, None]:
    if isinstance(audio, bytes | bytearray | memoryview):
        view = memoryview(audio).cast("B")
        for start in range(0, len(view), _SLICE_BYTES):
            yield bytes(view[start : start + _SLICE_BYTES])
        return
    if isinstance(audio, AsyncIterable):
        iterator = aiter(audio)
        try:
            async for chunk in iterator:
                yield _as_bytes(chunk)
        finally:
            closer = getattr(iterator, "aclose", None)
            if closer is not None:
                await closer()
        return
    if isinstance(audio, list | tuple):
        for chunk in audio:
            yield _as_bytes(chunk)
        return
    if isinstance(audio, Iterable):
        # A generator may block (a synchronous TTS client): pull each chunk in a worker thread.
        iterator_: Iterator[object] = iter(audio)
        loop = asyncio.get_running_loop()
        done = object()
        try:
            while (chunk := await loop.run_in_executor(executor, next, iterator_, done)) is not done:
                yield _as_bytes(chunk)
        finally:
            close = getattr(iterator_, "close", None)
            if close is not None:
                # ValueError: the generator is still running in its thread (we were cancelled meanwhile).
                with contextlib.suppress(ValueError):
                    close()
        return
    raise TypeError(f"a voice handler must return audio bytes or chunks, not {type(audio).__name__}")


def _as_bytes(chunk: object) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    raise TypeError(f"audio chunks must be bytes, not {type(chunk).__name__}")


async def pcm_stream(
    reply: VoiceReply,
    sample_rate: int,
    *,
    default_format: AudioFormat | None = None,
    executor: Executor | None = None,
) -> AsyncIterator[bytes]:
    """Convert a ``voice-request`` handler's reply to raw PCM16 mono at ``sample_rate``, chunk by chunk.

    This is the router's own conversion, usable on its own (in another web framework, say). Each
    input chunk is converted by one native ``Transcoder.push`` as it arrives; the resampler's tail
    comes with the last chunk. Empty outputs are skipped. Output equals converting the whole input
    at once.

    Args:
        reply: What the handler returned (see :data:`VoiceReply`).
        sample_rate: The ``sampleRate`` of the request, Hz.
        default_format: The format of bare audio (default PCM16 mono at ``sample_rate``).
        executor: Where to pull chunks of a synchronous iterator (default: the loop's executor).

    Yields:
        PCM16 mono chunks at ``sample_rate``.

    Raises:
        TypeError: The reply is not audio.
        AudioFormatError: The formats cannot be converted (such as a rate outside 8-48 kHz), or the
            input ended in the middle of a sample.
    """
    audio, fmt = _split(reply, default_format, sample_rate)
    wanted = AudioFormat("pcm_s16le", sample_rate)
    transcoder = None if fmt == wanted else Transcoder(fmt, wanted)
    chunks = _chunks(audio, executor)
    try:
        async for chunk in chunks:
            out = chunk if transcoder is None else transcoder.push(chunk)
            if out:
                assert isinstance(out, bytes)  # no frame_ms: push returns bytes
                yield out
        if transcoder is not None:
            tail = transcoder.flush()
            if tail:
                assert isinstance(tail, bytes)
                yield tail
    finally:
        await chunks.aclose()
