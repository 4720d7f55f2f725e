"""Resampler: streaming equals one-shot, and the quality figures of each setting."""

from __future__ import annotations

import itertools
import math

import numpy as np
import numpy.typing as npt
import pytest
from conftest import speech_like, tone
from hypothesis import given, settings
from hypothesis import strategies as st
from vapi_fast.audio import AudioFormatError, Quality, Resampler, resample

RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]
PAIRS = [(8000, 16000), (16000, 8000), (16000, 24000), (24000, 16000), (48000, 16000), (44100, 16000), (8000, 48000),
         (11025, 8000), (22050, 16000), (8000, 44100)]  # fmt: skip
CHUNKS = [1, 17, 159, 160, 161, 509]


def pcm(x: npt.NDArray[np.int16]) -> bytes:
    return x.astype("<i2").tobytes()


def samples(b: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(b, "<i2").astype(np.float64)


def streamed(data: bytes, fin: int, fout: int, chunk_samples: int, quality: Quality = "high") -> bytes:
    r = Resampler(fin, fout, quality)
    step = 2 * chunk_samples
    return b"".join(r.push(data[i : i + step]) for i in range(0, len(data), step)) + r.flush()


@pytest.mark.parametrize(("fin", "fout"), PAIRS)
def test_every_chunking_concatenates_to_the_one_shot_output(fin: int, fout: int) -> None:
    data = pcm(speech_like(fin, 0.3))
    whole = resample(data, fin, fout)
    n_in = len(data) // 2
    assert len(whole) // 2 == -(-n_in * fout // fin)
    for chunk in CHUNKS:
        assert streamed(data, fin, fout, chunk) == whole, chunk


@settings(max_examples=40, deadline=None)
@given(
    pair=st.sampled_from(PAIRS),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
    quality=st.sampled_from(["low", "medium", "high"]),
)
def test_random_chunkings_match_one_shot(pair: tuple[int, int], cuts: list[int], quality: Quality) -> None:
    fin, fout = pair
    data = pcm(speech_like(fin, 0.2, seed=len(cuts)))
    n = len(data) // 2
    points = sorted({min(c, n) for c in cuts} | {0, n})
    r = Resampler(fin, fout, quality)
    out = b"".join(r.push(data[2 * a : 2 * b]) for a, b in itertools.pairwise(points)) + r.flush()
    assert out == resample(data, fin, fout, quality)


@pytest.mark.parametrize(("fin", "fout"), [(a, b) for a in RATES for b in RATES if a != b])
def test_twenty_ms_in_gives_twenty_ms_out_once_primed(fin: int, fout: int) -> None:
    r = Resampler(fin, fout)
    # 20 ms rounded down to whole samples (220 at 11025 Hz): the output then alternates around the
    # exact ratio, which the +-1 tolerance covers.
    chunk = pcm(speech_like(fin, 0.02))
    expected = len(chunk) // 2 * fout / fin
    primed = math.ceil(r.delay_samples / expected) + 1
    sizes = [len(r.push(chunk)) // 2 for _ in range(primed + 50)]
    assert all(abs(n - expected) <= 1 for n in sizes[primed:]), sizes
    # Nothing is held back beyond the filter's look-ahead.
    assert sum(sizes) >= 50 * expected - r.delay_samples - 1


def test_delay_is_at_most_10_ms_for_every_pair() -> None:
    for fin in RATES:
        for fout in RATES:
            for quality in ("low", "medium", "high"):
                r = Resampler(fin, fout, quality)
                assert r.delay_samples * 1000 / fout <= 10.0, (fin, fout, quality)


@pytest.mark.parametrize(("fin", "fout"), PAIRS)
def test_silence_in_gives_silence_out(fin: int, fout: int) -> None:
    assert set(resample(bytes(2 * fin // 5), fin, fout)) <= {0}


def spectrum_dbfs(x: npt.NDArray[np.float64], rate: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Peak-reading spectrum: a full-scale sine reads 0 dBFS at its bin."""
    w = np.blackman(len(x))
    mag = np.abs(np.fft.rfft(x * w)) / (np.sum(w) / 2) / 32768
    level: npt.NDArray[np.float64] = 20 * np.log10(np.maximum(mag, 1e-12))
    freqs = np.fft.rfftfreq(len(x), 1 / rate).astype(np.float64)
    return freqs, level


def fit_sine(x: npt.NDArray[np.float64], freq: float, rate: int) -> tuple[float, npt.NDArray[np.float64]]:
    """Least-squares amplitude of a sine at ``freq`` (with DC) and the residual."""
    t = np.arange(len(x)) / rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return float(np.hypot(coef[0], coef[1])), x - basis @ coef


def trimmed(x: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """Drop 50 ms at each end, where the zero padding's edge transient lives."""
    edge = rate // 20
    return x[edge:-edge]


HIGH_PAIRS = [(8000, 16000), (16000, 8000), (16000, 24000), (24000, 16000), (48000, 16000), (44100, 16000),
              (8000, 48000), (11025, 8000), (8000, 44100), (22050, 48000)]  # fmt: skip


@pytest.mark.parametrize(("fin", "fout"), HIGH_PAIRS)
def test_high_passband_is_flat_within_0_01_db(fin: int, fout: int) -> None:
    low = min(fin, fout)
    for freq in [100.0, 1000.0, 0.25 * low, 0.4 * low, 0.45 * low]:
        x = tone(freq, fin, 0.5, dbfs=-1.0)
        y = trimmed(samples(resample(pcm(x), fin, fout)), fout)
        amp_in, _ = fit_sine(trimmed(x.astype(np.float64), fin), freq, fin)
        amp_out, _ = fit_sine(y, freq, fout)
        gain_db = 20 * np.log10(amp_out / amp_in)
        assert abs(gain_db) <= 0.01, (freq, gain_db)


@pytest.mark.parametrize(("fin", "fout"), [(16000, 8000), (48000, 16000), (44100, 16000), (24000, 16000),
                                           (22050, 8000), (11025, 8000)])  # fmt: skip
def test_high_aliases_are_below_the_16_bit_floor(fin: int, fout: int) -> None:
    # Tones at and above the output's Nyquist must not fold back into the band.
    nyquist = fout / 2
    for freq in [nyquist, nyquist * 1.05, nyquist * 1.25, 0.45 * fin]:
        x = tone(freq, fin, 0.5, dbfs=0.0)
        y = trimmed(samples(resample(pcm(x), fin, fout)), fout)
        _, level = spectrum_dbfs(y, fout)
        assert level.max() <= -96.0, (freq, level.max())


@pytest.mark.parametrize(("fin", "fout"), [(8000, 16000), (8000, 48000), (16000, 24000), (8000, 44100),
                                           (22050, 48000)])  # fmt: skip
def test_high_images_are_below_the_16_bit_floor(fin: int, fout: int) -> None:
    # 997 Hz, the usual "1 kHz" test tone: a frequency that divides the rates would make the 16-bit
    # rounding error periodic and pile it up in the image bins. -0.5 dBFS: at 0 dBFS the passband
    # ripple (up to +0.01 dB) would clip, and clipping, not the filter, would make the images.
    for freq in [997.0, 0.45 * fin]:
        x = tone(freq, fin, 0.5, dbfs=-0.5)
        y = trimmed(samples(resample(pcm(x), fin, fout)), fout)
        freqs, level = spectrum_dbfs(y, fout)
        above = level[freqs >= fin / 2]
        assert above.max() <= -96.0, (freq, above.max())


@pytest.mark.parametrize(("fin", "fout"), HIGH_PAIRS)
def test_high_thd_plus_noise_at_1_khz(fin: int, fout: int) -> None:
    x = tone(997.0, fin, 0.5, dbfs=-1.0)  # the AES17 "1 kHz" tone, coprime with the rates
    y = trimmed(samples(resample(pcm(x), fin, fout)), fout)
    amp, residual = fit_sine(y, 997.0, fout)
    thd_n = 10 * np.log10(np.mean(residual**2) / (amp**2 / 2))
    assert thd_n <= -93.0, thd_n


# The documented figures of the cheaper settings: (stopband floor dBFS, passband edge as a fraction of the lower rate).
CHEAPER: dict[Quality, tuple[float, float]] = {"medium": (-80.0, 0.43), "low": (-60.0, 0.40)}


@pytest.mark.parametrize("quality", ["medium", "low"])
@pytest.mark.parametrize(("fin", "fout"), [(16000, 8000), (48000, 16000), (8000, 16000)])
def test_cheaper_settings_meet_their_documented_figures(quality: Quality, fin: int, fout: int) -> None:
    floor, edge = CHEAPER[quality]
    low = min(fin, fout)
    x = tone(edge * low, fin, 0.5, dbfs=-1.0)
    amp_in, _ = fit_sine(trimmed(x.astype(np.float64), fin), edge * low, fin)
    amp_out, _ = fit_sine(trimmed(samples(resample(pcm(x), fin, fout, quality)), fout), edge * low, fout)
    assert abs(20 * np.log10(amp_out / amp_in)) <= 0.1
    if fin > fout:
        y = trimmed(samples(resample(pcm(tone(0.55 * fout, fin, 0.5, dbfs=0.0)), fin, fout, quality)), fout)
        assert spectrum_dbfs(y, fout)[1].max() <= floor


def test_state_and_reset() -> None:
    r = Resampler(8000, 16000, "high")
    assert (r.in_rate, r.out_rate, r.quality, r.channels) == (8000, 16000, "high", 1)
    data = pcm(speech_like(8000, 0.1))
    first = r.push(data) + r.flush()
    r.push(pcm(speech_like(8000, 0.1, seed=9)))
    r.reset()
    assert r.push(data) + r.flush() == first


def test_stereo_is_two_independent_channels() -> None:
    left = speech_like(16000, 0.2)
    right = (left // 3).astype(np.int16)
    inter = np.stack([left, right], axis=1).reshape(-1)
    out = np.frombuffer(resample(pcm(inter), 16000, 48000, channels=2), "<i2").reshape(-1, 2)
    assert out[:, 0].tobytes() == resample(pcm(left), 16000, 48000)
    assert out[:, 1].tobytes() == resample(pcm(right), 16000, 48000)


def test_same_rate_is_an_exact_copy() -> None:
    data = pcm(speech_like(16000, 0.1))
    assert resample(data, 16000, 16000) == data
    assert Resampler(16000, 16000).delay_samples == 0


def test_bad_arguments_say_what_is_allowed() -> None:
    with pytest.raises(AudioFormatError, match="8000 to 48000"):
        Resampler(7999, 16000)
    with pytest.raises(AudioFormatError, match="8000 to 48000"):
        Resampler(16000, 96000)
    with pytest.raises(AudioFormatError, match="quality"):
        Resampler(8000, 16000, "best")  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError, match="channels"):
        Resampler(8000, 16000, channels=0)
    with pytest.raises(AudioFormatError, match="multiple of 2 bytes"):
        Resampler(8000, 16000).push(b"\x00\x00\x01")
    with pytest.raises(AudioFormatError, match="multiple of 4 bytes"):
        Resampler(8000, 16000, channels=2).push(b"\x00\x00")
    with pytest.raises(AudioFormatError, match="8000 to 48000"):
        resample(b"", -1, 8000)
