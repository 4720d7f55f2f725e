"""AudioFormat: sizes, validation and the Vapi audioFormat object."""

from __future__ import annotations

import pytest
from vapi_fast.audio import AudioFormat, AudioFormatError


def test_sizes_match_the_protocol_table() -> None:
    assert AudioFormat("pcm_s16le", 16000).bytes_per_frame() == 640
    assert AudioFormat("pcm_s16le", 24000).bytes_per_frame(20) == 960
    assert AudioFormat("pcm_s16le", 44100).bytes_per_frame(20) == 1764
    assert AudioFormat("pcm_s16le", 48000).bytes_per_frame(20) == 1920
    assert AudioFormat("mulaw", 8000).bytes_per_frame(20) == 160
    stereo = AudioFormat("pcm_s16le", 48000, 2)
    assert stereo.bytes_per_second() == 192000 and stereo.duration_ms(1920) == 10.0
    assert (AudioFormat("alaw", 8000).silence_byte, AudioFormat("mulaw", 8000).silence_byte) == (0xD5, 0xFF)


def test_value_semantics() -> None:
    a = AudioFormat("mulaw", 8000)
    assert a == AudioFormat("mulaw", 8000, 1) and a != AudioFormat("mulaw", 16000)
    assert len({a, AudioFormat("mulaw", 8000)}) == 1
    assert repr(a) == 'AudioFormat(encoding="mulaw", sample_rate=8000, channels=1)'
    assert (a.encoding, a.sample_rate, a.channels, a.sample_width) == ("mulaw", 8000, 1, 1)


def test_vapi_round_trip_and_defaults() -> None:
    obj = {"format": "mulaw", "container": "raw", "sampleRate": 8000}
    assert AudioFormat.from_vapi(obj) == AudioFormat("mulaw", 8000)
    assert AudioFormat.from_vapi(obj).to_vapi() == obj
    assert AudioFormat.from_vapi({}) == AudioFormat("pcm_s16le", 16000)
    assert AudioFormat.from_vapi({"sampleRate": 24000.0}).sample_rate == 24000


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"format": "opus"}, "not one Vapi supports"),
        ({"container": "wav"}, "container"),
        ({"sampleRate": "fast"}, "must be a number"),
        ({"sampleRate": 8000.5}, "whole number"),
        ({"sampleRate": 10}, "1000 to 192000"),
    ],
)
def test_bad_vapi_objects(obj: dict[str, object], message: str) -> None:
    with pytest.raises(AudioFormatError, match=message):
        AudioFormat.from_vapi(obj)


def test_bad_arguments() -> None:
    with pytest.raises(AudioFormatError, match="expected one of"):
        AudioFormat("flac", 16000)  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError, match="1000 to 192000"):
        AudioFormat("pcm_s16le", -5)
    with pytest.raises(AudioFormatError, match="channels must be from 1 to 8"):
        AudioFormat("pcm_s16le", 16000, 9)
    with pytest.raises(AudioFormatError, match="not a Vapi wire format"):
        AudioFormat("alaw", 8000).to_vapi()
    with pytest.raises(AudioFormatError, match="whole number of samples"):
        AudioFormat("pcm_s16le", 11025).bytes_per_frame(20)
