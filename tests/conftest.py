"""Shared helpers for the test suite."""

from __future__ import annotations

import os
import warnings

import numpy as np
import numpy.typing as npt

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # the G.711 reference code, in the stdlib until 3.12
    except ImportError:  # pragma: no cover - 3.13+
        import audioop_lts as audioop  # type: ignore[import-not-found,no-redef]

__all__ = ["TIMEOUT_FACTOR", "audioop", "speech_like", "tone"]

#: Scales every timeout in the suite on slow machines (websockets' convention).
TIMEOUT_FACTOR = float(os.environ.get("VAPI_FAST_TIMEOUT_FACTOR", "1"))


def tone(freq_hz: float, sample_rate: int, seconds: float, dbfs: float = -1.0) -> npt.NDArray[np.int16]:
    """A sine at ``dbfs`` (peak) as int16."""
    n = round(sample_rate * seconds)
    amplitude = 32767 * 10 ** (dbfs / 20)
    t = np.arange(n) / sample_rate
    return np.round(amplitude * np.sin(2 * np.pi * freq_hz * t)).astype(np.int16)


def speech_like(sample_rate: int, seconds: float, dbfs_rms: float = -20.0, seed: int = 1) -> npt.NDArray[np.int16]:
    """Deterministic speech-like audio: harmonics of a gliding pitch under a syllable envelope, with a
    little noise, scaled to ``dbfs_rms`` RMS and band-limited to telephone speech (under 3.4 kHz)."""
    rng = np.random.default_rng(seed)
    n = round(sample_rate * seconds)
    t = np.arange(n) / sample_rate
    pitch = 140 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
    x = np.zeros(n)
    for h in range(1, 20):
        if 140 * h * 1.3 > min(3400, sample_rate / 2 - 200):
            break
        x += np.sin(h * phase) / h
    envelope = np.clip(np.sin(2 * np.pi * 3.3 * t), 0, None) ** 0.5
    x = x * envelope + 0.01 * rng.standard_normal(n)
    x *= 32768 * 10 ** (dbfs_rms / 20) / np.sqrt(np.mean(x**2))
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)
