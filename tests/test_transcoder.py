"""Transcoder: the two directions of a call, framing, channel mixing, carried partial samples."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import audioop, speech_like
from hypothesis import given, settings
from hypothesis import strategies as st
from vapi_fast.audio import AudioFormat, AudioFormatError, Transcoder, resample, ulaw_decode, ulaw_encode

ULAW8K = AudioFormat("mulaw", 8000)
PCM16K = AudioFormat("pcm_s16le", 16000)


def as_bytes(out: bytes | list[bytes]) -> bytes:
    return out if isinstance(out, bytes) else b"".join(out)


def test_equals_decode_resample_encode_done_separately() -> None:
    caller = speech_like(16000, 1.0).tobytes()
    up = Transcoder(PCM16K, ULAW8K)
    assert as_bytes(up.push(caller)) + as_bytes(up.flush()) == ulaw_encode(resample(caller, 16000, 8000))
    wire = audioop.lin2ulaw(speech_like(8000, 1.0).tobytes(), 2)
    down = Transcoder(ULAW8K, PCM16K)
    assert as_bytes(down.push(wire)) + as_bytes(down.flush()) == resample(ulaw_decode(wire), 8000, 16000)


@settings(max_examples=30, deadline=None)
@given(cuts=st.lists(st.integers(0, 4000), max_size=15))
def test_any_chunking_gives_the_same_frames(cuts: list[int]) -> None:
    data = speech_like(16000, 0.25, seed=3).tobytes()
    whole = Transcoder(PCM16K, ULAW8K, frame_ms=20)
    expected = as_bytes(whole.push(data)) + as_bytes(whole.flush())
    t = Transcoder(PCM16K, ULAW8K, frame_ms=20)
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    frames: list[bytes] = []
    for a, b in itertools.pairwise(points):  # odd cut points split samples: they must be carried
        out = t.push(data[a:b])
        assert isinstance(out, list)
        frames.extend(out)
    tail = t.flush()
    assert isinstance(tail, list)
    frames.extend(tail)
    assert all(len(f) == 160 for f in frames)
    assert b"".join(frames) == expected


def test_framing_pads_the_last_frame_with_codec_silence() -> None:
    t = Transcoder(PCM16K, ULAW8K, frame_ms=20)
    assert t.frame_ms == 20 and t.src == PCM16K and t.dst == ULAW8K
    out = t.push(bytes(2 * 100))  # 100 samples at 16 kHz = 50 at 8 kHz: no whole frame yet
    assert out == []
    tail = t.flush()
    assert isinstance(tail, list) and len(tail) == 1 and len(tail[0]) == 160
    assert set(tail[0]) == {0xFF}


def test_stereo_48k_sound_card_to_mulaw_and_back() -> None:
    card = AudioFormat("pcm_s16le", 48000, 2)
    mono = speech_like(48000, 0.5)
    stereo = np.repeat(mono, 2).tobytes()
    to_wire = Transcoder(card, ULAW8K, frame_ms=20)
    frames = as_bytes(to_wire.push(stereo)) + as_bytes(to_wire.flush())
    assert len(frames) % 160 == 0
    assert frames == ulaw_encode(resample(mono.tobytes(), 48000, 8000)) + b"\xff" * (-(len(mono) // 6) % 160)
    back = Transcoder(ULAW8K, card)
    pcm = np.frombuffer(as_bytes(back.push(frames)) + as_bytes(back.flush()), np.int16).reshape(-1, 2)
    assert np.array_equal(pcm[:, 0], pcm[:, 1])


def test_partial_sample_is_carried_then_reported_at_flush() -> None:
    t = Transcoder(PCM16K, PCM16K)
    assert t.push(b"\x01\x02\x03") == b"\x01\x02"
    assert t.pending_bytes == 1
    assert t.push(b"\x04") == b"\x03\x04"
    t.push(b"\x05")
    with pytest.raises(AudioFormatError, match="at flush"):
        t.flush()
    assert t.pending_bytes == 0


def test_reset_and_delay() -> None:
    t = Transcoder(ULAW8K, PCM16K)
    assert 0 < t.delay_samples * 1000 / 16000 <= 10
    t.push(b"\x00" * 500)
    t.reset()
    assert t.pending_bytes == 0
    out = as_bytes(t.push(b"\xff" * 1600))  # 200 ms of mu-law silence
    assert set(out) == {0}
    # Everything but the look-ahead comes out at once.
    assert abs(len(out) // 2 - (3200 - t.delay_samples)) <= 2


def test_incompatible_formats_are_rejected() -> None:
    with pytest.raises(AudioFormatError, match="one side must be mono"):
        Transcoder(AudioFormat("pcm_s16le", 16000, 2), AudioFormat("pcm_s16le", 16000, 3))
    with pytest.raises(AudioFormatError, match="8000 to 48000"):
        Transcoder(AudioFormat("pcm_s16le", 96000), PCM16K)
    with pytest.raises(AudioFormatError, match="whole number of samples"):
        Transcoder(PCM16K, AudioFormat("pcm_s16le", 11025), frame_ms=20)
