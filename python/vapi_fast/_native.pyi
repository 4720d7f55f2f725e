"""Type stubs and documentation for the native core, ``vapi_fast._native``.

Inputs typed ``Buffer`` accept any buffer-protocol object without copying: ``bytes``, ``bytearray``,
``memoryview``, or a C-contiguous numpy array (``int16`` for PCM, ``uint8`` for G.711 codes). PCM is
signed 16-bit little-endian, interleaved when there are several channels. Whole-buffer calls of
64 KiB or more release the GIL; frame-sized calls (a 20 ms frame is microseconds of work) keep it.
"""

from typing import Any, Literal, Self, TypeAlias, final

from numpy.typing import NDArray
from typing_extensions import Buffer as _BufferProtocol

__all__ = [
    "AudioFormat",
    "AudioFormatError",
    "Framer",
    "JitterBuffer",
    "NativeError",
    "Resampler",
    "Transcoder",
    "__version__",
    "alaw_decode",
    "alaw_encode",
    "jitter_traces",
    "resample",
    "simulate_jitter",
    "ulaw_decode",
    "ulaw_encode",
]

__version__: str

_Buffer: TypeAlias = _BufferProtocol | NDArray[Any]
_Encoding: TypeAlias = Literal["pcm_s16le", "mulaw", "alaw"]
_Quality: TypeAlias = Literal["low", "medium", "high"]

class AudioFormatError(ValueError):
    """Bad audio arguments or input: the message says what was wrong and what is allowed."""

class NativeError(RuntimeError):
    """An internal fault in the native core (a bug): the operation was abandoned."""

def ulaw_encode(pcm: _Buffer) -> bytes:
    """Encode 16-bit PCM to G.711 mu-law, one byte per sample (bit-exact with ITU-T G.711 / audioop).

    Raises:
        AudioFormatError: the input is not a whole number of 16-bit samples, or not bytes/int16.
    """

def ulaw_decode(ulaw: _Buffer) -> bytes:
    """Decode G.711 mu-law bytes to 16-bit PCM (two bytes per input byte)."""

def alaw_encode(pcm: _Buffer) -> bytes:
    """Encode 16-bit PCM to G.711 A-law, one byte per sample (bit-exact with ITU-T G.711 / audioop).

    Raises:
        AudioFormatError: the input is not a whole number of 16-bit samples, or not bytes/int16.
    """

def alaw_decode(alaw: _Buffer) -> bytes:
    """Decode G.711 A-law bytes to 16-bit PCM (two bytes per input byte)."""

def resample(pcm: _Buffer, in_rate: int, out_rate: int, quality: _Quality = "high", channels: int = 1) -> bytes:
    """Resample a whole PCM buffer; equal to ``Resampler.push`` then ``flush`` on a new Resampler.

    The output has ``ceil(n * out_rate / in_rate)`` samples per channel, time-aligned with the input.

    Raises:
        AudioFormatError: a rate outside 8000..48000 Hz, an unknown quality, a bad channel count, or
            input that is not a whole number of sample frames.
    """

@final
class AudioFormat:
    """An audio format: encoding, sample rate in Hz, interleaved channel count. Immutable, hashable.

    Args:
        encoding: ``"pcm_s16le"``, ``"mulaw"`` or ``"alaw"``.
        sample_rate: samples per second per channel, 1000 to 192000 Hz.
        channels: 1 to 8.

    Raises:
        AudioFormatError: any argument out of range.
    """

    def __new__(cls, encoding: _Encoding, sample_rate: int, channels: int = 1) -> Self: ...
    @property
    def encoding(self) -> _Encoding: ...
    @property
    def sample_rate(self) -> int: ...
    @property
    def channels(self) -> int: ...
    @property
    def sample_width(self) -> int:
        """Bytes per sample of one channel (2 for PCM, 1 for G.711)."""
    @property
    def silence_byte(self) -> int:
        """The byte value of digital silence: 0x00 for PCM, 0xFF for mu-law, 0xD5 for A-law."""
    def bytes_per_frame(self, frame_ms: int = 20) -> int:
        """Bytes in ``frame_ms`` of audio.

        Raises:
            AudioFormatError: ``frame_ms`` is not 1..1000 or does not hold a whole number of samples.
        """
    def bytes_per_second(self) -> int:
        """Bytes in one second of audio."""
    def duration_ms(self, n_bytes: int) -> float:
        """Milliseconds of audio in ``n_bytes``."""
    @classmethod
    def from_vapi(cls, obj: dict[str, object]) -> AudioFormat:
        """Build from a Vapi ``transport.audioFormat`` object; missing keys take Vapi's defaults
        (``pcm_s16le``, ``raw``, 16000 Hz).

        Raises:
            AudioFormatError: a format other than ``pcm_s16le``/``mulaw``, a container other than ``raw``,
                or a bad sample rate.
        """
    def to_vapi(self) -> dict[str, object]:
        """The Vapi ``transport.audioFormat`` object for this format.

        Raises:
            AudioFormatError: A-law or more than one channel, which Vapi does not carry.
        """
    def __eq__(self, other: object, /) -> bool: ...
    def __hash__(self) -> int: ...

@final
class Framer:
    """Cuts a byte stream into frames of exactly ``frame_ms`` of audio.

    Args:
        fmt: the format of the stream.
        frame_ms: frame duration; must hold a whole number of samples.

    Raises:
        AudioFormatError: ``frame_ms`` unusable at the format's rate.
    """

    def __new__(cls, fmt: AudioFormat, frame_ms: int = 20) -> Self: ...
    def push(self, data: _Buffer) -> list[bytes]:
        """Append ``data``; return every complete frame, in order. The remainder (even an odd
        trailing byte of PCM) is kept for the next push."""
    def flush(self, pad: bool = True) -> bytes:
        """Return what is pending and empty the framer: padded with silence to one full frame when
        ``pad`` is true and something is pending, the raw remainder otherwise (``b""`` if none)."""
    def reset(self) -> None:
        """Drop anything pending."""
    @property
    def pending_bytes(self) -> int: ...
    @property
    def frame_bytes(self) -> int: ...
    @property
    def frame_ms(self) -> int: ...
    @property
    def format(self) -> AudioFormat: ...

@final
class Resampler:
    """Streaming sample-rate converter for 16-bit PCM (polyphase windowed-sinc FIR).

    ``push`` returns every output sample the input so far determines: once primed, 20 ms in gives
    20 ms (+-1 sample) out, and any chunking concatenates to exactly the one-shot :func:`resample`
    output. Output is time-aligned with the input; it lags by ``delay_samples``. No dither.

    _Quality: ``"high"`` passband to 0.45 of the lower rate within +-0.01 dB, stopband from 0.5 at
    100 dB; ``"medium"`` 0.43 / 80 dB; ``"low"`` 0.40 / 60 dB.

    Args:
        in_rate: input rate, 8000 to 48000 Hz.
        out_rate: output rate, 8000 to 48000 Hz.
        quality: ``"low"``, ``"medium"`` or ``"high"``.
        channels: interleaved channels, 1 to 8.

    Raises:
        AudioFormatError: any argument out of range.
    """

    def __new__(cls, in_rate: int, out_rate: int, quality: _Quality = "high", channels: int = 1) -> Self: ...
    def push(self, pcm: _Buffer) -> bytes:
        """Resample a chunk.

        Raises:
            AudioFormatError: the chunk is not a whole number of sample frames.
        """
    def flush(self) -> bytes:
        """End the stream: return the remaining output and reset."""
    def reset(self) -> None:
        """Forget all input and start a new stream."""
    @property
    def delay_samples(self) -> int:
        """Look-ahead in output samples (the latency the filter adds); 0 when the rates are equal."""
    @property
    def in_rate(self) -> int: ...
    @property
    def out_rate(self) -> int: ...
    @property
    def quality(self) -> _Quality: ...
    @property
    def channels(self) -> int: ...
    @property
    def filter_taps(self) -> list[int]:
        """FIR length of each stage (one to three), in that stage's input samples."""
    @property
    def intermediate_rates(self) -> list[int]:
        """The rates between the stages when the conversion is split (e.g. ``[48000, 24000]`` for
        44100 -> 16000); empty for a single stage."""

@final
class Transcoder:
    """Decode, mix channels, resample, encode (and frame, with ``frame_ms``) in one native call.

    Chunks may have any length: an incomplete input sample is carried to the next push. Channel
    counts must be equal or one side mono.

    Args:
        src: input format.
        dst: output format.
        frame_ms: when given, ``push``/``flush`` return a list of whole ``dst`` frames.
        quality: resampler quality when the rates differ.

    Raises:
        AudioFormatError: incompatible channel counts, unsupported rates, unusable ``frame_ms``.
    """

    def __new__(
        cls, src: AudioFormat, dst: AudioFormat, frame_ms: int | None = None, quality: _Quality = "high"
    ) -> Self: ...
    def push(self, data: _Buffer) -> bytes | list[bytes]:
        """Convert a chunk: ``bytes`` without framing, a list of frames with it."""
    def flush(self) -> bytes | list[bytes]:
        """End the stream: drain the resampler, pad the last frame with silence, reset.

        Raises:
            AudioFormatError: an incomplete input sample was left over (it is discarded).
        """
    def reset(self) -> None:
        """Drop everything buffered."""
    @property
    def src(self) -> AudioFormat: ...
    @property
    def dst(self) -> AudioFormat: ...
    @property
    def frame_ms(self) -> int | None: ...
    @property
    def delay_samples(self) -> int: ...
    @property
    def pending_bytes(self) -> int: ...

@final
class JitterBuffer:
    """Adaptive playout (jitter) buffer: bytes in at any pace, exactly one frame out per ``pop``.

    Time is passed in (``now_ms``, any monotonic millisecond clock); nothing inside reads a clock.
    The target delay adapts NetEq-style: each frame's lateness against a sliding minimum feeds a
    forgetting histogram, and the target is its ``percentile``, clamped to
    [``min_delay_ms``, ``max_delay_ms``]. Above target it first drops silence, then time-compresses
    speech it delayed itself; below target it stretches. Missing audio is concealed (a fading repeat
    of the last frame, then the codec's silence) and faded back in. ``clear()`` (barge-in) discards
    everything at once: the next frame is silence.

    Args:
        fmt: format of the audio pushed and popped (PCM, mu-law or A-law; any channel count).
        frame_ms: duration of each popped frame; must hold a whole number of samples.
        min_delay_ms: lowest target delay.
        max_delay_ms: highest target delay.
        initial_delay_ms: target before any arrival has been measured.
        percentile: quantile of the delay histogram used as target, 0.5 to 0.999.
        max_buffer_ms: hard cap on queued audio; beyond it the oldest is dropped. It is far above
            ``max_delay_ms`` because faster-than-real-time TTS queues seconds that must all play.

    Raises:
        AudioFormatError: a parameter out of range.
    """

    def __new__(
        cls,
        fmt: AudioFormat,
        frame_ms: int = 20,
        min_delay_ms: int = 20,
        max_delay_ms: int = 400,
        initial_delay_ms: int = 80,
        percentile: float = 0.95,
        max_buffer_ms: int = 60000,
    ) -> Self: ...
    def push(self, data: _Buffer, now_ms: float, seq: int | None = None) -> None:
        """Queue audio that arrived at ``now_ms``: any number of bytes (re-framed inside; an odd PCM
        byte waits for the next push), or with ``seq`` one packet of an RTP-like source (placed by
        sequence number; late and duplicate packets are dropped and counted).

        Raises:
            AudioFormatError: ``now_ms`` not finite, ``seq`` negative, or data not bytes-like.
        """
    def pop(self, now_ms: float) -> bytes:
        """Exactly one frame (``frame_bytes`` bytes) to play at ``now_ms``: audio, or concealment."""
    def clear(self) -> float:
        """Discard everything queued (barge-in); returns the milliseconds discarded. O(1)."""
    def reset(self) -> None:
        """Forget everything, statistics included."""
    def stats(self) -> dict[str, float]:
        """NetEq-style counters and gauges: ``current_buffer_size_ms``, ``preferred_buffer_size_ms``,
        ``playout_delay_ms``, ``frames_pushed/popped/played/pending/dropped/flushed`` (pushed = played
        + dropped + flushed + pending), ``concealed_speech_ms``, ``concealed_silence_ms``,
        ``concealment_events``, ``underrun_events``, ``late_dropped_ms``, ``duplicate_dropped_ms``,
        ``overflow_dropped_ms``, ``accelerate_removed_ms``, ``stretched_ms``, ``buffer_flushes``,
        ``flushed_ms``, ``delay_mean_ms``, ``delay_p50_ms``, ``delay_p95_ms``."""
    @property
    def frame_bytes(self) -> int: ...
    @property
    def frame_ms(self) -> int: ...
    @property
    def format(self) -> AudioFormat: ...
    @property
    def target_delay_ms(self) -> float: ...
    @property
    def current_buffer_ms(self) -> float: ...
    @property
    def playout_delay_ms(self) -> float: ...
    @property
    def last_pop_kind(self) -> Literal["buffering", "normal", "resumed", "merged", "stretched", "concealed"]:
        """What the last ``pop`` put out."""

def jitter_traces() -> list[str]:
    """Names of the evaluation traces, in order."""

def simulate_jitter(trace: str, seed: int = 7, percentile: float = 0.95) -> dict[str, Any]:
    """Run the JitterBuffer, fixed 40/80/160 ms buffers and the offline optimum on a seeded trace.

    Returns a dict with ``trace``, ``duration_ms``, ``format``, ``percentile``, ``speech_frames``,
    ``adaptive``, ``fixed`` (list), ``optimum`` (each: ``mean_delay_ms``, ``p95_delay_ms``,
    ``max_delay_ms``, ``speech_concealment_pct``, ``frames_dropped``, ``speech_frames_dropped``,
    ``recovery_ms``, ``max_recovery_ms``, ...), ``optimum_offset_ms`` and the buffer's ``stats``.

    Raises:
        AudioFormatError: an unknown trace name.
    """
