"""The mock assistant's audio: synthetic speech, downlink pacing plans and caller turn detection.

Everything here is synchronous and clock-free: the call drives it with audio and its own times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from ..audio import AudioFormat, ulaw_decode, ulaw_encode

__all__ = [
    "BURST_CHUNK_BYTES",
    "Pacing",
    "SpeechStarted",
    "TurnDetector",
    "TurnEnded",
    "TurnEvent",
    "dbfs",
    "frame_bytes",
    "plan_chunks",
    "synth_speech",
]

#: Downlink pacing profiles: ``bursty`` (like measured Vapi traffic), ``realtime`` (20 ms frames
#: every 20 ms) and ``fast`` (everything at once).
Pacing: TypeAlias = Literal["bursty", "realtime", "fast"]

#: Smallest and largest chunk of the bursty profile, in bytes of 8 kHz mu-law (measured on real calls).
BURST_CHUNK_BYTES = (170, 743)
#: The bursty sender wakes up every 40 to 60 ms and sends every chunk due within this lead, in ms.
_BURST_LEAD_MS = 40.0
_BURST_TICK_MS = (40.0, 60.0)


def frame_bytes(fmt: AudioFormat, frame_ms: int = 20) -> int:
    """Bytes in ``frame_ms`` of ``fmt``, rounding down to whole samples for rates not divisible by 50."""
    samples = fmt.sample_rate * frame_ms // 1000
    return max(1, samples) * fmt.sample_width * fmt.channels


def synth_speech(fmt: AudioFormat, duration_ms: float, seed: int, level_dbfs: float = -20.0) -> bytes:
    """Speech-like audio in ``fmt`` (PCM or mu-law), deterministic from ``seed``.

    Harmonics of a gliding pitch under a syllable envelope (3 to 5 syllables a second, with short
    silent gaps between them), band-limited below 3.4 kHz, scaled to ``level_dbfs`` RMS.

    Args:
        fmt: the wire format; mono.
        duration_ms: length of the audio.
        seed: picks pitch, glide and syllable rate.
        level_dbfs: RMS level of the whole clip relative to full scale.

    Returns:
        ``duration_ms`` of audio (rounded down to whole samples) in ``fmt``'s encoding.
    """
    rate = fmt.sample_rate
    n = int(rate * duration_ms / 1000)
    if n <= 0:
        return b""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    f0 = rng.uniform(100.0, 190.0)
    pitch = f0 + rng.uniform(15.0, 45.0) * np.sin(2 * np.pi * rng.uniform(0.3, 0.9) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    top_hz = min(3400.0, rate / 2 - 200.0)
    x = np.zeros(n)
    for h in range(1, 40):
        if f0 * h * 1.3 > top_hz:
            break
        x += np.sin(h * phase + rng.uniform(0, 2 * np.pi)) / h
    syllable_hz = rng.uniform(3.0, 5.0)
    envelope = np.clip(np.sin(2 * np.pi * syllable_hz * t + 0.3), 0.0, None) ** 0.5
    ramp = min(n, max(1, rate // 100))  # 10 ms fades so the clip starts and ends at zero
    envelope[:ramp] *= np.linspace(0.0, 1.0, ramp)
    envelope[n - ramp :] *= np.linspace(1.0, 0.0, ramp)
    x = x * envelope + 0.003 * rng.standard_normal(n) * envelope
    rms = float(np.sqrt(np.mean(x**2)))
    if rms > 0:
        x *= 32768 * 10 ** (level_dbfs / 20) / rms
    pcm = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
    return ulaw_encode(pcm) if fmt.encoding == "mulaw" else pcm


def plan_chunks(fmt: AudioFormat, audio: bytes, pacing: Pacing, rng: np.random.Generator) -> list[tuple[float, bytes]]:
    """Split ``audio`` into chunks and give each a send time, in ms from the start of the utterance.

    * ``realtime``: 20 ms frames, one every 20 ms (the last one padded with silence).
    * ``fast``: the same frames, all at time 0.
    * ``bursty``: chunks of random size, 170 to 743 bytes for 8 kHz mu-law and the same durations
      (21 to 93 ms) in other formats. The sender wakes every 40 to 60 ms and sends every chunk
      whose audio starts within 40 ms of the wake-up time. So arrivals come a median of about
      50 ms apart, two chunks (about 90 to 110 ms of audio) sometimes arrive back to back, and on
      average the audio arrives in real time, never more than 40 ms ahead.

    Returns:
        ``(send_ms, chunk)`` pairs in send order; their chunks concatenate to the (padded) audio.
    """
    sample_bytes = fmt.sample_width * fmt.channels
    ms_per_byte = 1000 / (fmt.sample_rate * sample_bytes)
    if pacing in ("realtime", "fast"):
        size = frame_bytes(fmt)
        if len(audio) % size:
            audio += bytes([fmt.silence_byte]) * (size - len(audio) % size)
        step_ms = size * ms_per_byte if pacing == "realtime" else 0.0
        return [(i * step_ms, audio[start : start + size]) for i, start in enumerate(range(0, len(audio), size))]
    low, high = BURST_CHUNK_BYTES
    chunks: list[tuple[float, bytes]] = []  # (audio start ms, chunk)
    start = 0
    while start < len(audio):
        chunk_ms = int(rng.integers(low, high + 1)) / 8.0
        size = max(sample_bytes, round(chunk_ms / ms_per_byte / sample_bytes) * sample_bytes)
        chunks.append((start * ms_per_byte, audio[start : start + size]))
        start += size
    plan: list[tuple[float, bytes]] = []
    tick_ms = 0.0
    i = 0
    while i < len(chunks):
        while i < len(chunks) and chunks[i][0] <= tick_ms + _BURST_LEAD_MS:
            plan.append((tick_ms, chunks[i][1]))
            i += 1
        tick_ms += float(rng.uniform(*_BURST_TICK_MS))
    return plan


@dataclass(frozen=True)
class SpeechStarted:
    """The caller started speaking ``at_ms`` into the caller's audio."""

    at_ms: float


@dataclass(frozen=True)
class TurnEnded:
    """The caller's turn ended: speech from ``start_ms`` to ``end_ms`` of the caller's audio."""

    start_ms: float
    end_ms: float

    @property
    def duration_ms(self) -> float:
        """Length of the turn's speech."""
        return self.end_ms - self.start_ms


TurnEvent: TypeAlias = SpeechStarted | TurnEnded


class TurnDetector:
    """Energy-based caller turn detection on 20 ms windows of wire audio.

    Time is the caller's audio time (bytes received), not the wall clock, so a client that sends
    faster than real time gets the same answers, only sooner.

    Args:
        fmt: the caller's wire format.
        threshold_dbfs: a window whose RMS is above this is speech.
        min_speech_ms: this much consecutive speech starts a turn.
        end_silence_ms: this much silence after speech ends the turn.
    """

    def __init__(self, fmt: AudioFormat, threshold_dbfs: float, min_speech_ms: float, end_silence_ms: float) -> None:
        self._fmt = fmt
        self._threshold = 32768.0 * 10 ** (threshold_dbfs / 20)
        self._min_speech_ms = min_speech_ms
        self._end_silence_ms = end_silence_ms
        self._window = max(1, fmt.sample_rate // 50)
        self._window_ms = 1000 * self._window / fmt.sample_rate
        # Caller audio consumed so far, in ms.
        self._clock_ms = 0.0
        self.reset()

    def reset(self) -> None:
        """Forget any partial turn (keeps the audio clock)."""
        # A trailing odd byte of PCM, carried to the next push.
        self._carry = b""
        # Samples not yet filling a window.
        self._pending: npt.NDArray[np.float64] = np.zeros(0)
        # Consecutive loud ms before a turn starts.
        self._loud_ms = 0.0
        # Inside a caller turn.
        self._in_turn = False
        # Where the current turn's speech started and last ended, in ms of caller audio.
        self._start_ms = 0.0
        self._last_loud_ms = 0.0
        # Silence since the last loud window of the turn.
        self._quiet_ms = 0.0

    @property
    def in_turn(self) -> bool:
        """The caller is speaking (a turn started and has not ended)."""
        return self._in_turn

    @property
    def clock_ms(self) -> float:
        """Caller audio consumed so far, in ms."""
        return self._clock_ms

    def push(self, wire: bytes) -> list[TurnEvent]:
        """Feed caller audio in the wire format; returns the turn events it completes."""
        if self._fmt.encoding == "mulaw":
            pcm = ulaw_decode(wire)
        else:
            data = self._carry + wire
            cut = len(data) - len(data) % 2
            pcm, self._carry = data[:cut], data[cut:]
        samples = np.concatenate([self._pending, np.frombuffer(pcm, "<i2").astype(np.float64)])
        n_windows = len(samples) // self._window
        self._pending = samples[n_windows * self._window :]
        if n_windows == 0:
            return []
        windows = samples[: n_windows * self._window].reshape(n_windows, self._window)
        rms = np.sqrt(np.mean(windows**2, axis=1))
        events: list[TurnEvent] = []
        for level in rms:
            self._clock_ms += self._window_ms
            event = self._step(bool(level > self._threshold))
            if event is not None:
                events.append(event)
        return events

    def _step(self, loud: bool) -> TurnEvent | None:
        if not self._in_turn:
            self._loud_ms = self._loud_ms + self._window_ms if loud else 0.0
            if self._loud_ms >= self._min_speech_ms - 1e-9:
                self._in_turn = True
                self._start_ms = self._clock_ms - self._loud_ms
                self._last_loud_ms = self._clock_ms
                self._quiet_ms = 0.0
                return SpeechStarted(self._start_ms)
            return None
        if loud:
            self._quiet_ms = 0.0
            self._last_loud_ms = self._clock_ms
            return None
        self._quiet_ms += self._window_ms
        if self._quiet_ms >= self._end_silence_ms - 1e-9:
            self._in_turn = False
            self._loud_ms = 0.0
            return TurnEnded(self._start_ms, self._last_loud_ms)
        return None


def dbfs(pcm: bytes) -> float:
    """RMS level of PCM16 relative to full scale (``-inf`` for digital silence)."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    rms = float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    return 20 * math.log10(rms / 32768) if rms > 0 else -math.inf
