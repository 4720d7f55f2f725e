"""Custom voice over real HTTP: any audio in, raw PCM16 mono at the requested rate out, streamed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import numpy as np
import pytest
from vapi_fast.audio import AudioFormat, AudioFormatError, Transcoder, ulaw_encode
from vapi_fast.protocol import VoiceRequestMessage
from vapi_fast.webhooks import Router, VoiceAudio, pcm_stream

from .conftest import client, compact, scaled, serving


def voice_body(sample_rate: int, text: str = "Hello there.") -> bytes:
    return compact({"message": {"type": "voice-request", "text": text, "sampleRate": sample_rate}})


def tone(sample_rate: int, seconds: float, channels: int = 1) -> bytes:
    t = np.arange(round(sample_rate * seconds)) / sample_rate
    mono = np.round(8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    return np.repeat(mono, channels).tobytes()


def one_shot(data: bytes, src: AudioFormat, rate: int) -> bytes:
    transcoder = Transcoder(src, AudioFormat("pcm_s16le", rate))
    out = transcoder.push(data)
    tail = transcoder.flush()
    assert isinstance(out, bytes) and isinstance(tail, bytes)
    return out + tail


def pieces(data: bytes, sizes: tuple[int, ...] = (1, 17, 509, 4000, 3)) -> list[bytes]:
    """``data`` cut at odd sizes (samples split across chunks)."""
    out, i, k = [], 0, 0
    while i < len(data):
        out.append(data[i : i + sizes[k % len(sizes)]])
        i += sizes[k % len(sizes)]
        k += 1
    return out


STEREO_48K = AudioFormat("pcm_s16le", 48000, 2)
MULAW_8K = AudioFormat("mulaw", 8000)
PCM_24K = AudioFormat("pcm_s16le", 24000)


@pytest.fixture(scope="module")
def routes() -> dict[str, Router]:
    """One router per way of returning audio."""
    made: dict[str, Router] = {}

    def router(path: str, **options: Any) -> Router:
        made[path] = Router(auth=None, **options)
        return made[path]

    @router("/async-gen").voice(format=STEREO_48K)
    async def stereo(message: VoiceRequestMessage) -> AsyncIterator[bytes]:
        for chunk in pieces(tone(48000, 0.5, 2)):
            yield chunk

    @router("/bytes").voice
    def mulaw(message: VoiceRequestMessage) -> tuple[bytes, AudioFormat]:
        return ulaw_encode(tone(8000, 0.3)), MULAW_8K

    @router("/sync-gen").voice
    def chunks(message: VoiceRequestMessage) -> VoiceAudio:
        def generate() -> Iterator[bytes]:
            yield from pieces(tone(24000, 0.25))

        return VoiceAudio(generate(), PCM_24K)

    @router("/passthrough").voice
    async def same_rate(message: VoiceRequestMessage) -> bytes:
        return tone(message.sample_rate, 0.1)

    @router("/empty").voice
    async def silent(message: VoiceRequestMessage) -> bytes:
        return b""

    return made


@pytest.fixture(scope="module")
def base_url(routes: dict[str, Router]) -> Iterator[str]:
    from .conftest import Dispatch

    with serving(Dispatch(routes)) as url:
        yield url


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_any_format_becomes_pcm16_mono_at_the_requested_rate(base_url: str, rate: int) -> None:
    cases = {
        "/async-gen": one_shot(tone(48000, 0.5, 2), STEREO_48K, rate),
        "/bytes": one_shot(ulaw_encode(tone(8000, 0.3)), MULAW_8K, rate),
        "/sync-gen": one_shot(tone(24000, 0.25), PCM_24K, rate),
        "/passthrough": tone(rate, 0.1),
        "/empty": b"",
    }
    with client(base_url) as http:
        for path, expected in cases.items():
            response = http.post(path, content=voice_body(rate))
            assert response.status_code == 200, path
            assert response.headers["content-type"] == "application/octet-stream"
            assert response.headers.get("transfer-encoding") == "chunked"
            assert response.content == expected, path
            assert len(response.content) % 2 == 0


def test_audio_is_sent_while_it_is_produced() -> None:
    """The handler yields one chunk, then waits until the client has received it: no whole-utterance buffer."""
    first_received = threading.Event()
    router = Router(auth=None)

    @router.voice(format=PCM_24K)
    async def speak(message: VoiceRequestMessage) -> AsyncIterator[bytes]:
        yield tone(24000, 0.2)
        await asyncio.to_thread(first_received.wait, scaled(5))
        assert first_received.is_set(), "the first chunk was held back"
        yield tone(24000, 0.2)

    with serving(router) as url, client(url) as http, http.stream("POST", "/", content=voice_body(24000)) as response:
        received = b""
        for data in response.iter_bytes():
            received += data
            if len(received) >= 9600:
                first_received.set()
    assert received == tone(24000, 0.2) * 2


def test_voice_failures_are_5xx_for_vapis_fallback_voice() -> None:
    release = threading.Event()
    routes: dict[str, Router] = {}

    def router(path: str) -> Router:
        routes[path] = Router(auth=None, reply_budget_s=0.3)
        return routes[path]

    @router("/raises").voice
    async def raises(message: VoiceRequestMessage) -> bytes:
        raise RuntimeError("TTS down")

    @router("/hangs").voice
    def hangs(message: VoiceRequestMessage) -> bytes:
        release.wait(scaled(10))
        return b""

    @router("/no-first-chunk").voice
    async def stalls(message: VoiceRequestMessage) -> AsyncIterator[bytes]:
        await asyncio.to_thread(release.wait, scaled(10))
        yield b""

    @router("/unusable").voice
    async def unusable(message: VoiceRequestMessage) -> Any:
        return 42

    @router("/bad-format").voice
    async def bad_format(message: VoiceRequestMessage) -> tuple[bytes, AudioFormat]:
        return b"\x00" * 100, AudioFormat("pcm_s16le", 96000)  # the resampler stops at 48 kHz

    @router("/mid-stream").voice(format=PCM_24K)
    async def breaks(message: VoiceRequestMessage) -> AsyncIterator[bytes]:
        yield tone(24000, 0.1)
        raise RuntimeError("connection to TTS lost")

    routes["/none"] = Router(auth=None)
    from .conftest import Dispatch

    try:
        with serving(Dispatch(routes)) as url, client(url) as http:
            expected = {"/raises": 500, "/hangs": 504, "/no-first-chunk": 504, "/unusable": 500, "/bad-format": 500}
            expected["/none"] = 501
            for path, status in expected.items():
                assert http.post(path, content=voice_body(16000)).status_code == status, path
            response = http.post("/mid-stream", content=voice_body(24000))
            assert response.status_code == 200 and response.content == tone(24000, 0.1)  # ended early, cleanly
            release.set()
    finally:
        release.set()
    assert routes["/raises"].stats()["types"]["voice-request"]["errors"] == 1


def test_pcm_stream_alone_equals_one_shot() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in pieces(tone(48000, 0.3, 2)):
            yield chunk

    async def collect() -> bytes:
        return b"".join([c async for c in pcm_stream(VoiceAudio(chunks(), STEREO_48K), 16000)])

    assert asyncio.run(collect()) == one_shot(tone(48000, 0.3, 2), STEREO_48K, 16000)

    async def odd_total() -> None:
        async for _ in pcm_stream((b"\x00\x01\x02", PCM_24K), 16000):
            pass

    with pytest.raises(AudioFormatError):
        asyncio.run(odd_total())

    async def not_audio() -> None:
        async for _ in pcm_stream(["text"], 16000):  # type: ignore[list-item]
            pass

    with pytest.raises(TypeError):
        asyncio.run(not_audio())
