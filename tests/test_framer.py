"""Framer: whole frames out, nothing lost, the remainder kept."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vapi_fast.audio import AudioFormat, AudioFormatError, Framer

PCM16 = AudioFormat("pcm_s16le", 16000)
ULAW = AudioFormat("mulaw", 8000)


def test_frames_are_exact_and_the_remainder_is_kept() -> None:
    f = Framer(PCM16, 20)
    assert f.frame_bytes == 640 and f.frame_ms == 20 and f.format == PCM16
    assert f.push(b"\x01" * 639) == []
    assert f.pending_bytes == 639
    frames = f.push(b"\x02" * 642)
    assert frames == [b"\x01" * 639 + b"\x02", b"\x02" * 640]
    assert f.pending_bytes == 1  # an odd trailing byte of PCM waits for its partner
    assert f.flush(pad=False) == b"\x02"
    assert f.pending_bytes == 0 and f.flush() == b""


def test_flush_pads_with_the_codec_silence() -> None:
    f = Framer(ULAW, 20)
    f.push(b"\x10" * 10)
    assert f.flush() == b"\x10" * 10 + b"\xff" * 150
    p = Framer(PCM16, 10)
    p.push(b"\x01\x02")
    assert p.flush(pad=True) == b"\x01\x02" + bytes(318)


def test_reset_drops_the_remainder() -> None:
    f = Framer(ULAW)
    f.push(b"\x00" * 100)
    f.reset()
    assert f.pending_bytes == 0 and f.push(b"\x00" * 160) == [b"\x00" * 160]


@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=20),
       frame_ms=st.sampled_from([10, 20, 30, 60]))  # fmt: skip
def test_any_split_loses_nothing(data: bytes, cuts: list[int], frame_ms: int) -> None:
    f = Framer(PCM16, frame_ms)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out.extend(f.push(data[a:b]))
        assert f.pending_bytes < f.frame_bytes
    assert all(len(fr) == f.frame_bytes for fr in out)
    assert b"".join(out) + f.flush(pad=False) == data


def test_unusable_frame_durations_are_rejected() -> None:
    with pytest.raises(AudioFormatError, match="whole number of samples"):
        Framer(AudioFormat("pcm_s16le", 11025), 20)
    with pytest.raises(AudioFormatError, match="1 to 1000 ms"):
        Framer(PCM16, 0)
    assert Framer(AudioFormat("pcm_s16le", 11025), 40).frame_bytes == 882
