"""The mock's audio pieces on their own: synthetic speech, pacing plans, caller turn detection."""

from __future__ import annotations

import numpy as np
import pytest
from vapi_fast.audio import AudioFormat, ulaw_decode
from vapi_fast.mock._audio import (
    BURST_CHUNK_BYTES,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    dbfs,
    frame_bytes,
    plan_chunks,
    synth_speech,
)

MULAW8 = AudioFormat("mulaw", 8000)
PCM16 = AudioFormat("pcm_s16le", 16000)


@pytest.mark.parametrize("fmt", [MULAW8, PCM16, AudioFormat("pcm_s16le", 44100), AudioFormat("pcm_s16le", 8000)])
def test_synth_speech_is_speech_like_and_deterministic(fmt: AudioFormat) -> None:
    audio = synth_speech(fmt, 1000, seed=3)
    assert len(audio) == fmt.bytes_per_second()
    assert synth_speech(fmt, 1000, seed=3) == audio
    assert synth_speech(fmt, 1000, seed=4) != audio
    pcm = ulaw_decode(audio) if fmt.encoding == "mulaw" else audio
    assert -21.5 < dbfs(pcm) < -18.5
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    assert abs(x[0]) < 300 and abs(x[-1]) < 300  # fades in and out
    # Syllables: some 20 ms windows are quiet, most are loud.
    window = fmt.sample_rate // 50
    levels = [dbfs(pcm[2 * i : 2 * (i + window)]) for i in range(0, len(x) - window, window)]
    assert 0.05 < np.mean(np.array(levels) < -40) < 0.6
    assert synth_speech(fmt, 0, seed=1) == b""


def test_bursty_plan_matches_the_measured_profile() -> None:
    rng = np.random.default_rng(0)
    audio = synth_speech(MULAW8, 60_000, seed=1)
    plan = plan_chunks(MULAW8, audio, "bursty", rng)
    assert b"".join(chunk for _, chunk in plan) == audio
    sizes = [len(chunk) for _, chunk in plan]
    low, high = BURST_CHUNK_BYTES
    assert all(low <= size <= high for size in sizes[:-1])
    times = np.array([t for t, _ in plan])
    assert np.all(np.diff(times) >= 0)
    gaps = np.diff(times)
    assert 45 <= np.median(gaps) <= 60  # measured: about 50 ms
    assert 0.05 <= np.mean(gaps == 0) <= 0.25  # chunks sometimes arrive back to back (bursts)
    assert 80 <= np.percentile(gaps, 95) <= 120
    # On average real time, never more than 40 ms ahead, never far behind.
    starts = np.cumsum([0, *sizes[:-1]]) / 8.0
    assert np.all(times >= starts - 40 - 1e-9)
    assert np.all(times <= starts + 60)
    assert abs(times[-1] - starts[-1]) < 100


def test_bursty_plan_scales_chunks_for_pcm() -> None:
    audio = synth_speech(PCM16, 5000, seed=2)
    plan = plan_chunks(PCM16, audio, "bursty", np.random.default_rng(1))
    assert b"".join(chunk for _, chunk in plan) == audio
    sizes = [len(chunk) for _, chunk in plan]
    assert all(size % 2 == 0 for size in sizes)
    assert all(4 * BURST_CHUNK_BYTES[0] - 2 <= size <= 4 * BURST_CHUNK_BYTES[1] + 2 for size in sizes[:-1])


@pytest.mark.parametrize("pacing", ["realtime", "fast"])
def test_realtime_and_fast_plans_are_20ms_frames(pacing: str) -> None:
    audio = synth_speech(PCM16, 1010, seed=2)  # not a whole number of frames: the last is padded
    plan = plan_chunks(PCM16, audio, pacing, np.random.default_rng(0))  # type: ignore[arg-type]
    assert [len(chunk) for _, chunk in plan] == [640] * 51
    assert b"".join(chunk for _, chunk in plan) == audio + b"\x00" * (51 * 640 - len(audio))
    expected = [20.0 * i for i in range(51)] if pacing == "realtime" else [0.0] * 51
    assert [t for t, _ in plan] == pytest.approx(expected)


def test_frame_bytes_rounds_down_to_whole_samples() -> None:
    assert frame_bytes(MULAW8) == 160 and frame_bytes(PCM16) == 640
    assert frame_bytes(AudioFormat("pcm_s16le", 11025)) == 2 * 220


def detector(fmt: AudioFormat) -> TurnDetector:
    return TurnDetector(fmt, threshold_dbfs=-40, min_speech_ms=60, end_silence_ms=400)


@pytest.mark.parametrize("fmt", [MULAW8, PCM16])
def test_turn_detector_finds_a_turn(fmt: AudioFormat) -> None:
    audio = bytes([fmt.silence_byte]) * (fmt.bytes_per_second() // 2)
    audio += synth_speech(fmt, 800, seed=5, level_dbfs=-18)
    audio += bytes([fmt.silence_byte]) * fmt.bytes_per_second()
    events = detector(fmt).push(audio)
    assert len(events) == 2
    started, ended = events
    assert isinstance(started, SpeechStarted) and isinstance(ended, TurnEnded)
    assert 480 <= started.at_ms <= 600
    assert ended.start_ms == started.at_ms
    assert 650 <= ended.duration_ms <= 820


def test_turn_detector_streaming_equals_one_shot() -> None:
    fmt = PCM16
    audio = synth_speech(fmt, 600, seed=6, level_dbfs=-18) + b"\x00" * 16000
    audio += synth_speech(fmt, 300, seed=7, level_dbfs=-18) + b"\x00" * 16000
    one_shot = detector(fmt).push(audio)
    assert [type(e) for e in one_shot] == [SpeechStarted, TurnEnded, SpeechStarted, TurnEnded]
    for step in (1, 17, 159, 640, 641, 5000):
        streaming = detector(fmt)
        events = []
        for i in range(0, len(audio), step):
            events.extend(streaming.push(audio[i : i + step]))
        assert events == one_shot, step
        assert streaming.clock_ms == pytest.approx(len(audio) / 32)


def test_turn_detector_ignores_quiet_audio_and_short_blips() -> None:
    fmt = MULAW8
    quiet = synth_speech(fmt, 1000, seed=8, level_dbfs=-55)
    blip = synth_speech(fmt, 40, seed=9, level_dbfs=-10)
    silence = bytes([0xFF]) * 4000
    d = detector(fmt)
    assert d.push(quiet + silence + blip + silence) == []
    assert not d.in_turn
    assert d.push(synth_speech(fmt, 200, seed=10, level_dbfs=-15))
    assert d.in_turn
    d.reset()
    assert not d.in_turn
