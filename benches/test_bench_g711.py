"""G.711 mu-law / A-law: vapi_fast against audioop (the stdlib C code Python voice stacks call) and numpy tables.

One group per operation and size. Every implementation gets the same ``bytes`` and returns ``bytes``: the numpy
table code includes ``np.frombuffer`` and ``.tobytes()``, as a caller holding wire audio must.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
from vapi_fast.audio import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode

from .conftest import Audioop, Benchmark, bulk_pcm, frame_pcm, frame_samples

Law = Literal["ulaw", "alaw"]
Op = Literal["encode", "decode"]

#: G.711 is narrowband telephony audio.
RATE = 8000

VAPI_FAST: dict[tuple[Law, Op], Callable[[bytes], bytes]] = {
    ("ulaw", "encode"): ulaw_encode,
    ("ulaw", "decode"): ulaw_decode,
    ("alaw", "encode"): alaw_encode,
    ("alaw", "decode"): alaw_decode,
}


def audioop_function(audioop: Audioop, law: Law, op: Op) -> Callable[[bytes, int], bytes]:
    """The audioop function for ``law`` and ``op`` (called with a sample width of 2)."""
    functions: dict[tuple[Law, Op], Callable[[bytes, int], bytes]] = {
        ("ulaw", "encode"): audioop.lin2ulaw,
        ("ulaw", "decode"): audioop.ulaw2lin,
        ("alaw", "encode"): audioop.lin2alaw,
        ("alaw", "decode"): audioop.alaw2lin,
    }
    return functions[law, op]


@functools.cache
def _codes(law: Law, bulk: bool) -> bytes:
    pcm = bulk_pcm(RATE) if bulk else frame_pcm(RATE)
    return VAPI_FAST[law, "encode"](pcm)


@dataclass(frozen=True)
class Case:
    """One benchmark group: an operation on a 20 ms frame or on 60 s of audio."""

    law: Law
    op: Op
    bulk: bool

    @property
    def group(self) -> str:
        size = "bulk 60s 8kHz" if self.bulk else f"20ms frame ({frame_samples(RATE)} samples)"
        return f"{self.law} {self.op} {size}"

    @property
    def id(self) -> str:
        return f"{self.law}-{self.op}-{'bulk' if self.bulk else 'frame'}"

    @property
    def pcm_bytes(self) -> int:
        """Bytes on the PCM side: the input of an encode, the output of a decode."""
        return len(bulk_pcm(RATE) if self.bulk else frame_pcm(RATE))

    def data(self) -> bytes:
        """The input: PCM to encode, or G.711 codes to decode."""
        if self.op == "encode":
            return bulk_pcm(RATE) if self.bulk else frame_pcm(RATE)
        return _codes(self.law, self.bulk)

    def expected_len(self) -> int:
        """Output length in bytes: one code per sample, or two PCM bytes per code."""
        return self.pcm_bytes // 2 if self.op == "encode" else self.pcm_bytes


FRAME_CASES = [Case(law, op, bulk=False) for law in ("ulaw", "alaw") for op in ("encode", "decode")]
BULK_CASES = [Case(law, op, bulk=True) for law in ("ulaw", "alaw") for op in ("encode", "decode")]
ALL_PARAMS = [
    pytest.param(case, id=case.id, marks=pytest.mark.benchmark(group=case.group)) for case in FRAME_CASES + BULK_CASES
]
BULK_PARAMS = [pytest.param(case, id=case.id, marks=pytest.mark.benchmark(group=case.group)) for case in BULK_CASES]


def _record(benchmark: Benchmark, case: Case) -> None:
    if case.bulk:
        benchmark.extra_info["pcm_bytes"] = case.pcm_bytes


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_vapi_fast(benchmark: Benchmark, case: Case) -> None:
    out = benchmark(VAPI_FAST[case.law, case.op], case.data())
    _record(benchmark, case)
    assert len(out) == case.expected_len()


@pytest.mark.parametrize("case", ALL_PARAMS)
def test_audioop(benchmark: Benchmark, audioop: Audioop, case: Case) -> None:
    out = benchmark(audioop_function(audioop, case.law, case.op), case.data(), 2)
    _record(benchmark, case)
    assert len(out) == case.expected_len()


def numpy_table_function(audioop: Audioop, law: Law, op: Op) -> Callable[[bytes], bytes]:
    """The usual numpy G.711 code: a 64K-entry uint8 table indexed by the samples' bit patterns to encode,
    a 256-entry int16 table indexed by the codes to decode; tables built from audioop."""
    reference = audioop_function(audioop, law, op)
    if op == "encode":
        every_sample = np.arange(65536, dtype=np.uint16)  # index i holds the int16 whose bits are i
        encode_table: npt.NDArray[np.uint8] = np.frombuffer(reference(every_sample.tobytes(), 2), np.uint8)

        def encode(pcm: bytes) -> bytes:
            return encode_table[np.frombuffer(pcm, np.uint16)].tobytes()

        return encode
    decode_table: npt.NDArray[np.int16] = np.frombuffer(reference(bytes(range(256)), 2), np.int16)

    def decode(codes: bytes) -> bytes:
        return decode_table[np.frombuffer(codes, np.uint8)].tobytes()

    return decode


@pytest.mark.parametrize("case", BULK_PARAMS)
def test_numpy_table(benchmark: Benchmark, audioop: Audioop, case: Case) -> None:
    out = benchmark(numpy_table_function(audioop, case.law, case.op), case.data())
    _record(benchmark, case)
    assert len(out) == case.expected_len()
