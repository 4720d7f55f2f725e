"""JitterBuffer: cost of one push + pop per 20 ms frame through Python, and of clear().

The push + pop comparison is what a Python client writes by hand: a dict keyed by sequence number,
popping the next expected frame or a silence frame. It does far less (no adaptation, no concealment,
no statistics), so it marks the floor of per-frame Python overhead rather than an equal rival.

clear() (barge-in) is timed on a buffer holding 20 ms and one holding 60 s of queued audio, in one
group: equal medians show it is O(1). The buffer is refilled outside the timed call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar, cast

import pytest
from vapi_fast.audio import AudioFormat, JitterBuffer

from .conftest import Benchmark

R = TypeVar("R")

FRAME = bytes(range(160))
SILENCE = b"\xff" * 160


class DictReorderBuffer:
    """The hand-written baseline: frames by sequence number, played in order after a fixed fill."""

    def __init__(self, fill: int = 4) -> None:
        self.frames: dict[int, bytes] = {}
        self.next_seq = 0
        self.fill = fill

    def push(self, data: bytes, seq: int) -> None:
        if seq >= self.next_seq:
            self.frames[seq] = data

    def pop(self) -> bytes:
        if len(self.frames) < self.fill and self.next_seq == 0:
            return SILENCE
        frame = self.frames.pop(self.next_seq, SILENCE)
        self.next_seq += 1
        return frame


ROUND = 100


@pytest.mark.benchmark(group="jitter buffer push+pop per 20ms frame (x100)")
def test_vapi_fast(benchmark: Benchmark) -> None:
    jb = JitterBuffer(AudioFormat("mulaw", 8000))
    clock = [0.0]

    def run() -> None:
        t = clock[0]
        for _ in range(ROUND):
            jb.push(FRAME, t)
            jb.pop(t)
            t += 20.0
        clock[0] = t

    benchmark(run)
    assert len(jb.pop(clock[0])) == 160
    s = jb.stats()
    assert s["frames_pushed"] == s["frames_played"] + s["frames_dropped"] + s["frames_flushed"] + s["frames_pending"]


@pytest.mark.benchmark(group="jitter buffer push+pop per 20ms frame (x100)")
def test_vapi_fast_seq(benchmark: Benchmark) -> None:
    jb = JitterBuffer(AudioFormat("mulaw", 8000))
    start = [0]

    def run() -> None:
        seq = start[0]
        for _ in range(ROUND):
            t = 20.0 * seq
            jb.push(FRAME, t, seq)
            jb.pop(t)
            seq += 1
        start[0] = seq

    benchmark(run)
    assert len(jb.pop(20.0 * start[0])) == 160


@pytest.mark.benchmark(group="jitter buffer push+pop per 20ms frame (x100)")
def test_python_dict(benchmark: Benchmark) -> None:
    buf = DictReorderBuffer()
    seq = [0]

    def run() -> None:
        s = seq[0]
        for _ in range(ROUND):
            buf.push(FRAME, s)
            buf.pop()
            s += 1
        seq[0] = s

    benchmark(run)
    assert len(buf.pop()) == 160


class PedanticSetup(Protocol):
    """pytest-benchmark's ``pedantic`` with the ``setup`` argument, which runs untimed before each round."""

    def pedantic(self, target: Callable[[], R], *, setup: Callable[[], None], rounds: int) -> R: ...


CLEAR_ROUNDS = 1000
#: One second of mu-law at 8 kHz.
SECOND = FRAME * 50


def time_clear(benchmark: Benchmark, queued: bytes) -> float:
    jb = JitterBuffer(AudioFormat("mulaw", 8000))
    # Refilling 60 s moves about 0.5 MB through the caches before the timed call. Both cases move
    # it, through another buffer, so the only difference between them is the audio queued.
    churn = JitterBuffer(AudioFormat("mulaw", 8000))

    def fill() -> None:
        churn.push(SECOND * 60, 0.0)
        churn.clear()
        jb.push(queued, 0.0)

    return cast(PedanticSetup, benchmark).pedantic(jb.clear, setup=fill, rounds=CLEAR_ROUNDS)


@pytest.mark.benchmark(group="jitter buffer clear() with 20 ms vs 60 s queued")
def test_vapi_fast_20ms_queued(benchmark: Benchmark) -> None:
    assert time_clear(benchmark, FRAME) == 20.0


@pytest.mark.benchmark(group="jitter buffer clear() with 20 ms vs 60 s queued")
def test_vapi_fast_60s_queued(benchmark: Benchmark) -> None:
    assert time_clear(benchmark, SECOND * 60) == 60_000.0
