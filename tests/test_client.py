"""The drop-in Vapi class: synchronous, a Session on a background thread, against the mock."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TIMEOUT_FACTOR, speech_like
from vapi_fast import Vapi, VapiFastError
from vapi_fast.client import CallbackAudio, NullAudio
from vapi_fast.mock import MockBehaviour, MockVapi


class MockThread:
    """The mock on its own loop and thread, as a real Vapi would be out of process."""

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.base_url = ""
        self.mock: MockVapi | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        async with MockVapi("key", behaviour=MockBehaviour(pacing="fast")) as mock:
            self.mock, self.base_url = mock, mock.base_url
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self.ready.set()
            await self._stop.wait()

    def __enter__(self) -> MockThread:
        self._thread.start()
        assert self.ready.wait(5 * TIMEOUT_FACTOR)
        return self

    def controls(self) -> list[dict[str, Any]]:
        assert self.mock is not None and self._loop is not None
        mock = self.mock

        async def collect() -> list[dict[str, Any]]:
            return [dict(c) for call in mock.calls.values() for c in call.controls]

        return asyncio.run_coroutine_threadsafe(collect(), self._loop).result(5)

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def mock() -> Iterator[MockThread]:
    with MockThread() as m:
        yield m


def test_the_vapi_python_shape_works_headless(mock: MockThread) -> None:
    frames: list[bytes] = []
    messages: list[str] = []
    heard = threading.Event()

    def on_audio(frame: bytes) -> None:
        frames.append(frame)
        if any(frame):
            heard.set()

    vapi = Vapi(
        api_key="key",
        api_url=mock.base_url,
        audio=CallbackAudio(on_audio),
        on_message=lambda m: messages.append(m.type),
    )
    call = vapi.start(assistant_id="assistant-id", assistant_overrides={"variableValues": {"name": "Ada"}})
    assert call["transport"]["provider"] == "vapi.websocket" and vapi.call == call
    with pytest.raises(VapiFastError, match="already running"):
        vapi.start(assistant_id="again")
    assert heard.wait(5 * TIMEOUT_FACTOR)  # the assistant's greeting played through on_audio
    vapi.say("Hello there", end_call_after_spoken=False)
    vapi.add_message("system", "The caller is called Ada.")
    vapi.send({"type": "control", "control": "mute-assistant"})
    vapi.send_audio(speech_like(16000, 0.2).tobytes())
    vapi.stop()
    vapi.stop()  # idempotent
    assert vapi.session is None
    kinds = [c["type"] for c in mock.controls()]
    assert kinds[:4] == ["say", "add-message", "control", "end-call"]
    assert "status-update" in messages and all(len(f) == 640 for f in frames)
    with pytest.raises(VapiFastError, match="no call is running"):
        vapi.say("nobody is listening")


def test_refusals_surface_from_start(mock: MockThread) -> None:
    vapi = Vapi(api_key="wrong", api_url=mock.base_url, audio=NullAudio())
    with pytest.raises(VapiFastError, match="401"):
        vapi.start(assistant_id="a")
    assert vapi.session is None


@pytest.mark.skipif(importlib.util.find_spec("sounddevice") is not None, reason="needs sounddevice to be absent")
def test_without_sounddevice_the_error_names_the_extra(mock: MockThread) -> None:
    with pytest.raises(VapiFastError, match=r"vapi-fast\[sounddevice\]"):
        Vapi(api_key="key", api_url=mock.base_url).start(assistant_id="a")
