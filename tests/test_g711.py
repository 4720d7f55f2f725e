"""G.711: bit-exact with CPython's audioop (the Sun reference code) for every input."""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest
import vapi_fast
from conftest import audioop, speech_like
from vapi_fast.audio import AudioFormatError, alaw_decode, alaw_encode, resample, ulaw_decode, ulaw_encode

ALL_PCM = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


@pytest.mark.parametrize(("ours", "ref"), [(ulaw_encode, audioop.lin2ulaw), (alaw_encode, audioop.lin2alaw)])
def test_encode_is_bit_exact_for_all_65536_samples(ours, ref) -> None:  # type: ignore[no-untyped-def]
    pcm = ALL_PCM.tobytes()
    assert ours(pcm) == ref(pcm, 2)
    # Odd lengths and offsets exercise the tail of the vectorized loop.
    for start, stop in [(2, 2 + 2 * 33), (6, 6 + 2 * 1001), (0, 2)]:
        assert ours(pcm[start:stop]) == ref(pcm[start:stop], 2)


@pytest.mark.parametrize(("ours", "ref"), [(ulaw_decode, audioop.ulaw2lin), (alaw_decode, audioop.alaw2lin)])
def test_decode_is_bit_exact_for_all_256_codes(ours, ref) -> None:  # type: ignore[no-untyped-def]
    assert ours(ALL_CODES) == ref(ALL_CODES, 2)
    assert ours(ALL_CODES * 7 + ALL_CODES[:13]) == ref(ALL_CODES * 7 + ALL_CODES[:13], 2)


def test_known_values() -> None:
    assert ulaw_encode(np.array([0, 32767, -32768], np.int16)) == bytes([0xFF, 0x80, 0x00])
    assert alaw_encode(np.array([0], np.int16)) == bytes([0xD5])
    assert np.frombuffer(ulaw_decode(b"\xff\x00\x80"), np.int16).tolist() == [0, -32124, 32124]


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_round_trip_snr_of_speech_at_minus_20_dbfs(law: str) -> None:
    x = speech_like(8000, 5.0, dbfs_rms=-20.0)
    enc, dec = (ulaw_encode, ulaw_decode) if law == "ulaw" else (alaw_encode, alaw_decode)
    y = np.frombuffer(dec(enc(x)), np.int16).astype(np.float64)
    err = y - x
    snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum(err**2))
    assert snr >= 37.0, snr


def test_accepts_every_buffer_type_without_changing_the_result() -> None:
    x = speech_like(8000, 0.1)
    expected = ulaw_encode(x.tobytes())
    for obj in (x, x.tobytes(), bytearray(x.tobytes()), memoryview(x.tobytes()), x.data):
        assert ulaw_encode(obj) == expected
    codes = np.frombuffer(expected, np.uint8)
    assert ulaw_decode(codes) == ulaw_decode(expected) == ulaw_decode(bytearray(expected))
    assert ulaw_encode(b"") == b"" and ulaw_decode(b"") == b""


def test_bad_input_is_a_clear_value_error() -> None:
    with pytest.raises(AudioFormatError, match="whole number of samples"):
        ulaw_encode(b"\x00\x01\x02")
    with pytest.raises(AudioFormatError, match="item format"):
        ulaw_encode(np.zeros(4, np.float32))
    with pytest.raises(AudioFormatError, match="item format"):
        ulaw_decode(np.zeros(4, np.int16))
    with pytest.raises(AudioFormatError, match="C-contiguous"):
        ulaw_encode(np.zeros(8, np.int16)[::2])
    with pytest.raises(AudioFormatError, match="bytes-like"):
        alaw_decode("text")  # type: ignore[arg-type]
    assert issubclass(vapi_fast.AudioFormatError, ValueError)


def test_whole_buffer_calls_release_the_gil() -> None:
    # A second thread counts only while the main thread is inside one long native call. With a long
    # switch interval it could not run then unless the call released the GIL.
    # Two minutes of 44.1 kHz audio resampled: tens of milliseconds of native work, long enough for
    # the other thread to be scheduled (a bulk G.711 call is over in about a millisecond).
    big = np.random.default_rng(0).integers(-32768, 32767, 44100 * 120, dtype=np.int16).tobytes()
    inside = threading.Event()
    stop = threading.Event()
    ticks = 0

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            if inside.is_set():
                ticks += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(0.5)
    t = threading.Thread(target=spin)
    t.start()
    try:
        inside.set()
        resample(big, 44100, 8000)
        ulaw_encode(big)
        inside.clear()
    finally:
        stop.set()
        t.join()
        sys.setswitchinterval(old)
    assert ticks > 1000, ticks
