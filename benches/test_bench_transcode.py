"""Both directions of a call leg, per 20 ms: one frame in each direction per call.

Telephony: mu-law 8 kHz from the phone to PCM 16 kHz, and PCM 16 kHz back to mu-law 8 kHz in 20 ms frames.
Sound card: PCM 16 kHz to the 48 kHz speaker, and the 48 kHz microphone back to PCM 16 kHz in 20 ms frames.

vapi_fast does each direction in one ``Transcoder.push`` (the return direction also cuts frames). The comparison
is pipecat's default path: ``audioop.ulaw2lin`` / ``lin2ulaw`` around a ``soxr.ResampleStream`` per direction,
bytes converted with ``np.frombuffer`` and ``.astype(np.int16).tobytes()`` as pipecat's
``SOXRStreamAudioResampler`` does. pipecat builds its streams with quality "VHQ"; "HQ" (the match for vapi_fast
"high") is the main comparison, VHQ is there for information. pipecat's idle-reset clock check is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from vapi_fast.audio import AudioFormat, Transcoder, ulaw_encode

from .conftest import Audioop, Benchmark, assert_steady_rate, frame_pcm, time_stream


@dataclass(frozen=True)
class Bridge:
    """A call leg between ``far`` (the far side's wire format) and ``near`` (what the local side wants)."""

    name: str
    group: str
    far: AudioFormat
    near: AudioFormat

    def far_frame(self) -> bytes:
        """One 20 ms frame in the far format."""
        pcm = frame_pcm(self.far.sample_rate)
        return ulaw_encode(pcm) if self.far.encoding == "mulaw" else pcm

    def near_frame(self) -> bytes:
        """One 20 ms PCM frame in the near format."""
        return frame_pcm(self.near.sample_rate)


TELEPHONY = Bridge(
    "telephony",
    "telephony bridge per 20ms frame pair (mulaw 8k <-> pcm 16k)",
    AudioFormat("mulaw", 8000),
    AudioFormat("pcm_s16le", 16000),
)
SOUND_CARD = Bridge(
    "sound-card",
    "sound card bridge per 20ms frame pair (pcm 16k <-> pcm 48k)",
    AudioFormat("pcm_s16le", 16000),
    AudioFormat("pcm_s16le", 48000),
)


def _params(*bridges: Bridge) -> list[object]:
    return [pytest.param(b, id=b.name, marks=pytest.mark.benchmark(group=b.group)) for b in bridges]


@pytest.mark.parametrize("bridge", _params(TELEPHONY, SOUND_CARD))
def test_vapi_fast(benchmark: Benchmark, bridge: Bridge) -> None:
    inbound = Transcoder(bridge.far, bridge.near)
    outbound = Transcoder(bridge.near, bridge.far, frame_ms=20)
    far_frame, near_frame = bridge.far_frame(), bridge.near_frame()

    def both_directions() -> tuple[bytes | list[bytes], bytes | list[bytes]]:
        return inbound.push(far_frame), outbound.push(near_frame)

    near_out, far_out = time_stream(benchmark, both_directions)
    assert isinstance(near_out, bytes)
    assert len(near_out) == len(near_frame)
    assert isinstance(far_out, list)
    assert [len(frame) for frame in far_out] == [len(far_frame)]


def _soxr_bridge(benchmark: Benchmark, soxr: ModuleType, audioop: Audioop | None, bridge: Bridge, quality: str) -> None:
    """pipecat's path: G.711 through audioop (when the far side is mu-law), one soxr stream per direction."""
    far_rate, near_rate = bridge.far.sample_rate, bridge.near.sample_rate
    inbound = soxr.ResampleStream(far_rate, near_rate, 1, dtype="int16", quality=quality)
    outbound = soxr.ResampleStream(near_rate, far_rate, 1, dtype="int16", quality=quality)
    far_frame, near_frame = bridge.far_frame(), bridge.near_frame()

    def resample(stream: Any, pcm: bytes) -> bytes:
        out: bytes = stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16)).astype(np.int16).tobytes()
        return out

    if audioop is None:

        def both_directions() -> tuple[bytes, bytes]:
            return resample(inbound, far_frame), resample(outbound, near_frame)
    else:
        ulaw2lin, lin2ulaw = audioop.ulaw2lin, audioop.lin2ulaw

        def both_directions() -> tuple[bytes, bytes]:
            return resample(inbound, ulaw2lin(far_frame, 2)), lin2ulaw(resample(outbound, near_frame), 2)

    time_stream(benchmark, both_directions)
    # soxr returns its output in blocks: check the average rate of each direction.
    assert_steady_rate(lambda: len(both_directions()[0]), len(near_frame))
    assert_steady_rate(lambda: len(both_directions()[1]), len(far_frame))


@pytest.mark.parametrize("bridge", _params(TELEPHONY))
def test_audioop_soxr_hq(benchmark: Benchmark, soxr: ModuleType, audioop: Audioop, bridge: Bridge) -> None:
    _soxr_bridge(benchmark, soxr, audioop, bridge, "HQ")


@pytest.mark.parametrize("bridge", _params(TELEPHONY))
def test_audioop_soxr_vhq(benchmark: Benchmark, soxr: ModuleType, audioop: Audioop, bridge: Bridge) -> None:
    _soxr_bridge(benchmark, soxr, audioop, bridge, "VHQ")


@pytest.mark.parametrize("bridge", _params(SOUND_CARD))
def test_soxr_hq(benchmark: Benchmark, soxr: ModuleType, bridge: Bridge) -> None:
    _soxr_bridge(benchmark, soxr, None, bridge, "HQ")


@pytest.mark.parametrize("bridge", _params(SOUND_CARD))
def test_soxr_vhq(benchmark: Benchmark, soxr: ModuleType, bridge: Bridge) -> None:
    _soxr_bridge(benchmark, soxr, None, bridge, "VHQ")
