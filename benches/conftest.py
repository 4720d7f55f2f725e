"""Shared signals, fixtures and helpers for the benchmarks.

Every signal is deterministic speech-like audio (see :func:`speech_like`), built lazily and cached, so a smoke
run (``--benchmark-disable``) only pays for what it uses. PCM is int16 little-endian mono throughout.

Comparison libraries come in through fixtures that skip only the tests needing them: a missing ``soxr`` or
``audioop`` never hides the vapi_fast benchmark of the same group.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any, ParamSpec, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
import pytest

__all__ = [
    "BULK_SECONDS",
    "FRAME_MS",
    "STREAM_ITERATIONS",
    "Audioop",
    "Benchmark",
    "assert_steady_rate",
    "bulk_pcm",
    "frame_array",
    "frame_pcm",
    "frame_samples",
    "import_audioop",
    "speech_like",
    "time_stream",
]

P = ParamSpec("P")
R = TypeVar("R")

#: Duration of one real-time frame: what a call leg pushes per network packet.
FRAME_MS = 20
#: Duration of the bulk buffers.
BULK_SECONDS = 60
#: Calls per timed round of a stream benchmark (100 frames = 2 s of audio). soxr hands its output back in blocks,
#: every 2 to 5 frames, after a run of calls that only buffer: a round must span many blocks for the per-call time
#: to be the steady-state cost and not the median of the cheap buffering calls.
STREAM_ITERATIONS = 100
_STREAM_ROUNDS = 60
# Calls before timing: fills every filter's history and soxr's first output block.
_PRIME_CALLS = 25
# soxr's largest output block seen in these benchmarks is 5.2 frames; vapi_fast's per-call output is exact.
_SOXR_BLOCK_FRAMES = 6
# Where in the signal 20 ms frames are cut: inside the first syllable, so frames are voiced, not silence.
_FRAME_OFFSET_S = 0.05


class Benchmark(Protocol):
    """The part of pytest-benchmark's ``benchmark`` fixture used here, typed (the plugin's own methods are not)."""

    extra_info: dict[str, Any]

    def __call__(self, function_to_benchmark: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
        """Time ``function_to_benchmark(*args, **kwargs)`` with automatic calibration; return its last result."""

    def pedantic(
        self,
        target: Callable[..., R],
        args: tuple[Any, ...] = (),
        *,
        rounds: int = 1,
        warmup_rounds: int = 0,
        iterations: int = 1,
    ) -> R:
        """Time ``rounds`` rounds of ``iterations`` calls each; the statistics are per call."""


class Audioop(Protocol):
    """The G.711 functions of ``audioop`` (stdlib until 3.12, the ``audioop-lts`` package from 3.13)."""

    def lin2ulaw(self, fragment: bytes, width: int, /) -> bytes: ...
    def ulaw2lin(self, fragment: bytes, width: int, /) -> bytes: ...
    def lin2alaw(self, fragment: bytes, width: int, /) -> bytes: ...
    def alaw2lin(self, fragment: bytes, width: int, /) -> bytes: ...


def import_audioop() -> Audioop:
    """Import audioop without its DeprecationWarning (pytest turns warnings into errors here).

    Raises:
        pytest.skip.Exception: on Python 3.13+ when ``audioop-lts`` is not installed.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if sys.version_info >= (3, 13):
            module: Audioop = pytest.importorskip("audioop_lts")
            return module
        import audioop

        return audioop


@pytest.fixture(scope="session")
def audioop() -> Audioop:
    """CPython's ``audioop`` (the reference G.711 code); skips the test when unavailable."""
    return import_audioop()


@pytest.fixture(scope="session")
def soxr() -> ModuleType:
    """The ``soxr`` package (libsoxr bindings, what pipecat resamples with); skips the test when missing."""
    module: ModuleType = pytest.importorskip("soxr")
    return module


@functools.cache
def speech_like(sample_rate: int, seconds: float, seed: int = 1) -> npt.NDArray[np.int16]:
    """Deterministic speech-like audio: harmonics of a gliding 110-170 Hz pitch under a syllable envelope
    (3.3 syllables per second, silent half the time), a little noise, -20 dBFS RMS, band-limited to 3.4 kHz.

    Args:
        sample_rate: samples per second, in Hz.
        seconds: duration.
        seed: noise seed.

    Returns:
        A read-only int16 array (cached: do not modify it).
    """
    rng = np.random.default_rng(seed)
    n = round(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    pitch_hz = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch_hz) / sample_rate
    top_hz = min(3400.0, sample_rate / 2 - 200)
    x: npt.NDArray[np.float64] = np.zeros(n)
    harmonic = 1
    while 170 * harmonic < top_hz:
        x += np.sin(harmonic * phase) / harmonic
        harmonic += 1
    envelope = np.sqrt(np.clip(np.sin(2 * np.pi * 3.3 * t), 0, None))
    x = x * envelope + 0.01 * rng.standard_normal(n)
    x *= 32768 * 10 ** (-20 / 20) / np.sqrt(np.mean(x**2))
    pcm = np.clip(np.round(x), -32768, 32767).astype(np.int16)
    pcm.flags.writeable = False
    return pcm


def frame_samples(sample_rate: int) -> int:
    """Samples in one 20 ms frame (882 at 44.1 kHz)."""
    return sample_rate * FRAME_MS // 1000


@functools.cache
def frame_array(sample_rate: int) -> npt.NDArray[np.int16]:
    """One voiced 20 ms frame of :func:`speech_like` audio as a read-only, C-contiguous int16 array."""
    start = round(_FRAME_OFFSET_S * sample_rate)
    frame = np.ascontiguousarray(speech_like(sample_rate, 1.0)[start : start + frame_samples(sample_rate)])
    frame.flags.writeable = False
    return frame


@functools.cache
def frame_pcm(sample_rate: int) -> bytes:
    """:func:`frame_array` as PCM bytes (640 bytes at 16 kHz)."""
    return frame_array(sample_rate).tobytes()


@functools.cache
def bulk_pcm(sample_rate: int) -> bytes:
    """60 s of speech-like PCM (0.96 MB at 8 kHz, 1.92 MB at 16 kHz)."""
    return speech_like(sample_rate, BULK_SECONDS).tobytes()


def time_stream(benchmark: Benchmark, step: Callable[[], R]) -> R:
    """Prime a stream, then time ``step`` (one 20 ms push on every object of the stream) per call.

    The stream objects live outside ``step``, are created by the caller and keep their state across calls, as
    in a real call leg. Returns the result of the last call.
    """
    for _ in range(_PRIME_CALLS):
        step()
    return benchmark.pedantic(step, rounds=_STREAM_ROUNDS, warmup_rounds=1, iterations=STREAM_ITERATIONS)


def assert_steady_rate(step_len: Callable[[], int], per_call: int, calls: int = 100) -> None:
    """Check that a primed stream gives ``per_call`` units per call on average, over ``calls`` more calls.

    For soxr streams, whose single calls return 0 or a block of several frames; the tolerance is one block.
    """
    produced = sum(step_len() for _ in range(calls))
    assert abs(produced - calls * per_call) <= _SOXR_BLOCK_FRAMES * per_call, (produced, calls * per_call)
