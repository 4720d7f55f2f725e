"""Smoke test of the load harness: each variant with 3 calls for 2 s against the mock in its own process.

Checks that the harness measures something sane (frames flowed both ways, nothing lost, lateness and CPU measured,
the mock saw and ended every call), not performance: the numbers of 3 calls say nothing about 500. Each run is
bounded by the harness's own timeout (the mock process is stopped or killed) and by pytest-timeout.
"""

from __future__ import annotations

import pytest

from .harness import FRAME_MS, VARIANTS, LoadConfig, run_load

CALLS = 3
SECONDS = 2.0


@pytest.mark.timeout(25)
@pytest.mark.parametrize("variant", VARIANTS)
def test_load_smoke(variant: str) -> None:
    if variant == "audioop_soxr":
        pytest.importorskip("soxr")
    config = LoadConfig(variant=variant, calls=CALLS, seconds=SECONDS, ramp_s=0.3, settle_s=1.0, timeout_s=20.0)
    r = run_load(config)

    assert r["connected"] == CALLS, r["errors"]
    assert r["error_count"] == 0, r["errors"]
    assert r["calls_ended_early"] == 0
    # Every call ended cleanly on the mock's side, because the client said end-call.
    assert r["mock_calls_seen"] == CALLS
    assert r["mock_ended_reasons"] == {"customer-ended-call": CALLS}

    # Uplink: one 20 ms frame per 20 ms per call, all of them sent and received.
    due = CALLS * r["window_s"] * 1000 / FRAME_MS
    assert r["uplink_frames_due"] == pytest.approx(due, abs=1)
    assert abs(r["uplink_frames_sent"] - due) <= 2 * CALLS
    assert r["lost_frames"] == 0, r
    assert r["uplink_undelivered"] == 0
    assert r["uplink_caller_audio_gaps"] == 0
    # Downlink: the mock's assistant talks the whole time, 8000 bytes of mu-law a second (bursty, so +-10%).
    assert 0.8 * 8000 <= r["downlink_bytes_per_call_s"] <= 1.2 * 8000
    if variant != "raw":
        assert abs(r["downlink_frames_played"] - due) <= 2 * CALLS
        assert abs(r["downlink_frames_consumed"] - due) <= 3 * CALLS

    # Lateness measured for every tick, and small for 3 calls.
    assert r["lateness_samples"] >= 0.9 * due
    assert r["lateness_ms_p50"] is not None and r["lateness_ms_p99"] is not None
    assert 0 <= r["lateness_ms_p50"] <= r["lateness_ms_p99"] < 100
    # CPU and memory measured for both processes.
    assert r["client_cpu_pct"] > 0 and r["calls_per_core"] > 0
    assert r["mock_cpu_pct"] is None or r["mock_cpu_pct"] >= 0
    assert r["rss_per_call_kib"] is None or r["rss_per_call_kib"] > -1024
