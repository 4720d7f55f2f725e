"""Resampling: vapi_fast's polyphase FIR against libsoxr (python-soxr), streaming per 20 ms frame and one-shot.

Streaming: each library gets the same prebuilt 20 ms int16 array every call, through a stream object created
and primed outside the timed function; the time is per call, averaged over rounds of 100 calls (see
``conftest.STREAM_ITERATIONS``). vapi_fast "high" is the comparison with soxr "HQ"; "medium" and "low" are in the
same group for information. One-shot: 10 s of audio, same array to both.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
import numpy.typing as npt
import pytest
from vapi_fast.audio import Quality, Resampler, resample

from .conftest import Benchmark, assert_steady_rate, frame_array, frame_samples, speech_like, time_stream

STREAM_PAIRS = [(8000, 16000), (16000, 8000), (16000, 24000), (24000, 16000), (48000, 16000), (44100, 16000)]
ONE_SHOT_PAIRS = [(8000, 16000), (16000, 8000), (48000, 16000)]
ONE_SHOT_SECONDS = 10

STREAM_PARAMS = [
    pytest.param(
        in_rate,
        out_rate,
        id=f"{in_rate}-{out_rate}",
        marks=pytest.mark.benchmark(group=f"resample stream 20ms {in_rate}->{out_rate}"),
    )
    for in_rate, out_rate in STREAM_PAIRS
]
ONE_SHOT_PARAMS = [
    pytest.param(
        in_rate,
        out_rate,
        id=f"{in_rate}-{out_rate}",
        marks=pytest.mark.benchmark(group=f"resample one-shot {ONE_SHOT_SECONDS}s {in_rate}->{out_rate}"),
    )
    for in_rate, out_rate in ONE_SHOT_PAIRS
]


def _vapi_fast_stream(benchmark: Benchmark, in_rate: int, out_rate: int, quality: Quality) -> None:
    chunk = frame_array(in_rate)
    resampler = Resampler(in_rate, out_rate, quality)
    out = time_stream(benchmark, lambda: resampler.push(chunk))
    # Once primed, 20 ms in gives 20 ms out, within one sample.
    assert abs(len(out) // 2 - frame_samples(out_rate)) <= 1


@pytest.mark.parametrize(("in_rate", "out_rate"), STREAM_PARAMS)
class TestStream:
    def test_vapi_fast(self, benchmark: Benchmark, in_rate: int, out_rate: int) -> None:
        _vapi_fast_stream(benchmark, in_rate, out_rate, "high")

    def test_vapi_fast_medium(self, benchmark: Benchmark, in_rate: int, out_rate: int) -> None:
        _vapi_fast_stream(benchmark, in_rate, out_rate, "medium")

    def test_vapi_fast_low(self, benchmark: Benchmark, in_rate: int, out_rate: int) -> None:
        _vapi_fast_stream(benchmark, in_rate, out_rate, "low")

    def test_soxr_hq(self, benchmark: Benchmark, soxr: ModuleType, in_rate: int, out_rate: int) -> None:
        chunk = frame_array(in_rate)
        stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="int16", quality="HQ")
        time_stream(benchmark, lambda: stream.resample_chunk(chunk))
        assert_steady_rate(lambda: len(stream.resample_chunk(chunk)), frame_samples(out_rate))


def _one_shot_input(in_rate: int) -> npt.NDArray[np.int16]:
    return speech_like(in_rate, ONE_SHOT_SECONDS)


def _one_shot_len(n_in: int, in_rate: int, out_rate: int) -> int:
    """Output samples of a one-shot resample: ``ceil(n_in * out_rate / in_rate)``."""
    return -(-n_in * out_rate // in_rate)


@pytest.mark.parametrize(("in_rate", "out_rate"), ONE_SHOT_PARAMS)
class TestOneShot:
    def test_vapi_fast(self, benchmark: Benchmark, in_rate: int, out_rate: int) -> None:
        x = _one_shot_input(in_rate)
        out = benchmark(resample, x, in_rate, out_rate, "high")
        benchmark.extra_info["pcm_bytes"] = x.nbytes
        assert len(out) // 2 == _one_shot_len(len(x), in_rate, out_rate)

    def test_soxr_hq(self, benchmark: Benchmark, soxr: ModuleType, in_rate: int, out_rate: int) -> None:
        x = _one_shot_input(in_rate)
        out: npt.NDArray[np.int16] = benchmark(soxr.resample, x, in_rate, out_rate, quality="HQ")
        benchmark.extra_info["pcm_bytes"] = x.nbytes
        assert out.dtype == np.int16
        assert abs(len(out) - _one_shot_len(len(x), in_rate, out_rate)) <= 1
