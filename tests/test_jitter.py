"""JitterBuffer through the Python binding: invariants, barge-in, and the simulator's targets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import speech_like
from hypothesis import given, settings
from hypothesis import strategies as st
from vapi_fast._native import jitter_traces, simulate_jitter
from vapi_fast.audio import AudioFormat, AudioFormatError, JitterBuffer

ULAW = AudioFormat("mulaw", 8000)
PCM16 = AudioFormat("pcm_s16le", 16000)

events = st.lists(
    st.one_of(
        st.tuples(st.just("push"), st.integers(0, 900), st.floats(0, 120)),
        st.tuples(st.just("pop"), st.just(0), st.floats(0, 60)),
        st.tuples(st.just("clear"), st.just(0), st.just(0.0)),
    ),
    max_size=120,
)


@settings(max_examples=150, deadline=None)
@given(script=events, pcm=st.booleans())
def test_invariants_hold_for_any_schedule(script: list[tuple[str, int, float]], pcm: bool) -> None:
    fmt = PCM16 if pcm else ULAW
    jb = JitterBuffer(fmt)
    audio = speech_like(fmt.sample_rate, 2.0).tobytes() if pcm else bytes(range(256)) * 70
    now, cursor = 0.0, 0
    for op, size, dt in script:
        now += dt
        if op == "push":
            jb.push(audio[cursor : cursor + size], now)
            cursor = (cursor + size) % (len(audio) - 1000)
        elif op == "pop":
            assert len(jb.pop(now)) == jb.frame_bytes  # exactly one frame, always
        else:
            assert jb.clear() >= 0.0
            assert jb.pop(now) == bytes([fmt.silence_byte]) * jb.frame_bytes  # no stale audio
        s = jb.stats()
        assert (
            s["frames_pushed"] == s["frames_played"] + s["frames_dropped"] + s["frames_flushed"] + s["frames_pending"]
        )
        assert min(s["current_buffer_size_ms"], s["frames_pending"], s["playout_delay_ms"]) >= 0


@settings(max_examples=60, deadline=None)
@given(order=st.permutations(list(range(30))), dup=st.integers(0, 29))
def test_sequence_numbers_restore_order_and_drop_duplicates(order: list[int], dup: int) -> None:
    jb = JitterBuffer(ULAW, initial_delay_ms=400, max_delay_ms=400, min_delay_ms=400)
    for i, seq in enumerate([*order, dup]):  # every packet arrives within the first 31 ms
        jb.push(bytes([seq]) * 160, float(i), seq=seq)
    played = [jb.pop(400.0 + 20 * k) for k in range(40)]
    real = [f for f in played if f != b"\xff" * 160]
    # The last byte of each frame: the first few samples of playback are faded in.
    assert [f[-1] for f in real[:30]] == list(range(30))
    assert jb.stats()["duplicate_dropped_ms"] == 20.0


def test_barge_in_clear_is_immediate_and_reports_what_it_discarded() -> None:
    jb = JitterBuffer(PCM16)
    speech = speech_like(16000, 1.0).tobytes()
    jb.push(speech, 0.0)  # TTS faster than real time: a whole second at once
    first = [jb.pop(20.0 * k) for k in range(10)]
    assert any(f != bytes(640) for f in first)
    discarded = jb.clear()
    assert 700 <= discarded <= 1000
    assert jb.pop(200.0) == bytes(640)
    s = jb.stats()
    assert s["buffer_flushes"] == 1 and s["flushed_ms"] == discarded and s["frames_pending"] == 0


def test_concealment_uses_the_codec_silence_and_fades() -> None:
    jb = JitterBuffer(ULAW, initial_delay_ms=20, min_delay_ms=20)
    tone = (np.sin(np.arange(8000) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
    from vapi_fast.audio import ulaw_encode

    jb.push(ulaw_encode(tone[:1600]), 0.0)  # 200 ms, then nothing
    frames = [jb.pop(20.0 * k) for k in range(40)]
    assert frames[-1] == b"\xff" * 160  # long gaps end in mu-law silence, not 0x00
    assert jb.stats()["concealed_speech_ms"] > 0


def test_bad_arguments() -> None:
    with pytest.raises(AudioFormatError, match="percentile"):
        JitterBuffer(ULAW, percentile=1.5)
    with pytest.raises(AudioFormatError):
        JitterBuffer(ULAW, min_delay_ms=500, max_delay_ms=400)
    with pytest.raises(AudioFormatError, match="whole number of samples"):
        JitterBuffer(AudioFormat("pcm_s16le", 11025), frame_ms=20)
    jb = JitterBuffer(ULAW)
    with pytest.raises(AudioFormatError, match="finite"):
        jb.push(b"\x00", float("nan"))
    with pytest.raises(AudioFormatError, match="finite"):
        jb.pop(float("inf"))
    with pytest.raises(AudioFormatError, match=">= 0"):
        jb.push(b"\x00", 0.0, seq=-1)
    with pytest.raises(AudioFormatError, match="unknown trace"):
        simulate_jitter("nope")


@pytest.fixture(scope="module")
def reports() -> dict[str, dict[str, Any]]:
    return {name: simulate_jitter(name, seed=7) for name in jitter_traces()}


@pytest.mark.parametrize(
    "name", ["vapi_tcp", "tts_burst", "pareto_stalls", "spikes", "drift_plus_100ppm", "drift_minus_100ppm"]
)
def test_targets_on_traces_1_to_5(reports: dict[str, dict[str, Any]], name: str) -> None:
    r = reports[name]
    adaptive, optimum = r["adaptive"], r["optimum"]
    assert isinstance(adaptive, dict) and isinstance(optimum, dict)
    assert adaptive["speech_concealment_pct"] <= 1.0, adaptive
    assert adaptive["mean_delay_ms"] <= 1.25 * optimum["mean_delay_ms"], (adaptive, optimum)


def test_trace_3_also_meets_the_targets_at_percentile_0_98() -> None:
    r98 = simulate_jitter("pareto_stalls", seed=7, percentile=0.98)
    assert isinstance(r98["adaptive"], dict) and isinstance(r98["optimum"], dict)
    assert r98["adaptive"]["speech_concealment_pct"] <= 1.0
    assert r98["adaptive"]["mean_delay_ms"] <= 1.25 * r98["optimum"]["mean_delay_ms"]


def test_tts_faster_than_real_time_plays_every_speech_frame(reports: dict[str, dict[str, Any]]) -> None:
    adaptive = reports["tts_burst"]["adaptive"]
    assert isinstance(adaptive, dict) and adaptive["speech_frames_dropped"] == 0


def test_drift_never_exceeds_max_delay_nor_starves(reports: dict[str, dict[str, Any]]) -> None:
    for name in ("drift_plus_100ppm", "drift_minus_100ppm"):
        r = reports[name]
        assert isinstance(r["adaptive"], dict) and isinstance(r["stats"], dict)
        assert r["adaptive"]["max_delay_ms"] <= 400.0
        assert r["adaptive"]["speech_concealment_pct"] <= 1.0
        assert r["duration_ms"] >= 600_000


def test_adaptive_beats_fixed_buffers_after_a_spike(reports: dict[str, dict[str, Any]]) -> None:
    r = reports["spikes"]
    assert isinstance(r["adaptive"], dict) and isinstance(r["fixed"], list)
    assert r["adaptive"]["max_recovery_ms"] is not None and r["adaptive"]["max_recovery_ms"] <= 1000.0
    assert all(f["mean_delay_ms"] > 2 * r["adaptive"]["mean_delay_ms"] for f in r["fixed"])
